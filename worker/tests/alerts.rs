//! The worker against real PostgreSQL, Redis and an SMTP server on loopback: alerts reach the
//! right people once, mail waits while SMTP is down, a killed worker's job is done once, a
//! stopping worker releases its job, and dead jobs can be retried.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop loudly on what they cannot set up

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types::{Nullable, Text};
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use renkei_core::Principal;
use renkei_core::mail::Mailer;
use renkei_core::metrics::Metrics;
use renkei_tests::TestApp;
use renkei_tests::redis_server::OwnRedis;
use renkei_tests::smtp::{Mode, SmtpSink};
use renkei_tests::wait::{eventually, holds, within};
use renkei_worker::{Ran, Worker, WorkerConfig};
use serde_json::json;

mod support;
use support::{count, owner, quiet_app};

fn worker(app: &TestApp, sink: &SmtpSink) -> Worker {
    support::worker(app, Mailer::smtp(&sink.url(), "Renkei <noreply@renkei.example>").expect("mailer"))
}

const REPORT: &str = "mutation { reportIncident(input: { title: \"電子カルテ端末の暗号化\", kind: RANSOMWARE, discoveredAt: \"2026-11-20T07:30:00+09:00\", suspectedCyberAttack: true }) { id } }";

async fn report(app: &TestApp) -> String {
    let reply = app.gql(&app.fx.hospital_admin(&app.fx.tokyo), REPORT, json!({})).await;
    reply.ok()["reportIncident"]["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn a_new_incident_reaches_prefecture_health_centre_and_ministry_once() {
    let app = quiet_app().await;
    let sink = SmtpSink::start().await;
    let w = worker(&app, &sink);
    let id = report(&app).await;
    let ran = w.drain().await.expect("drain");
    assert!(ran.iter().all(|r| *r == Ran::Done), "{ran:?}");
    let mails = sink.received();
    let mut to: Vec<String> = mails.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    assert_eq!(
        to,
        vec!["mhlw@test.renkei.example", "東京-inspector@test.renkei.example", "東京-official@test.renkei.example"],
        "the Tokyo official, the Tokyo health centre and the ministry; not Osaka"
    );
    let mail = &mails[0];
    assert_eq!(mail.subject(), "【Renkei】新規インシデント報告: 東京市民病院（ランサムウェア）");
    let body = mail.body();
    assert!(body.contains("東京市民病院") && body.contains(&id) && body.contains("2026-11-20 07:30 (JST)"), "{body}");
    assert!(mail.data.to_ascii_lowercase().contains("charset=utf-8"), "UTF-8 plain text: {}", mail.data);

    // Running again, or the same mail job run again, sends nothing more.
    assert!(w.drain().await.expect("drain").is_empty());
    let mut conn = owner(&app).await;
    conn.batch_execute("UPDATE jobs SET finished_at = NULL, locked_until = NULL WHERE kind = 'mail.send'")
        .await
        .expect("requeue");
    w.drain().await.expect("drain");
    assert_eq!(sink.received().len(), 3, "each message has a key and goes out once");
}

#[tokio::test]
async fn people_can_switch_an_alert_off() {
    let app = quiet_app().await;
    let sink = SmtpSink::start().await;
    let official =
        Principal::new("東京-official".into(), renkei_core::Role::Prefecture, Some(app.fx.tokyo.office), Some(13))
            .expect("p");
    let set = "mutation { setAlertPreference(alert: \"incident_created\", enabled: false) { alert enabled } }";
    let reply = app.gql(&official, set, json!({})).await;
    assert!(
        reply.ok()["setAlertPreference"]
            .as_array()
            .expect("prefs")
            .contains(&json!({ "alert": "incident_created", "enabled": false }))
    );
    let bad = app
        .gql(&official, "mutation { setAlertPreference(alert: \"everything\", enabled: false) { alert } }", json!({}))
        .await;
    assert_eq!(bad.code(), Some("BAD_USER_INPUT"));
    let mine = app.gql(&official, "{ viewer { alertPreferences { alert enabled } } }", json!({})).await;
    assert_eq!(
        mine.ok()["viewer"]["alertPreferences"].as_array().map(Vec::len),
        Some(renkei_core::alerts::Alert::ALL.len())
    );

    report(&app).await;
    worker(&app, &sink).drain().await.expect("drain");
    let to: Vec<String> = sink.received().iter().flat_map(|m| m.to.clone()).collect();
    assert!(!to.contains(&"東京-official@test.renkei.example".to_owned()), "{to:?}");
    assert_eq!(to.len(), 2);
}

#[tokio::test]
async fn while_smtp_is_down_mail_waits_and_goes_out_once_after() {
    let app = quiet_app().await;
    let sink = SmtpSink::start().await;
    sink.set_mode(Mode::Refuse);
    let w = worker(&app, &sink);
    report(&app).await;
    let ran = w.drain().await.expect("drain");
    assert_eq!(ran.iter().filter(|r| **r == Ran::Retry).count(), 3, "each mail failed and waits: {ran:?}");
    assert!(sink.received().is_empty());
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM jobs WHERE kind = 'mail.send' AND run_at > now() AND last_error IS NOT NULL"
        )
        .await,
        3
    );

    sink.set_mode(Mode::Accept);
    // The retry is due later; bring it forward instead of waiting out the backoff.
    owner(&app).await.batch_execute("UPDATE jobs SET run_at = now() WHERE finished_at IS NULL").await.expect("due");
    w.drain().await.expect("drain");
    assert_eq!(sink.received().len(), 3);
    w.drain().await.expect("drain");
    assert_eq!(sink.received().len(), 3);
}

