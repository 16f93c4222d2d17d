//! The worker: claims jobs from PostgreSQL, runs them by kind through its [`registry`], and keeps
//! periodic work queued ([`schedule`]). Any number of replicas run side by side; Redis only wakes
//! them sooner.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, Utc};
use futures::StreamExt;
use renkei_core::Principal;
use renkei_core::alerts::{self, SendMail};
use renkei_core::bundles::{self, BuildBundle, ScheduledBundle};
use renkei_core::checklists::reminders::ScanReminders;
use renkei_core::config::{parse_or, var_opt};
use renkei_core::db::Db;
use renkei_core::jobs::{self, BackgroundJob, CleanJobs, Context, Job, Registry};
use renkei_core::mail::Mailer;
use renkei_core::metrics::Metrics;
use tokio::sync::{Notify, watch};
use tracing::Instrument;

/// Every kind this worker runs. A kind's name is a contract with the rows already queued: a
/// type may change, its name and payload fields stay (see `worker/tests/jobs.rs`).
pub fn registry() -> Registry {
    Registry::default()
        .register::<SendMail>()
        .register::<alerts::IncidentCreated>()
        .register::<alerts::IncidentPhaseChanged>()
        .register::<alerts::IncidentClock>()
        .register::<alerts::ScanIncidentClocks>()
        .register::<alerts::DesignationCoverage>()
        .register::<ScanReminders>()
        .register::<BuildBundle>()
        .register::<ScheduledBundle>()
        .register::<CleanJobs>()
}

/// Periodic work, queued by every replica but run once per period: the dedup key names the
/// period, so the first replica to queue it wins and the others' inserts do nothing.
pub async fn schedule(db: &Db, now: DateTime<Utc>) -> renkei_core::Result<()> {
    let minute = now.format("%Y-%m-%dT%H:%M").to_string();
    let today = renkei_core::incidents::clocks::day_of(now);
    let day = today.to_string();
    // The national bundle of the current fiscal year, weekly: queued by the first tick of each
    // ISO week in Japan (a Monday, unless no worker ran then).
    let week = today.iso_week();
    let week = format!("{}-W{:02}", week.year(), week.week());
    let fiscal_year = bundles::fiscal_year_of(today);
    db.run(&Principal::system(), move |c| {
        Box::pin(async move {
            jobs::enqueue_once_per(c, &ScheduledBundle { fiscal_year }, &week).await?;
            jobs::enqueue_once_per(c, &alerts::ScanIncidentClocks {}, &minute).await?;
            jobs::enqueue_once_per(c, &alerts::DesignationCoverage {}, &day).await?;
            jobs::enqueue_once_per(c, &ScanReminders {}, &day).await?;
            jobs::enqueue_once_per(c, &CleanJobs {}, &day).await
        })
    })
    .await
}

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// `WORKER_POLL_MILLISECONDS`: how often to look for jobs when nothing wakes the worker.
    pub poll: Duration,
    /// `WORKER_LEASE_SECONDS`: how long a claimed job stays ours; a dead worker's job is taken
    /// up again after it.
    pub lease_seconds: i32,
    /// `WORKER_SHUTDOWN_GRACE_SECONDS`: on SIGTERM, how long the current job may still run
    /// before it is released.
    pub shutdown_grace: Duration,
    /// `WORKER_SCHEDULE`: queue the periodic scans (off in tests that drive them by hand).
    pub schedule: bool,
}

impl WorkerConfig {
    pub fn from_env() -> anyhow::Result<Self> {
        let lease_seconds = parse_or("WORKER_LEASE_SECONDS", 120i32)?;
        // Read by the designation-coverage alert; checked here so that a bad value stops the start.
        renkei_core::kpis::Settings::from_env()?;
        if !(5..=3600).contains(&lease_seconds) {
            anyhow::bail!("WORKER_LEASE_SECONDS must be between 5 and 3600");
        }
        Ok(Self {
            poll: Duration::from_millis(parse_or("WORKER_POLL_MILLISECONDS", 1000u64)?.max(50)),
            lease_seconds,
            shutdown_grace: Duration::from_secs(parse_or("WORKER_SHUTDOWN_GRACE_SECONDS", 20u64)?),
            schedule: parse_or("WORKER_SCHEDULE", true)?,
        })
    }
}

pub struct Worker {
    pub id: String,
    db: Db,
    mailer: Arc<Mailer>,
    registry: Registry,
    metrics: Arc<Metrics>,
    config: WorkerConfig,
    redis: Option<redis::Client>,
    wake: Arc<Notify>,
}

/// What happened to one job.
#[derive(Debug, PartialEq, Eq)]
pub enum Ran {
    Done,
    Retry,
    Dead,
    Released,
}

