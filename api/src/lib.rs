//! Renkei's HTTP server: GraphQL over HTTP, GraphiQL, health and readiness; metrics on their
//! own address.

pub mod config;
pub mod files;
pub mod graphql;
pub mod health;
mod http;
pub mod kpi_cache;
pub mod metrics;
pub mod observe;
pub mod rate_limit;
pub mod state;

use actix_web::web;

pub use config::ApiConfig;
pub use state::AppState;

/// What the routes need to know beyond the state.
#[derive(Clone, Debug, Default)]
pub struct HttpConfig {
    /// Origins allowed to call from a browser (CORS); none by default.
    pub cors_origins: Vec<String>,
}

/// Mounts every route with the middleware every response goes through (spans and metrics,
/// security headers, CORS); shared by `serve` and the tests so that both run the same stack.
pub fn routes(cfg: &mut web::ServiceConfig, http: &HttpConfig) {
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST"])
        .allowed_headers([
            "authorization",
            "content-type",
            "accept",
            "x-request-id",
            "traceparent",
            "tracestate",
            http::admission::ORGANISATION_HEADER,
        ])
        .expose_headers(["x-request-id", "retry-after"])
        .max_age(600);
    for origin in &http.cors_origins {
        cors = cors.allowed_origin(origin);
    }
    let headers = actix_web::middleware::DefaultHeaders::new()
        .add(("x-content-type-options", "nosniff"))
        .add(("x-frame-options", "DENY"))
        .add(("referrer-policy", "no-referrer"))
        .add(("cross-origin-resource-policy", "same-origin"))
        .add(("content-security-policy", "default-src 'none'; frame-ancestors 'none'"))
        .add(("cache-control", "no-store"));
    cfg.service(
        web::scope("")
            .wrap(headers)
            .wrap(cors)
            .wrap(actix_web::middleware::from_fn(observe::observe))
            .service(
                web::resource("/graphql")
                    .route(web::post().to(graphql::post))
                    .route(web::get().to(graphql::get))
                    .default_service(web::to(graphql::method_not_allowed)),
            )
            .service(web::resource("/exports/checklists/{file}").route(web::get().to(files::export_checklists)))
            .service(
                web::resource("/forms/{fiscal_year}/{file}")
                    .route(web::get().to(files::download_form))
                    .route(web::put().to(files::upload_form)),
            )
            .service(web::resource("/bundles/{id}").route(web::get().to(files::download_bundle)))
            .service(web::resource("/graphiql").route(web::get().to(graphql::graphiql)))
            .service(web::resource("/healthz").route(web::get().to(health::healthz)))
            .service(web::resource("/readyz").route(web::get().to(health::readyz))),
    );
}

/// `/metrics` alone, for the separate metrics address (`METRICS_BIND_ADDRESS`): whatever an
/// ingress publishes of the API's port, the metrics are not on it.
pub fn metrics_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/metrics").route(web::get().to(health::metrics)));
}
