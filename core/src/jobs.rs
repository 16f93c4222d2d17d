//! Enqueuing durable jobs. A job is written in the transaction of the change that causes it, so
//! it exists exactly when the change does; the worker (issue #6) claims and runs it.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::Result;
use crate::db::Conn;
use crate::schema::jobs;

/// Queues `kind` with `payload`; a job with the same `dedup_key` already queued makes this a
/// no-op. The current trace context travels along, so that the work done later joins the
/// request's trace.
pub async fn enqueue(conn: &mut Conn, kind: &str, payload: serde_json::Value, dedup_key: Option<String>) -> Result<()> {
    let trace = serde_json::to_value(crate::telemetry::current_trace_context()).unwrap_or_default();
    diesel::insert_into(jobs::table)
        .values((jobs::kind.eq(kind), jobs::payload.eq(payload), jobs::dedup_key.eq(dedup_key), jobs::trace.eq(trace)))
        .on_conflict(jobs::dedup_key)
        .do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}
