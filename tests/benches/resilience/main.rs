//! `make resilience` (`cargo bench -p renkei-tests --bench resilience`): the API, two workers, a
//! Redis and an SMTP relay as separate processes on loopback, over the national dataset, under a
//! realistic mix of dashboards, prefecture officials and hospitals — while, one at a time, a worker
//! is killed (-9), PostgreSQL restarts, Redis goes away for a while and the relay refuses mail for
//! a minute. Afterwards it checks that nothing the clients were told was done got lost, that every
//! job ran and every mail arrived once, that the audit chain verifies and that the API came back
//! by itself; it prints the tables the README quotes and exits 1 when a check fails.
//!
//! Bounded: about 9 minutes with the defaults. `RESILIENCE_SCALE` multiplies the arrival rates,
//! `RESILIENCE_WINDOW_SECONDS` sets the baseline and the watch after each fault (30),
//! `RESILIENCE_SMTP_DOWN_SECONDS` (60) and `RESILIENCE_REDIS_DOWN_SECONDS` (20) the outages,
//! `RESILIENCE_FAULTS` which of `worker,postgres,redis,smtp` to inject.
//! PostgreSQL is the shared local cluster: it really restarts (`RESILIENCE_PG_RESTART` overrides
//! the command).

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod checks;
mod load;
mod report;
mod stack;

use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use diesel::sql_types::{SmallInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use renkei_core::{Principal, Role};
use renkei_tests::smtp::Mode;
use serde_json::{Value, json};
use tokio::sync::watch;
use uuid::Uuid;

use crate::checks::Check;
use crate::load::{Actors, Load, Rates};
use crate::report::Phase;

const DATABASE: &str = "renkei_resilience";
/// The faults, in the order they are injected (`RESILIENCE_FAULTS` picks some by key).
const FAULTS: [(&str, &str); 4] = [
    ("worker", "worker kill -9"),
    ("postgres", "PostgreSQL restart"),
    ("redis", "Redis stopped and started"),
    ("smtp", "SMTP refusing"),
];
/// Hospitals whose admins fill in forms and report incidents.
const ADMINS: i64 = 300;

/// `name` parsed, or `default` when unset; a value that does not parse stops the run.
fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v.parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a valid value")),
        Err(_) => default,
    }
}

fn env_url(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run `make resilience`"))
}

#[derive(diesel::QueryableByName)]
struct Person {
    #[diesel(sql_type = Text)]
    subject: String,
    #[diesel(sql_type = Text)]
    role: String,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    organisation_id: Uuid,
    #[diesel(sql_type = SmallInt)]
    prefecture_code: i16,
}

/// The people of the run: the ministry, an official per prefecture, a dashboard, and the admins
/// of `ADMINS` hospitals; each with an address, so that alerts have somewhere to go.
const PEOPLE: &str = r"
WITH ministry AS (
  INSERT INTO organisations (kind, name, prefecture_code) VALUES ('ministry', '厚生労働省（負荷試験）', 13) RETURNING id
), offices AS (
  INSERT INTO organisations (kind, name, prefecture_code)
  SELECT 'prefecture_office', name_ja || '庁（負荷試験）', code FROM prefectures RETURNING id, prefecture_code
), admins AS (
  SELECT id, prefecture_code, row_number() OVER (ORDER BY id) AS n FROM organisations
  WHERE kind = 'hospital' ORDER BY id LIMIT $1
)
INSERT INTO users (organisation_id, subject, email, display_name, role)
SELECT id, 'res-national', 'national@resilience.test', '厚労省担当', 'national' FROM ministry
UNION ALL SELECT id, 'res-dashboard', 'dashboard@resilience.test', 'ダッシュボード', 'dashboard' FROM ministry
UNION ALL SELECT id, 'res-pref-' || prefecture_code, 'pref' || prefecture_code || '@resilience.test', '県担当', 'prefecture'
  FROM offices
UNION ALL SELECT id, 'res-admin-' || n, 'admin' || n || '@resilience.test', '病院管理者', 'hospital_admin' FROM admins";

