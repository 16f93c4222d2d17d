//! GraphQL over HTTP as the specification says: methods, media types, status codes, batches,
//! body limits — and no panic on malformed input.

use actix_web::test::TestRequest;
use renkei_tests::{Reply, TestApp};
use serde_json::{Value, json};

fn bearer(app: &TestApp) -> (String, String) {
    ("authorization".into(), format!("Bearer {}", app.token(&app.fx.national())))
}

fn post(app: &TestApp, body: &str) -> TestRequest {
    TestRequest::post()
        .uri("/graphql")
        .insert_header(("content-type", "application/json"))
        .insert_header(bearer(app))
        .set_payload(body.to_owned())
}

fn get(app: &TestApp, query: &str) -> TestRequest {
    TestRequest::get().uri(&format!("/graphql?{query}")).insert_header(bearer(app))
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[tokio::test]
async fn get_runs_queries_but_not_mutations() {
    let app = TestApp::new().await;
    let reply = app.send(get(&app, &format!("query={}", enc("{ viewer { role } }")))).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.data()["viewer"]["role"], "NATIONAL");
    assert!(reply.content_type.starts_with("application/json"));

    let before = app.count_organisations().await;
    let mutation = format!(
        "query={}&variables={}",
        enc(
            "mutation($p: Int!) { createOrganisation(input: { kind: VENDOR, name: \"GET株式会社\", prefecture: $p }) { id } }"
        ),
        enc("{\"p\": 13}")
    );
    let reply = app.send(get(&app, &mutation)).await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.code(), Some("METHOD_NOT_ALLOWED"));
    assert_eq!(app.count_organisations().await, before, "the mutation did not run");
}

#[tokio::test]
async fn malformed_get_parameters_are_400() {
    let app = TestApp::new().await;
    for (what, qs) in [
        ("variables not JSON", format!("query={}&variables=%7Bnot-json", enc("{ viewer { role } }"))),
        ("variables not an object", format!("query={}&variables=%5B1%5D", enc("{ viewer { role } }"))),
        ("no query", "variables=%7B%7D".to_owned()),
        ("query twice", format!("query={0}&query={0}", enc("{ viewer { role } }"))),
    ] {
        let reply = app.send(get(&app, &qs)).await;
        assert_eq!(reply.status, 400, "{what}: {}", reply.body);
        assert!(reply.code().is_some(), "{what}: the error carries a code");
    }
    // Broken percent-encoding reaches the GraphQL parser as text it cannot parse.
    let reply =
        app.send(get(&app, "query=%ZZ%E0%A4%A").insert_header(("accept", "application/graphql-response+json"))).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.code(), Some("GRAPHQL_PARSE_FAILED"));
}

#[tokio::test]
async fn other_methods_are_405() {
    let app = TestApp::new().await;
    for req in [TestRequest::put(), TestRequest::delete(), TestRequest::patch()] {
        let reply = app.send(req.uri("/graphql")).await;
        assert_eq!(reply.status, 405);
        assert_eq!(reply.code(), Some("METHOD_NOT_ALLOWED"));
    }
}

#[tokio::test]
async fn media_types_and_status_codes() {
    let app = TestApp::new().await;
    let invalid = json!({ "query": "{ viewer { nonsense } }" }).to_string();
    let unparsable = json!({ "query": "{ viewer { " }).to_string();

    // application/graphql-response+json: request errors are 4xx.
    for (body, code) in [(&invalid, "GRAPHQL_VALIDATION_FAILED"), (&unparsable, "GRAPHQL_PARSE_FAILED")] {
        let reply = app.send(post(&app, body).insert_header(("accept", "application/graphql-response+json"))).await;
        assert_eq!(reply.status, 400, "{}", reply.body);
        assert!(reply.content_type.starts_with("application/graphql-response+json"));
        assert_eq!(reply.code(), Some(code));
        assert!(reply.body.get("data").is_none(), "a request error has no data");
    }
    // application/json: the same requests answer 200 with errors.
    let reply = app.send(post(&app, &invalid).insert_header(("accept", "application/json"))).await;
    assert_eq!(reply.status, 200);
    assert!(reply.content_type.starts_with("application/json"));
    assert_eq!(reply.code(), Some("GRAPHQL_VALIDATION_FAILED"));

    // Field errors are not request errors: 200 with data and errors in either media type.
    let missing = json!({ "query": "{ organisations(first: 0) { totalCount } }" }).to_string();
    let reply = app.send(post(&app, &missing).insert_header(("accept", "application/graphql-response+json"))).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"));
    assert!(reply.body["errors"][0]["extensions"]["requestId"].as_str().is_some_and(|r| !r.is_empty()));

    let reply = app.send(post(&app, &invalid).insert_header(("accept", "text/html"))).await;
    assert_eq!(reply.status, 406);

    let reply = app.send(post(&app, &invalid).insert_header(("content-type", "text/plain"))).await;
    assert_eq!(reply.status, 415);
}

