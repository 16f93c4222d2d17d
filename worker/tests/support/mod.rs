//! What the worker's test files share: a worker as they run it, an app without the fixture's
//! jobs, and counting rows as the schema owner.
#![allow(dead_code)] // each test file uses its part of it

use std::sync::Arc;
use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use renkei_core::db::Db;
use renkei_core::mail::Mailer;
use renkei_core::metrics::Metrics;
use renkei_tests::TestApp;
use renkei_worker::{Worker, WorkerConfig};

/// Polls quickly and keeps leases short; never queues periodic work itself (the tests drive it).
pub fn config() -> WorkerConfig {
    WorkerConfig {
        poll: Duration::from_millis(100),
        lease_seconds: 5,
        shutdown_grace: Duration::from_secs(1),
        schedule: false,
    }
}

/// A worker on the test's database, sending with `mailer`.
pub fn worker(app: &TestApp, mailer: Mailer) -> Worker {
    worker_on(app.db.db(), mailer)
}

/// A worker on `db` (a pool configured apart, say with a shorter statement timeout).
pub fn worker_on(db: Db, mailer: Mailer) -> Worker {
    Worker::new(db, mailer, Arc::new(Metrics::new("worker").expect("metrics")), config(), None)
}

pub async fn owner(app: &TestApp) -> AsyncPgConnection {
    app.db.owner_conn().await
}

/// A test app without the fixture's jobs. Emptied with TRUNCATE: row-level security lets no
/// one, the owner included, delete a job not yet finished.
pub async fn quiet_app() -> TestApp {
    let app = TestApp::new().await;
    owner(&app).await.batch_execute("TRUNCATE jobs").await.expect("clear fixture jobs");
    app
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// `sql` (a `SELECT count(*) AS n …`) as the schema owner.
pub async fn count(app: &TestApp, sql: &str) -> i64 {
    let row: Count = diesel::sql_query(sql).get_result(&mut owner(app).await).await.expect(sql);
    row.n
}
