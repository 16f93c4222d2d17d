//! GraphiQL and schema tools load the schema with the standard introspection query (nine
//! levels of `ofType`); the document limits must let it through while introspection is on.

use actix_web::test::TestRequest;
use renkei_tests::TestApp;
use serde_json::json;

#[tokio::test]
async fn the_standard_introspection_query_passes_the_limits() {
    let app = TestApp::new().await;
    let query = include_str!("introspection.graphql");
    let token = app.token(&app.fx.national());
    let reply = app
        .send(
            TestRequest::post()
                .uri("/graphql")
                .insert_header(("content-type", "application/json"))
                .insert_header(("authorization", format!("Bearer {token}")))
                .set_payload(json!({ "query": query, "operationName": "IntrospectionQuery" }).to_string()),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let types = reply.ok()["__schema"]["types"].as_array().expect("types").len();
    assert!(types > 40, "the whole schema came back: {types} types");
}
