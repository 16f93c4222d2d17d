//! Reporting bundles: requested, built by the worker, stored, downloaded by those allowed, the
//! same bytes for the same data, and every download audited.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop loudly on what they cannot set up

use std::io::Read;
use std::time::Duration;

use actix_web::test::TestRequest;
use renkei_core::mail::Mailer;
use renkei_core::{Principal, Role};
use renkei_tests::TestApp;
use renkei_tests::smtp::SmtpSink;
use renkei_tests::wait::{eventually, holds};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

mod support;

fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip");
    (0..archive.len())
        .map(|i| {
            let mut f = archive.by_index(i).expect("entry");
            let mut content = Vec::new();
            f.read_to_end(&mut content).expect("read");
            (f.name().expect("entry name").to_string(), content)
        })
        .collect()
}

fn this_fiscal_year() -> i32 {
    renkei_core::bundles::fiscal_year_of(renkei_core::incidents::clocks::day_of(chrono::Utc::now()))
}

#[tokio::test]
async fn a_prefecture_bundle_is_built_downloaded_and_audited() {
    let app = TestApp::new().await;
    let sink = SmtpSink::start().await;
    let worker = support::worker(&app, Mailer::smtp(&sink.url(), "Renkei <noreply@renkei.example>").expect("mailer"));
    worker.drain().await.expect("settle the fixture's jobs");
    // A Tokyo incident this fiscal year, besides the fixture's Osaka one.
    let admin = app.fx.hospital_admin(&app.fx.tokyo);
    let discovered = (chrono::Utc::now() - chrono::Duration::hours(3)).to_rfc3339();
    let q = format!(
        "mutation {{ reportIncident(input: {{ title: \"不審な通信\", kind: MALWARE, discoveredAt: \"{discovered}\", suspectedCyberAttack: true }}) {{ id }} }}"
    );
    let tokyo_incident = app.gql(&admin, &q, json!({})).await.ok()["reportIncident"]["id"].as_str().unwrap().to_owned();

    let official =
        Principal::new("東京-official".into(), Role::Prefecture, Some(app.fx.tokyo.office), Some(13)).unwrap();
    let fy = this_fiscal_year();
    let request =
        "mutation($fy: Int!, $p: Int) { requestReportingBundle(fiscalYear: $fy, prefecture: $p) { id status } }";
    assert_eq!(app.gql(&official, request, json!({ "fy": fy, "p": 27 })).await.code(), Some("FORBIDDEN"));
    assert_eq!(
        app.gql(&official, request, json!({ "fy": fy, "p": null })).await.code(),
        Some("FORBIDDEN"),
        "not the national one"
    );
    assert_eq!(app.gql(&official, request, json!({ "fy": 1999, "p": 13 })).await.code(), Some("BAD_USER_INPUT"));
    let reply = app.gql(&official, request, json!({ "fy": fy, "p": 13 })).await;
    assert_eq!(reply.ok()["requestReportingBundle"]["status"], "queued");
    let id = reply.ok()["requestReportingBundle"]["id"].as_str().unwrap().to_owned();

    worker.drain().await.expect("build");
    let list = app
        .gql(&official, "{ reportingBundles(first: 10) { id status sha256 sizeBytes downloadPath } }", json!({}))
        .await;
    let bundle = list.ok()["reportingBundles"][0].clone();
    assert_eq!(bundle["status"], "ready");
    assert_eq!(bundle["downloadPath"], format!("/bundles/{id}"));
    assert!(
        sink.received()
            .iter()
            .any(|m| m.to == vec!["東京-official@test.renkei.example".to_owned()]
                && m.subject().contains("報告バンドル"))
    );

    let get = |who: Option<&Principal>| {
        let mut req = TestRequest::get().uri(&format!("/bundles/{id}"));
        if let Some(p) = who {
            req = req.insert_header(("authorization", format!("Bearer {}", app.token(p))));
        }
        req
    };
    let token = app.token(&official);
    let app_service = actix_web::test::init_service(
        actix_web::App::new()
            .app_data(actix_web::web::Data::new(app.state.clone()))
            .configure(|cfg| renkei_api::routes(cfg, &app.http)),
    )
    .await;
    let res = actix_web::test::call_service(
        &app_service,
        TestRequest::get()
            .uri(&format!("/bundles/{id}"))
            .insert_header(("authorization", format!("Bearer {token}")))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers().get("content-type").unwrap(), "application/zip");
    let bytes = actix_web::test::read_body(res).await;
    assert_eq!(format!("{:x}", Sha256::digest(&bytes)), bundle["sha256"].as_str().unwrap());

    let files = unzip(&bytes);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "manifest.json",
            "hospitals_by_bed_band.csv",
            "kpis_by_prefecture_and_bed_band.csv",
            "checklist_item_counts.csv",
            "incidents.csv",
            "incident_statistics.csv",
            "summary.html"
        ]
    );
    let manifest: Value = serde_json::from_slice(&files[0].1).unwrap();
    assert_eq!(manifest["scope"], "prefecture");
    assert_eq!(manifest["prefecture"], 13);
    for (entry, (name, content)) in manifest["files"].as_array().unwrap().iter().zip(&files[1..]) {
        assert_eq!(entry["name"], name.as_str());
        assert_eq!(entry["sha256"], format!("{:x}", Sha256::digest(content)), "{name}");
        assert_eq!(entry["bytes"], content.len());
    }
    let incidents = String::from_utf8(files[4].1.clone()).unwrap();
    assert!(incidents.starts_with('\u{feff}'), "UTF-8 with BOM for Excel");
    assert!(incidents.contains("\r\n"));
    assert!(incidents.contains(&tokyo_incident), "{incidents}");
    assert!(!incidents.contains(&app.fx.osaka_incident.to_string()), "Osaka's incident stays out of Tokyo's bundle");
    assert_eq!(manifest["files"][3]["rows"], 1, "one incident row");
    let summary = String::from_utf8(files[6].1.clone()).unwrap();
    assert!(summary.contains("<svg") && summary.contains("東京都"), "{summary}");

    // Others may not have it.
    for (who, status) in
        [(Some(app.fx.prefecture(&app.fx.osaka)), 404), (Some(app.fx.hospital_admin(&app.fx.tokyo)), 403), (None, 401)]
    {
        let res = actix_web::test::call_service(&app_service, get(who.as_ref()).to_request()).await;
        assert_eq!(res.status().as_u16(), status, "{:?}", who.map(|p| p.role));
    }
    let trail = app
        .gql(
            &app.fx.national(),
            "{ auditTrail(first: 10) { edges { node { operation outcome targetIds } } } }",
            json!({}),
        )
        .await;
    let downloads: Vec<Value> = trail.ok()["auditTrail"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["node"]["operation"] == "downloadBundle")
        .map(|e| e["node"]["outcome"].clone())
        .collect();
    assert_eq!(
        downloads,
        vec![json!("FORBIDDEN"), json!("NOT_FOUND"), json!("ok")],
        "every download attempt with a token is audited"
    );
}

