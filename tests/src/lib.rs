//! Test harness: a fresh database per test, cloned from a migrated template, reached as the
//! application role; the real actix app in process; tokens signed with the test keys.

pub mod fixture;
pub mod redis_server;
pub mod smtp;
pub mod trace;
pub mod wait;

use std::path::{Path, PathBuf};
use std::time::Duration;

use actix_web::{App, test, web};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use jsonwebtoken::Algorithm;
use renkei_api::AppState;
use renkei_core::Principal;
use renkei_core::auth::{AuthConfig, KeySource, Minter};
use renkei_core::config::DatabaseConfig;
use renkei_core::db::Db;
use serde_json::{Value, json};

pub const ISSUER: &str = "renkei-test";
pub const AUDIENCE: &str = "renkei";
pub const KID: &str = "test-key";

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A binary of the workspace, from the target directory these tests were built into
/// (`target/<profile>/deps/<test>` → `target/<profile>/<name>`), refused if older than the
/// sources it is built from: a stale binary would test yesterday's code.
/// `cargo nextest run --workspace` (`make test`) builds the workspace's binaries with the tests.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let path = exe.parent().and_then(Path::parent).expect("target directory").join(name);
    let how =
        "build it with the tests: `cargo nextest run --workspace` (make test), or `cargo build --workspace --bins`";
    let built = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is missing: {how}", path.display()));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let sources: &[&str] = match name {
        "renkei-worker" => &["worker/src", "core/src", "migrations"],
        _ => &["api/src", "graphql/src", "core/src", "migrations"],
    };
    for dir in sources {
        assert!(newest_source(&root.join(dir)) <= built, "{} is older than {dir}: {how}", path.display());
    }
    path
}

fn newest_source(dir: &Path) -> std::time::SystemTime {
    let mut newest = std::time::SystemTime::UNIX_EPOCH;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let time = if path.is_dir() {
            newest_source(&path)
        } else {
            entry.metadata().and_then(|m| m.modified()).unwrap_or(std::time::SystemTime::UNIX_EPOCH)
        };
        newest = newest.max(time);
    }
    newest
}

pub fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixtures_dir().join(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn env_url(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run the tests with `make test`"))
}

/// `url` with its database name replaced by `db`.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, _) = url.rsplit_once('/').unwrap_or((url, ""));
    format!("{base}/{db}")
}

/// A digest of the migration files, naming the template so that a changed migration gets a
/// fresh template instead of a stale one.
fn migrations_fingerprint() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/sql");
    let mut files: Vec<PathBuf> = walk(&dir);
    files.sort();
    // FNV-1a: stable across runs and platforms, enough to tell versions apart.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    // The embedded list too: a binary built before a migration was added must not reuse a
    // template named after the files alone.
    let embedded = renkei_migrations::versions().unwrap_or_default();
    let on_disk = std::fs::read_dir(&dir).map(|d| d.flatten().count()).unwrap_or_default();
    assert_eq!(embedded.len(), on_disk, "the migrations crate is stale: rebuild it (touch migrations/src/lib.rs)");
    let embedded = embedded.join(",");
    for f in files {
        for b in f.to_string_lossy().bytes().chain(std::fs::read(&f).unwrap_or_default()).chain(embedded.bytes()) {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
        }
    }
    out
}

/// A throw-away database holding every migration.
pub struct TestDb {
    pub name: String,
    /// As the schema owner (who is still bound by FORCE ROW LEVEL SECURITY).
    pub owner_url: String,
    /// As the application login, `renkei_api`.
    pub app_url: String,
}

/// A test's database goes when the test ends, so that runs leave nothing behind; a failed
/// test's stays for a look (the next `make test` clears it). WITH (FORCE) ends the test's own
/// pooled connections and any process it started.
impl Drop for TestDb {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let name = self.name.clone();
        // Drop runs inside the test's runtime, which may not block: a thread of its own, with a
        // runtime of its own, and the test waits for it.
        let dropped = std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut admin = AsyncPgConnection::establish(&env_url("TEST_OWNER_DATABASE_URL"))
                    .await
                    .map_err(|e| e.to_string())?;
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .map_err(|e| e.to_string())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("test database {} was not dropped ({e}); the next make test drops it", self.name),
            Err(_) => eprintln!("test database {} was not dropped; the next make test drops it", self.name),
        }
    }
}

async fn owner_admin() -> AsyncPgConnection {
    let url = env_url("TEST_OWNER_DATABASE_URL");
    AsyncPgConnection::establish(&url).await.unwrap_or_else(|e| panic!("connecting as owner: {e}"))
}

