// `embed_migrations!` reads the folder at compile time; without this, a new migration folder
// would not rebuild the crate and the binaries would silently lack it.
fn main() {
    println!("cargo:rerun-if-changed=sql");
}
