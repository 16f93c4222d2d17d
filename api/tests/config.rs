//! Bad configuration stops the process at start, with a message that names the variable.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop loudly on what they cannot set up

use std::process::Command;

fn serve_with(vars: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_renkei-api"));
    cmd.arg("serve").env_clear().env("RUST_LOG", "error");
    let base = [
        ("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none"),
        ("JWT_PUBLIC_KEY_FILE", concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/test-ed25519-public.pem")),
        ("BIND_ADDRESS", "127.0.0.1:0"),
    ];
    for (k, v) in base.iter().chain(vars) {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run renkei-api");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn each_bad_variable_is_named() {
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
    ] {
        let mut vars = vec![(var, value)];
        if var == "JWT_JWKS_URL" {
            // Only one key source may be set.
            vars.push(("JWT_PUBLIC_KEY_FILE", ""));
        }
        let (ok, stderr) = serve_with(&vars);
        assert!(!ok, "{var}={value} must stop the process");
        assert!(stderr.contains(var), "{var}={value}: the message names the variable: {stderr}");
    }
}

#[test]
fn a_missing_database_url_is_named() {
    let (ok, stderr) = serve_with(&[("DATABASE_URL", "")]);
    assert!(!ok);
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
}
