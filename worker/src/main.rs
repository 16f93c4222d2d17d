//! `renkei-worker`: runs jobs (alerts by e-mail, scans) and answers health, readiness and
//! metrics on `WORKER_BIND_ADDRESS`.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context as _;
use renkei_core::config::{DatabaseConfig, redis_url, var_or};
use renkei_core::db::Db;
use renkei_core::mail::Mailer;
use renkei_core::metrics::Metrics;
use renkei_worker::{Worker, WorkerConfig};
use serde_json::json;
use tokio::sync::watch;

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn readyz(db: web::Data<Db>) -> HttpResponse {
    match tokio::time::timeout(Duration::from_secs(3), db.migrations_current()).await {
        Ok(Ok(true)) => HttpResponse::Ok().json(json!({ "status": "ready", "postgres": "ok" })),
        Ok(Ok(false)) => {
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
    let config = WorkerConfig::from_env()?;
    let db = Db::connect(&DatabaseConfig::from_env()?)?;
    let mailer = Mailer::from_env()?;
    let redis =
        redis_url().as_deref().map(redis::Client::open).transpose().context("REDIS_URL is not a valid Redis URL")?;
    let metrics = Arc::new(Metrics::new("worker")?);
    let worker = Worker::new(db.clone(), mailer, metrics.clone(), config, redis);
    let bind = var_or("WORKER_BIND_ADDRESS", "127.0.0.1:8081");
    let (stop_tx, stop_rx) = watch::channel(false);

    let data = web::Data::new(db);
    let metrics_data = web::Data::from(metrics);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(metrics_data.clone())
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(render_metrics))
    })
    .workers(1)
    .disable_signals()
    .bind(&bind)
    .with_context(|| format!("WORKER_BIND_ADDRESS={bind} cannot be bound"))?
    .run();
    let server_handle = server.handle();
    tokio::spawn(server);
    tracing::info!(worker = %worker.id, bind = %bind, "worker.started");

    tokio::spawn(async move {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(detail = %e, "worker.sigterm_unavailable");
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        // The current job is finished within the grace period, or released.
        tracing::info!("worker.stopping");
        let _ = stop_tx.send(true);
    });
    worker.run(stop_rx).await?;
    server_handle.stop(true).await;
    Ok(())
}