#[tokio::test]
async fn malformed_post_bodies_are_400() {
    let app = TestApp::new().await;
    for (what, body) in [
        ("not JSON", "{not json"),
        ("a string", "\"query\""),
        ("query not a string", r#"{"query": 42}"#),
        ("no query", r#"{"variables": {}}"#),
        ("variables not an object", r#"{"query": "{ viewer { role } }", "variables": [1]}"#),
        ("operationName not a string", r#"{"query": "{ viewer { role } }", "operationName": 1}"#),
        ("empty batch", "[]"),
        ("batch of strings", r#"["a"]"#),
    ] {
        let reply = app.send(post(&app, body)).await;
        assert_eq!(reply.status, 400, "{what}: {}", reply.body);
        assert!(reply.code().is_some(), "{what}");
    }
}

#[tokio::test]
async fn variables_of_the_wrong_type_are_refused() {
    let app = TestApp::new().await;
    let body = json!({ "query": "query($id: ID!) { organisation(id: $id) { id } }", "variables": { "id": { "nested": true } } });
    let reply =
        app.send(post(&app, &body.to_string()).insert_header(("accept", "application/graphql-response+json"))).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.code().is_some());
}

#[tokio::test]
async fn batches_are_bounded() {
    let app = TestApp::new().await;
    let op = json!({ "query": "{ viewer { role } }" });
    let reply: Reply = app.send(post(&app, &Value::Array(vec![op.clone(); 3]).to_string())).await;
    assert_eq!(reply.status, 200);
    let results = reply.body.as_array().expect("a batch answers with an array");
    assert_eq!(results.len(), 3);
    assert!(results.iter().all(|r| r["data"]["viewer"]["role"] == "NATIONAL"));

    let reply = app.send(post(&app, &Value::Array(vec![op; 11]).to_string())).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.code(), Some("BATCH_LIMIT"));
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let app = TestApp::new().await;
    let padding = " ".repeat(70 * 1024);
    let body = format!(r#"{{"query": "{{ viewer {{ role }} }}{padding}"}}"#);
    let reply = app.send(post(&app, &body)).await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.code(), Some("PAYLOAD_TOO_LARGE"));
}

#[tokio::test]
async fn health_readiness_and_graphiql() {
    let app = TestApp::new().await;
    let reply = app.send(TestRequest::get().uri("/healthz")).await;
    assert_eq!(reply.status, 200);
    let reply = app.send(TestRequest::get().uri("/readyz")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["postgres"], "ok");
    assert_eq!(reply.body["redis"], "ok", "the test Redis answers");
    let reply = app.send(TestRequest::get().uri("/graphiql")).await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.as_str().is_some_and(|html| html.contains("graphiql")));
}

#[tokio::test]
async fn fields_come_back_in_the_order_the_query_asked_for_them() {
    let app = TestApp::new().await;
    for (query, order) in [
        ("{ viewer { role subject } }", ["\"role\"", "\"subject\""]),
        ("{ viewer { subject role } }", ["\"subject\"", "\"role\""]),
    ] {
        let reply = app.send(post(&app, &json!({ "query": query }).to_string())).await;
        let text = String::from_utf8(reply.raw.clone()).expect("utf-8");
        let at = order.map(|key| text.find(key).unwrap_or_else(|| panic!("{key} in {text}")));
        assert!(at[0] < at[1], "{query} answered {text}");
    }
}
