//! What the handlers share: the pool, the token verifier, the schema and reference data.

use std::sync::Arc;

use anyhow::Context as _;
use renkei_core::Principal;
use renkei_core::auth::Verifier;
use renkei_core::db::Db;
use renkei_core::registry::geography::Geography;
use renkei_graphql::Schema;
use renkei_graphql::limits::Limits;
use std::time::Duration;

use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;

use crate::ApiConfig;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub verifier: Arc<Verifier>,
    pub schema: Arc<Schema>,
    pub geography: Arc<Geography>,
    pub redis: Option<redis::Client>,
    pub metrics: Arc<Metrics>,
    pub limits: Limits,
    pub limiter: Arc<RateLimiter>,
    /// Trusted proxies in front of the API whose `X-Forwarded-For` entries count (0: none).
    pub forwarded_for_hops: usize,
    pub request_timeout: Duration,
    pub max_body_bytes: usize,
    pub max_batch: usize,
    pub graphiql: bool,
    /// `__schema` and `__type` are answered, and validation errors may name types and fields.
    pub introspection: bool,
    pub kpi: renkei_core::kpis::Settings,
    pub kpi_cache: Arc<crate::kpi_cache::KpiCache>,
}

impl AppState {
    pub async fn new(config: &ApiConfig) -> anyhow::Result<Self> {
        let db = Db::connect(&config.database)?;
        let geography = db
            .run(&Principal::system(), |c| Box::pin(Geography::load(c)))
            .await
            .map_err(anyhow::Error::from)
            .context("loading prefectures (is the database migrated?)")?;
        let verifier = Verifier::new(config.auth.clone()).await?;
        let redis = config
            .redis_url
            .as_deref()
            .map(redis::Client::open)
            .transpose()
            .context("REDIS_URL is not a valid Redis URL")?;
        let metrics = Arc::new(Metrics::new()?);
        let limiter =
            RateLimiter::new(config.rate_limits, redis.clone(), config.rate_limit_prefix.clone(), metrics.clone());
        Ok(Self {
            db,
            verifier: Arc::new(verifier),
            schema: Arc::new(renkei_graphql::schema_with(&config.limits, config.introspection)),
            geography: Arc::new(geography),
            redis,
            metrics,
            limits: config.limits,
            limiter: Arc::new(limiter),
            forwarded_for_hops: config.forwarded_for_hops,
            request_timeout: config.request_timeout,
            max_body_bytes: config.max_body_bytes,
            max_batch: config.max_batch,
            graphiql: config.graphiql,
            introspection: config.introspection,
            kpi: config.kpi,
            kpi_cache: Arc::new(crate::kpi_cache::KpiCache::new(config.kpi_cache_entries)),
        })
    }
}
