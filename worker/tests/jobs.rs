//! Typed jobs against the rows already queued: kind names and payload fields are a contract with
//! the previous version, a kind no type has goes dead with its code, and a dead job shows a code
//! and what it was about, never a recipient, subject or body.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop loudly on what they cannot set up

use diesel::QueryableByName;
use diesel::sql_types::{Nullable, Text};
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use renkei_core::alerts::{IncidentClock, IncidentCreated, IncidentPhaseChanged, SendMail};
use renkei_core::bundles::BuildBundle;
use renkei_core::mail::Mailer;
use renkei_tests::TestApp;
use renkei_tests::smtp::SmtpSink;
use renkei_worker::Ran;
use serde_json::json;

mod support;
use support::{owner, quiet_app, worker};

#[derive(QueryableByName, Debug)]
struct Stored {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Nullable<Text>)]
    last_error: Option<String>,
}

async fn dead(app: &TestApp) -> Vec<Stored> {
    diesel::sql_query("SELECT kind, last_error FROM jobs WHERE dead_at IS NOT NULL ORDER BY id")
        .load(&mut owner(app).await)
        .await
        .expect("dead jobs")
}

#[test]
fn kind_names_and_payload_fields_are_those_of_the_rows_already_queued() {
    let names: Vec<&str> = renkei_worker::registry().names().collect();
    assert_eq!(
        names,
        vec![
            "alert.designation_coverage",
            "alert.incident_clock",
            "alert.incident_created",
            "alert.incident_phase_changed",
            "bundle.build",
            "bundle.scheduled",
            "mail.send",
            "maintenance.clean_jobs",
            "scan.checklist_reminders",
            "scan.incident_clocks",
        ]
    );
    // The fields the previous version wrote and read, with the same names and JSON types.
    let id = uuid::Uuid::new_v4();
    let mail =
        SendMail { to: "a@b.jp".into(), subject: "s".into(), body: "b".into(), key: "k".into(), prefecture: None };
    assert_eq!(
        serde_json::to_value(mail).unwrap(),
        json!({ "to": "a@b.jp", "subject": "s", "body": "b", "key": "k", "prefecture": null })
    );
    assert_eq!(
        serde_json::to_value(IncidentCreated { incident_id: id, prefecture: 13 }).unwrap(),
        json!({ "incident_id": id, "prefecture": 13 })
    );
    let moved = IncidentPhaseChanged {
        incident_id: id,
        from: renkei_core::incidents::Phase::Detection,
        to: renkei_core::incidents::Phase::InitialResponse,
        prefecture: 13,
    };
    assert_eq!(
        serde_json::to_value(moved).unwrap(),
        json!({ "incident_id": id, "from": "detection", "to": "initial_response", "prefecture": 13 })
    );
    let due_at = chrono::DateTime::parse_from_rfc3339("2026-11-21T15:00:00Z").unwrap().to_utc();
    let clock = IncidentClock {
        incident_id: id,
        prefecture: 13,
        recipient: renkei_core::incidents::Recipient::Mhlw,
        due_at,
        state: "overdue".into(),
    };
    assert_eq!(
        serde_json::to_value(clock).unwrap(),
        json!({ "incident_id": id, "prefecture": 13, "recipient": "mhlw", "due_at": due_at, "state": "overdue" })
    );
    assert_eq!(
        serde_json::to_value(BuildBundle { bundle_id: id, prefecture: Some(27) }).unwrap(),
        json!({ "bundle_id": id, "prefecture": 27 })
    );
}

#[tokio::test]
async fn jobs_queued_the_old_way_still_run() {
    let app = quiet_app().await;
    let sink = SmtpSink::start().await;
    let w = worker(&app, Mailer::smtp(&sink.url(), "Renkei <noreply@renkei.example>").expect("mailer"));
    // Rows as the previous version wrote them: raw JSON, with fields the types no longer keep
    // (`hospital_id`, `kind`), and periodic jobs with an empty payload.
    let incident = app.fx.osaka_incident;
    let fy = renkei_core::bundles::fiscal_year_of(renkei_core::incidents::clocks::day_of(chrono::Utc::now()));
    owner(&app)
        .await
        .batch_execute(&format!(
            "INSERT INTO jobs (kind, payload, dedup_key) VALUES \
             ('alert.incident_created', '{{\"incident_id\": \"{incident}\", \"hospital_id\": \"{}\", \"prefecture\": 27, \"kind\": \"ransomware\"}}', 'incident-created:{incident}'), \
             ('alert.incident_phase_changed', '{{\"incident_id\": \"{incident}\", \"from\": \"detection\", \"to\": \"initial_response\", \"prefecture\": 27}}', NULL), \
             ('mail.send', '{{\"to\": \"old@test.renkei.example\", \"subject\": \"旧\", \"body\": \"旧版のメール\", \"key\": \"old-mail\", \"prefecture\": null}}', 'mail:old-mail'), \
             ('bundle.scheduled', '{{\"fiscal_year\": {fy}}}', NULL), \
             ('scan.incident_clocks', '{{}}', NULL), \
             ('maintenance.clean_jobs', '{{}}', NULL)",
            app.fx.osaka.hospital
        ))
        .await
        .expect("old rows");
    let ran = w.drain().await.expect("drain");
    assert!(ran.iter().all(|r| *r == Ran::Done), "{ran:?}");
    assert!(ran.len() > 6, "the alerts queued their mails and the bundle its build: {ran:?}");
    let to: Vec<String> = sink.received().iter().flat_map(|m| m.to.clone()).collect();
    assert!(to.contains(&"old@test.renkei.example".to_owned()), "{to:?}");
    assert!(to.contains(&"大阪-official@test.renkei.example".to_owned()), "the incident alerts went out: {to:?}");
    assert!(dead(&app).await.is_empty());
}

