//! Bad configuration stops the process at start, with a message that names the variable.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop loudly on what they cannot set up

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How a `renkei-api serve` with the base configuration plus `vars` went: `Ok(())` if it was
/// still serving after a few seconds (then stopped), or `Err(stderr)` if it stopped by itself.
fn serve_with(vars: &[(&str, &str)]) -> Result<(), String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_renkei-api"));
    cmd.arg("serve").env_clear().env("RUST_LOG", "error").stdout(Stdio::null()).stderr(Stdio::piped());
    // A configuration that starts (checked first by `each_bad_variable_is_named`): the real database
    // of the environment, free ports. Each case then breaks one variable.
    let database = std::env::var("DATABASE_URL").expect("DATABASE_URL (source .dev/env)");
    let base = [
        ("DATABASE_URL", database.as_str()),
        ("JWT_PUBLIC_KEY_FILE", concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/test-ed25519-public.pem")),
        ("BIND_ADDRESS", "127.0.0.1:0"),
        ("METRICS_BIND_ADDRESS", "127.0.0.2:0"),
    ];
    for (k, v) in base.iter().chain(vars) {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run renkei-api");
    let deadline = Instant::now() + Duration::from_secs(8);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut stderr = String::new();
            child.stderr.take().expect("stderr").read_to_string(&mut stderr).expect("stderr");
            return if status.success() { Ok(()) } else { Err(stderr) };
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().expect("stop");
    child.wait().expect("wait");
    Ok(())
}

#[test]
fn each_bad_variable_is_named() {
    // The positive control first: without it every refusal below could come from the base itself.
    // (One test, so that one process migrates the environment's database.)
    let migrate = Command::new(env!("CARGO_BIN_EXE_renkei-api"))
        .arg("migrate")
        .env("RUST_LOG", "error")
        .output()
        .expect("run renkei-api migrate");
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    serve_with(&[]).expect("the base configuration serves");
    for (var, value) in [
        ("DATABASE_URL", "mysql://root@localhost/renkei"),
        ("DATABASE_POOL_SIZE", "lots"),
        ("DATABASE_POOL_SIZE", "0"),
        ("HTTP_WORKERS", "-1"),
        ("GRAPHQL_MAX_BATCH", "1000"),
        ("GRAPHQL_MAX_BODY_BYTES", "big"),
        ("RATE_LIMIT_TRUSTED_PROXIES", "0"),
        // The same address as BIND_ADDRESS would serve metrics with the API.
        ("METRICS_BIND_ADDRESS", "127.0.0.1:0"),
        ("GRAPHIQL_ENABLED", "maybe"),
        ("JWT_ALGORITHM", "HS256"),
        ("JWT_LEEWAY_SECONDS", "3600"),
        ("JWT_PUBLIC_KEY_FILE", "/nonexistent/key.pem"),
        ("JWT_JWKS_URL", "ftp://idp.example/jwks"),
        ("LOG_FORMAT", "xml"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
        ("KPI_SUPPRESSION_THRESHOLD", "0"),
        ("KPI_PROTECTION_PERCENT", "90"),
        ("KPI_PROTECTION_PERCENT", "twenty"),
    ] {
        let mut vars = vec![(var, value)];
        if var == "JWT_JWKS_URL" {
            // Only one key source may be set.
            vars.push(("JWT_PUBLIC_KEY_FILE", ""));
        }
        let stderr = serve_with(&vars).expect_err(&format!("{var}={value} must stop the process"));
        assert!(stderr.contains(var), "{var}={value}: the message names the variable: {stderr}");
    }
}

#[test]
fn a_missing_database_url_is_named() {
    let stderr = serve_with(&[("DATABASE_URL", "")]).expect_err("no database, no service");
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
}