async fn prepare_database() -> (String, String) {
    let owner_base = env_url("TEST_OWNER_DATABASE_URL");
    let mut admin = AsyncPgConnection::establish(&owner_base).await.expect("owner connection");
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")).await.expect("drop");
    admin.batch_execute(&format!("CREATE DATABASE {DATABASE}")).await.expect("create");
    let owner_url = renkei_tests::with_database(&owner_base, DATABASE);
    let app_url = renkei_tests::with_database(&env_url("TEST_APP_DATABASE_URL"), DATABASE);
    renkei_migrations::run(&owner_url).await.expect("migrate");
    let started = Instant::now();
    let s = renkei_core::seed::national::national(&owner_url, Default::default()).await.expect("national seed");
    println!(
        "national dataset: {} hospitals, {} clinics, {} submissions, {} incidents ({:.0} s)",
        s.hospitals,
        s.clinics,
        s.submissions,
        s.incidents,
        started.elapsed().as_secs_f64()
    );
    let mut c = checks::owner(&owner_url).await;
    diesel::sql_query(PEOPLE).bind::<diesel::sql_types::BigInt, _>(ADMINS).execute(&mut c).await.expect("people");
    (owner_url, app_url)
}

async fn tokens(owner_url: &str) -> (String, String, Vec<String>, Vec<(String, String)>) {
    let mut c = checks::owner(owner_url).await;
    let people: Vec<Person> = diesel::sql_query(
        "SELECT u.subject, u.role, u.organisation_id, o.prefecture_code FROM users u \
         JOIN organisations o ON o.id = u.organisation_id WHERE u.subject LIKE 'res-%' ORDER BY u.subject",
    )
    .load(&mut c)
    .await
    .expect("people");
    let minter = renkei_tests::minter();
    let ttl = Duration::from_secs(3 * 3600);
    let (mut national, mut dashboard, mut prefectures, mut hospitals) = (None, None, Vec::new(), Vec::new());
    for p in people {
        let role: Role = p.role.parse().expect("role");
        let prefecture = (role == Role::Prefecture).then_some(p.prefecture_code);
        let principal = Principal::new(p.subject, role, Some(p.organisation_id), prefecture).expect("principal");
        let token = minter.mint(&principal, ttl).expect("token");
        match role {
            Role::National => national = Some(token),
            Role::Dashboard => dashboard = Some(token),
            Role::Prefecture => prefectures.push(token),
            _ => hospitals.push((token, p.organisation_id.to_string())),
        }
    }
    (national.expect("national"), dashboard.expect("dashboard"), prefectures, hospitals)
}

async fn gql(api: &str, token: &str, query: &str, variables: Value) -> Value {
    let body: Value = reqwest::Client::new()
        .post(format!("{api}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert!(body.get("errors").is_none(), "{body}");
    body["data"].clone()
}

/// What the clients need to know of the data: the form's items, places in the list, hospitals.
async fn actors(api: &str, owner_url: &str) -> Actors {
    let (national, dashboard, prefectures, hospitals) = tokens(owner_url).await;
    let form = gql(
        api,
        &national,
        "{ checklistCatalog(fiscalYear: 2025, form: HOSPITAL) { items { code answerType choices } } }",
        json!({}),
    )
    .await;
    let items = form["checklistCatalog"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["code"].as_str().unwrap().to_owned(),
                i["answerType"].as_str().unwrap().to_owned(),
                i["choices"][0].as_str().map(str::to_owned),
            )
        })
        .collect();
    let mut c = checks::owner(owner_url).await;
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = Text)]
        id: String,
    }
    // Cursors as the API makes them (id, then the name it sorts by), at random places in the list.
    let positions: Vec<Id> =
        diesel::sql_query("SELECT id::text || name AS id FROM organisations ORDER BY random() LIMIT 500")
            .load(&mut c)
            .await
            .expect("positions");
    let cursors = positions.into_iter().map(|p| URL_SAFE_NO_PAD.encode(p.id)).collect();
    let ids: Vec<Id> = diesel::sql_query(
        "SELECT id::text AS id FROM organisations WHERE kind = 'hospital' ORDER BY random() LIMIT 2000",
    )
    .load(&mut c)
    .await
    .expect("hospitals");
    Actors {
        dashboard,
        national,
        prefectures,
        hospitals,
        hospital_ids: ids.into_iter().map(|i| i.id).collect(),
        cursors,
        items,
    }
}

fn epoch(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH).expect("clock").as_secs_f64()
}

