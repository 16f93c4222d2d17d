//! A request and the work it causes share one trace: the trace context travels in the job row,
//! and the worker's `job.run` spans continue it.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop loudly on what they cannot set up

use actix_web::test::TestRequest;
use renkei_core::mail::Mailer;
use renkei_tests::TestApp;
use renkei_tests::smtp::SmtpSink;
use renkei_tests::trace::{Capture, attr};

mod support;
use serde_json::json;

#[tokio::test]
async fn the_mail_an_incident_causes_is_in_the_requests_trace() {
    let app = TestApp::new().await;
    let capture = Capture::start();

    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let token = app.token(&app.fx.hospital_admin(&app.fx.tokyo));
    let query = "mutation { reportIncident(input: { title: \"不審な通信\", kind: MALWARE, discoveredAt: \"2026-11-20T07:30:00+09:00\", suspectedCyberAttack: true }) { id } }";
    let reply = app
        .send(
            TestRequest::post()
                .uri("/graphql")
                .insert_header(("content-type", "application/json"))
                .insert_header(("authorization", format!("Bearer {token}")))
                .insert_header(("traceparent", format!("00-{trace_id}-b7ad6b7169203331-01")))
                .set_payload(json!({ "query": query }).to_string()),
        )
        .await;
    let incident = reply.ok()["reportIncident"]["id"].as_str().expect("id").to_owned();

    let sink = SmtpSink::start().await;
    let worker = support::worker(&app, Mailer::smtp(&sink.url(), "Renkei <noreply@renkei.example>").expect("mailer"));
    worker.drain().await.expect("drain");
    assert!(sink.received().iter().any(|m| m.body().contains(&incident)), "the alert went out");

    let spans = capture.spans();
    let ours: Vec<_> =
        spans.iter().filter(|s| s.name == "job.run" && s.span_context.trace_id().to_string() == trace_id).collect();
    let kinds: Vec<String> = ours.iter().filter_map(|s| attr(s, "job.kind")).collect();
    assert!(kinds.contains(&"alert.incident_created".to_owned()), "{kinds:?}");
    assert!(kinds.iter().filter(|k| *k == "mail.send").count() >= 3, "each mail joins the trace: {kinds:?}");
    assert!(
        ours.iter()
            .all(|s| s.attributes.iter().any(|kv| kv.key.as_str() == "job.attempt" && kv.value.to_string() == "1"))
    );
}