impl TestDb {
    /// An empty database, no migrations.
    pub async fn empty() -> Self {
        let name = format!("renkei_t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = owner_admin().await;
        admin.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create database");
        Self::named(name)
    }

    fn named(name: String) -> Self {
        Self {
            owner_url: with_database(&env_url("TEST_OWNER_DATABASE_URL"), &name),
            app_url: with_database(&env_url("TEST_APP_DATABASE_URL"), &name),
            name,
        }
    }

    /// A migrated database, cloned from a template that is built once per migration set.
    pub async fn migrated() -> Self {
        let template = format!("renkei_tpl_{}", migrations_fingerprint());
        let mut admin = owner_admin().await;
        // One builder at a time across test processes.
        admin.batch_execute("SELECT pg_advisory_lock(727274)").await.expect("lock");
        let exists = diesel_async::RunQueryDsl::execute(
            diesel::sql_query(format!("SELECT 1 FROM pg_database WHERE datname = '{template}'")),
            &mut admin,
        )
        .await
        .expect("look up template");
        if exists == 0 {
            let building = format!("{template}_building");
            admin.batch_execute(&format!("DROP DATABASE IF EXISTS {building}")).await.expect("drop stale");
            admin.batch_execute(&format!("CREATE DATABASE {building}")).await.expect("create template");
            let url = with_database(&env_url("TEST_OWNER_DATABASE_URL"), &building);
            renkei_migrations::run(&url).await.expect("migrate template");
            admin.batch_execute(&format!("ALTER DATABASE {building} RENAME TO {template}")).await.expect("rename");
        }
        admin.batch_execute("SELECT pg_advisory_unlock(727274)").await.expect("unlock");
        let name = format!("renkei_t_{}", uuid::Uuid::new_v4().simple());
        admin.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}")).await.expect("clone template");
        Self::named(name)
    }

    /// As the schema owner with the ministry's view: FORCE binds the owner too, and without a
    /// role it sees no row of a tenant table.
    pub async fn owner_conn(&self) -> AsyncPgConnection {
        let mut c = AsyncPgConnection::establish(&self.owner_url).await.expect("connect as owner");
        c.batch_execute("SELECT set_config('renkei.role', 'national', false)").await.expect("the ministry's view");
        c
    }

    pub async fn app_conn(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.app_url).await.expect("connect as app")
    }

    pub fn db(&self) -> Db {
        Db::connect(&self.database_config()).expect("pool")
    }

    /// The application login's configuration for this database.
    pub fn database_config(&self) -> DatabaseConfig {
        DatabaseConfig {
            url: self.app_url.clone(),
            pool_size: 4,
            connect_timeout: Duration::from_secs(5),
            statement_timeout_ms: 5_000,
        }
    }
}

/// Opens a transaction on `conn` carrying `p`'s settings, as the service writes them (the caller
/// ends it).
pub async fn begin_as(conn: &mut AsyncPgConnection, p: &Principal) {
    use diesel::sql_types::Text;
    use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
    conn.batch_execute("BEGIN").await.expect("begin");
    diesel::sql_query(
        "SELECT set_config('renkei.role', $1, true), set_config('renkei.org', $2, true), \
         set_config('renkei.prefecture', $3, true), set_config('renkei.subject', $4, true)",
    )
    .bind::<Text, _>(p.role.as_str())
    .bind::<Text, _>(p.organisation_id.map(|i| i.to_string()).unwrap_or_default())
    .bind::<Text, _>(p.prefecture.map(|i| i.to_string()).unwrap_or_default())
    .bind::<Text, _>(p.subject.clone())
    .execute(conn)
    .await
    .expect("settings");
}

pub fn test_auth_config() -> AuthConfig {
    AuthConfig {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        algorithm: Algorithm::EdDSA,
        leeway_seconds: 30,
        max_lifetime_seconds: 86_400,
        keys: KeySource::Pem { pem: fixture_bytes("test-ed25519-public.pem"), kid: KID.into() },
    }
}

pub fn minter() -> Minter {
    Minter::new(Algorithm::EdDSA, &fixture_bytes("test-ed25519-private.pem"), KID, ISSUER, AUDIENCE).expect("minter")
}

/// The API in process over a fresh database, with the fixture registry loaded.
pub struct TestApp {
    pub db: TestDb,
    pub state: AppState,
    pub fx: fixture::Fixture,
    pub http: renkei_api::HttpConfig,
}