#[tokio::main]
async fn main() {
    let window = Duration::from_secs(env_or("RESILIENCE_WINDOW_SECONDS", 30));
    let smtp_down = Duration::from_secs(env_or("RESILIENCE_SMTP_DOWN_SECONDS", 60));
    let redis_down = Duration::from_secs(env_or("RESILIENCE_REDIS_DOWN_SECONDS", 20));
    let rates = Rates::scaled(env_or("RESILIENCE_SCALE", 1.0));

    let (owner_url, app_url) = prepare_database().await;
    let pg_port: u16 =
        app_url.rsplit_once(':').and_then(|(_, r)| r.split('/').next()).and_then(|p| p.parse().ok()).unwrap_or(5432);
    let logs = std::path::PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/tmp".into()))
        .join(".cache/renkei/resilience");
    let mut stack = stack::Stack::start(&app_url, logs).await;
    println!(
        "API {} (pid {}), 2 workers, Redis :{}, SMTP sink :{}; logs in {}",
        stack.api_url,
        stack.api_pid,
        stack.redis_port,
        stack.sink.port,
        stack.logs.display()
    );
    let actors = actors(&stack.api_url, &owner_url).await;
    println!("mix per second: {rates:?}");

    let epoch0 = epoch(SystemTime::now());
    let load = Load::new(&stack.api_url, actors);
    let (stop, stopped) = watch::channel(false);
    let runner = tokio::spawn(load::run(load.clone(), rates, stopped));
    let mut db = checks::owner(&owner_url).await;

    tokio::time::sleep(window).await;
    let baseline = Phase { name: "baseline", start: 0.0, end: load.now(), until: load.now(), queue_recovery: None };
    let mut phases = Vec::new();
    let chosen = std::env::var("RESILIENCE_FAULTS").unwrap_or_else(|_| "worker,postgres,redis,smtp".into());
    for (key, name) in FAULTS.iter().filter(|(key, _)| chosen.split(',').any(|c| c.trim() == *key)) {
        let (key, name) = (*key, *name);
        let start = load.now();
        println!("{:>6.1} s  {name}", start);
        match key {
            "worker" => stack.kill_worker().await,
            "postgres" => {
                tokio::task::spawn_blocking(move || stack::restart_postgres(pg_port)).await.expect("restart");
                db = checks::owner(&owner_url).await;
            }
            "redis" => {
                stack.stop_redis().await;
                tokio::time::sleep(redis_down).await;
                stack.start_redis().await;
            }
            _ => {
                stack.sink.set_mode(Mode::Refuse);
                tokio::time::sleep(smtp_down).await;
                stack.sink.set_mode(Mode::Accept);
            }
        }
        let end = load.now();
        tokio::time::sleep(window).await;
        phases.push(Phase { name, start, end, until: load.now(), queue_recovery: None });
    }
    stop.send(true).expect("stop");
    runner.await.expect("load");
    println!("{:>6.1} s  load stopped; waiting for the queue to drain", load.now());

    // Retries wait with backoff (20 s, 40 s, …): give the queue a few minutes.
    let drained = Instant::now();
    while checks::pending_jobs(&mut db).await > 0 && drained.elapsed() < Duration::from_secs(300) {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    println!("{:>6.1} s  queue drained in {:.0} s", load.now(), drained.elapsed().as_secs_f64());
    for p in &mut phases {
        p.queue_recovery = checks::queue_recovery(&mut db, epoch0 + p.start - 15.0, epoch0 + p.end).await;
    }

    let samples = load.samples.lock().unwrap().clone();
    let acked = load.acked.lock().unwrap().clone();
    let received: Vec<String> = stack
        .sink
        .received()
        .iter()
        .map(|m| m.message_id().trim_start_matches('<').split('@').next().unwrap_or_default().to_owned())
        .collect();
    let mut verdict = checks::run(&mut db, &acked, &received).await;
    let chain = renkei_core::audit::verify(&owner_url).await.expect("audit verify");
    let intact = matches!(chain, renkei_core::audit::Verdict::Intact { .. });
    verdict.push(Check { what: format!("audit chain verifies ({chain:?})"), looked_at: 1, wrong: i64::from(!intact) });
    let alive = stack.api_alive();
    let ready = reqwest::get(format!("{}/readyz", stack.api_url)).await.is_ok_and(|r| r.status().is_success());
    verdict.push(Check {
        what: "API: the process started first, never restarted, ready".into(),
        looked_at: 1,
        wrong: i64::from(!(alive && ready)),
    });
    let workers = stack.workers_alive();
    verdict.push(Check { what: "workers running at the end".into(), looked_at: 2, wrong: 2 - workers as i64 });
    let notes = vec![format!(
        "{} requests, {} acknowledged mutations, {} mails received; jobs retried after a failure or a lost lease: {}",
        samples.len(),
        acked.len(),
        received.len(),
        retried(&mut db).await
    )];
    report::print(&samples, &baseline, &phases, &verdict, &notes);
    stack.stop().await;
    if verdict.iter().any(|c| c.wrong != 0) {
        std::process::exit(1);
    }
}

async fn retried(c: &mut AsyncPgConnection) -> i64 {
    checks::count(c, diesel::sql_query("SELECT count(*) AS n FROM jobs WHERE attempts > 1").into_boxed()).await
}
