//! The API server's configuration (see the README's table).

use std::time::Duration;

use renkei_core::auth::AuthConfig;
use renkei_graphql::limits::Limits;

use crate::rate_limit::RateLimits;
use renkei_core::config::{DatabaseConfig, parse_or, redis_url, var_or};

#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// `BIND_ADDRESS`
    pub bind: String,
    /// `METRICS_BIND_ADDRESS`: where `/metrics` is served, apart from the API.
    pub metrics_bind: String,
    /// `HTTP_WORKERS`: actix worker threads (default: one per core).
    pub workers: usize,
    /// `GRAPHQL_MAX_BODY_BYTES`: largest accepted POST body.
    pub max_body_bytes: usize,
    /// `GRAPHQL_MAX_BATCH`: most operations in one batched POST.
    pub max_batch: usize,
    /// `GRAPHIQL_ENABLED`: serve the GraphiQL page at /graphiql.
    pub graphiql: bool,
    /// `GRAPHQL_INTROSPECTION`: answer `__schema` and `__type` (off in production values).
    pub introspection: bool,
    /// `GRAPHQL_MAX_DEPTH`, `GRAPHQL_MAX_TOKENS`, `GRAPHQL_MAX_FIELDS`, `GRAPHQL_MAX_COST`,
    /// `GRAPHQL_MAX_ALIASES`, `GRAPHQL_MAX_ROOT_FIELDS`.
    pub limits: Limits,
    /// `RATE_LIMIT_PER_IP`, `RATE_LIMIT_AUTH_FAILURES`, `RATE_LIMIT_QUERIES`, `RATE_LIMIT_MUTATIONS`.
    pub rate_limits: RateLimits,
    /// `RATE_LIMIT_REDIS_PREFIX`: what the rate limits' keys in Redis begin with, so that
    /// installations (or tests) sharing one Redis keep their counts apart.
    pub rate_limit_prefix: String,
    /// `RATE_LIMIT_TRUST_FORWARDED_FOR` and `RATE_LIMIT_TRUSTED_PROXIES`: how many proxies in
    /// front of the API append to `X-Forwarded-For` (0 when the header is not trusted); the
    /// client IP is that many entries from the right.
    pub forwarded_for_hops: usize,
    /// `REQUEST_TIMEOUT_SECONDS`: longest a GraphQL operation may run.
    pub request_timeout: Duration,
    /// `CORS_ALLOWED_ORIGINS`: comma-separated origins allowed to call from a browser.
    pub cors_origins: Vec<String>,
    /// `KPI_SUPPRESSION_THRESHOLD`, `KPI_PROTECTION_PERCENT`, `DESIGNATION_LAW_START_FY`.
    pub kpi: renkei_core::kpis::Settings,
    /// `KPI_CACHE_ENTRIES`: KPI answers kept (0 switches the cache off).
    pub kpi_cache_entries: usize,
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
        let defaults = Limits::default();
        let limits = Limits {
            max_depth: parse_or("GRAPHQL_MAX_DEPTH", defaults.max_depth)?,
            max_tokens: parse_or("GRAPHQL_MAX_TOKENS", defaults.max_tokens)?,
            max_fields: parse_or("GRAPHQL_MAX_FIELDS", defaults.max_fields)?,
            max_cost: parse_or("GRAPHQL_MAX_COST", defaults.max_cost)?,
            max_aliases: parse_or("GRAPHQL_MAX_ALIASES", defaults.max_aliases)?,
            max_root_fields: parse_or("GRAPHQL_MAX_ROOT_FIELDS", defaults.max_root_fields)?,
        };
        if limits.max_depth < 4 || limits.max_depth > 64 {
            anyhow::bail!("GRAPHQL_MAX_DEPTH must be between 4 and 64");
        }
        let cors_origins: Vec<String> = var_or("CORS_ALLOWED_ORIGINS", "")
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_owned)
            .collect();
        if let Some(bad) =
            cors_origins.iter().find(|o| !(o.starts_with("https://") || o.starts_with("http://")) || o.ends_with('/'))
        {
            anyhow::bail!("CORS_ALLOWED_ORIGINS: {bad:?} is not an origin like https://dashboard.example.jp");
        }
        let trusted_proxies = parse_or("RATE_LIMIT_TRUSTED_PROXIES", 1usize)?;
        if trusted_proxies == 0 || trusted_proxies > 10 {
            anyhow::bail!("RATE_LIMIT_TRUSTED_PROXIES must be between 1 and 10");
        }
        let rate_limit_prefix = var_or("RATE_LIMIT_REDIS_PREFIX", "renkei:rl");
        if rate_limit_prefix.is_empty()
            || rate_limit_prefix.len() > 100
            || !rate_limit_prefix.bytes().all(|b| b.is_ascii_graphic())
        {
            anyhow::bail!("RATE_LIMIT_REDIS_PREFIX must be 1 to 100 printable ASCII characters without spaces");
        }
        let bind = var_or("BIND_ADDRESS", "127.0.0.1:8080");
        let metrics_bind = var_or("METRICS_BIND_ADDRESS", "127.0.0.1:9464");
        if metrics_bind == bind {
            anyhow::bail!("METRICS_BIND_ADDRESS must differ from BIND_ADDRESS: metrics are not served with the API");
        }
        let request_timeout = parse_or("REQUEST_TIMEOUT_SECONDS", 30u64)?;
        if request_timeout == 0 || request_timeout > 300 {
            anyhow::bail!("REQUEST_TIMEOUT_SECONDS must be between 1 and 300");
        }
        Ok(Self {
            kpi: renkei_core::kpis::Settings::from_env()?,
            kpi_cache_entries: parse_or("KPI_CACHE_ENTRIES", crate::kpi_cache::DEFAULT_ENTRIES)?,
            introspection: parse_or("GRAPHQL_INTROSPECTION", true)?,
            limits,
            rate_limits: RateLimits {
                per_ip: parse_or("RATE_LIMIT_PER_IP", 1200u32)?,
                auth_failures_per_ip: parse_or("RATE_LIMIT_AUTH_FAILURES", 20u32)?,
                queries_per_token: parse_or("RATE_LIMIT_QUERIES", 600u32)?,
                mutations_per_token: parse_or("RATE_LIMIT_MUTATIONS", 60u32)?,
            },
            rate_limit_prefix,
            forwarded_for_hops: if parse_or("RATE_LIMIT_TRUST_FORWARDED_FOR", false)? { trusted_proxies } else { 0 },
            request_timeout: Duration::from_secs(request_timeout),
            cors_origins,
            bind,
            metrics_bind,
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
