//! The API server's configuration (see the README's table).

use renkei_core::auth::AuthConfig;
use renkei_core::config::{DatabaseConfig, parse_or, redis_url, var_or};

#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// `BIND_ADDRESS`
    pub bind: String,
    /// `HTTP_WORKERS`: actix worker threads (default: one per core).
    pub workers: usize,
    /// `GRAPHQL_MAX_BODY_BYTES`: largest accepted POST body.
    pub max_body_bytes: usize,
    /// `GRAPHQL_MAX_BATCH`: most operations in one batched POST.
    pub max_batch: usize,
    /// `GRAPHIQL_ENABLED`: serve the GraphiQL page at /graphiql.
    pub graphiql: bool,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    pub redis_url: Option<String>,
}

impl ApiConfig {
    pub fn from_env() -> anyhow::Result<Self> {
        let workers = parse_or("HTTP_WORKERS", std::thread::available_parallelism().map_or(2, usize::from))?;
        let max_batch = parse_or("GRAPHQL_MAX_BATCH", 10usize)?;
        if workers == 0 {
            anyhow::bail!("HTTP_WORKERS must be at least 1");
        }
        if max_batch == 0 || max_batch > 100 {
            anyhow::bail!("GRAPHQL_MAX_BATCH must be between 1 and 100");
        }
        Ok(Self {
            bind: var_or("BIND_ADDRESS", "127.0.0.1:8080"),
            workers,
            max_body_bytes: parse_or("GRAPHQL_MAX_BODY_BYTES", 64 * 1024usize)?,
            max_batch,
            graphiql: parse_or("GRAPHIQL_ENABLED", true)?,
            database: DatabaseConfig::from_env()?,
            auth: AuthConfig::from_env()?,
            redis_url: redis_url(),
        })
    }
}
