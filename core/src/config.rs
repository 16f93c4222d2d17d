//! Configuration from environment variables. Every variable is documented in the README's table;
//! a bad value stops the process at start with a message that names the variable.

use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, anyhow};

/// Reads `name`, or `default` when unset or empty.
pub fn var_or(name: &str, default: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => default.to_owned(),
    }
}

/// Reads `name`; `None` when unset or empty.
pub fn var_opt(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Reads and parses `name`, or `default` when unset.
pub fn parse_or<T>(name: &str, default: T) -> anyhow::Result<T>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    match var_opt(name) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|e| anyhow!("{name}={v:?} is invalid: {e}")),
    }
}

/// PostgreSQL, as the application role.
#[derive(Clone, Debug)]
pub struct DatabaseConfig {
    /// `DATABASE_URL`: connection as the application's login role (a member of `renkei_app`).
    pub url: String,
    /// `DATABASE_POOL_SIZE`: connections per process.
    pub pool_size: usize,
    /// `DATABASE_CONNECT_TIMEOUT_SECONDS`: how long a request waits for a pooled connection.
    pub connect_timeout: Duration,
    /// `DATABASE_STATEMENT_TIMEOUT_MS`: PostgreSQL cancels any one statement running longer.
    pub statement_timeout_ms: u32,
}

impl DatabaseConfig {
    pub fn from_env() -> anyhow::Result<Self> {
        let url = var_opt("DATABASE_URL").context("DATABASE_URL must be set (postgres://user@host/db)")?;
        if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
            anyhow::bail!("DATABASE_URL must start with postgres:// or postgresql://");
        }
        let pool_size = parse_or("DATABASE_POOL_SIZE", 16usize)?;
        if pool_size == 0 {
            anyhow::bail!("DATABASE_POOL_SIZE must be at least 1");
        }
        Ok(Self {
            url,
            pool_size,
            connect_timeout: Duration::from_secs(parse_or("DATABASE_CONNECT_TIMEOUT_SECONDS", 5u64)?),
            statement_timeout_ms: match parse_or("DATABASE_STATEMENT_TIMEOUT_MS", 5_000u32)? {
                0 => anyhow::bail!("DATABASE_STATEMENT_TIMEOUT_MS must be at least 1"),
                ms => ms,
            },
        })
    }
}

/// `MIGRATION_DATABASE_URL`: the schema owner's connection, used by `migrate`; falls back to
/// `DATABASE_URL` for single-role development setups.
pub fn migration_url() -> anyhow::Result<String> {
    var_opt("MIGRATION_DATABASE_URL")
        .or_else(|| var_opt("DATABASE_URL"))
        .context("MIGRATION_DATABASE_URL (or DATABASE_URL) must be set to migrate")
}

/// `REDIS_URL`: the fast path (wake-ups, rate limits, caches). Optional: without it, or with it
/// down, the service still works.
pub fn redis_url() -> Option<String> {
    var_opt("REDIS_URL")
}