#[tokio::test]
async fn a_kind_no_type_has_is_retried_then_dead_with_its_code() {
    let app = quiet_app().await;
    let sink = SmtpSink::start().await;
    let w = worker(&app, Mailer::smtp(&sink.url(), "Renkei <noreply@renkei.example>").expect("mailer"));
    owner(&app)
        .await
        .batch_execute(
            "INSERT INTO jobs (kind, payload, max_attempts) VALUES ('report.fax', '{\"prefecture\": 13}', 2), \
             ('mail.send', '{\"prefecture\": 13, \"to\": 7}', 1)",
        )
        .await
        .expect("insert");
    // A newer replica may know the kind during a rollout: it is retried first.
    assert_eq!(w.drain().await.expect("drain"), vec![Ran::Retry, Ran::Dead]);
    owner(&app).await.batch_execute("UPDATE jobs SET run_at = now() WHERE dead_at IS NULL").await.expect("due");
    assert_eq!(w.drain().await.expect("drain"), vec![Ran::Dead]);
    let stored: Vec<(String, Option<String>)> = dead(&app).await.into_iter().map(|j| (j.kind, j.last_error)).collect();
    assert_eq!(
        stored,
        vec![
            ("report.fax".into(), Some("UNKNOWN_KIND: unknown job kind: no worker of this version runs it".into())),
            ("mail.send".into(), Some("BAD_PAYLOAD: the job's payload does not read as its kind".into())),
        ]
    );
    let q = "{ deadJobs(first: 10) { kind errorCode lastError payload } }";
    let tokyo = app.gql(&app.fx.prefecture(&app.fx.tokyo), q, json!({})).await;
    assert_eq!(
        tokyo.ok()["deadJobs"],
        json!([
            { "kind": "mail.send", "errorCode": "BAD_PAYLOAD", "lastError": "the job's payload does not read as its kind", "payload": "{\"prefecture\":13}" },
            { "kind": "report.fax", "errorCode": "UNKNOWN_KIND", "lastError": "unknown job kind: no worker of this version runs it", "payload": "{\"prefecture\":13}" },
        ])
    );
}

#[tokio::test]
async fn a_dead_mail_shows_a_code_and_no_address_subject_or_body() {
    let app = quiet_app().await;
    // Nothing listens on port 1: the connection is refused.
    let w = worker(&app, Mailer::smtp("smtp://127.0.0.1:1", "Renkei <noreply@renkei.example>").expect("mailer"));
    let report = "mutation { reportIncident(input: { title: \"電子カルテ端末の暗号化\", kind: RANSOMWARE, discoveredAt: \"2026-11-20T07:30:00+09:00\", suspectedCyberAttack: true }) { id } }";
    let reply = app.gql(&app.fx.hospital_admin(&app.fx.tokyo), report, json!({})).await;
    let incident = reply.ok()["reportIncident"]["id"].as_str().expect("id").to_owned();
    let ran = w.drain().await.expect("drain");
    assert_eq!(ran.iter().filter(|r| **r == Ran::Retry).count(), 3, "three mails failed: {ran:?}");
    // Their last attempt, now.
    owner(&app)
        .await
        .batch_execute("UPDATE jobs SET run_at = now(), max_attempts = attempts + 1 WHERE finished_at IS NULL")
        .await
        .expect("last attempt");
    assert_eq!(w.drain().await.expect("drain"), vec![Ran::Dead, Ran::Dead, Ran::Dead]);

    let stored = dead(&app).await;
    assert!(stored.iter().all(|j| j.last_error.as_deref().is_some_and(|e| e.starts_with("SMTP_REFUSED: "))));
    let q = "{ deadJobs(first: 10) { id kind attempts errorCode lastError payload createdAt deadAt } }";
    for who in [app.fx.prefecture(&app.fx.tokyo), app.fx.national()] {
        let reply = app.gql(&who, q, json!({})).await;
        let jobs = reply.ok()["deadJobs"].as_array().expect("jobs").clone();
        let shown: Vec<(&str, &str, &str)> = jobs
            .iter()
            .map(|j| {
                (j["errorCode"].as_str().unwrap(), j["lastError"].as_str().unwrap(), j["payload"].as_str().unwrap())
            })
            .collect();
        let refused = "the mail relay could not be reached or refused the message";
        assert_eq!(shown, vec![("SMTP_REFUSED", refused, "{\"prefecture\":13}"); 3], "{who:?}");
        let text = reply.body.to_string();
        for private in ["@", "test.renkei.example", "電子カルテ", "インシデント", "127.0.0.1", "Connection refused"]
        {
            assert!(!text.contains(private), "{private:?} shown to {:?}: {text}", who.role);
        }
        assert!(!text.contains(&incident), "the mail's body names the incident; the payload shown does not");
    }
}
