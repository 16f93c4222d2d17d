//! `renkei-worker`: the background process. Today it holds its database pool and answers health
//! and readiness probes, so that deployments can run it; the durable job queue, e-mail alerts and
//! reporting bundles are built on this process (issue #6).

use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context as _;
use renkei_core::config::{DatabaseConfig, var_or};
use renkei_core::db::Db;
use serde_json::json;

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn readyz(db: web::Data<Db>) -> HttpResponse {
    let expected = renkei_migrations::versions().ok().and_then(|v| v.last().cloned());
    match tokio::time::timeout(Duration::from_secs(3), db.applied_migration()).await {
        Ok(Ok(applied)) if applied.is_some() && applied == expected => {
            HttpResponse::Ok().json(json!({ "status": "ready", "postgres": "ok" }))
        }
        Ok(Ok(_)) => {
            HttpResponse::ServiceUnavailable().json(json!({ "status": "not ready", "postgres": "migrations pending" }))
        }
        _ => HttpResponse::ServiceUnavailable().json(json!({ "status": "not ready", "postgres": "unreachable" })),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let db = Db::connect(&DatabaseConfig::from_env()?)?;
    let bind = var_or("WORKER_BIND_ADDRESS", "127.0.0.1:8081");
    tracing::info!(bind = %bind, "renkei-worker started");
    let data = web::Data::new(db);
    HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
    })
    .workers(1)
    .bind(&bind)
    .with_context(|| format!("WORKER_BIND_ADDRESS={bind} cannot be bound"))?
    .run()
    .await?;
    Ok(())
}