/// What a test may change about the app.
#[derive(Clone)]
pub struct Options {
    pub kpi: renkei_core::kpis::Settings,
    pub limits: renkei_graphql::limits::Limits,
    pub introspection: bool,
    /// Generous by default so that ordinary tests never meet them.
    pub rate_limits: renkei_api::rate_limit::RateLimits,
    /// `None`: the test Redis from `REDIS_URL`.
    pub redis_url: Option<String>,
    pub cors_origins: Vec<String>,
    pub request_timeout: Duration,
    /// Trusted proxies whose `X-Forwarded-For` entries count (0: the header is ignored).
    pub forwarded_for_hops: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            kpi: Default::default(),
            limits: renkei_graphql::limits::Limits::default(),
            introspection: true,
            rate_limits: renkei_api::rate_limit::RateLimits {
                per_ip: 100_000,
                auth_failures_per_ip: 100_000,
                queries_per_token: 100_000,
                mutations_per_token: 100_000,
            },
            redis_url: None,
            cors_origins: Vec::new(),
            request_timeout: Duration::from_secs(30),
            forwarded_for_hops: 0,
        }
    }
}

/// What a GraphQL call returned.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub headers: std::collections::HashMap<String, String>,
    pub body: Value,
    /// The body as sent (for files).
    pub raw: Vec<u8>,
}

impl Reply {
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    /// The `extensions.code` of the first error, if any.
    pub fn code(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["code"].as_str()
    }

    pub fn ok(&self) -> &Value {
        assert!(self.body.get("errors").is_none(), "unexpected errors: {}", self.body);
        assert_eq!(self.status, 200, "{}", self.body);
        &self.body["data"]
    }
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with(Options::default()).await
    }

    pub async fn with(options: Options) -> Self {
        let db = TestDb::migrated().await;
        let fx = fixture::Fixture::load(&db.db()).await;
        let redis_url = options.redis_url.clone().or_else(|| std::env::var("REDIS_URL").ok());
        // The server's own constructor, from a configuration as `from_env` would make it.
        let config = renkei_api::ApiConfig {
            bind: "127.0.0.1:0".into(),
            metrics_bind: "127.0.0.2:0".into(),
            workers: 1,
            max_body_bytes: 64 * 1024,
            max_batch: 10,
            graphiql: true,
            introspection: options.introspection,
            limits: options.limits,
            rate_limits: options.rate_limits,
            // Each test keeps its own rate-limit keys in the shared Redis.
            rate_limit_prefix: format!("renkei-test:{}", db.name),
            forwarded_for_hops: options.forwarded_for_hops,
            request_timeout: options.request_timeout,
            cors_origins: options.cors_origins.clone(),
            kpi: options.kpi,
            kpi_cache_entries: renkei_api::kpi_cache::DEFAULT_ENTRIES,
            database: db.database_config(),
            auth: test_auth_config(),
            redis_url,
        };
        let state = AppState::new(&config).await.expect("the API's state");
        Self { db, state, fx, http: renkei_api::HttpConfig { cors_origins: options.cors_origins } }
    }

    pub fn token(&self, p: &Principal) -> String {
        minter().mint(p, Duration::from_secs(600)).expect("mint")
    }

    /// Sends any request to the app and returns status, content type and JSON body.
    pub async fn send(&self, req: test::TestRequest) -> Reply {
        let app = test::init_service(
            // The same stack as `renkei-api serve`.
            App::new()
                .app_data(web::Data::new(self.state.clone()))
                .configure(|cfg| renkei_api::routes(cfg, &self.http)),
        )
        .await;
        let res = test::call_service(&app, req.to_request()).await;
        let status = res.status().as_u16();
        let content_type =
            res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        let bytes = test::read_body(res).await;
        let body =
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        Reply { status, content_type, headers, body, raw: bytes.to_vec() }
    }

    /// Sends a request to the metrics address's routes (`METRICS_BIND_ADDRESS`).
    pub async fn send_metrics(&self, req: test::TestRequest) -> Reply {
        let app = test::init_service(
            App::new().app_data(web::Data::new(self.state.clone())).configure(renkei_api::metrics_routes),
        )
        .await;
        let res = test::call_service(&app, req.to_request()).await;
        let status = res.status().as_u16();
        let content_type =
            res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let bytes = test::read_body(res).await;
        let body = Value::String(String::from_utf8_lossy(&bytes).into());
        Reply { status, content_type, headers: Default::default(), body, raw: bytes.to_vec() }
    }

    /// Saves `answers` as `who`'s hospital checklist of `fiscal_year` and submits it, through
    /// GraphQL as a client does; both calls must succeed.
    pub async fn submit_hospital_checklist(
        &self,
        who: &Principal,
        fiscal_year: i32,
        answers: Vec<renkei_core::checklists::submissions::Answer>,
    ) {
        let answers: Vec<Value> = answers
            .into_iter()
            .map(|a| serde_json::json!({ "code": a.code, "value": a.value, "checkedOn": a.checked_on }))
            .collect();
        let saved = self
            .gql(
                who,
                "mutation($fy: Int!, $a: [ChecklistAnswerInput!]!) { saveChecklistDraft(fiscalYear: $fy, form: HOSPITAL, answers: $a) { id } }",
                serde_json::json!({ "fy": fiscal_year, "a": answers }),
            )
            .await;
        let id = saved.ok()["saveChecklistDraft"]["id"].clone();
        self.gql(who, "mutation($id: ID!) { submitChecklist(id: $id) { id } }", serde_json::json!({ "id": id }))
            .await
            .ok();
    }

    /// POSTs one operation as `principal`.
    pub async fn gql(&self, principal: &Principal, query: &str, variables: Value) -> Reply {
        let token = self.token(principal);
        self.gql_with_token(Some(&token), query, variables).await
    }

    pub async fn gql_with_token(&self, token: Option<&str>, query: &str, variables: Value) -> Reply {
        let mut req = test::TestRequest::post()
            .uri("/graphql")
            .insert_header(("content-type", "application/json"))
            .set_payload(json!({ "query": query, "variables": variables }).to_string());
        if let Some(t) = token {
            req = req.insert_header(("authorization", format!("Bearer {t}")));
        }
        self.send(req).await
    }

    /// How many organisations are stored (seen as the ministry), to prove nothing was written.
    pub async fn count_organisations(&self) -> i64 {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        self.state
            .db
            .run(&Principal::system(), |c| {
                Box::pin(
                    async move { Ok(renkei_core::schema::organisations::table.count().get_result::<i64>(c).await?) },
                )
            })
            .await
            .expect("count")
    }
}

