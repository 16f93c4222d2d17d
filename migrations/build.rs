// `embed_migrations!` reads the folder at compile time; every file is named here so that a new
// or changed migration always rebuilds the crate (a folder alone is not always noticed).
fn main() {
    println!("cargo:rerun-if-changed=sql");
    let mut stack = vec![std::path::PathBuf::from("sql")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            println!("cargo:rerun-if-changed={}", path.display());
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
}