impl Worker {
    pub fn new(
        db: Db,
        mailer: Mailer,
        metrics: Arc<Metrics>,
        config: WorkerConfig,
        redis: Option<redis::Client>,
    ) -> Self {
        let id = format!(
            "{}-{}-{}",
            var_opt("HOSTNAME").unwrap_or_else(|| "worker".into()),
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let mailer = Arc::new(mailer);
        Self { id, db, mailer, registry: registry(), metrics, config, redis, wake: Arc::new(Notify::new()) }
    }

    /// Claims and runs one due job, if there is one.
    pub async fn run_one(&self, shutdown: &watch::Receiver<bool>) -> anyhow::Result<Option<Ran>> {
        let (id, lease) = (self.id.clone(), self.config.lease_seconds);
        let job = self
            .db
            .run(&Principal::system(), move |c| Box::pin(async move { jobs::claim(c, &id, lease).await }))
            .await
            .map_err(anyhow::Error::from)?;
        let Some(job) = job else { return Ok(None) };
        Ok(Some(self.execute(job, shutdown.clone()).await?))
    }

    async fn execute(&self, job: Job, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<Ran> {
        let span = tracing::info_span!("job.run", job.id = job.id, job.kind = %job.kind, job.attempt = job.attempts);
        // The request that queued the job and the work it causes share one trace.
        if let Ok(carrier) = serde_json::from_value::<HashMap<String, String>>(job.trace.clone())
            && !carrier.is_empty()
        {
            renkei_core::telemetry::set_parent_from(&span, &carrier);
        }
        let started = Instant::now();
        let ctx = Context { db: self.db.clone(), mailer: self.mailer.clone(), job_id: job.id };
        let work = self.registry.run(&job, &ctx).instrument(span.clone());
        tokio::pin!(work);
        let result = tokio::select! {
            r = &mut work => Some(r),
            // The guard `wait_for` returns is dropped at once: it must not live across an await.
            () = async { drop(shutdown.wait_for(|stop| *stop).await) } => {
                // Asked to stop: let the job finish if it can within the grace period.
                tokio::time::timeout(self.config.shutdown_grace, &mut work).await.ok()
            }
        };
        self.metrics.job_duration.with_label_values(&[job.kind.as_str()]).observe(started.elapsed().as_secs_f64());
        let (id, worker) = (job.id, self.id.clone());
        let outcome = match result {
            None => {
                self.settle(|c| {
                    let worker = worker.clone();
                    Box::pin(async move { jobs::release(c, id, &worker).await })
                })
                .await?;
                Ran::Released
            }
            Some(Ok(())) => {
                self.settle(|c| {
                    let worker = worker.clone();
                    Box::pin(async move { jobs::complete(c, id, &worker).await })
                })
                .await?;
                if job.kind == SendMail::NAME {
                    self.metrics.mails.with_label_values(&["sent"]).inc();
                }
                Ran::Done
            }
            Some(Err(e)) => {
                // The code is stored and shown; the cause is for the log alone.
                tracing::warn!(parent: &span, code = e.failure.code(), detail = %e.detail(), "job.failed");
                if job.kind == SendMail::NAME {
                    self.metrics.mails.with_label_values(&["failed"]).inc();
                }
                let dead = job.attempts >= job.max_attempts;
                self.settle(|c| {
                    let (job, worker) = (job.clone(), worker.clone());
                    Box::pin(async move { jobs::fail(c, &job, &worker, e.failure).await })
                })
                .await?;
                if dead { Ran::Dead } else { Ran::Retry }
            }
        };
        let label = match outcome {
            Ran::Done => "done",
            Ran::Retry => "retry",
            Ran::Dead => "dead",
            Ran::Released => "released",
        };
        self.metrics.jobs.with_label_values(&[job.kind.as_str(), label]).inc();
        Ok(outcome)
    }

    /// Records how a job ended. The work is done and cannot be taken back, so a database that is
    /// restarting is waited for (within half the lease, while the job is still ours) rather than
    /// leaving the job to run a second time.
    async fn settle<R: Send>(
        &self,
        f: impl for<'c> Fn(&'c mut renkei_core::db::Conn) -> renkei_core::db::DbFuture<'c, R> + Send + Sync,
    ) -> anyhow::Result<R> {
        let patience = Duration::from_secs(u64::try_from(self.config.lease_seconds / 2).unwrap_or(1));
        self.db.run_patiently(&Principal::system(), patience, f).await.map_err(anyhow::Error::from)
    }

    /// Runs jobs until none is due; for tests and for draining.
    pub async fn drain(&self) -> anyhow::Result<Vec<Ran>> {
        let (_tx, rx) = watch::channel(false);
        let mut ran = Vec::new();
        while let Some(r) = self.run_one(&rx).await? {
            ran.push(r);
        }
        Ok(ran)
    }

    /// Listens on Redis for wake-ups; reconnects after failures, and never stops the worker.
    fn listen(&self) {
        let (Some(client), wake) = (self.redis.clone(), self.wake.clone()) else { return };
        tokio::spawn(async move {
            loop {
                match client.get_async_pubsub().await {
                    Ok(mut pubsub) => {
                        if pubsub.subscribe(jobs::WAKE_CHANNEL).await.is_ok() {
                            let mut messages = pubsub.on_message();
                            while messages.next().await.is_some() {
                                wake.notify_one();
                            }
                        }
                    }
                    Err(e) => tracing::debug!(detail = %e, "worker.redis_unavailable"),
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        });
    }

    /// The main loop, until `shutdown` turns true.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        self.listen();
        let mut last_schedule: Option<Instant> = None;
        let mut last_depth = Instant::now() - Duration::from_secs(60);
        loop {
            let stopping = *shutdown.borrow();
            if stopping {
                break;
            }
            if self.config.schedule && last_schedule.is_none_or(|t| t.elapsed() >= Duration::from_secs(30)) {
                if let Err(e) = schedule(&self.db, Utc::now()).await {
                    tracing::warn!(code = %e.code, detail = %jobs::redact(&e.detail()), "worker.schedule_failed");
                }
                last_schedule = Some(Instant::now());
            }
            if last_depth.elapsed() >= Duration::from_secs(5) {
                if let Ok(n) = self.db.run(&Principal::system(), |c| Box::pin(jobs::depth(c))).await {
                    self.metrics.job_queue_depth.set(n);
                }
                last_depth = Instant::now();
            }
            match self.run_one(&shutdown).await {
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(e) => tracing::warn!(detail = %jobs::redact(&format!("{e:#}")), "worker.claim_failed"),
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.config.poll) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!(worker = %self.id, "worker.stopped");
        Ok(())
    }
}
