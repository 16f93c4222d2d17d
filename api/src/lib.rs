//! Renkei's HTTP server: GraphQL over HTTP, GraphiQL, health and readiness.

pub mod config;
pub mod graphql_http;
pub mod health;
pub mod observe;
pub mod state;

use actix_web::web;

pub use config::ApiConfig;
pub use state::AppState;

/// Mounts every route; shared by `serve` and the tests. Wrap the app in
/// `actix_web::middleware::from_fn(observe::observe)` for spans and metrics.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/graphql")
            .route(web::post().to(graphql_http::post))
            .route(web::get().to(graphql_http::get))
            .default_service(web::to(graphql_http::method_not_allowed)),
    )
    .service(web::resource("/graphiql").route(web::get().to(graphql_http::graphiql)))
    .service(web::resource("/healthz").route(web::get().to(health::healthz)))
    .service(web::resource("/readyz").route(web::get().to(health::readyz)))
    .service(web::resource("/metrics").route(web::get().to(health::metrics)));
}
