//! Periodic work: every replica ticks, each kind of periodic job is queued once per its period
//! (the clock scan each minute, the daily scans each day in Japan, the national bundle each
//! week), and the weekly bundle is really built by the worker.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop loudly on what they cannot set up

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Int2, Nullable, Text};
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use renkei_core::mail::Mailer;
use renkei_tests::TestApp;

mod support;

#[derive(QueryableByName)]
struct Queued {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Jobs queued so far, by kind.
async fn queued(app: &TestApp) -> BTreeMap<String, i64> {
    let rows: Vec<Queued> = diesel::sql_query("SELECT kind, count(*) AS n FROM jobs GROUP BY kind")
        .load(&mut app.db.owner_conn().await)
        .await
        .expect("jobs by kind");
    rows.into_iter().map(|r| (r.kind, r.n)).collect()
}

const CLOCKS: &str = "scan.incident_clocks";
const DAILY: [&str; 3] = ["alert.designation_coverage", "scan.checklist_reminders", "maintenance.clean_jobs"];
const BUNDLE: &str = "bundle.scheduled";

#[tokio::test]
async fn periodic_work_is_queued_once_per_period_and_the_weekly_bundle_is_built() {
    let app = TestApp::new().await;
    app.db.owner_conn().await.batch_execute("TRUNCATE jobs").await.expect("clear the fixture's jobs");
    let at = |d, h, m, s| Utc.with_ymd_and_hms(2026, 11, d, h, m, s).single().expect("time");
    // (tick in UTC, what it is in Japan, how many of the clock scan, each daily job and the
    // bundle are queued after it)
    let ticks = [
        (at(30, 0, 0, 10), "Monday 09:00:10", (1, 1, 1)),
        (at(30, 0, 0, 50), "the same minute", (1, 1, 1)),
        (at(30, 0, 1, 5), "the next minute", (2, 1, 1)),
        (at(30, 14, 59, 59), "Monday 23:59:59", (3, 1, 1)),
        (at(30, 15, 0, 0), "Tuesday 00:00", (4, 2, 1)),
        (at(30, 15, 0, 0) + chrono::Duration::days(5) - chrono::Duration::seconds(1), "Sunday 23:59:59", (5, 3, 1)),
        (at(30, 15, 0, 0) + chrono::Duration::days(6), "the next Monday 00:00", (6, 4, 2)),
    ];
    for (now, when, (clocks, daily, bundles)) in ticks {
        // Two replicas tick at the same moment.
        for _ in 0..2 {
            renkei_worker::schedule(&app.state.db, now).await.expect("schedule");
        }
        let q = queued(&app).await;
        assert_eq!(q.get(CLOCKS).copied(), Some(clocks), "{when}: the clock scan, once a minute");
        for kind in DAILY {
            assert_eq!(q.get(kind).copied(), Some(daily), "{when}: {kind}, once a day in Japan");
        }
        assert_eq!(q.get(BUNDLE).copied(), Some(bundles), "{when}: the national bundle, once a week");
        assert_eq!(q.len(), 5, "{when}: nothing else is queued: {q:?}");
    }

    // The worker runs what was queued: the bundle jobs request the national bundle of FY2026,
    // which it then builds.
    let mail = std::env::temp_dir().join(format!("renkei-schedule-{}", uuid::Uuid::new_v4()));
    let worker = support::worker(&app, Mailer::files(mail.clone(), "Renkei <noreply@renkei.example>").expect("mailer"));
    worker.drain().await.expect("drain");
    #[derive(QueryableByName, Debug, PartialEq)]
    struct Bundle {
        #[diesel(sql_type = Nullable<Int2>)]
        prefecture_code: Option<i16>,
        #[diesel(sql_type = Int2)]
        fiscal_year: i16,
        #[diesel(sql_type = Text)]
        status: String,
        #[diesel(sql_type = Text)]
        requested_by: String,
    }
    let built: Vec<Bundle> = diesel::sql_query(
        "SELECT prefecture_code, fiscal_year, status, requested_by FROM bundles WHERE requested_by = 'renkei-system'",
    )
    .load(&mut app.db.owner_conn().await)
    .await
    .expect("bundles");
    let national = |status: &str| Bundle {
        prefecture_code: None,
        fiscal_year: 2026,
        status: status.into(),
        requested_by: "renkei-system".into(),
    };
    assert_eq!(built, vec![national("ready"), national("ready")], "one national bundle per week queued");
    #[derive(QueryableByName)]
    struct Left {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let left: Left = diesel::sql_query("SELECT count(*) AS n FROM jobs WHERE finished_at IS NULL")
        .get_result(&mut app.db.owner_conn().await)
        .await
        .expect("jobs left");
    assert_eq!(left.n, 0, "every job ran, none failed or waits");
    std::fs::remove_dir_all(&mail).ok();
}
