//! Mail through a real SMTP server (aiosmtpd, `tests/smtp/relay.py`) rather than the hand-written
//! sink: STARTTLS, implicit TLS (`smtps://`) and AUTH as the worker speaks them, with the relay's
//! authority trusted through `SMTP_CA_FILE`; a relay the worker cannot verify, a wrong password
//! and a relay without STARTTLS get nothing; without `SMTP_URL` mail becomes `.eml` files.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop loudly on what they cannot set up

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use diesel_async::SimpleAsyncConnection;
use renkei_core::mail::Mailer;
use renkei_tests::TestApp;
use renkei_tests::smtp::{Received, Relay, Security};
use renkei_tests::wait::{eventually, holds};
use renkei_worker::{Ran, Worker};
use serde_json::json;

const USER: &str = "renkei-alerts";
const PASSWORD: &str = "correct-horse-battery";
const LOGIN: Option<(&str, &str)> = Some((USER, PASSWORD));
const FROM: &str = "Renkei <noreply@renkei.example>";
const SUBJECT: &str = "【Renkei】新規インシデント報告: 東京市民病院（ランサムウェア）";
/// Who hears of a new Tokyo incident (see alerts.rs).
const RECIPIENTS: [&str; 3] =
    ["mhlw@test.renkei.example", "東京-inspector@test.renkei.example", "東京-official@test.renkei.example"];

mod support;
use support::{count, owner, quiet_app};

fn worker(app: &TestApp, url: &str, ca: Option<&Path>) -> Worker {
    let ca = ca.map(|p| std::fs::read(p).expect("the test authority"));
    support::worker(app, Mailer::smtp_with_ca(url, FROM, ca.as_deref()).expect("mailer"))
}

/// A test app without the fixture's jobs, and a new Tokyo incident whose alert is queued.
async fn incident_reported() -> TestApp {
    let app = quiet_app().await;
    let report = "mutation { reportIncident(input: { title: \"電子カルテ端末の暗号化\", kind: RANSOMWARE, discoveredAt: \"2026-11-20T07:30:00+09:00\", suspectedCyberAttack: true }) { id } }";
    app.gql(&app.fx.hospital_admin(&app.fx.tokyo), report, json!({})).await.ok();
    app
}

fn recipients(mails: &[Received]) -> Vec<String> {
    let mut to: Vec<String> = mails.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    to
}

/// The alert fan-out ran and its three mails are waiting for a retry, each failed as the relay
/// refusing (`SMTP_REFUSED`; the cause, `why`, goes to the log only, never to a client).
async fn assert_mail_waits(app: &TestApp, ran: &[Ran], why: &str) {
    assert_eq!(ran, [Ran::Done, Ran::Retry, Ran::Retry, Ran::Retry], "the fan-out, then each mail failed");
    let waiting = "SELECT count(*) AS n FROM jobs WHERE kind = 'mail.send' AND finished_at IS NULL \
                   AND dead_at IS NULL AND run_at > now() AND last_error LIKE 'SMTP_REFUSED:%'";
    assert_eq!(count(app, waiting).await, 3, "three mails wait, failed with {why:?}");
    assert_eq!(count(app, "SELECT count(*) AS n FROM email_deliveries").await, 0, "nothing recorded as sent");
}

#[tokio::test]
async fn starttls_and_login_deliver_every_alert_encrypted() {
    let app = incident_reported().await;
    let relay = Relay::start(Security::StartTls, LOGIN).await;
    let ran = worker(&app, &relay.url(LOGIN), Some(&relay.certificates.ca)).drain().await.expect("drain");
    assert!(ran.len() == 4 && ran.iter().all(|r| *r == Ran::Done), "{ran:?}");
    let mails = relay.received();
    assert_eq!(recipients(&mails), RECIPIENTS);
    for m in &mails {
        assert!(m.tls, "after STARTTLS");
        assert_eq!(m.user.as_deref(), Some(USER), "sent logged in");
        assert_eq!(m.subject(), SUBJECT);
        assert!(m.body().contains("東京市民病院"), "{}", m.body());
    }
    let logins = relay.logins();
    assert!(!logins.is_empty() && logins.iter().all(|(u, ok)| u == USER && *ok), "{logins:?}");
    assert_eq!(count(&app, "SELECT count(*) AS n FROM email_deliveries").await, 3);
}

