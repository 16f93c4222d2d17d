//! Prometheus metrics shared by the API and the worker, rendered in the text format at `/metrics`.

use std::collections::HashSet;
use std::sync::Mutex;

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

use crate::db::Db;

/// How many distinct GraphQL operation names become labels; clients choose the names, so the
/// rest are counted as `other` to keep the series bounded.
const MAX_OPERATION_LABELS: usize = 200;

pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub graphql_operations: IntCounterVec,
    pub graphql_duration: HistogramVec,
    pool: IntGaugeVec,
    /// Requests refused by a rate limit, by scope (ip, auth_failures, queries, mutations).
    pub rate_limited: IntCounterVec,
    /// Rate-limit decisions taken in process because Redis could not be reached.
    pub rate_limit_fallbacks: prometheus::IntCounter,
    /// 1 while rate limits are kept in Redis, 0 while they fall back to this process alone.
    pub rate_limit_redis_up: prometheus::IntGauge,
    /// Jobs run, by kind and outcome (done, retry, dead).
    pub jobs: IntCounterVec,
    pub job_duration: HistogramVec,
    /// Jobs waiting to run, read by the worker every few seconds.
    pub job_queue_depth: prometheus::IntGauge,
    /// E-mails by outcome (sent, failed).
    pub mails: IntCounterVec,
    /// KPI reports answered from the kept answers (`hit`) or computed (`miss`).
    pub kpi_cache: IntCounterVec,
    operation_names: Mutex<HashSet<String>>,
}

const LATENCY_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

impl Metrics {
    /// `process` is `api` or `worker`, a constant label on every series.
    pub fn new(process: &str) -> anyhow::Result<Self> {
        let registry =
            Registry::new_custom(Some("renkei".into()), Some([("process".to_owned(), process.to_owned())].into()))?;
        let http_requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route, method and status"),
            &["route", "method", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency by route")
                .buckets(LATENCY_BUCKETS.into()),
            &["route"],
        )?;
        let graphql_operations = IntCounterVec::new(
            Opts::new("graphql_operations_total", "GraphQL operations by name, type and outcome"),
            &["operation", "type", "outcome"],
        )?;
        let graphql_duration = HistogramVec::new(
            HistogramOpts::new("graphql_operation_duration_seconds", "GraphQL operation latency by name")
                .buckets(LATENCY_BUCKETS.into()),
            &["operation"],
        )?;
        let pool =
            IntGaugeVec::new(Opts::new("db_pool_connections", "Database pool connections by state"), &["state"])?;
        for c in [&http_requests, &graphql_operations] {
            registry.register(Box::new(c.clone()))?;
        }
        for h in [&http_duration, &graphql_duration] {
            registry.register(Box::new(h.clone()))?;
        }
        registry.register(Box::new(pool.clone()))?;
        let rate_limited = IntCounterVec::new(
            Opts::new("rate_limited_total", "Requests refused by a rate limit, by scope"),
            &["scope"],
        )?;
        let rate_limit_fallbacks = prometheus::IntCounter::new(
            "rate_limit_local_decisions_total",
            "Rate-limit decisions taken in process because Redis was unreachable",
        )?;
        let rate_limit_redis_up =
            prometheus::IntGauge::new("rate_limit_redis_up", "1 while rate limits are shared through Redis")?;
        registry.register(Box::new(rate_limited.clone()))?;
        registry.register(Box::new(rate_limit_fallbacks.clone()))?;
        registry.register(Box::new(rate_limit_redis_up.clone()))?;
        let jobs = IntCounterVec::new(Opts::new("jobs_total", "Jobs run, by kind and outcome"), &["kind", "outcome"])?;
        let job_duration = HistogramVec::new(
            HistogramOpts::new("job_duration_seconds", "Job run time by kind").buckets(LATENCY_BUCKETS.into()),
            &["kind"],
        )?;
        let job_queue_depth = prometheus::IntGauge::new("job_queue_depth", "Jobs waiting to run")?;
        let mails = IntCounterVec::new(Opts::new("mails_total", "E-mails by outcome"), &["outcome"])?;
        registry.register(Box::new(jobs.clone()))?;
        registry.register(Box::new(job_duration.clone()))?;
        registry.register(Box::new(job_queue_depth.clone()))?;
        registry.register(Box::new(mails.clone()))?;
        let kpi_cache = IntCounterVec::new(
            Opts::new("kpi_cache_lookups_total", "KPI reports answered from kept answers (hit) or computed (miss)"),
            &["outcome"],
        )?;
        registry.register(Box::new(kpi_cache.clone()))?;
        Ok(Self {
            registry,
            http_requests,
            http_duration,
            graphql_operations,
            graphql_duration,
            pool,
            rate_limited,
            rate_limit_fallbacks,
            rate_limit_redis_up,
            jobs,
            job_duration,
            job_queue_depth,
            mails,
            kpi_cache,
            operation_names: Mutex::new(HashSet::new()),
        })
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// A bounded label for a client-chosen operation name.
    pub fn operation_label(&self, name: Option<&str>) -> String {
        let Some(name) = name
            .filter(|n| !n.is_empty() && n.len() <= 64 && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        else {
            return "anonymous".into();
        };
        let mut known = self.operation_names.lock().unwrap_or_else(|p| p.into_inner());
        if known.contains(name) || known.len() < MAX_OPERATION_LABELS {
            known.insert(name.to_owned());
            name.to_owned()
        } else {
            "other".into()
        }
    }

    /// The text exposition, with the pool gauges read now.
    pub fn render(&self, db: &Db) -> String {
        let status = db.pool_status();
        self.pool.with_label_values(&["max"]).set(status.max_size as i64);
        self.pool.with_label_values(&["open"]).set(status.size as i64);
        self.pool.with_label_values(&["idle"]).set(status.available as i64);
        self.pool.with_label_values(&["in_use"]).set(status.size.saturating_sub(status.available) as i64);
        self.pool.with_label_values(&["waiting"]).set(status.waiting as i64);
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "metrics.encode_failed");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}