#[tokio::test]
async fn dead_jobs_are_kept_listed_and_retried() {
    let app = quiet_app().await;
    let sink = SmtpSink::start().await;
    let mut conn = owner(&app).await;
    conn.batch_execute(
        "INSERT INTO jobs (kind, payload, max_attempts) VALUES ('alert.unknown', '{\"prefecture\": 27}', 1), ('alert.unknown', '{\"prefecture\": 13}', 1)",
    )
    .await
    .expect("insert");
    let ran = worker(&app, &sink).drain().await.expect("drain");
    assert_eq!(ran, vec![Ran::Dead, Ran::Dead]);
    let q = "{ deadJobs(first: 10) { id kind attempts lastError payload } }";
    let national = app.gql(&app.fx.national(), q, json!({})).await;
    assert_eq!(national.ok()["deadJobs"].as_array().map(Vec::len), Some(2));
    let tokyo = app.gql(&app.fx.prefecture(&app.fx.tokyo), q, json!({})).await;
    let jobs = tokyo.ok()["deadJobs"].as_array().expect("jobs").clone();
    assert_eq!(jobs.len(), 1, "a prefecture sees its own");
    assert!(jobs[0]["lastError"].as_str().unwrap_or_default().contains("unknown job kind"));
    assert_eq!(app.gql(&app.fx.hospital_admin(&app.fx.tokyo), q, json!({})).await.code(), Some("FORBIDDEN"));

    let osaka_job = national.ok()["deadJobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .find(|j| j["payload"].as_str().unwrap_or_default().contains("27"))
        .cloned()
        .expect("osaka job");
    let retry = "mutation($id: String!) { retryJob(id: $id) { id attempts } }";
    assert_eq!(
        app.gql(&app.fx.prefecture(&app.fx.tokyo), retry, json!({ "id": osaka_job["id"] })).await.code(),
        Some("NOT_FOUND")
    );
    let retried = app.gql(&app.fx.national(), retry, json!({ "id": osaka_job["id"] })).await;
    assert_eq!(retried.ok()["retryJob"]["attempts"], 0);
    assert_eq!(count(&app, "SELECT count(*) AS n FROM jobs WHERE dead_at IS NULL AND finished_at IS NULL").await, 1);
}

#[tokio::test]
async fn periodic_scans_are_queued_once_per_period() {
    let app = quiet_app().await;
    let now = chrono::Utc::now();
    for _ in 0..3 {
        renkei_worker::schedule(&app.state.db, now).await.expect("schedule");
    }
    assert_eq!(count(&app, "SELECT count(*) AS n FROM jobs WHERE kind = 'scan.incident_clocks'").await, 1);
    // The coverage scan tells the ministry which regions lack a designated hospital.
    let sink = SmtpSink::start().await;
    worker(&app, &sink).drain().await.expect("drain");
    let coverage: Vec<_> = sink.received().into_iter().filter(|m| m.subject().contains("重要インフラ")).collect();
    assert_eq!(coverage.len(), 1);
    assert_eq!(coverage[0].to, vec!["mhlw@test.renkei.example"]);
    assert!(coverage[0].body().contains("関東") && coverage[0].body().contains("大阪府"), "{}", coverage[0].body());
    // The clock scan found Osaka's overdue MHLW report and alerted.
    assert!(sink.received().iter().any(|m| m.subject().contains("厚生労働省への報告")), "clock alerts went out");
}

fn spawn_worker(app: &TestApp, sink: &SmtpSink) -> Child {
    Command::new(env!("CARGO_BIN_EXE_renkei-worker"))
        .env_clear()
        .env("DATABASE_URL", &app.db.app_url)
        .env("SMTP_URL", sink.url())
        .env("WORKER_LEASE_SECONDS", "5")
        .env("WORKER_POLL_MILLISECONDS", "100")
        .env("WORKER_SHUTDOWN_GRACE_SECONDS", "1")
        .env("WORKER_SCHEDULE", "false")
        .env("WORKER_BIND_ADDRESS", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn renkei-worker")
}

#[derive(QueryableByName)]
struct Lock {
    #[diesel(sql_type = Nullable<Text>)]
    locked_by: Option<String>,
}

async fn wait_until_locked(app: &TestApp) {
    eventually("the worker claimed the mail job", Duration::from_secs(10), || async {
        let row: Option<Lock> =
            diesel::sql_query("SELECT locked_by FROM jobs WHERE kind = 'mail.send' AND locked_by IS NOT NULL LIMIT 1")
                .get_result(&mut owner(app).await)
                .await
                .ok();
        holds(row.and_then(|r| r.locked_by).is_some())
    })
    .await;
}

/// Leaves exactly one mail job due, for a worker process to take.
async fn one_mail_queued(app: &TestApp) {
    // Only the Tokyo official keeps receiving (users are under RLS even for the owner).
    owner(app)
        .await
        .batch_execute(
            "BEGIN; SELECT set_config('renkei.role', 'national', true); \
             UPDATE users SET active = false, deactivated_at = now() WHERE role IN ('national', 'health_centre'); COMMIT;",
        )
        .await
        .expect("narrow");
    report(app).await;
    let mut conn = owner(app).await;
    // The fan-out runs here; the mail it queues is held back until the other worker runs.
    let sink = SmtpSink::start().await;
    let w = worker(app, &sink);
    let (_tx, rx) = tokio::sync::watch::channel(false);
    assert_eq!(w.run_one(&rx).await.expect("fan out"), Some(Ran::Done));
    assert_eq!(count(app, "SELECT count(*) AS n FROM jobs WHERE kind = 'mail.send' AND finished_at IS NULL").await, 1);
    conn.batch_execute("SELECT 1").await.expect("alive");
}

#[tokio::test]
async fn a_worker_killed_mid_job_leaves_it_to_another_which_sends_once() {
    let app = quiet_app().await;
    one_mail_queued(&app).await;
    let sink = SmtpSink::start().await;
    sink.set_mode(Mode::Stall(Duration::from_secs(60)));
    let mut child = spawn_worker(&app, &sink);
    wait_until_locked(&app).await;
    // Killed mid-send: the sink has the message and holds back its answer.
    eventually("the worker is sending", Duration::from_secs(10), || async { holds(sink.stalled() == 1) }).await;
    child.kill().expect("kill -9");
    child.wait().expect("reap");
    eventually("the sink saw the connection go", Duration::from_secs(10), || async { holds(sink.stalled() == 0) })
        .await;
    assert!(sink.received().is_empty(), "the killed worker delivered nothing");

    sink.set_mode(Mode::Accept);
    let w = worker(&app, &sink);
    // Until the lease (5 s) runs out the job is still the dead worker's; then another takes it.
    assert!(w.drain().await.expect("drain").is_empty());
    let ran = eventually("another worker takes the job once the lease ran out", Duration::from_secs(15), || async {
        let ran = w.drain().await.expect("drain");
        (!ran.is_empty()).then_some(ran)
    })
    .await;
    assert_eq!(ran, vec![Ran::Done]);
    assert_eq!(sink.received().len(), 1, "delivered exactly once");
    assert_eq!(count(&app, "SELECT count(*) AS n FROM email_deliveries").await, 1);
    assert_eq!(count(&app, "SELECT attempts::bigint AS n FROM jobs WHERE kind = 'mail.send'").await, 2);
}

#[tokio::test]
async fn sigterm_releases_the_current_job() {
    let app = quiet_app().await;
    one_mail_queued(&app).await;
    let sink = SmtpSink::start().await;
    sink.set_mode(Mode::Stall(Duration::from_secs(60)));
    let mut child = spawn_worker(&app, &sink);
    wait_until_locked(&app).await;
    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().expect("kill -TERM");
    let status = child.wait().expect("wait");
    assert!(status.success(), "the worker stops cleanly: {status:?}");
    let released = "SELECT count(*) AS n FROM jobs WHERE kind = 'mail.send' AND locked_by IS NULL AND attempts = 0 AND finished_at IS NULL";
    assert_eq!(count(&app, released).await, 1, "released, not left locked");
    sink.set_mode(Mode::Accept);
    assert_eq!(
        worker(&app, &sink).drain().await.expect("drain"),
        vec![Ran::Done],
        "taken up at once, no lease to wait out"
    );
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test]
async fn two_workers_racing_on_a_thousand_jobs_run_each_once() {
    let app = quiet_app().await;
    let sink = SmtpSink::start().await;
    let mut conn = owner(&app).await;
    conn.batch_execute(
        "INSERT INTO jobs (kind, payload, dedup_key) \
         SELECT 'mail.send', json_build_object('to', 'race' || n || '@test.renkei.example', 'subject', 'race ' || n, \
                'body', '同時実行テスト', 'key', 'race-' || n), 'race-' || n FROM generate_series(1, 200) n; \
         INSERT INTO jobs (kind) SELECT 'maintenance.clean_jobs' FROM generate_series(1, 800);",
    )
    .await
    .expect("queue");
    let (a, b) = (worker(&app, &sink), worker(&app, &sink));
    let (ran_a, ran_b) = tokio::join!(a.drain(), b.drain());
    let (ran_a, ran_b) = (ran_a.expect("a"), ran_b.expect("b"));
    assert_eq!(ran_a.len() + ran_b.len(), 1000, "{} + {}", ran_a.len(), ran_b.len());
    assert!(ran_a.iter().chain(&ran_b).all(|r| *r == Ran::Done));
    assert!(!ran_a.is_empty() && !ran_b.is_empty(), "both workers took part");
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM jobs WHERE finished_at IS NOT NULL AND attempts = 1").await,
        1000,
        "each claimed once"
    );
    let received = sink.received();
    assert_eq!(received.len(), 200);
    let distinct: std::collections::BTreeSet<String> = received.iter().flat_map(|m| m.to.clone()).collect();
    assert_eq!(distinct.len(), 200, "no mail twice");
}

#[tokio::test]
async fn without_redis_jobs_still_run_and_with_it_they_run_at_once() {
    let sink = SmtpSink::start().await;
    // A Redis of the test's own, so that the subscribers counted below are this worker's.
    let own = OwnRedis::start().await;
    for (redis_url, poll) in
        [("redis://127.0.0.1:1".to_owned(), Duration::from_millis(200)), (own.url(), Duration::from_secs(30))]
    {
        let with_redis = redis_url == own.url();
        let options = renkei_tests::Options { redis_url: Some(redis_url), ..renkei_tests::Options::default() };
        let app = renkei_tests::TestApp::with(options).await;
        owner(&app).await.batch_execute("TRUNCATE jobs").await.expect("clear");
        let redis = app.state.redis.clone();
        let mailer = Mailer::smtp(&sink.url(), "Renkei <noreply@renkei.example>").expect("mailer");
        let config = WorkerConfig { poll, ..support::config() };
        let w = Arc::new(Worker::new(
            app.db.db(),
            mailer,
            Arc::new(Metrics::new("worker").expect("metrics")),
            config,
            redis,
        ));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let running = tokio::spawn({
            let w = w.clone();
            async move { w.run(stopped).await }
        });
        if with_redis {
            // The worker listens before anything is queued (a wake-up sent earlier is lost).
            let conn = own.conn().await;
            eventually("the worker subscribed to the wake-up channel", Duration::from_secs(10), || {
                let mut conn = conn.clone();
                async move {
                    let (_, n): (String, i64) = redis::cmd("PUBSUB")
                        .arg("NUMSUB")
                        .arg(renkei_core::jobs::WAKE_CHANNEL)
                        .query_async(&mut conn)
                        .await
                        .expect("PUBSUB NUMSUB");
                    holds(n == 1)
                }
            })
            .await;
        }
        report(&app).await;
        let ran = "SELECT count(*) AS n FROM jobs WHERE kind = 'alert.incident_created' AND finished_at IS NOT NULL";
        let done = within(Duration::from_secs(4), || async { holds(count(&app, ran).await == 1) }).await.is_some();
        let _ = stop.send(true);
        running.await.expect("join").expect("worker");
        assert!(
            done,
            "the job ran within 4 s ({})",
            if with_redis { "woken through Redis, not the 30 s poll" } else { "Redis down: polling" }
        );
    }
}

#[tokio::test]
async fn overdue_improvements_come_as_one_weekly_digest_per_hospital() {
    let app = quiet_app().await;
    let admin = app.fx.hospital_admin(&app.fx.tokyo);
    let mut answers: Vec<serde_json::Value> =
        ["1-1", "2-1", "2-2", "2-3", "2-4", "2-5", "2-6", "2-8", "2-9", "3-2", "3-3"]
            .iter()
            .map(|c| json!({ "code": c, "value": "yes", "checkedOn": "2024-06-01" }))
            .collect();
    answers.push(json!({ "code": "2-7", "value": "no", "checkedOn": "2024-06-01", "targetOn": "2024-09-30" }));
    answers.push(json!({ "code": "3-1", "value": "no", "checkedOn": "2024-06-01", "targetOn": "2024-10-31" }));
    let save = "mutation($a: [ChecklistAnswerInput!]!) { saveChecklistDraft(fiscalYear: 2024, form: HOSPITAL, answers: $a) { id } }";
    let id = app.gql(&admin, save, json!({ "a": answers })).await.ok()["saveChecklistDraft"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.gql(&admin, "mutation($id: ID!) { submitChecklist(id: $id) { revision } }", json!({ "id": id })).await.ok();

    let sink = SmtpSink::start().await;
    let w = worker(&app, &sink);
    for _ in 0..2 {
        let system = Principal::system();
        let today = renkei_core::incidents::clocks::day_of(chrono::Utc::now());
        app.state
            .db
            .run(&system, move |c| Box::pin(renkei_core::checklists::reminders::overdue_digests(c, today)))
            .await
            .expect("scan");
        w.drain().await.expect("drain");
    }
    let mails = sink.received();
    assert_eq!(mails.len(), 1, "one digest for the hospital, not one per item, and once a week: {mails:?}");
    assert_eq!(mails[0].to, vec!["東京-hospital-admin@test.renkei.example"]);
    assert!(
        mails[0].subject().contains("（2件）") && mails[0].subject().contains("東京市民病院"),
        "{}",
        mails[0].subject()
    );
    let body = mails[0].body();
    assert!(body.contains("項目 2-7（改善予定日 2024-09-30）") && body.contains("項目 3-1"), "{body}");
    // Osaka's hospital answered everything yes: nothing for it.
    assert!(!body.contains("大阪"));
}

#[tokio::test]
async fn hospitals_that_have_not_submitted_hear_before_the_window_closes() {
    let app = quiet_app().await;
    let today = renkei_core::incidents::clocks::day_of(chrono::Utc::now());
    let window = "mutation($o: LocalDate!, $c: LocalDate!) { setSubmissionWindow(fiscalYear: 2024, opensOn: $o, closesOn: $c) { closesOn } }";
    let closes = today + chrono::Duration::days(5);
    let reply = app
        .gql(
            &app.fx.prefecture(&app.fx.tokyo),
            window,
            json!({ "o": (today - chrono::Duration::days(30)).to_string(), "c": closes.to_string() }),
        )
        .await;
    reply.ok();
    let sink = SmtpSink::start().await;
    let w = worker(&app, &sink);
    for _ in 0..2 {
        app.state
            .db
            .run(&Principal::system(), move |c| Box::pin(renkei_core::checklists::reminders::window_closing(c, today)))
            .await
            .expect("scan");
        w.drain().await.expect("drain");
    }
    let mails = sink.received();
    let to: Vec<String> = mails.iter().flat_map(|m| m.to.clone()).collect();
    assert_eq!(
        to,
        vec!["東京-hospital-admin@test.renkei.example"],
        "Tokyo's unsubmitted hospital, once; Osaka's window is not closing"
    );
    assert!(mails[0].body().contains(&closes.to_string()) && mails[0].body().contains("未着手"), "{}", mails[0].body());
}
