//! Durable jobs. A job is written in the transaction of the change that causes it, so it exists
//! exactly when the change does; the worker claims it, runs it through a [`Registry`], and keeps
//! its lease, attempts, backoff and dead state here.
//!
//! Each kind of job is a type ([`BackgroundJob`]) in the module of its domain: its name (the
//! `kind` column), its payload (the type itself, as JSON in `payload`) and what makes two jobs
//! one (the dedup key). Queuing goes through the type, so a payload is built in one place.

mod failure;
mod registry;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use diesel_async::RunQueryDsl;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use failure::{Failure, JobError, redact};
pub use registry::Registry;

use crate::db::{Conn, Db, DbFuture};
use crate::mail::Mailer;
use crate::schema::jobs;
use crate::{Error, Principal, Result};

/// One kind of job. The type is its payload: what is queued is the value, serialised.
pub trait BackgroundJob: Serialize + DeserializeOwned + Send + 'static {
    /// The `kind` column. Rows queued by an earlier version are found by it after a rollout, so
    /// a name never changes, and a payload field is never renamed or made required.
    const NAME: &'static str;

    /// Two jobs with the same key are one: queuing the second while the first is kept does
    /// nothing (finished jobs are kept 30 days). Without one (the default) each job queued runs;
    /// periodic work is keyed by its period instead ([`enqueue_once_per`]).
    fn dedup_key(&self) -> Option<String> {
        None
    }

    fn run(self, ctx: &Context) -> impl Future<Output = std::result::Result<(), JobError>> + Send;
}

/// What a running job may use.
pub struct Context {
    pub db: Db,
    pub mailer: Arc<Mailer>,
    /// The job's row, for records that point back at it.
    pub job_id: i64,
}

impl Context {
    /// One transaction as the system (the ministry), as most jobs run.
    pub async fn as_system<R: Send>(
        &self,
        f: impl for<'c> FnOnce(&'c mut Conn) -> DbFuture<'c, R> + Send,
    ) -> std::result::Result<R, JobError> {
        Ok(self.db.run(&Principal::system(), f).await?)
    }
}

/// Queues `job` unless a job with its dedup key is already kept. The current trace context
/// travels along, so that the work done later joins the request's trace.
pub async fn enqueue<J: BackgroundJob>(conn: &mut Conn, job: &J) -> Result<()> {
    insert(conn, job, job.dedup_key()).await
}

/// Queues periodic work once per `period` (a minute, a day, a week, as text): the key names the
/// kind and the period, so every replica may queue it and the first one's row is the job.
pub async fn enqueue_once_per<J: BackgroundJob>(conn: &mut Conn, job: &J, period: &str) -> Result<()> {
    insert(conn, job, Some(format!("{}:{period}", J::NAME))).await
}

async fn insert<J: BackgroundJob>(conn: &mut Conn, job: &J, dedup_key: Option<String>) -> Result<()> {
    let payload = serde_json::to_value(job).map_err(Error::internal)?;
    let trace = serde_json::to_value(crate::telemetry::current_trace_context()).unwrap_or_default();
    // No conflict target: naming `dedup_key` would need read access to the queue, which row-level
    // security gives only the worker (the key is the only unique column a caller writes).
    diesel::insert_into(jobs::table)
        .values((
            jobs::kind.eq(J::NAME),
            jobs::payload.eq(payload),
            jobs::dedup_key.eq(dedup_key),
            jobs::trace.eq(trace),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}

/// A claimed job.
#[derive(Clone, Debug, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = jobs)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub payload: serde_json::Value,
    pub run_at: DateTime<Utc>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub last_error: Option<String>,
    pub dedup_key: Option<String>,
    pub trace: serde_json::Value,
    pub locked_by: Option<String>,
    pub locked_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub dead_at: Option<DateTime<Utc>>,
}

impl Job {
    /// Why the job last failed. A `last_error` stored before codes existed may hold anything
    /// (addresses, database causes), so it reads as [`Failure::Internal`].
    pub fn failure(&self) -> Option<Failure> {
        self.last_error.as_deref().map(Failure::of_stored)
    }

    /// The payload as clients may see it: only the fields that name what the job is about (ids,
    /// the prefecture, the fiscal year), never a recipient, a subject or a body. A field a new
    /// kind adds stays hidden until it is listed here.
    pub fn shown_payload(&self) -> serde_json::Value {
        const SHOWN: &[&str] = &["prefecture", "incident_id", "bundle_id", "fiscal_year"];
        let shown = self
            .payload
            .as_object()
            .map(|fields| {
                fields.iter().filter(|(k, _)| SHOWN.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone()))
            })
            .into_iter()
            .flatten()
            .collect();
        serde_json::Value::Object(shown)
    }
}

