//! `make bench` (`cargo bench -p renkei-tests --bench kpi_report`): the national KPI report — every
//! headline KPI × bed band × prefecture for one fiscal year — through GraphQL over HTTP on a
//! loopback server, next to the time PostgreSQL alone needs for the same figures computed from the
//! raw answers. Loads the national dataset into a throw-away database first. Prints a table; the
//! figures measured are written down in the README.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use actix_web::{App, HttpServer, web};
use diesel::sql_types::{BigInt, SmallInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use renkei_tests::TestApp;
use serde_json::json;

const WARM_UP: usize = 20;
const RUNS: usize = 200;
const SQL_RUNS: usize = 20;

const REPORT: &str = "{ kpiReport(fiscalYears: [2024], groupBy: [BED_BAND, PREFECTURE]) { metric bedBand prefectureCode numerator denominator rate suppressed } }";

/// The same figures from the raw answers, by PostgreSQL alone.
const RAW_SQL: &str = include_str!("kpi_raw.sql");

#[derive(diesel::QueryableByName)]
struct Raw {
    #[diesel(sql_type = Text)]
    bed_band: String,
    #[diesel(sql_type = SmallInt)]
    prefecture_code: i16,
    #[diesel(sql_type = BigInt)]
    submission_num: i64,
    #[diesel(sql_type = BigInt)]
    submission_den: i64,
    #[diesel(sql_type = BigInt)]
    offline_num: i64,
    #[diesel(sql_type = BigInt)]
    offline_den: i64,
    #[diesel(sql_type = BigInt)]
    manager_num: i64,
    #[diesel(sql_type = BigInt)]
    compliance_num: i64,
    #[diesel(sql_type = BigInt)]
    addon1_num: i64,
}

/// The band label of a GraphQL `BedBand`.
fn band_label(graphql: &str) -> &'static str {
    match graphql {
        "BEDS_UNDER_20" => "<20",
        "BEDS_20_99" => "20-99",
        "BEDS_100_199" => "100-199",
        "BEDS_200_299" => "200-299",
        "BEDS_300_399" => "300-399",
        "BEDS_400_499" => "400-499",
        _ => "500+",
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[actix_web::main]
async fn main() {
    let app = TestApp::new().await;
    let started = Instant::now();
    let summary = renkei_core::seed::national::national(&app.db.owner_url, Default::default()).await.expect("seed");
    println!(
        "national dataset: {} hospitals, {} clinics, {} submissions, {} incidents, {} KPI facts, loaded in {:.1} s",
        summary.hospitals,
        summary.clinics,
        summary.submissions,
        summary.incidents,
        summary.kpi_facts,
        started.elapsed().as_secs_f64()
    );

    // The report computed every time: the cache would answer all but the first request.
    let mut state = app.state.clone();
    state.kpi_cache = std::sync::Arc::new(renkei_api::kpi_cache::KpiCache::new(0));
    let http = renkei_api::HttpConfig::default();
    let server = HttpServer::new(move || {
        App::new().app_data(web::Data::new(state.clone())).configure(|cfg| renkei_api::routes(cfg, &http))
    })
    .workers(2)
    .bind(("127.0.0.1", 0))
    .expect("bind");
    let address = server.addrs()[0];
    let handle = server.run();
    let server_task = actix_web::rt::spawn(handle);

    let client = reqwest::Client::new();
    let token = app.token(&app.fx.national());
    let url = format!("http://{address}/graphql");
    let mut last = serde_json::Value::Null;
    let mut times = Vec::with_capacity(RUNS);
    for i in 0..WARM_UP + RUNS {
        let t = Instant::now();
        let res = client
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({ "query": REPORT }))
            .send()
            .await
            .expect("request")
            .json::<serde_json::Value>()
            .await
            .expect("json");
        let elapsed = t.elapsed();
        assert!(res.get("errors").is_none(), "{res}");
        if i >= WARM_UP {
            times.push(elapsed);
        }
        last = res;
    }
    let rows = last["data"]["kpiReport"].as_array().cloned().unwrap_or_default();
    times.sort();

    // The engine alone (the same report, without GraphQL and HTTP), to see where the time goes:
    // as the ministry (exact), and as callers who see part of the country or none of it, for
    // whom the hidden part of every fine cell is perturbed (README, disclosure control).
    let query = renkei_core::kpis::Query {
        fiscal_years: vec![2024],
        group_by: vec![renkei_core::kpis::Dimension::BedBand, renkei_core::kpis::Dimension::Prefecture],
        today: chrono::Utc::now().date_naive(),
        ..Default::default()
    };
    let engine = |p: renkei_core::Principal| {
        let (query, app) = (query.clone(), &app);
        async move {
            let mut times = Vec::with_capacity(RUNS);
            for i in 0..WARM_UP + RUNS {
                let (q, geo, who) = (query.clone(), app.state.geography.clone(), p.clone());
                let t = Instant::now();
                app.state
                    .db
                    .run(&p, move |c| {
                        Box::pin(async move {
                            renkei_core::kpis::report(c, &who, &geo, &q, &renkei_core::kpis::Settings::default()).await
                        })
                    })
                    .await
                    .expect("engine");
                if i >= WARM_UP {
                    times.push(t.elapsed());
                }
            }
            times.sort();
            times
        }
    };
    let engine_times = engine(app.fx.national()).await;
    let dashboard_times = engine(app.fx.dashboard()).await;
    let official_times = engine(app.fx.prefecture(&app.fx.tokyo)).await;

    let mut c = AsyncPgConnection::establish(&app.db.owner_url).await.expect("owner");
    c.batch_execute("SELECT set_config('renkei.role', 'national', false)").await.expect("role");
    let mut sql_times = Vec::with_capacity(SQL_RUNS);
    let mut raw: Vec<Raw> = Vec::new();
    for i in 0..SQL_RUNS + 2 {
        let t = Instant::now();
        raw = diesel::sql_query(RAW_SQL).load(&mut c).await.expect("raw sql");
        if i >= 2 {
            sql_times.push(t.elapsed());
        }
    }
    // The two agree, cell by cell, or the comparison means nothing.
    let mut checked = 0;
    for r in &rows {
        let (band, pref) =
            (band_label(r["bedBand"].as_str().unwrap_or_default()), r["prefectureCode"].as_i64().unwrap_or(0));
        let Some(x) = raw.iter().find(|x| x.bed_band == band && i64::from(x.prefecture_code) == pref) else {
            panic!("no raw row for {band} {pref}");
        };
        let expected = match r["metric"].as_str().unwrap_or_default() {
            "SUBMISSION_RATE" => Some((x.submission_num, x.submission_den)),
            "OFFLINE_BACKUP_RATE" => Some((x.offline_num, x.offline_den)),
            "SECURITY_MANAGER_RATE" => Some((x.manager_num, x.submission_num)),
            "FULL_COMPLIANCE_RATE" => Some((x.compliance_num, x.submission_num)),
            "ADDON1_READINESS_RATE" => Some((x.addon1_num, x.submission_den)),
            _ => None,
        };
        if let Some(e) = expected {
            assert_eq!((r["numerator"].as_i64().unwrap(), r["denominator"].as_i64().unwrap()), e, "{r}");
            checked += 1;
        }
    }
    println!("GraphQL and PostgreSQL agree on {checked} cells");
    sql_times.sort();

    println!();
    println!("| national KPI report, FY2024 (every KPI × bed band × prefecture) | median | p99 |");
    println!("|---|---|---|");
    println!(
        "| GraphQL over HTTP (kpiReport, {} rows, {RUNS} runs after {WARM_UP} warm-up) | {:.1} ms | {:.1} ms |",
        rows.len(),
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99))
    );
    println!(
        "| of which the KPI engine (cells read and grouped; no GraphQL, no HTTP) | {:.1} ms | {:.1} ms |",
        ms(percentile(&engine_times, 0.5)),
        ms(percentile(&engine_times, 0.99))
    );
    println!(
        "| the KPI engine as the dashboard (every fine cell perturbed) | {:.1} ms | {:.1} ms |",
        ms(percentile(&dashboard_times, 0.5)),
        ms(percentile(&dashboard_times, 0.99))
    );
    println!(
        "| the KPI engine as Tokyo's official (its own exact, the rest perturbed) | {:.1} ms | {:.1} ms |",
        ms(percentile(&official_times, 0.5)),
        ms(percentile(&official_times, 0.99))
    );
    println!(
        "| PostgreSQL alone from the raw answers ({SQL_RUNS} runs) | {:.1} ms | {:.1} ms |",
        ms(percentile(&sql_times, 0.5)),
        ms(percentile(&sql_times, 0.99))
    );
    println!(
        "| ratio GraphQL / PostgreSQL (median) | {:.2} | |",
        ms(percentile(&times, 0.5)) / ms(percentile(&sql_times, 0.5))
    );
    server_task.abort();
    // The server's pool still holds the database; `make test` sweeps test databases at its start.
    println!("(database {} is left for the next `make test` to drop)", app.db.name);
}
