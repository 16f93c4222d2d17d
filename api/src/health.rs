//! Liveness and readiness probes.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::AppState;

/// The process is up and serving HTTP.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Ready when PostgreSQL answers and carries every migration this binary knows. Redis is checked
/// and reported but does not fail readiness: it is the fast path, and the service keeps serving
/// without it.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let postgres = match tokio::time::timeout(Duration::from_secs(3), state.db.migrations_current()).await {
        Ok(Ok(true)) => "ok",
        Ok(Ok(false)) => "migrations pending",
        Ok(Err(_)) | Err(_) => "unreachable",
    };
    let redis = match &state.redis {
        None => "not configured",
        Some(client) => match tokio::time::timeout(Duration::from_secs(2), ping_redis(client)).await {
            Ok(Ok(())) => "ok",
            _ => "unreachable",
        },
    };
    let body =
        json!({ "status": if postgres == "ok" { "ready" } else { "not ready" }, "postgres": postgres, "redis": redis });
    if postgres == "ok" { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}

async fn ping_redis(client: &redis::Client) -> redis::RedisResult<()> {
    let mut conn = client.get_multiplexed_async_connection().await?;
    redis::cmd("PING").query_async::<String>(&mut conn).await.map(|_| ())
}

/// Prometheus text exposition.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(state.metrics.render(&state.db))
}
