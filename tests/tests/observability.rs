//! Spans and metrics of one request, seen through an in-memory OpenTelemetry exporter and the
//! Prometheus endpoint.

use actix_web::test::TestRequest;
use opentelemetry_sdk::trace::SpanData;
use renkei_tests::TestApp;
use renkei_tests::trace::{Capture, attr};
use serde_json::json;

#[tokio::test]
async fn a_request_continues_the_callers_trace_with_named_spans() {
    let app = TestApp::new().await;
    let capture = Capture::start();

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let token = app.token(&app.fx.prefecture(&app.fx.tokyo));
    let reply = app
        .send(
            TestRequest::post()
                .uri("/graphql")
                .insert_header(("content-type", "application/json"))
                .insert_header(("authorization", format!("Bearer {token}")))
                .insert_header(("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01")))
                .set_payload(json!({ "query": "query ListHospitals { organisations(first: 5) { totalCount } }", "operationName": "ListHospitals" }).to_string()),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let spans = capture.spans();

    let names: Vec<String> = spans
        .iter()
        .map(|s| format!("{} {} {} {}", s.name, s.span_context.trace_id(), s.span_context.span_id(), s.parent_span_id))
        .collect();
    let http =
        spans.iter().find(|s| s.name == "http.request").unwrap_or_else(|| panic!("an http.request span in {names:?}"));
    assert_eq!(http.span_context.trace_id().to_string(), trace_id, "the caller's trace continues");
    assert_eq!(attr(http, "http.route").as_deref(), Some("/graphql"));
    assert_eq!(attr(http, "http.request.method").as_deref(), Some("POST"));
    assert_eq!(attr(http, "http.response.status_code").as_deref(), Some("200"));
    assert_eq!(attr(http, "renkei.role").as_deref(), Some("prefecture"));
    assert_eq!(attr(http, "renkei.tenant").as_deref(), Some("13"));
    let personal = ["東京-official", "official-13"];
    for span in &spans {
        for kv in &span.attributes {
            let value = kv.value.to_string();
            assert!(
                !personal.iter().any(|p| value.contains(p)),
                "no subject or personal data in span attributes: {kv:?}"
            );
        }
    }

    let op = spans.iter().find(|s| s.name == "graphql.operation").expect("a graphql.operation span");
    assert_eq!(op.parent_span_id, http.span_context.span_id(), "the operation runs inside the request");
    assert_eq!(attr(op, "graphql.operation.name").as_deref(), Some("ListHospitals"));
    assert_eq!(attr(op, "graphql.operation.type").as_deref(), Some("query"));
    assert_eq!(attr(op, "graphql.outcome").as_deref(), Some("ok"));

    let db: Vec<&SpanData> = spans.iter().filter(|s| s.name == "db.transaction").collect();
    assert_eq!(db.len(), 1, "the resolvers of a query share one tenant transaction");
    assert!(db.iter().all(|s| s.span_context.trace_id().to_string() == trace_id));
    assert!(db.iter().all(|s| attr(s, "db.system").as_deref() == Some("postgresql")));
}

#[tokio::test]
async fn metrics_count_requests_operations_and_pool_use() {
    let app = TestApp::new().await;
    let token = app.token(&app.fx.national());
    for _ in 0..3 {
        let body = json!({ "query": "query Viewer { viewer { role } }", "operationName": "Viewer" });
        let req = TestRequest::post()
            .uri("/graphql")
            .insert_header(("content-type", "application/json"))
            .insert_header(("authorization", format!("Bearer {token}")))
            .set_payload(body.to_string());
        app.send(req).await.ok();
    }
    // A refused request is counted with its status.
    app.gql_with_token(None, "{ viewer { role } }", json!({})).await;

    // Not on the API's address, whatever an ingress routes there; on the metrics address.
    assert_eq!(app.send(TestRequest::get().uri("/metrics")).await.status, 404);
    let reply = app.send_metrics(TestRequest::get().uri("/metrics")).await;
    assert_eq!(reply.status, 200);
    let text = reply.body.as_str().expect("text exposition").to_owned();
    let value = |name: &str, labels: &[(&str, &str)]| -> Option<f64> {
        text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            let matches = metric == name && labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            if matches { value.parse().ok() } else { None }
        })
    };
    let post = [("route", "/graphql"), ("method", "POST"), ("process", "api")];
    assert_eq!(
        value("renkei_http_requests_total", &[post.as_slice(), &[("status", "200")]].concat()),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        value("renkei_http_requests_total", &[post.as_slice(), &[("status", "401")]].concat()),
        Some(1.0),
        "{text}"
    );
    assert_eq!(value("renkei_http_request_duration_seconds_count", &[("route", "/graphql")]), Some(4.0), "{text}");
    assert_eq!(
        value("renkei_graphql_operations_total", &[("operation", "Viewer"), ("type", "query"), ("outcome", "ok")]),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        value("renkei_graphql_operations_total", &[("operation", "anonymous")]),
        None,
        "the refused request never ran"
    );
    assert_eq!(value("renkei_graphql_operation_duration_seconds_count", &[("operation", "Viewer")]), Some(3.0));
    assert_eq!(value("renkei_db_pool_connections", &[("state", "max")]), Some(4.0), "{text}");
    assert_eq!(
        value("renkei_db_pool_connections", &[("state", "in_use")]),
        Some(0.0),
        "connections went back to the pool"
    );
}
