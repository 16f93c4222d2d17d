//! One span and one set of metrics per HTTP request: route, method, status, and — recorded by
//! `http::admission` once the registry has answered — role and tenant (never personal data). The
//! span continues the caller's trace when a `traceparent` header comes in.

use std::collections::HashMap;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use tracing::Instrument;

use crate::AppState;

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let method = req.method().as_str().to_owned();
    let span = tracing::info_span!(
        "http.request",
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
        renkei.role = tracing::field::Empty,
        renkei.tenant = tracing::field::Empty,
        graphql.operation.name = tracing::field::Empty,
    );
    let carrier: HashMap<String, String> = ["traceparent", "tracestate"]
        .into_iter()
        .filter_map(|k| req.headers().get(k).and_then(|v| v.to_str().ok()).map(|v| (k.to_owned(), v.to_owned())))
        .collect();
    if !carrier.is_empty() {
        renkei_core::telemetry::set_parent_from(&span, &carrier);
    }
    let metrics = req.app_data::<web::Data<AppState>>().map(|s| s.metrics.clone());
    let started = Instant::now();
    let res = next.call(req).instrument(span.clone()).await;
    let status = match &res {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    span.record("http.response.status_code", status);
    if let Some(m) = metrics {
        m.http_requests.with_label_values(&[route.as_str(), method.as_str(), &status.to_string()]).inc();
        m.http_duration.with_label_values(&[route.as_str()]).observe(started.elapsed().as_secs_f64());
    }
    res
}
