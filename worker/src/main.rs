//! `renkei-worker`: the background process. Today it holds its database pool and answers health
//! and readiness probes and serves its metrics, so that deployments can run it; the durable job queue, e-mail alerts and
//! reporting bundles are built on this process (issue #6).

use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context as _;
use renkei_core::config::{DatabaseConfig, var_or};
use renkei_core::db::Db;
use renkei_core::metrics::Metrics;
use serde_json::json;

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn readyz(db: web::Data<Db>) -> HttpResponse {
    match tokio::time::timeout(Duration::from_secs(3), db.migrations_current()).await {
        Ok(Ok(true)) => HttpResponse::Ok().json(json!({ "status": "ready", "postgres": "ok" })),
        Ok(Ok(_)) => {
            HttpResponse::ServiceUnavailable().json(json!({ "status": "not ready", "postgres": "migrations pending" }))
        }
        _ => HttpResponse::ServiceUnavailable().json(json!({ "status": "not ready", "postgres": "unreachable" })),
    }
}

async fn render_metrics(db: web::Data<Db>, metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(metrics.render(&db))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = renkei_core::telemetry::init("renkei-worker")?;
    let db = Db::connect(&DatabaseConfig::from_env()?)?;
    let metrics = web::Data::new(Metrics::new("worker")?);
    let bind = var_or("WORKER_BIND_ADDRESS", "127.0.0.1:8081");
    tracing::info!(bind = %bind, "renkei-worker started");
    let data = web::Data::new(db);
    HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(metrics.clone())
            .route("/healthz", web::get().to(healthz))
            .route("/metrics", web::get().to(render_metrics))
            .route("/readyz", web::get().to(readyz))
    })
    .workers(1)
    .bind(&bind)
    .with_context(|| format!("WORKER_BIND_ADDRESS={bind} cannot be bound"))?
    .run()
    .await?;
    Ok(())
}