#[tokio::test]
async fn the_same_data_gives_the_same_bytes() {
    let app = TestApp::new().await;
    let fy = this_fiscal_year();
    let build = || async {
        app.state
            .db
            .run(&Principal::system(), move |c| Box::pin(renkei_core::bundles::build(c, fy, None)))
            .await
            .expect("build")
    };
    let first = build().await;
    // Built again in a later second, so that any time the bundle carried would differ.
    let built = chrono::Utc::now().timestamp();
    eventually("a new second", Duration::from_secs(3), || async { holds(chrono::Utc::now().timestamp() > built) })
        .await;
    assert_eq!(first, build().await, "byte-identical");
    let files = unzip(&first);
    let manifest: Value = serde_json::from_slice(&files[0].1).unwrap();
    assert_eq!(manifest["scope"], "national");
    let incidents = String::from_utf8(files[4].1.clone()).unwrap();
    assert!(incidents.contains(&app.fx.osaka_incident.to_string()), "the national bundle has every incident");
}

#[tokio::test]
async fn a_bundle_carries_the_kpi_tables_and_item_counts() {
    let app = TestApp::new().await;
    // FY2024: Osaka's hospital submitted its checklist, every item yes.
    let bytes = app
        .state
        .db
        .run(&Principal::system(), |c| Box::pin(renkei_core::bundles::build(c, 2024, None)))
        .await
        .expect("build");
    let files = unzip(&bytes);
    let kpis = String::from_utf8(files[2].1.clone()).unwrap();
    assert!(kpis.starts_with("\u{feff}指標,都道府県コード,都道府県,病床規模,分子,分母,割合\r\n"), "{kpis}");
    assert!(kpis.contains("security_manager_rate,27,大阪府,100-199,1,1,1.0000"), "{kpis}");
    assert!(kpis.contains("submission_rate,13,東京都,"), "Tokyo's hospitals count in the denominator: {kpis}");
    let items = String::from_utf8(files[3].1.clone()).unwrap();
    assert!(items.contains("\r\n2-7,"), "{items}");
    assert!(items.lines().any(|l| l.starts_with("2-7,") && l.ends_with(",1,0,1,1.0000")), "{items}");
    let manifest: Value = serde_json::from_slice(&files[0].1).unwrap();
    assert_eq!(manifest["files"][2]["rows"], 13, "one row per yes/no item answered");
    let summary = String::from_utf8(files[6].1.clone()).unwrap();
    assert!(summary.contains("主要指標（%）") && summary.contains("安全管理責任者の設置率"), "{summary}");
}

