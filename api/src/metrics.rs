//! The API's metrics: HTTP requests, GraphQL operations, rate limits and the KPI cache,
//! registered on the registry core keeps for the process (pool gauges and job series), so that
//! one `/metrics` exposition shows them all, under the same names as ever.

use std::collections::HashSet;
use std::sync::Mutex;

use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts};
use renkei_core::db::Db;
use renkei_core::metrics::LATENCY_BUCKETS;

/// How many distinct GraphQL operation names become labels; clients choose the names, so the
/// rest are counted as `other` to keep the series bounded.
const MAX_OPERATION_LABELS: usize = 200;

pub struct Metrics {
    process: renkei_core::metrics::Metrics,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub graphql_operations: IntCounterVec,
    pub graphql_duration: HistogramVec,
    /// Requests refused by a rate limit, by scope (ip, auth_failures, queries, mutations).
    pub rate_limited: IntCounterVec,
    /// Rate-limit decisions taken in process because Redis could not be reached.
    pub rate_limit_fallbacks: IntCounter,
    /// 1 while rate limits are kept in Redis, 0 while they fall back to this process alone.
    pub rate_limit_redis_up: IntGauge,
    /// KPI reports answered from the kept answers (`hit`) or computed (`miss`).
    pub kpi_cache: IntCounterVec,
    operation_names: Mutex<HashSet<String>>,
}

/// A latency histogram by one label, on the buckets of every other.
fn latency(name: &str, help: &str, label: &str) -> prometheus::Result<HistogramVec> {
    HistogramVec::new(HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.into()), &[label])
}

impl Metrics {
    /// Every series carries `process="api"`.
    pub fn new() -> anyhow::Result<Self> {
        let process = renkei_core::metrics::Metrics::new("api")?;
        let http_requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route, method and status"),
            &["route", "method", "status"],
        )?;
        let http_duration = latency("http_request_duration_seconds", "HTTP request latency by route", "route")?;
        let graphql_operations = IntCounterVec::new(
            Opts::new("graphql_operations_total", "GraphQL operations by name, type and outcome"),
            &["operation", "type", "outcome"],
        )?;
        let graphql_duration =
            latency("graphql_operation_duration_seconds", "GraphQL operation latency by name", "operation")?;
        let rate_limited = IntCounterVec::new(
            Opts::new("rate_limited_total", "Requests refused by a rate limit, by scope"),
            &["scope"],
        )?;
        let rate_limit_fallbacks = IntCounter::new(
            "rate_limit_local_decisions_total",
            "Rate-limit decisions taken in process because Redis was unreachable",
        )?;
        let rate_limit_redis_up = IntGauge::new("rate_limit_redis_up", "1 while rate limits are shared through Redis")?;
        let kpi_cache = IntCounterVec::new(
            Opts::new("kpi_cache_lookups_total", "KPI reports answered from kept answers (hit) or computed (miss)"),
            &["outcome"],
        )?;
        let registry = process.registry();
        for c in [&http_requests, &graphql_operations, &rate_limited, &kpi_cache] {
            registry.register(Box::new(c.clone()))?;
        }
        for h in [&http_duration, &graphql_duration] {
            registry.register(Box::new(h.clone()))?;
        }
        registry.register(Box::new(rate_limit_fallbacks.clone()))?;
        registry.register(Box::new(rate_limit_redis_up.clone()))?;
        Ok(Self {
            process,
            http_requests,
            http_duration,
            graphql_operations,
            graphql_duration,
            rate_limited,
            rate_limit_fallbacks,
            rate_limit_redis_up,
            kpi_cache,
            operation_names: Mutex::new(HashSet::new()),
        })
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

    /// The text exposition of every series of the process, with the pool gauges read now.
    pub fn render(&self, db: &Db) -> String {
        self.process.render(db)
    }
}
