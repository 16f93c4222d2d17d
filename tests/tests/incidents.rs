//! Incident reporting: lifecycle, versions, timeline, regulatory clocks, rights, bad input, and
//! the alert jobs written in the same transaction.

use chrono::{DateTime, Duration, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use renkei_core::incidents::clocks::day_of;
use renkei_tests::{Reply, TestApp};
use serde_json::{Value, json};

const REPORT: &str = "mutation($input: IncidentReportInput!) { reportIncident(input: $input) { id phase currentVersion hospital { id } } }";

/// An incident report discovered `days_ago` before `now`, which a test takes once: two readings
/// of the clock can straddle midnight in Japan and disagree on the day.
fn report(now: DateTime<Utc>, kind: &str, days_ago: i64, leak: &str) -> Value {
    let discovered = now - Duration::days(days_ago);
    let mut input = json!({
        "title": "電子カルテが開けない",
        "kind": kind,
        "discoveredAt": discovered.to_rfc3339(),
        "suspectedCyberAttack": kind != "NEAR_MISS",
        "personalDataLeak": leak,
        "infectionVector": "VPN_DEVICE",
        "servicesSuspended": [{ "service": "OUTPATIENT", "from": discovered.to_rfc3339() }],
    });
    if leak != "NONE" {
        input["leakLearnedOn"] = json!(day_of(discovered).to_string());
    }
    input
}

fn id_of(reply: &Reply, field: &str) -> String {
    reply.ok()[field]["id"].as_str().unwrap_or_else(|| panic!("{field}: {}", reply.body)).to_owned()
}

#[tokio::test]
async fn staff_raise_the_security_manager_carries_it_through_the_phases() {
    let app = TestApp::new().await;
    let now = Utc::now();
    let (staff, admin) = (app.fx.hospital_staff(&app.fx.tokyo), app.fx.hospital_admin(&app.fx.tokyo));
    let raised = app.gql(&staff, REPORT, json!({ "input": report(now, "RANSOMWARE", 1, "NONE") })).await;
    assert_eq!(raised.ok()["reportIncident"]["phase"], "DETECTION");
    assert_eq!(raised.ok()["reportIncident"]["hospital"]["id"], json!(app.fx.tokyo.hospital));
    let id = id_of(&raised, "reportIncident");

    let mv = "mutation($id: ID!, $to: IncidentPhase!) { moveIncident(id: $id, to: $to) { phase closedAt } }";
    assert_eq!(app.gql(&staff, mv, json!({ "id": id, "to": "INITIAL_RESPONSE" })).await.code(), Some("FORBIDDEN"));
    for refused in ["RECOVERY", "CLOSED", "DETECTION"] {
        let reply = app.gql(&admin, mv, json!({ "id": id, "to": refused })).await;
        assert_eq!(reply.code(), Some("BAD_USER_INPUT"), "DETECTION → {refused}: {}", reply.body);
    }
    for to in ["INITIAL_RESPONSE", "RECOVERY", "POST_INCIDENT"] {
        assert_eq!(app.gql(&admin, mv, json!({ "id": id, "to": to })).await.ok()["moveIncident"]["phase"], to);
    }
    // A required task keeps it open.
    let task = app
        .gql(&admin, "mutation($id: ID!) { addIncidentTask(id: $id, input: { title: \"再発防止策の周知\", step: \"4-6\", required: true }) { id } }", json!({ "id": id }))
        .await;
    let task_id = id_of(&task, "addIncidentTask");
    let reply = app.gql(&admin, mv, json!({ "id": id, "to": "CLOSED" })).await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"));
    assert!(reply.body["errors"][0]["message"].as_str().unwrap_or_default().contains("required task"));
    app.gql(
        &admin,
        "mutation($t: ID!) { setIncidentTaskDone(taskId: $t, done: true) { doneAt } }",
        json!({ "t": task_id }),
    )
    .await
    .ok();
    let closed = app.gql(&admin, mv, json!({ "id": id, "to": "CLOSED" })).await;
    assert!(closed.ok()["moveIncident"]["closedAt"].is_string());
    // Closed reports no longer change.
    let amend = "mutation($id: ID!, $input: IncidentReportInput!) { amendIncident(id: $id, reportKind: FINAL, input: $input) { id } }";
    assert_eq!(
        app.gql(&admin, amend, json!({ "id": id, "input": report(now, "RANSOMWARE", 1, "NONE") })).await.code(),
        Some("BAD_USER_INPUT")
    );

    // Near misses are lighter: they close at once and carry no clock.
    let near = app.gql(&staff, REPORT, json!({ "input": report(now, "NEAR_MISS", 0, "NONE") })).await;
    let near_id = id_of(&near, "reportIncident");
    assert_eq!(
        app.gql(&admin, mv, json!({ "id": near_id, "to": "CLOSED" })).await.ok()["moveIncident"]["phase"],
        "CLOSED"
    );
    let clocks = app
        .gql(&admin, "query($id: ID!) { incident(id: $id) { clocks { recipient } } }", json!({ "id": near_id }))
        .await;
    assert_eq!(clocks.ok()["incident"]["clocks"], json!([]));
}

#[tokio::test]
async fn versions_are_kept_and_the_timeline_is_in_order() {
    let app = TestApp::new().await;
    let now = Utc::now();
    let admin = app.fx.hospital_admin(&app.fx.tokyo);
    let id = id_of(
        &app.gql(&admin, REPORT, json!({ "input": report(now, "RANSOMWARE", 3, "NONE") })).await,
        "reportIncident",
    );
    let amend = "mutation($id: ID!, $kind: ReportKind!, $input: IncidentReportInput!) { amendIncident(id: $id, reportKind: $kind, input: $input) { currentVersion } }";
    let mut update = report(now, "RANSOMWARE", 3, "SUSPECTED");
    update["measuresTaken"] = json!("VPN機器を停止");
    assert_eq!(
        app.gql(&admin, amend, json!({ "id": id, "kind": "UPDATE", "input": update })).await.ok()["amendIncident"]["currentVersion"],
        2
    );
    let mut last = report(now, "RANSOMWARE", 3, "CONFIRMED");
    last["recordsAffected"] = json!(1200);
    app.gql(&admin, amend, json!({ "id": id, "kind": "FINAL", "input": last })).await.ok();
    assert_eq!(
        app.gql(&admin, amend, json!({ "id": id, "kind": "FIRST", "input": last })).await.code(),
        Some("BAD_USER_INPUT")
    );

    let q = "query($id: ID!) { incident(id: $id) { personalDataLeak versions { version reportKind report { personalDataLeak measuresTaken recordsAffected } } report { recordsAffected } timeline { step note } } }";
    let reply = app.gql(&admin, q, json!({ "id": id })).await;
    let incident = &reply.ok()["incident"];
    let versions = incident["versions"].as_array().expect("versions");
    assert_eq!(
        versions.iter().map(|v| v["reportKind"].clone()).collect::<Vec<_>>(),
        vec![json!("FIRST"), json!("UPDATE"), json!("FINAL")]
    );
    assert_eq!(versions[0]["report"]["personalDataLeak"], "NONE", "the first report reads as filed");
    assert_eq!(versions[0]["report"]["measuresTaken"], Value::Null);
    assert_eq!(versions[1]["report"]["measuresTaken"], "VPN機器を停止");
    assert_eq!(incident["report"]["recordsAffected"], 1200.0);
    assert_eq!(incident["personalDataLeak"], "CONFIRMED");

    // Events recorded out of order come back in the order they happened.
    let add = "mutation($id: ID!, $step: String!, $at: DateTime!) { addIncidentEvent(id: $id, input: { step: $step, occurredAt: $at, actor: \"security_manager\" }) { id } }";
    let base = Utc::now() - Duration::days(3);
    for (step, hours) in [("2-6", 5), ("1-2", 1), ("2-1", 3)] {
        app.gql(&admin, add, json!({ "id": id, "step": step, "at": (base + Duration::hours(hours)).to_rfc3339() }))
            .await
            .ok();
    }
    let notify = "mutation($id: ID!, $at: DateTime!) { recordIncidentNotification(id: $id, recipient: MHLW, notifiedAt: $at, reference: \"医政局 第12号\") { recipient } }";
    app.gql(&admin, notify, json!({ "id": id, "at": (base + Duration::hours(4)).to_rfc3339() })).await.ok();
    assert_eq!(
        app.gql(&admin, notify, json!({ "id": id, "at": (base + Duration::hours(4)).to_rfc3339() })).await.code(),
        Some("CONFLICT")
    );
    let reply = app.gql(&admin, q, json!({ "id": id })).await;
    let steps: Vec<String> = reply.ok()["incident"]["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|e| e["step"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        steps,
        vec!["1-2", "2-1", "2-13", "2-6", "1-3"],
        "ordered by occurrence; the report itself was raised just now"
    );
}

#[tokio::test]
async fn clocks_follow_the_facts() {
    let app = TestApp::new().await;
    let now = Utc::now();
    let admin = app.fx.hospital_admin(&app.fx.tokyo);
    let q = "query($id: ID!) { incident(id: $id) { clocks { recipient dueOn state } } }";
    let clocks = |reply: &Reply| -> Vec<(String, String, String)> {
        reply.ok()["incident"]["clocks"]
            .as_array()
            .expect("clocks")
            .iter()
            .map(|c| {
                (
                    c["recipient"].as_str().unwrap_or_default().into(),
                    c["dueOn"].as_str().unwrap_or_default().into(),
                    c["state"].as_str().unwrap_or_default().into(),
                )
            })
            .collect()
    };
    // Ransomware, leak learned 4 days ago: preliminary due in a day (warning), final in 56 (60-day case).
    let input = report(now, "RANSOMWARE", 4, "SUSPECTED");
    let learned = day_of(now - Duration::days(4));
    let id = id_of(&app.gql(&admin, REPORT, json!({ "input": input })).await, "reportIncident");
    let got = clocks(&app.gql(&admin, q, json!({ "id": id })).await);
    let due = |days: i64| (learned + Duration::days(days)).to_string();
    assert!(got.contains(&("PPC_PRELIMINARY".into(), due(5), "DUE_SOON".into())), "{got:?}");
    assert!(got.contains(&("PPC_FINAL".into(), due(60), "RUNNING".into())), "{got:?}");
    assert!(got.contains(&("PATIENTS".into(), due(60), "RUNNING".into())), "{got:?}");
    assert!(got.iter().any(|(r, _, s)| r == "MHLW" && s == "OVERDUE"), "{got:?}");

    // The same leak without wrongful intent: 30 days.
    let mut input = report(now, "OTHER", 4, "CONFIRMED");
    input["wrongfulIntent"] = json!(false);
    let id30 = id_of(&app.gql(&admin, REPORT, json!({ "input": input })).await, "reportIncident");
    assert!(clocks(&app.gql(&admin, q, json!({ "id": id30 })).await).contains(&(
        "PPC_FINAL".into(),
        due(30),
        "RUNNING".into()
    )));

    // No leak: no PPC or patient clock.
    let id_none = id_of(
        &app.gql(&admin, REPORT, json!({ "input": report(now, "RANSOMWARE", 0, "NONE") })).await,
        "reportIncident",
    );
    let got = clocks(&app.gql(&admin, q, json!({ "id": id_none })).await);
    assert_eq!(got.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), vec!["MHLW"]);

    // The pressing list: Tokyo's overdue MHLW clock shows for Tokyo and the ministry, not Osaka.
    let pressing = "{ pressingClocks { incident { id } clock { recipient state } } }";
    let reply = app.gql(&app.fx.prefecture(&app.fx.tokyo), pressing, json!({})).await;
    let text = reply.ok().to_string();
    assert!(text.contains(&id) && !text.contains(&app.fx.osaka_incident.to_string()), "{text}");
    let national = app.gql(&app.fx.national(), pressing, json!({})).await.ok().to_string();
    assert!(national.contains(&id) && national.contains(&app.fx.osaka_incident.to_string()));
    // Telling MHLW (late) stops that clock.
    let notify = "mutation($id: ID!, $at: DateTime!) { recordIncidentNotification(id: $id, recipient: MHLW, notifiedAt: $at) { recipient } }";
    app.gql(&admin, notify, json!({ "id": id, "at": Utc::now().to_rfc3339() })).await.ok();
    assert!(
        clocks(&app.gql(&admin, q, json!({ "id": id })).await).iter().any(|(r, _, s)| r == "MHLW" && s == "MET_LATE")
    );
}