/// Takes the next due job for `worker` for `lease_seconds`. The claim is one short statement:
/// `SKIP LOCKED` lets any number of workers claim side by side, and a worker that dies leaves
/// only a lease, which runs out.
pub async fn claim(conn: &mut Conn, worker: &str, lease_seconds: i32) -> Result<Option<Job>> {
    let job: Option<Job> = diesel::sql_query(
        "UPDATE jobs SET locked_by = $1, locked_until = now() + make_interval(secs => $2), attempts = attempts + 1 \
         WHERE id = (SELECT id FROM jobs \
                      WHERE finished_at IS NULL AND dead_at IS NULL AND run_at <= now() \
                        AND (locked_until IS NULL OR locked_until < now()) \
                      ORDER BY run_at, id FOR UPDATE SKIP LOCKED LIMIT 1) \
         RETURNING *",
    )
    .bind::<Text, _>(worker)
    .bind::<Integer, _>(lease_seconds)
    .get_result(conn)
    .await
    .optional()?;
    Ok(job)
}

/// Marks a job done; only its current holder may.
pub async fn complete(conn: &mut Conn, id: i64, worker: &str) -> Result<bool> {
    let n = diesel::update(jobs::table.find(id).filter(jobs::locked_by.eq(worker)))
        .set((
            jobs::finished_at.eq(diesel::dsl::now),
            jobs::locked_by.eq(None::<String>),
            jobs::locked_until.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// The wait before attempt `attempts + 1`: exponential from 10 s, capped at an hour, with up to
/// a quarter of jitter so that retries of many jobs do not arrive together.
pub fn backoff(attempts: i32) -> std::time::Duration {
    use rand::Rng;
    let base = 10u64.saturating_mul(1u64 << attempts.clamp(0, 12)).min(3600);
    let jitter = rand::rng().random_range(0..=base / 4);
    std::time::Duration::from_secs(base + jitter)
}

/// Records a failure: the job is retried later, or kept as dead after its last attempt. Only the
/// code and its sentence are stored: `last_error` is shown to prefecture officials, the cause
/// goes to the logs.
pub async fn fail(conn: &mut Conn, job: &Job, worker: &str, failure: Failure) -> Result<()> {
    let error = failure.stored();
    if job.attempts >= job.max_attempts {
        diesel::update(jobs::table.find(job.id).filter(jobs::locked_by.eq(worker)))
            .set((
                jobs::dead_at.eq(diesel::dsl::now),
                jobs::last_error.eq(error),
                jobs::locked_by.eq(None::<String>),
                jobs::locked_until.eq(None::<DateTime<Utc>>),
            ))
            .execute(conn)
            .await?;
    } else {
        let wait = chrono::Duration::from_std(backoff(job.attempts)).unwrap_or_else(|_| chrono::Duration::hours(1));
        diesel::update(jobs::table.find(job.id).filter(jobs::locked_by.eq(worker)))
            .set((
                jobs::run_at.eq(Utc::now() + wait),
                jobs::last_error.eq(error),
                jobs::locked_by.eq(None::<String>),
                jobs::locked_until.eq(None::<DateTime<Utc>>),
            ))
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Gives a job back without counting the attempt (a worker shutting down).
pub async fn release(conn: &mut Conn, id: i64, worker: &str) -> Result<()> {
    diesel::update(jobs::table.find(id).filter(jobs::locked_by.eq(worker)))
        .set((
            jobs::attempts.eq(jobs::attempts - 1),
            jobs::locked_by.eq(None::<String>),
            jobs::locked_until.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Jobs waiting to run (queue depth), for metrics.
pub async fn depth(conn: &mut Conn) -> Result<i64> {
    Ok(jobs::table.filter(jobs::finished_at.is_null().and(jobs::dead_at.is_null())).count().get_result(conn).await?)
}

type Boxed = jobs::BoxedQuery<'static, diesel::pg::Pg>;

/// Dead jobs of a prefecture (those whose payload names it), or all.
fn dead_of(prefecture: Option<i16>) -> Boxed {
    let q = jobs::table.filter(jobs::dead_at.is_not_null()).into_boxed();
    match prefecture {
        Some(p) => q.filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>("(payload->>'prefecture')::int = ")
                .bind::<Integer, _>(i32::from(p)),
        ),
        None => q,
    }
}

/// Dead jobs, newest first; a prefecture's are those whose payload names its prefecture.
pub async fn dead(
    conn: &mut Conn,
    prefecture: Option<i16>,
    first: i64,
    before_id: Option<i64>,
) -> Result<(Vec<Job>, bool)> {
    let mut q = dead_of(prefecture);
    if let Some(before) = before_id {
        q = q.filter(jobs::id.lt(before));
    }
    let mut rows: Vec<Job> = q.select(Job::as_select()).order(jobs::id.desc()).limit(first + 1).load(conn).await?;
    let more = rows.len() as i64 > first;
    rows.truncate(first as usize);
    Ok((rows, more))
}

/// Puts a dead job back in the queue with a fresh set of attempts.
pub async fn retry(conn: &mut Conn, id: i64, prefecture: Option<i16>) -> Result<Job> {
    let found: i64 = dead_of(prefecture).filter(jobs::id.eq(id)).count().get_result(conn).await?;
    if found == 0 {
        return Err(crate::Error::not_found("dead job"));
    }
    Ok(diesel::update(jobs::table.find(id))
        .set((jobs::dead_at.eq(None::<DateTime<Utc>>), jobs::attempts.eq(0), jobs::run_at.eq(diesel::dsl::now)))
        .returning(Job::as_returning())
        .get_result(conn)
        .await?)
}

/// Deletes jobs finished more than `days` ago; their dedup keys are free again.
pub async fn clean_finished(conn: &mut Conn, days: i64) -> Result<usize> {
    let cutoff = Utc::now() - chrono::Duration::days(days);
    Ok(diesel::delete(jobs::table.filter(jobs::finished_at.lt(cutoff))).execute(conn).await?)
}

/// `maintenance.clean_jobs`: drops jobs finished over 30 days ago, daily.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct CleanJobs {}

impl BackgroundJob for CleanJobs {
    const NAME: &'static str = "maintenance.clean_jobs";

    async fn run(self, ctx: &Context) -> std::result::Result<(), JobError> {
        ctx.as_system(|c| Box::pin(clean_finished(c, 30))).await.map(drop)
    }
}

/// The Redis channel a worker listens on to run new jobs at once.
pub const WAKE_CHANNEL: &str = "renkei:jobs";

/// Tells workers that jobs were queued. Best effort: without Redis they find them by polling.
pub async fn wake(redis: &redis::Client) {
    let publish = async {
        let mut conn = redis.get_multiplexed_async_connection().await?;
        redis::cmd("PUBLISH").arg(WAKE_CHANNEL).arg(1).query_async::<i64>(&mut conn).await
    };
    if let Ok(Err(e)) = tokio::time::timeout(std::time::Duration::from_millis(200), publish).await {
        tracing::debug!(detail = %e, "jobs.wake_failed");
    }
}