/// A build that fails — here the incidents it reads stay locked past the worker's statement
/// timeout, as under a migration — shows as failed rather than queued for ever, and the retry
/// that succeeds makes the bundle ready.
#[tokio::test]
async fn a_failed_build_shows_as_failed_until_a_retry_succeeds() {
    let app = TestApp::new().await;
    let config = renkei_core::config::DatabaseConfig { statement_timeout_ms: 300, ..app.db.database_config() };
    let mail = std::env::temp_dir().join(format!("renkei-bundle-failed-{}", uuid::Uuid::new_v4()));
    let worker = support::worker_on(
        renkei_core::db::Db::connect(&config).expect("pool"),
        Mailer::files(mail.clone(), "Renkei <noreply@renkei.example>").expect("mailer"),
    );
    worker.drain().await.expect("settle the fixture's jobs");
    let official =
        Principal::new("東京-official".into(), Role::Prefecture, Some(app.fx.tokyo.office), Some(13)).unwrap();
    let request = "mutation($fy: Int!) { requestReportingBundle(fiscalYear: $fy, prefecture: 13) { id } }";
    let id =
        app.gql(&official, request, json!({ "fy": this_fiscal_year() })).await.ok()["requestReportingBundle"]["id"]
            .clone();
    let status = || async {
        let list = app.gql(&official, "{ reportingBundles(first: 10) { id status } }", json!({})).await;
        let bundles = list.ok()["reportingBundles"].as_array().cloned().unwrap_or_default();
        bundles.into_iter().find(|b| b["id"] == id).map(|b| b["status"].clone())
    };

    let mut lock = app.db.owner_conn().await;
    diesel_async::SimpleAsyncConnection::batch_execute(
        &mut lock,
        "BEGIN; LOCK TABLE incidents IN ACCESS EXCLUSIVE MODE",
    )
    .await
    .expect("lock");
    let ran = worker.drain().await.expect("drain");
    diesel_async::SimpleAsyncConnection::batch_execute(&mut lock, "ROLLBACK").await.expect("unlock");
    assert_eq!(ran, [renkei_worker::Ran::Retry], "the build failed and waits for a retry");
    assert_eq!(status().await, Some(json!("failed")));

    // The retry comes due, and succeeds.
    diesel_async::SimpleAsyncConnection::batch_execute(
        &mut lock,
        "UPDATE jobs SET run_at = now() WHERE kind = 'bundle.build' AND finished_at IS NULL",
    )
    .await
    .expect("retry now");
    let ran = worker.drain().await.expect("drain");
    assert_eq!(ran.first(), Some(&renkei_worker::Ran::Done), "{ran:?}");
    assert_eq!(status().await, Some(json!("ready")));
    std::fs::remove_dir_all(&mail).ok();
}