#[tokio::test]
async fn who_sees_which_incidents() {
    let app = TestApp::new().await;
    let now = Utc::now();
    let fx = &app.fx;
    let tokyo_id = id_of(
        &app.gql(&fx.hospital_staff(&fx.tokyo), REPORT, json!({ "input": report(now, "PHISHING", 0, "NONE") })).await,
        "reportIncident",
    );
    let list = "{ incidents(first: 50) { edges { node { id } } } }";
    let ids = |reply: &Reply| -> Vec<String> {
        reply.ok()["incidents"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(ids(&app.gql(&fx.hospital_admin(&fx.tokyo), list, json!({})).await), vec![tokyo_id.clone()]);
    assert_eq!(ids(&app.gql(&fx.health_centre(&fx.tokyo), list, json!({})).await), vec![tokyo_id.clone()]);
    assert_eq!(ids(&app.gql(&fx.prefecture(&fx.osaka), list, json!({})).await), vec![fx.osaka_incident.to_string()]);
    assert_eq!(ids(&app.gql(&fx.national(), list, json!({})).await).len(), 2);
    assert!(ids(&app.gql(&fx.dashboard(), list, json!({})).await).is_empty(), "a dashboard sees no incident details");
    assert!(ids(&app.gql(&fx.vendor(&fx.tokyo), list, json!({})).await).is_empty());
    let stats = "{ incidentStatistics(from: \"2000-01-01T00:00:00Z\", until: \"2100-01-01T00:00:00Z\", groupBy: KIND) { key incidents reportsDue reportsOnTime } }";
    assert_eq!(app.gql(&fx.dashboard(), stats, json!({})).await.code(), Some("FORBIDDEN"));
    assert_eq!(app.gql(&fx.hospital_admin(&fx.tokyo), stats, json!({})).await.code(), Some("FORBIDDEN"));
    let national = app.gql(&fx.national(), stats, json!({})).await;
    let rows = national.ok()["incidentStatistics"].as_array().expect("rows").clone();
    assert!(
        rows.contains(&json!({ "key": "phishing", "incidents": 1, "reportsDue": 0, "reportsOnTime": 0 })),
        "{rows:?}"
    );
    assert_eq!(rows.last().map(|r| r["incidents"].clone()), Some(json!(2)));
    assert!(
        rows.last().is_some_and(|r| r["reportsDue"].as_i64() >= Some(1)),
        "Osaka's overdue MHLW report counts as due: {rows:?}"
    );
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Kind {
    #[diesel(sql_type = Text)]
    kind: String,
}

#[tokio::test]
async fn bad_input_is_refused_and_nothing_is_written() {
    let app = TestApp::new().await;
    let now = Utc::now();
    let admin = app.fx.hospital_admin(&app.fx.tokyo);
    let id =
        id_of(&app.gql(&admin, REPORT, json!({ "input": report(now, "MALWARE", 1, "NONE") })).await, "reportIncident");
    let before = app.fingerprint().await;
    let add = "mutation($id: ID!, $step: String!) { addIncidentEvent(id: $id, input: { step: $step, occurredAt: \"2026-01-01T00:00:00Z\", actor: \"x\" }) { id } }";
    let reply = app.gql(&admin, add, json!({ "id": id, "step": "9-9" })).await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"));
    assert!(reply.body["errors"][0]["message"].as_str().unwrap_or_default().contains("step"));

    let mut backwards = report(now, "MALWARE", 1, "NONE");
    backwards["servicesSuspended"] =
        json!([{ "service": "SURGERY", "from": now.to_rfc3339(), "until": (now - Duration::hours(2)).to_rfc3339() }]);
    let mut negative = report(now, "MALWARE", 1, "SUSPECTED");
    negative["recordsAffected"] = json!(-5);
    let mut future = report(now, "MALWARE", 1, "NONE");
    future["discoveredAt"] = json!((now + Duration::days(2)).to_rfc3339());
    let mut no_day = report(now, "MALWARE", 1, "CONFIRMED");
    no_day.as_object_mut().map(|o| o.remove("leakLearnedOn"));
    let mut long = report(now, "MALWARE", 1, "NONE");
    long["title"] = json!("x".repeat(201));
    for (what, input, field) in [
        ("until before from", backwards, "until"),
        ("negative record count", negative, "recordsAffected"),
        ("discovered in the future", future, "discoveredAt"),
        ("leak without the day it was learned", no_day, "leakLearnedOn"),
        ("over-long title", long, "title"),
    ] {
        for reply in [
            app.gql(&admin, REPORT, json!({ "input": input.clone() })).await,
            app.gql(&admin, "mutation($id: ID!, $input: IncidentReportInput!) { amendIncident(id: $id, reportKind: UPDATE, input: $input) { id } }", json!({ "id": id, "input": input })).await,
        ] {
            assert_eq!(reply.code(), Some("BAD_USER_INPUT"), "{what}: {}", reply.body);
            let message = reply.body["errors"][0]["message"].as_str().unwrap_or_default();
            assert!(message.contains(field), "{what}: names {field}: {message}");
        }
    }
    let reply =
        app.gql(&admin, "mutation { setRansomwarePreparedness(point: 12, done: true) { pointNo } }", json!({})).await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"));
    assert_eq!(app.fingerprint().await, before, "nothing was written");
}

#[tokio::test]
async fn reports_and_phase_changes_queue_alert_jobs() {
    let app = TestApp::new().await;
    let now = Utc::now();
    let admin = app.fx.hospital_admin(&app.fx.tokyo);
    let id = id_of(
        &app.gql(&admin, REPORT, json!({ "input": report(now, "RANSOMWARE", 0, "NONE") })).await,
        "reportIncident",
    );
    app.gql(
        &admin,
        "mutation($id: ID!) { moveIncident(id: $id, to: INITIAL_RESPONSE) { phase } }",
        json!({ "id": id }),
    )
    .await
    .ok();
    // A refused move queues nothing.
    app.gql(&admin, "mutation($id: ID!) { moveIncident(id: $id, to: CLOSED) { phase } }", json!({ "id": id })).await;
    let mut owner = app.db.owner_conn().await;
    let kinds: Vec<Kind> =
        diesel::sql_query(format!("SELECT kind FROM jobs WHERE payload->>'incident_id' = '{id}' ORDER BY id"))
            .load(&mut owner)
            .await
            .expect("jobs");
    let kinds: Vec<String> = kinds.into_iter().map(|k| k.kind).collect();
    assert_eq!(kinds, vec!["alert.incident_created", "alert.incident_phase_changed"]);
    let with_dedup: Count =
        diesel::sql_query(format!("SELECT count(*) AS n FROM jobs WHERE dedup_key = 'incident-created:{id}'"))
            .get_result(&mut owner)
            .await
            .expect("count");
    assert_eq!(with_dedup.n, 1);
}

#[tokio::test]
async fn a_clock_scan_queues_each_alert_once() {
    let app = TestApp::new().await;
    let scan = || async {
        app.state
            .db
            .run(&renkei_core::Principal::system(), |c| {
                Box::pin(async move {
                    renkei_core::incidents::store::enqueue_clock_alerts(
                        c,
                        &renkei_core::Principal::system(),
                        Utc::now(),
                    )
                    .await
                })
            })
            .await
            .expect("scan")
    };
    // The fixture's Osaka ransomware (two days old, leak learned then): MHLW overdue; PPC
    // preliminary not yet in its warning period.
    assert_eq!(scan().await, 1);
    assert_eq!(scan().await, 1, "still pressing");
    let mut owner = app.db.owner_conn().await;
    let n: Count = diesel::sql_query("SELECT count(*) AS n FROM jobs WHERE kind = 'alert.incident_clock'")
        .get_result(&mut owner)
        .await
        .expect("count");
    assert_eq!(n.n, 1, "scanning twice queues one alert");
}

#[tokio::test]
async fn ransomware_points_and_preparedness() {
    let app = TestApp::new().await;
    let (admin, staff) = (app.fx.hospital_admin(&app.fx.tokyo), app.fx.hospital_staff(&app.fx.tokyo));
    let chart = app.gql(&staff, "{ incidentFlowchart { code ransomwarePoints { no level } } }", json!({})).await;
    let steps = chart.ok()["incidentFlowchart"].as_array().expect("steps").clone();
    assert_eq!(steps.len(), 37);
    let step = |code: &str| steps.iter().find(|s| s["code"] == code).cloned().unwrap_or_default();
    assert_eq!(step("2-6")["ransomwarePoints"], json!([{ "no": 6, "level": "recommended" }]));
    assert_eq!(step("0-1")["ransomwarePoints"].as_array().map(Vec::len), Some(4));
    let set = "mutation($n: Int!, $done: Boolean!) { setRansomwarePreparedness(point: $n, done: $done, note: \"LTOを月次で遠隔地保管\") { pointNo done } }";
    assert_eq!(app.gql(&staff, set, json!({ "n": 1, "done": true })).await.code(), Some("FORBIDDEN"));
    app.gql(&admin, set, json!({ "n": 1, "done": true })).await.ok();
    app.gql(&admin, set, json!({ "n": 7, "done": false })).await.ok();
    app.gql(&admin, set, json!({ "n": 7, "done": true })).await.ok();
    let q = "query($id: ID!) { ransomwarePreparedness(hospitalId: $id) { pointNo done note } }";
    let reply = app.gql(&app.fx.prefecture(&app.fx.tokyo), q, json!({ "id": app.fx.tokyo.hospital })).await;
    let rows = reply.ok()["ransomwarePreparedness"].as_array().expect("rows").clone();
    assert_eq!(
        rows.iter().map(|r| (r["pointNo"].clone(), r["done"].clone())).collect::<Vec<_>>(),
        vec![(json!(1), json!(true)), (json!(7), json!(true))]
    );
}