#[derive(diesel::QueryableByName)]
struct Digest {
    #[diesel(sql_type = diesel::sql_types::Text)]
    digest: String,
}

impl TestApp {
    /// A digest of every tenant table as the ministry sees it (all rows), to prove that a refused
    /// operation changed nothing. The audit log is left out: refusals are recorded there.
    pub async fn fingerprint(&self) -> String {
        self.fingerprint_as(&Principal::system()).await
    }

    /// The same digest over what `p` can see (e.g. one prefecture's rows).
    pub async fn fingerprint_as(&self, p: &Principal) -> String {
        use diesel_async::RunQueryDsl;
        self.state
            .db
            .run(p, |c| {
                Box::pin(async move {
                    let row: Digest = diesel::sql_query(
                        "SELECT md5(concat_ws('#', \
                           (SELECT string_agg(t::text, '|' ORDER BY t.id) FROM organisations t), \
                           (SELECT string_agg(t::text, '|' ORDER BY t.id) FROM users t), \
                           (SELECT string_agg(t::text, '|' ORDER BY t.hospital_id, t.vendor_id) FROM vendor_links t), \
                           (SELECT string_agg(t::text, '|' ORDER BY t.id) FROM critical_designations t), \
                           (SELECT string_agg(t::text, '|' ORDER BY t.id) FROM incidents t), \
                           (SELECT string_agg(t::text, '|' ORDER BY t.incident_id, t.version) FROM incident_versions t), \
                           (SELECT string_agg(t::text, '|' ORDER BY t.id) FROM incident_events t), \
                           (SELECT string_agg(t::text, '|' ORDER BY t.incident_id, t.recipient) FROM incident_notifications t), \
                           (SELECT string_agg(t::text, '|' ORDER BY t.id) FROM incident_tasks t), \
                           (SELECT string_agg(t::text, '|' ORDER BY t.hospital_id, t.point_no) FROM ransomware_preparedness t), \
                           (SELECT string_agg(concat_ws(',', t.id, t.prefecture_code, t.status), '|' ORDER BY t.id) FROM bundles t), \
                           (SELECT string_agg(t::text, '|' ORDER BY t.id) FROM submissions t), \
                           (SELECT string_agg(t::text, '|' ORDER BY t.submission_id, t.revision) FROM submission_revisions t), \
                           (SELECT string_agg(t::text, '|' ORDER BY t.prefecture_code, t.fiscal_year) FROM submission_windows t), \
                           (SELECT string_agg(t::text, '|' ORDER BY t.id) FROM inspections t))) AS digest",
                    )
                    .get_result(c)
                    .await?;
                    Ok(row.digest)
                })
            })
            .await
            .expect("fingerprint")
    }
}