#[tokio::test]
async fn smtps_delivers_over_tls_from_the_first_byte() {
    let app = incident_reported().await;
    let relay = Relay::start(Security::Implicit, LOGIN).await;
    let url = relay.url(LOGIN);
    assert!(url.starts_with("smtps://"), "{url}");
    let ran = worker(&app, &url, Some(&relay.certificates.ca)).drain().await.expect("drain");
    assert!(ran.len() == 4 && ran.iter().all(|r| *r == Ran::Done), "{ran:?}");
    let mails = relay.received();
    assert_eq!(recipients(&mails), RECIPIENTS);
    assert!(mails.iter().all(|m| m.tls && m.user.as_deref() == Some(USER) && m.subject() == SUBJECT), "{mails:?}");
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_the_mail_waits_for_the_right_one() {
    let app = incident_reported().await;
    let relay = Relay::start(Security::StartTls, LOGIN).await;
    let ca = Some(relay.certificates.ca.as_path());
    let wrong = Some((USER, "not-the-password"));
    let ran = worker(&app, &relay.url(wrong), ca).drain().await.expect("drain");
    // 535: the relay's "authentication credentials invalid".
    assert_mail_waits(&app, &ran, "535").await;
    assert!(relay.received().is_empty());
    let logins = relay.logins();
    assert!(!logins.is_empty() && logins.iter().all(|(u, ok)| u == USER && !ok), "refused each time: {logins:?}");

    // The password is put right (a new worker); the retries are brought forward.
    owner(&app).await.batch_execute("UPDATE jobs SET run_at = now() WHERE finished_at IS NULL").await.expect("due");
    let ran = worker(&app, &relay.url(LOGIN), ca).drain().await.expect("drain");
    assert!(ran.len() == 3 && ran.iter().all(|r| *r == Ran::Done), "{ran:?}");
    assert_eq!(recipients(&relay.received()), RECIPIENTS, "each mail once");
    assert_eq!(count(&app, "SELECT count(*) AS n FROM jobs WHERE kind = 'mail.send' AND attempts = 2").await, 3);
}

#[tokio::test]
async fn a_relay_the_worker_cannot_verify_gets_neither_mail_nor_password() {
    let app = incident_reported().await;
    let relay = Relay::start(Security::StartTls, LOGIN).await;
    // Its authority is not among the trusted roots: no SMTP_CA_FILE.
    let ran = worker(&app, &relay.url(LOGIN), None).drain().await.expect("drain");
    assert_mail_waits(&app, &ran, "UnknownIssuer").await;
    assert!(relay.received().is_empty());
    assert!(relay.logins().is_empty(), "the password never went to an unverified server");
}

#[tokio::test]
async fn tls_required_is_not_given_up_for_a_relay_without_starttls() {
    let app = incident_reported().await;
    let relay = Relay::start(Security::Plain, None).await;
    // `?tls=required` against a relay that offers no STARTTLS: nothing goes in plain text.
    let url = format!("smtp://127.0.0.1:{}?tls=required", relay.port);
    let ran = worker(&app, &url, Some(&relay.certificates.ca)).drain().await.expect("drain");
    assert_mail_waits(&app, &ran, "STARTTLS").await;
    assert!(relay.received().is_empty());
}

#[tokio::test]
async fn a_relay_without_smtputf8_gets_the_ascii_addresses_and_the_others_wait() {
    let app = incident_reported().await;
    let relay = Relay::start_with(Security::StartTls, LOGIN, false).await;
    let ran = worker(&app, &relay.url(LOGIN), Some(&relay.certificates.ca)).drain().await.expect("drain");
    assert_eq!(ran.iter().filter(|r| **r == Ran::Retry).count(), 2, "{ran:?}");
    assert_eq!(recipients(&relay.received()), ["mhlw@test.renkei.example"]);
    // lettre refuses those before sending; the worker retries them like any failure, until dead.
    let waiting = "SELECT count(*) AS n FROM jobs WHERE kind = 'mail.send' AND finished_at IS NULL \
                   AND dead_at IS NULL AND last_error LIKE 'SMTP_REFUSED:%'";
    assert_eq!(count(&app, waiting).await, 2);
}

/// A worker process, killed if the test stops before [`stop`] (no process outlives the test).
struct Spawned(Option<Child>);

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `renkei-worker` as deployed, configured by `extra` (besides the database and the timings).
fn spawn_worker(app: &TestApp, extra: &[(&str, &str)]) -> Spawned {
    let mut command = Command::new(env!("CARGO_BIN_EXE_renkei-worker"));
    command
        .env_clear()
        .env("DATABASE_URL", &app.db.app_url)
        .env("WORKER_POLL_MILLISECONDS", "100")
        .env("WORKER_SCHEDULE", "false")
        .env("WORKER_BIND_ADDRESS", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (k, v) in extra {
        command.env(k, v);
    }
    Spawned(Some(command.spawn().expect("spawn renkei-worker")))
}

/// SIGTERM, and a clean exit.
fn stop(mut spawned: Spawned) {
    let mut child = spawned.0.take().expect("running");
    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().expect("kill -TERM");
    let status = child.wait().expect("wait");
    assert!(status.success(), "the worker stops cleanly: {status:?}");
}

#[tokio::test]
async fn the_worker_binary_takes_relay_login_and_authority_from_its_environment() {
    let app = incident_reported().await;
    let relay = Relay::start(Security::Implicit, LOGIN).await;
    let ca = relay.certificates.ca.to_string_lossy().into_owned();
    let child = spawn_worker(&app, &[("SMTP_URL", &relay.url(LOGIN)), ("SMTP_CA_FILE", &ca)]);
    eventually("the relay received three mails", Duration::from_secs(20), || async {
        holds(relay.received().len() >= 3)
    })
    .await;
    stop(child);
    let mails = relay.received();
    assert_eq!(recipients(&mails), RECIPIENTS);
    assert!(mails.iter().all(|m| m.tls && m.user.as_deref() == Some(USER)), "{mails:?}");
}

#[tokio::test]
async fn a_bad_smtp_ca_file_stops_the_worker_at_start_naming_it() {
    let app = TestApp::new().await;
    let not_pem = std::env::temp_dir().join(format!("renkei-not-pem-{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&not_pem, "not a certificate").expect("write");
    let not_pem = not_pem.to_string_lossy().into_owned();
    for (url, ca, says) in [
        ("smtps://127.0.0.1:1", "/nonexistent/ca.pem", "SMTP_CA_FILE: cannot read"),
        ("smtps://127.0.0.1:1", not_pem.as_str(), "SMTP_CA_FILE holds no PEM certificate"),
        ("smtp://127.0.0.1:1", "/nonexistent/ca.pem", "SMTP_CA_FILE: cannot read"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_renkei-worker"))
            .env_clear()
            .env("DATABASE_URL", &app.db.app_url)
            .env("WORKER_BIND_ADDRESS", "127.0.0.1:0")
            .env("SMTP_URL", url)
            .env("SMTP_CA_FILE", ca)
            .output()
            .expect("run renkei-worker");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(says), "{url} {ca}: {:?} {stderr}", out.status);
    }
    let pem = std::env::temp_dir().join(format!("renkei-ca-{}", uuid::Uuid::new_v4().simple()));
    let certificates = renkei_tests::smtp::Certificates::make();
    std::fs::copy(&certificates.ca, &pem).expect("copy");
    let out = Command::new(env!("CARGO_BIN_EXE_renkei-worker"))
        .env_clear()
        .env("DATABASE_URL", &app.db.app_url)
        .env("WORKER_BIND_ADDRESS", "127.0.0.1:0")
        .env("SMTP_URL", "smtp://127.0.0.1:1")
        .env("SMTP_CA_FILE", &pem)
        .output()
        .expect("run renkei-worker");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("asks for no TLS"), "a CA for a plain relay: {stderr}");
    let _ = std::fs::remove_file(&pem);
    let _ = std::fs::remove_file(&not_pem);
}

#[tokio::test]
async fn without_smtp_url_mail_is_written_as_eml_files() {
    let app = incident_reported().await;
    let dir = std::env::temp_dir().join(format!("renkei-mail-{}", uuid::Uuid::new_v4().simple()));
    let child = spawn_worker(&app, &[("MAIL_DIR", dir.to_str().expect("path"))]);
    let files = eventually("three .eml files in MAIL_DIR", Duration::from_secs(20), || async {
        let files: Vec<_> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        (files.len() >= 3).then_some(files)
    })
    .await;
    eventually("the mail jobs are finished", Duration::from_secs(10), || async {
        holds(
            count(&app, "SELECT count(*) AS n FROM jobs WHERE kind = 'mail.send' AND finished_at IS NOT NULL").await
                == 3,
        )
    })
    .await;
    stop(child);
    let mails: Vec<Received> = files
        .iter()
        .map(|f| {
            let data = std::fs::read_to_string(f).expect("an .eml file");
            let to = Received { to: vec![], data: data.clone(), tls: false, user: None }.header("To");
            Received { to: vec![to], data, tls: false, user: None }
        })
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(files.len(), 3, "one file per mail: {files:?}");
    assert_eq!(recipients(&mails), RECIPIENTS);
    assert!(mails.iter().all(|m| m.subject() == SUBJECT && m.body().contains("東京市民病院")), "{mails:?}");
    assert_eq!(count(&app, "SELECT count(*) AS n FROM email_deliveries").await, 3);
}
