//! Hardening: document limits before execution, rate limits in Redis with a local fallback,
//! the tamper-evident audit log, and HTTP headers.

use actix_web::test::TestRequest;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use renkei_core::Principal;
use renkei_core::audit::{self, Verdict};
use renkei_graphql::limits::Limits;
use renkei_tests::{Options, Reply, TestApp};
use serde_json::json;

async fn post_as_national(app: &TestApp, query: &str) -> Reply {
    let token = app.token(&app.fx.national());
    app.send(
        TestRequest::post()
            .uri("/graphql")
            .insert_header(("content-type", "application/json"))
            .insert_header(("accept", "application/graphql-response+json"))
            .insert_header(("authorization", format!("Bearer {token}")))
            .set_payload(json!({ "query": query }).to_string()),
    )
    .await
}

#[tokio::test]
async fn documents_beyond_the_limits_are_refused_before_execution() {
    let app = TestApp::new().await;
    let limits = Limits::default();

    let deep = format!("{{ viewer {{ organisation {{ {} id {} }} }} }}", "healthCentre { ".repeat(20), "}".repeat(20));
    let reply = post_as_national(&app, &deep).await;
    assert_eq!((reply.status, reply.code()), (400, Some("QUERY_TOO_DEEP")), "{}", reply.body);
    assert!(reply.body["errors"][0]["message"].as_str().unwrap_or_default().contains(&limits.max_depth.to_string()));

    let costly = "{ organisations(first: 100) { edges { node { users(first: 100) { edges { node { email } } } } } } }";
    let reply = post_as_national(&app, costly).await;
    assert_eq!((reply.status, reply.code()), (400, Some("QUERY_TOO_COMPLEX")), "{}", reply.body);
    let message = reply.body["errors"][0]["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("10000"), "names the budget: {message}");
    // The same shape with small pages fits the budget.
    let cheap = "{ organisations(first: 10) { edges { node { users(first: 10) { edges { node { email } } } } } } }";
    assert_eq!(post_as_national(&app, cheap).await.status, 200);

    let aliases: String = (0..31).map(|i| format!("a{i}: viewer {{ role }} ")).collect();
    let reply = post_as_national(&app, &format!("{{ {aliases} }}")).await;
    assert_eq!(reply.code(), Some("TOO_MANY_ROOT_FIELDS"), "{}", reply.body);
    let aliases: String = (0..31).map(|i| format!("a{i}: role ")).collect();
    let reply = post_as_national(&app, &format!("{{ viewer {{ {aliases} }} }}")).await;
    assert_eq!((reply.status, reply.code()), (400, Some("TOO_MANY_ALIASES")), "{}", reply.body);

    let long = format!("{{ viewer {{ {} }} }}", "role ".repeat(2_100));
    let reply = post_as_national(&app, &long).await;
    assert_eq!(reply.code(), Some("QUERY_TOO_LONG"), "{}", reply.body);

    // Fragments spread many times expand into many fields.
    let fragments = "fragment F on Viewer { role subject } fragment G on Viewer { ...F ...F ...F ...F ...F ...F ...F ...F ...F ...F } \
                     fragment H on Viewer { ...G ...G ...G ...G ...G ...G ...G ...G ...G ...G } \
                     { viewer { ...H ...H ...H ...H ...H ...H ...H ...H ...H ...H } }";
    let reply = post_as_national(&app, fragments).await;
    assert_eq!(reply.code(), Some("QUERY_TOO_LARGE"), "{}", reply.body);
}

#[tokio::test]
async fn introspection_can_be_switched_off() {
    let app = TestApp::with(Options { introspection: false, ..Options::default() }).await;
    let reply = post_as_national(&app, "{ __schema { queryType { name } } }").await;
    assert_eq!((reply.status, reply.code()), (400, Some("GRAPHQL_VALIDATION_FAILED")), "{}", reply.body);
    assert_eq!(post_as_national(&app, "{ viewer { role } }").await.status, 200);
    let open = TestApp::new().await;
    assert_eq!(post_as_national(&open, "{ __schema { queryType { name } } }").await.status, 200);

    // Nor do validation errors describe the schema then: they only say where the document is wrong.
    for probe in [
        "{ viewer { rol } }",
        "query($v: Nope) { viewer { role } }",
        "{ kpiReport(fiscalYears: [2024], groupBy: [NOPE]) { metric } }",
    ] {
        let reply = post_as_national(&app, probe).await;
        assert_eq!((reply.status, reply.code()), (400, Some("GRAPHQL_VALIDATION_FAILED")), "{}", reply.body);
        let error = &reply.body["errors"][0];
        assert_eq!(error["message"], "the document is invalid", "{probe}: {error}");
        if !probe.starts_with("query($v") {
            assert!(error["locations"][0]["line"].is_number(), "{probe}: the location stays: {error}");
        }
        let described = post_as_national(&open, probe).await;
        assert_ne!(described.body["errors"][0]["message"], "the document is invalid", "{}", described.body);
    }
    // Variables that do not fit their types, likewise.
    let token = app.token(&app.fx.national());
    let query = "query($by: [KpiDimension!]) { kpiReport(fiscalYears: [2024], groupBy: $by) { metric } }";
    let reply = app.gql_with_token(Some(&token), query, json!({ "by": ["NOPE"] })).await;
    let message = reply.body["errors"][0]["message"].as_str().unwrap_or_default().to_owned();
    assert!(!message.contains("KpiDimension"), "{message}");
}

fn strict_limits(mutations: u32) -> Options {
    let mut options = Options::default();
    options.rate_limits.mutations_per_token = mutations;
    options.rate_limits.auth_failures_per_ip = 3;
    options
}

async fn rate_limits_hold(app: &TestApp) {
    let official = app.fx.prefecture(&app.fx.tokyo);
    let update = "mutation($id: ID!) { updateOrganisation(id: $id, input: { ehrInUse: true }) { id } }";
    for _ in 0..3 {
        app.gql(&official, update, json!({ "id": app.fx.tokyo.hospital })).await.ok();
    }
    let reply = app.gql(&official, update, json!({ "id": app.fx.tokyo.hospital })).await;
    assert_eq!((reply.status, reply.code()), (429, Some("RATE_LIMITED")), "{}", reply.body);
    assert!(
        reply.headers.get("retry-after").and_then(|v| v.parse::<u64>().ok()).is_some_and(|s| (1..=60).contains(&s))
    );
    // Queries have their own budget; another official is not affected.
    app.gql(&official, "{ viewer { role } }", json!({})).await.ok();
    app.gql(&app.fx.prefecture(&app.fx.osaka), update, json!({ "id": app.fx.osaka.hospital })).await.ok();

    // Failed sign-ins from one address are counted, and refused once there were too many.
    for _ in 0..3 {
        assert_eq!(app.gql_with_token(Some("forged"), "{ viewer { role } }", json!({})).await.status, 401);
    }
    let reply = app.gql_with_token(Some("forged"), "{ viewer { role } }", json!({})).await;
    assert_eq!((reply.status, reply.code()), (429, Some("RATE_LIMITED")));
}

#[tokio::test]
async fn rate_limits_are_kept_in_redis() {
    let app = TestApp::with(strict_limits(3)).await;
    rate_limits_hold(&app).await;
    assert_eq!(app.state.metrics.rate_limit_redis_up.get(), 1);
    assert_eq!(app.state.metrics.rate_limit_fallbacks.get(), 0, "every decision went through Redis");
}

#[tokio::test]
async fn without_redis_the_api_serves_and_limits_locally() {
    // Nothing listens on port 1: Redis is down for this app.
    let app = TestApp::with(Options { redis_url: Some("redis://127.0.0.1:1".into()), ..strict_limits(3) }).await;
    rate_limits_hold(&app).await;
    assert_eq!(app.state.metrics.rate_limit_redis_up.get(), 0);
    assert!(app.state.metrics.rate_limit_fallbacks.get() > 0, "the fallback shows in the metrics");
    let metrics = app.send_metrics(TestRequest::get().uri("/metrics")).await;
    assert!(metrics.body.as_str().unwrap_or_default().contains("renkei_rate_limit_redis_up{process=\"api\"} 0"));
}

#[tokio::test]
async fn every_mutation_is_audited_and_tampering_shows() {
    let app = TestApp::new().await;
    let fx = &app.fx;
    let official = fx.prefecture(&fx.tokyo);
    let create =
        "mutation { createOrganisation(input: { kind: VENDOR, name: \"監査テスト株式会社\", prefecture: 13 }) { id } }";
    let created = app.gql(&official, create, json!({})).await;
    let created_id = created.ok()["createOrganisation"]["id"].as_str().expect("id").to_owned();
    let refused =
        "mutation($id: ID!) { designateCriticalInfrastructure(hospitalId: $id, designatedOn: \"2026-04-01\") { id } }";
    assert_eq!(app.gql(&official, refused, json!({ "id": fx.tokyo.hospital })).await.code(), Some("FORBIDDEN"));
    let osaka = "mutation($id: ID!) { updateOrganisation(id: $id, input: { ehrInUse: false }) { id } }";
    app.gql(&fx.prefecture(&fx.osaka), osaka, json!({ "id": fx.osaka.hospital })).await.ok();

    let trail = "{ auditTrail(first: 10) { edges { node { sequence actor role prefecture operation targetIds outcome requestId } } } }";
    let reply = app.gql(&official, trail, json!({})).await;
    let entries = reply.ok()["auditTrail"]["edges"].as_array().expect("edges").clone();
    assert_eq!(entries.len(), 2, "Tokyo reads its own two entries, not Osaka's: {entries:?}");
    let newest = &entries[0]["node"];
    assert_eq!(newest["operation"], "designateCriticalInfrastructure");
    assert_eq!(newest["outcome"], "FORBIDDEN");
    assert_eq!(newest["targetIds"], json!([fx.tokyo.hospital]));
    let oldest = &entries[1]["node"];
    assert_eq!(oldest["operation"], "createOrganisation");
    assert_eq!(oldest["outcome"], "ok");
    assert_eq!(oldest["targetIds"], json!([created_id]), "the created object's id is recorded");
    assert_eq!(oldest["prefecture"], 13);
    let all = app.gql(&fx.national(), trail, json!({})).await;
    assert_eq!(all.ok()["auditTrail"]["edges"].as_array().map(Vec::len), Some(3));
    for who in [fx.hospital_admin(&fx.tokyo), fx.health_centre(&fx.tokyo), fx.vendor(&fx.tokyo), fx.dashboard()] {
        assert_eq!(app.gql(&who, trail, json!({})).await.code(), Some("FORBIDDEN"));
    }

    // The application role can insert but never read, change or remove a row.
    let mut app_conn = app.db.app_conn().await;
    for sql in ["SELECT * FROM audit_log", "UPDATE audit_log SET outcome = 'ok'", "DELETE FROM audit_log"] {
        let err = app_conn.batch_execute(sql).await.expect_err(sql);
        assert!(err.to_string().contains("permission denied"), "{sql}: {err}");
    }

    let Verdict::Intact { rows: 3, head } = audit::verify(&app.db.owner_url).await.expect("verify") else {
        panic!("three rows, intact")
    };
    // The command an operator runs says so, and exits 0.
    assert_eq!(audit_verify(&app).await, (true, format!("audit chain intact: 3 rows, head {head}\n")));
    // The application role cannot move the head checkpoint either.
    let err = app_conn.batch_execute("UPDATE audit_head SET id = 1").await.expect_err("app moves the head");
    assert!(err.to_string().contains("permission denied"), "{err}");
    // Row-level security keeps even the owner from changing a row...
    let mut owner = AsyncPgConnection::establish(&app.db.owner_url).await.expect("owner");
    let changed = diesel_async::RunQueryDsl::execute(
        diesel::sql_query("UPDATE audit_log SET outcome = 'ok' WHERE id = 2"),
        &mut owner,
    )
    .await
    .expect("update as owner");
    assert_eq!(changed, 0, "the owner reads the log but changes no row");
    // ...but someone with the owner's password can lift it and rewrite history...
    owner.batch_execute("ALTER TABLE audit_log NO FORCE ROW LEVEL SECURITY").await.expect("lift");
    owner.batch_execute("UPDATE audit_log SET outcome = 'ok' WHERE id = 2").await.expect("tamper");
    assert_eq!(
        audit::verify(&app.db.owner_url).await.expect("verify"),
        Verdict::Broken { id: 2, reason: "its contents do not match its hash".into() }
    );
    owner.batch_execute("UPDATE audit_log SET outcome = 'FORBIDDEN' WHERE id = 2").await.expect("restore");
    assert!(matches!(audit::verify(&app.db.owner_url).await.expect("verify"), Verdict::Intact { .. }));
    // ... or removes the newest row, which leaves no link behind to break: the chain now ends
    // short of its head checkpoint.
    owner.batch_execute("DELETE FROM audit_log WHERE id = 3").await.expect("delete the newest");
    assert_eq!(
        audit::verify(&app.db.owner_url).await.expect("verify"),
        Verdict::Broken { id: 3, reason: "row 3 is missing: the chain ends before its head, row 3".into() }
    );
    // ... or a row within.
    owner.batch_execute("DELETE FROM audit_log WHERE id = 1").await.expect("delete");
    let broken = "row 1 is missing";
    assert_eq!(
        audit::verify(&app.db.owner_url).await.expect("verify"),
        Verdict::Broken { id: 2, reason: broken.into() }
    );
    assert_eq!(audit_verify(&app).await, (false, format!("audit chain broken at row 2: {broken}\n")));
}

/// `renkei-api audit verify` as an operator runs it: whether it exited 0, and what it printed.
async fn audit_verify(app: &TestApp) -> (bool, String) {
    let out = tokio::process::Command::new(renkei_tests::binary("renkei-api"))
        .args(["audit", "verify"])
        .env_clear()
        .env("MIGRATION_DATABASE_URL", &app.db.owner_url)
        .env("RUST_LOG", "error")
        .output()
        .await
        .expect("run renkei-api audit verify");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The newest audit entry's operation, outcome and targets, read as the log's owner.
async fn newest_audited(app: &TestApp) -> (String, String, Vec<String>) {
    #[derive(diesel::QueryableByName)]
    struct Entry {
        #[diesel(sql_type = diesel::sql_types::Text)]
        operation: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        outcome: String,
        #[diesel(sql_type = diesel::sql_types::Array<diesel::sql_types::Text>)]
        target_ids: Vec<String>,
    }
    let mut owner = app.db.owner_conn().await;
    let e: Entry = diesel_async::RunQueryDsl::get_result(
        diesel::sql_query("SELECT operation, outcome, target_ids FROM audit_log ORDER BY id DESC LIMIT 1"),
        &mut owner,
    )
    .await
    .expect("an audit entry");
    (e.operation, e.outcome, e.target_ids)
}

/// Every file route — the form download and upload, both exports, the bundle download — records
/// each attempt, served or refused, with its outcome.
#[tokio::test]
async fn every_file_route_is_audited() {
    let app = TestApp::new().await;
    let fx = &app.fx;
    let request = |p: &Principal, method: actix_web::http::Method, uri: &str| {
        TestRequest::default()
            .method(method)
            .uri(uri)
            .insert_header(("authorization", format!("Bearer {}", app.token(p))))
    };
    use actix_web::http::Method;
    let official = fx.prefecture(&fx.tokyo);
    let admin = fx.hospital_admin(&fx.tokyo);
    let form_target = format!("{}/2024/hospital", fx.tokyo.hospital);

    let form = app.send(request(&admin, Method::GET, "/forms/2024/hospital.xlsx")).await;
    assert_eq!(form.status, 200);
    assert_eq!(newest_audited(&app).await, ("downloadChecklistForm".into(), "ok".into(), vec![form_target.clone()]));
    let foreign = format!("/forms/2024/hospital.xlsx?hospital={}", fx.osaka.hospital);
    assert_eq!(app.send(request(&admin, Method::GET, &foreign)).await.status, 404);
    let osaka_target = format!("{}/2024/hospital", fx.osaka.hospital);
    assert_eq!(newest_audited(&app).await, ("downloadChecklistForm".into(), "NOT_FOUND".into(), vec![osaka_target]));

    let upload = |p: &Principal| {
        request(p, Method::PUT, "/forms/2024/hospital.xlsx")
            .insert_header(("content-type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))
            .set_payload(form.raw.clone())
    };
    assert_eq!(app.send(upload(&admin)).await.status, 200);
    assert_eq!(newest_audited(&app).await, ("uploadChecklistForm".into(), "ok".into(), vec![form_target.clone()]));
    assert_eq!(app.send(upload(&fx.hospital_staff(&fx.tokyo))).await.status, 403);
    assert_eq!(newest_audited(&app).await, ("uploadChecklistForm".into(), "FORBIDDEN".into(), vec![form_target]));

    for kind in ["csv", "xlsx"] {
        let uri = format!("/exports/checklists/2024.{kind}");
        assert_eq!(app.send(request(&official, Method::GET, &uri)).await.status, 200);
        assert_eq!(newest_audited(&app).await, ("exportChecklists".into(), "ok".into(), vec![format!("2024.{kind}")]));
        assert_eq!(app.send(request(&admin, Method::GET, &uri)).await.status, 403);
        assert_eq!(
            newest_audited(&app).await,
            ("exportChecklists".into(), "FORBIDDEN".into(), vec![format!("2024.{kind}")])
        );
    }

    // Osaka's bundle, asked for by Tokyo: not found for it, and recorded.
    let bundle = format!("/bundles/{}", fx.osaka_bundle);
    assert_eq!(app.send(request(&official, Method::GET, &bundle)).await.status, 404);
    assert_eq!(
        newest_audited(&app).await,
        ("downloadBundle".into(), "NOT_FOUND".into(), vec![fx.osaka_bundle.to_string()])
    );
    assert_eq!(app.send(request(&admin, Method::GET, &bundle)).await.status, 403);
    assert_eq!(
        newest_audited(&app).await,
        ("downloadBundle".into(), "FORBIDDEN".into(), vec![fx.osaka_bundle.to_string()])
    );
}

#[tokio::test]
async fn responses_carry_security_headers_and_cors_is_closed_by_default() {
    let app =
        TestApp::with(Options { cors_origins: vec!["https://dashboard.example.jp".into()], ..Options::default() })
            .await;
    let reply = post_as_national(&app, "{ viewer { role } }").await;
    for (header, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(reply.headers.get(header).map(String::as_str), Some(value), "{header}");
    }
    assert!(reply.headers["content-security-policy"].contains("default-src 'none'"));

    let preflight = |origin: &str| {
        TestRequest::default()
            .method(actix_web::http::Method::OPTIONS)
            .uri("/graphql")
            .insert_header(("origin", origin.to_owned()))
            .insert_header(("access-control-request-method", "POST"))
            .insert_header(("access-control-request-headers", "authorization, content-type"))
    };
    let allowed = app.send(preflight("https://dashboard.example.jp")).await;
    assert_eq!(
        allowed.headers.get("access-control-allow-origin").map(String::as_str),
        Some("https://dashboard.example.jp")
    );
    let refused = app.send(preflight("https://evil.example")).await;
    assert!(!refused.headers.contains_key("access-control-allow-origin"), "{:?}", refused.headers);
}

/// What the fuzzer found once, kept from coming back.
#[tokio::test]
async fn fuzzer_findings_stay_fixed() {
    let app = TestApp::new().await;
    let national = app.fx.national();
    // NUL in text reaching PostgreSQL was an internal error.
    let search = "query($s: String) { organisations(first: 5, filter: { nameContains: $s }) { totalCount } }";
    assert_eq!(app.gql(&national, search, json!({ "s": "\u{0}" })).await.code(), Some("BAD_USER_INPUT"));
    let forged = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        format!("{}a\u{0}b", app.fx.tokyo.hospital),
    );
    let page = "query($after: String) { organisations(first: 5, after: $after) { totalCount } }";
    assert_eq!(app.gql(&national, page, json!({ "after": forged })).await.code(), Some("BAD_USER_INPUT"));
    // ...and the refused attempt was still audited.
    let reply = app.gql(&national, "mutation { deactivateUser(id: \"\\u0000\") { id } }", json!({})).await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"));
    let trail =
        app.gql(&national, "{ auditTrail(first: 5) { edges { node { operation outcome } } } }", json!({})).await;
    assert_eq!(
        trail.ok()["auditTrail"]["edges"][0]["node"],
        json!({ "operation": "deactivateUser", "outcome": "BAD_USER_INPUT" })
    );

    // A variable of an unknown type with a default value made juniper panic.
    let reply = post_as_national(&app, "query($v: Nope = null) { viewer { role } }").await;
    assert_eq!((reply.status, reply.code()), (400, Some("GRAPHQL_VALIDATION_FAILED")), "{}", reply.body);
    assert_eq!(post_as_national(&app, "{ viewer { role } }").await.status, 200, "and the server carries on");

    // Non-null lists ([T!]!) were charged as single objects.
    let fan = "{ organisations(first: 100) { nodes { vendors { linkedHospitals { vendors { linkedHospitals { id } } } } } } }";
    assert_eq!(post_as_national(&app, fan).await.code(), Some("QUERY_TOO_COMPLEX"));
}

/// A change and its audit row are one transaction: when the audit row cannot be written, the
/// change is not kept either (it used to stand, with the failure only logged).
#[tokio::test]
async fn a_change_and_its_audit_row_commit_together() {
    let app = TestApp::new().await;
    let official = app.fx.prefecture(&app.fx.tokyo);
    let create = |name: &str| {
        format!(
            "mutation {{ createOrganisation(input: {{ kind: VENDOR, name: \"{name}\", prefecture: 13 }}) {{ id }} }}"
        )
    };
    let created = app.gql(&official, &create("同時記録株式会社"), json!({})).await;
    let id = created.ok()["createOrganisation"]["id"].as_str().expect("id").to_owned();

    let trail = "{ auditTrail(first: 1) { edges { node { operation targetIds outcome } } } }";
    let newest = app.gql(&official, trail, json!({})).await;
    assert_eq!(newest.ok()["auditTrail"]["edges"][0]["node"]["targetIds"], json!([id]));

    let mut owner = AsyncPgConnection::establish(&app.db.owner_url).await.expect("owner");
    // With the audit log refusing inserts, the change is refused and nothing is kept.
    let before = app.count_organisations().await;
    owner.batch_execute("REVOKE INSERT ON audit_log FROM renkei_app").await.expect("revoke");
    let refused = app.gql(&official, &create("記録されない株式会社"), json!({})).await;
    owner.batch_execute("GRANT INSERT ON audit_log TO renkei_app").await.expect("grant");
    assert!(refused.code().is_some(), "{}", refused.body);
    assert!(refused.body["data"]["createOrganisation"].is_null(), "{}", refused.body);
    assert_eq!(app.count_organisations().await, before, "a change whose audit row failed is not kept");
}

const KPI_ROW: &str =
    "{ fiscalYear metric item bedBand prefectureCode designated function numerator denominator rate suppressed }";

async fn post_batch(app: &TestApp, principal: &renkei_core::Principal, operations: Vec<serde_json::Value>) -> Reply {
    let token = app.token(principal);
    app.send(
        TestRequest::post()
            .uri("/graphql")
            .insert_header(("content-type", "application/json"))
            .insert_header(("authorization", format!("Bearer {token}")))
            .set_payload(serde_json::Value::Array(operations).to_string()),
    )
    .await
}

#[tokio::test]
async fn a_kpi_report_is_charged_the_rows_it_can_return() {
    let app = TestApp::new().await;
    let staff = app.fx.hospital_staff(&app.fx.tokyo);
    // The query: every metric by prefecture, bed band, designation and function over
    // three years. It was charged 10 and took seconds; it is refused before it runs.
    let abusive = format!(
        "{{ kpiReport(fiscalYears: [2022, 2023, 2024], groupBy: [PREFECTURE, BED_BAND, DESIGNATION, FUNCTION], \
         metrics: [SUBMISSION_RATE, BCP_RATE, EHR_BACKUP_RATE, OFFLINE_BACKUP_RATE, SECURITY_MANAGER_RATE, \
         FULL_COMPLIANCE_RATE, ITEM_YES_RATE, OVERDUE_IMPROVEMENTS, ADDON1_READINESS_RATE]) {KPI_ROW} }}"
    );
    let reply = app.gql(&staff, &abusive, json!({})).await;
    assert_eq!(reply.code(), Some("QUERY_TOO_COMPLEX"), "{}", reply.body);
    let message = reply.body["errors"][0]["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("1030428") && message.contains("10000"), "names the cost and the budget: {message}");
    // What a dashboard asks: the national report by prefecture and bed band for three years.
    let dashboard =
        format!("{{ kpiReport(fiscalYears: [2022, 2023, 2024], groupBy: [PREFECTURE, BED_BAND]) {KPI_ROW} }}");
    app.gql(&app.fx.dashboard(), &dashboard, json!({})).await.ok();
}

#[tokio::test]
async fn a_batch_shares_one_cost_budget() {
    let app = TestApp::new().await;
    // 7,896 each: one fits the budget of 10,000, two do not.
    let dashboard = json!({ "query": format!("{{ kpiReport(fiscalYears: [2022, 2023, 2024], groupBy: [PREFECTURE, BED_BAND]) {KPI_ROW} }}") });
    let reply = post_batch(&app, &app.fx.dashboard(), vec![dashboard.clone(), dashboard.clone(), dashboard]).await;
    let results = reply.body.as_array().expect("a batch answers with an array");
    assert!(results[0]["data"]["kpiReport"].is_array(), "{}", results[0]);
    for refused in &results[1..] {
        assert_eq!(refused["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX", "{refused}");
        assert!(refused["errors"][0]["message"].as_str().unwrap_or_default().contains("2104 of its budget of 10000"));
        assert!(refused.get("data").is_none(), "refused before it ran: {refused}");
    }
}

#[tokio::test]
async fn a_batch_shares_one_deadline() {
    let app = TestApp::with(Options { request_timeout: std::time::Duration::from_secs(1), ..Options::default() }).await;
    let official = app.fx.prefecture(&app.fx.tokyo);
    // Someone keeps organisations from changing: each update waits (reads go on).
    let mut owner = AsyncPgConnection::establish(&app.db.owner_url).await.expect("owner");
    owner.batch_execute("BEGIN; LOCK TABLE organisations IN SHARE MODE").await.expect("lock");
    let update = json!({ "query": format!("mutation {{ updateOrganisation(id: \"{}\", input: {{ ehrInUse: true }}) {{ id }} }}", app.fx.tokyo.hospital) });
    let started = std::time::Instant::now();
    let reply = post_batch(&app, &official, vec![update.clone(), update.clone(), update]).await;
    let took = started.elapsed();
    owner.batch_execute("ROLLBACK").await.expect("unlock");
    let results = reply.body.as_array().expect("a batch answers with an array");
    assert!(results.iter().all(|r| r["errors"][0]["extensions"]["code"] == "TIMEOUT"), "{}", reply.body);
    // One request timeout in all, not one per operation.
    assert!(took < std::time::Duration::from_millis(2_500), "the batch took {took:?}");
}

#[tokio::test]
async fn a_verified_token_passes_whatever_others_behind_the_same_address_forged() {
    let app = TestApp::with(strict_limits(100)).await;
    for _ in 0..3 {
        assert_eq!(app.gql_with_token(Some("forged"), "{ viewer { role } }", json!({})).await.status, 401);
    }
    let reply = app.gql_with_token(Some("forged"), "{ viewer { role } }", json!({})).await;
    assert_eq!((reply.status, reply.code()), (429, Some("RATE_LIMITED")));
    // The same address, a token that verifies: served.
    app.gql(&app.fx.national(), "{ viewer { role } }", json!({})).await.ok();
    let reply = app.gql_with_token(Some("forged"), "{ viewer { role } }", json!({})).await;
    assert_eq!(reply.status, 429, "and forging goes on being refused");
}

/// A request through the one trusted proxy, whose `X-Forwarded-For` reads `forwarded`.
async fn through_proxy(app: &TestApp, forwarded: &str) -> Reply {
    let token = app.token(&app.fx.national());
    app.send(
        TestRequest::post()
            .uri("/graphql")
            .peer_addr("10.0.0.2:40000".parse().expect("address"))
            .insert_header(("content-type", "application/json"))
            .insert_header(("authorization", format!("Bearer {token}")))
            .insert_header(("x-forwarded-for", forwarded.to_owned()))
            .set_payload(json!({ "query": "{ viewer { role } }" }).to_string()),
    )
    .await
}

#[tokio::test]
async fn behind_a_proxy_the_address_it_wrote_is_the_key() {
    let mut options = Options { forwarded_for_hops: 1, ..Options::default() };
    options.rate_limits.per_ip = 3;
    let app = TestApp::with(options).await;
    // Bypass: the client writes a new address each time; the proxy appends the real one.
    for i in 0..3 {
        through_proxy(&app, &format!("198.51.100.{i}, 203.0.113.7")).await.ok();
    }
    let reply = through_proxy(&app, "198.51.100.99, 203.0.113.7").await;
    assert_eq!((reply.status, reply.code()), (429, Some("RATE_LIMITED")), "{}", reply.body);
    // Lock-out: naming someone else's address spends the writer's budget, not theirs.
    for _ in 0..3 {
        through_proxy(&app, "203.0.113.50, 203.0.113.8").await.ok();
    }
    through_proxy(&app, "203.0.113.50").await.ok();
}

#[tokio::test]
async fn the_mutation_limit_counts_root_mutation_fields() {
    let app = TestApp::with(strict_limits(60)).await;
    let official = app.fx.prefecture(&app.fx.tokyo);
    let fields: String = (0..10)
        .map(|i| {
            format!(
                "u{i}: updateOrganisation(id: \"{}\", input: {{ ehrInUse: true }}) {{ id }} ",
                app.fx.tokyo.hospital
            )
        })
        .collect();
    let operation = json!({ "query": format!("mutation {{ {fields} }}") });
    let reply = post_batch(&app, &official, vec![operation; 10]).await;
    let results = reply.body.as_array().expect("a batch answers with an array");
    let passed = results.iter().filter(|r| r.get("errors").is_none()).count();
    assert_eq!(passed, 6, "60 mutation fields a minute, ten to an operation: {}", reply.body);
    assert!(results[6..].iter().all(|r| r["errors"][0]["extensions"]["code"] == "RATE_LIMITED"), "{}", reply.body);
}

#[tokio::test]
async fn dates_outside_a_plausible_range_are_bad_user_input() {
    let app = TestApp::new().await;
    let national = app.fx.national();
    // Before 4713 BC PostgreSQL cannot store a date: this answered INTERNAL.
    let coverage = app
        .gql(
            &national,
            "query($d: LocalDate) { designationCoverage(asOf: $d) { asOf } }",
            json!({ "d": "-5000-01-01" }),
        )
        .await;
    assert_eq!(coverage.code(), Some("BAD_USER_INPUT"), "{}", coverage.body);
    let defaulted = "query($d: LocalDate = \"-5000-01-01\") { designationCoverage(asOf: $d) { asOf } }";
    assert_eq!(app.gql(&national, defaulted, json!({})).await.code(), Some("BAD_USER_INPUT"));
    let before = app.fingerprint().await;
    let designate = "mutation($id: ID!, $on: LocalDate!) { designateCriticalInfrastructure(hospitalId: $id, designatedOn: $on) { id } }";
    let reply = app.gql(&national, designate, json!({ "id": app.fx.tokyo.hospital, "on": "9999-04-01" })).await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"), "{}", reply.body);
    assert!(reply.body["errors"][0]["message"].as_str().unwrap_or_default().starts_with("designatedOn:"));
    let official = app.fx.prefecture(&app.fx.tokyo);
    let window = "mutation { setSubmissionWindow(fiscalYear: 2026, opensOn: \"2026-04-01\", closesOn: \"+200000-03-31\") { fiscalYear } }";
    assert_eq!(app.gql(&official, window, json!({})).await.code(), Some("BAD_USER_INPUT"));
    assert_eq!(app.fingerprint().await, before, "nothing was written");
    // A plausible date still goes through.
    app.gql(&national, designate, json!({ "id": app.fx.tokyo.hospital, "on": "2026-04-01" })).await.ok();
}
