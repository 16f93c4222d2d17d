//! Prometheus metrics, rendered in the text format at `/metrics`: the registry every process
//! has, with the database pool and the worker's jobs and mails. The API registers its own HTTP,
//! GraphQL and rate-limit series on the same registry (`renkei_api::metrics`), so that core
//! knows nothing of HTTP and each process still serves one exposition.

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

use crate::db::Db;

pub struct Metrics {
    registry: Registry,
    pool: IntGaugeVec,
    /// Jobs run, by kind and outcome (done, retry, dead).
    pub jobs: IntCounterVec,
    pub job_duration: HistogramVec,
    /// Jobs waiting to run, read by the worker every few seconds.
    pub job_queue_depth: prometheus::IntGauge,
    /// E-mails by outcome (sent, failed).
    pub mails: IntCounterVec,
}

/// Buckets of every latency histogram, the API's included, so that dashboards compare like
/// with like.
pub const LATENCY_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

impl Metrics {
    /// `process` is `api` or `worker`, a constant label on every series.
    pub fn new(process: &str) -> anyhow::Result<Self> {
        let registry =
            Registry::new_custom(Some("renkei".into()), Some([("process".to_owned(), process.to_owned())].into()))?;
        let pool =
            IntGaugeVec::new(Opts::new("db_pool_connections", "Database pool connections by state"), &["state"])?;
        registry.register(Box::new(pool.clone()))?;
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
        Ok(Self { registry, pool, jobs, job_duration, job_queue_depth, mails })
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
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
            tracing::warn!(detail = %e, "metrics.encode_failed");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}
