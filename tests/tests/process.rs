//! `renkei-api serve` as the built binary, configured from its environment as in production
//! (the other HTTP tests build `AppState` by hand): the body limit, the request timeout, the drain
//! on SIGTERM, and rate limits shared by two replicas through one Redis — which is then taken
//! away and brought back.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop loudly on what they cannot set up

use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use diesel_async::SimpleAsyncConnection;
use renkei_core::Principal;
use renkei_tests::redis_server::OwnRedis;
use renkei_tests::wait::{eventually, holds};
use renkei_tests::{TestApp, TestDb, fixtures_dir};
use serde_json::{Value, json};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port()
}

/// One `renkei-api serve` process, killed if the test ends before it stopped.
struct Api {
    child: Option<Child>,
    port: u16,
    url: String,
    metrics_url: String,
    http: reqwest::Client,
}

impl Api {
    /// Serves `db` with the test keys and `env` on top; `REDIS_URL` from the environment unless
    /// `env` names one. Returns once `/healthz` answers.
    async fn start(db: &TestDb, env: &[(&str, &str)]) -> Self {
        let (port, metrics_port) = (free_port(), free_port());
        let mut command = Command::new(renkei_tests::binary("renkei-api"));
        command
            .arg("serve")
            .env_clear()
            .env("DATABASE_URL", &db.app_url)
            .env("DATABASE_POOL_SIZE", "4")
            .env("JWT_PUBLIC_KEY_FILE", fixtures_dir().join("test-ed25519-public.pem"))
            .env("JWT_ISSUER", renkei_tests::ISSUER)
            .env("JWT_AUDIENCE", renkei_tests::AUDIENCE)
            .env("JWT_KEY_ID", renkei_tests::KID)
            .env("BIND_ADDRESS", format!("127.0.0.1:{port}"))
            .env("METRICS_BIND_ADDRESS", format!("127.0.0.1:{metrics_port}"))
            .env("HTTP_WORKERS", "2")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Ok(redis) = std::env::var("REDIS_URL") {
            command.env("REDIS_URL", redis);
        }
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn().expect("start renkei-api serve");
        let mut api = Self {
            child: Some(child),
            port,
            url: format!("http://127.0.0.1:{port}"),
            metrics_url: format!("http://127.0.0.1:{metrics_port}/metrics"),
            // A new connection per request: keep-alive would hide a closed listener.
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
        };
        let health = format!("{}/healthz", api.url);
        let http = api.http.clone();
        eventually("renkei-api answers /healthz", Duration::from_secs(20), || {
            let (health, http) = (health.clone(), http.clone());
            let exited = api.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            assert!(exited.is_none(), "renkei-api stopped at start: {exited:?} (its output is above)");
            async move { http.get(&health).send().await.ok().filter(|r| r.status() == 200).map(|_| ()) }
        })
        .await;
        api
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().expect("try_wait"))
    }

    /// POSTs `query` with `token`: the status and the JSON answer.
    async fn gql(&self, token: &str, query: &str) -> (u16, Value) {
        let res = self
            .http
            .post(format!("{}/graphql", self.url))
            .bearer_auth(token)
            .json(&json!({ "query": query }))
            .send()
            .await
            .unwrap_or_else(|e| panic!("no answer to {query}: {e}"));
        let status = res.status().as_u16();
        (status, res.json().await.expect("JSON"))
    }

    /// `renkei_rate_limit_redis_up` as this process reports it.
    async fn redis_up(&self) -> Option<i64> {
        let text = self.http.get(&self.metrics_url).send().await.ok()?.text().await.ok()?;
        text.lines().find(|l| l.starts_with("renkei_rate_limit_redis_up"))?.split_whitespace().last()?.parse().ok()
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn token(app: &TestApp, p: &Principal) -> String {
    app.token(p)
}

const VIEWER: &str = "{ viewer { role } }";

#[tokio::test]
async fn bodies_over_graphql_max_body_bytes_are_refused_with_413() {
    let app = TestApp::new().await;
    let api = Api::start(&app.db, &[("GRAPHQL_MAX_BODY_BYTES", "4096")]).await;
    let token = token(&app, &app.fx.national());
    let (status, body) = api.gql(&token, VIEWER).await;
    assert_eq!((status, &body["data"]["viewer"]["role"]), (200, &json!("NATIONAL")), "{body}");
    let padded = format!("{VIEWER}{}", " ".repeat(5000));
    let (status, body) = api.gql(&token, &padded).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "PAYLOAD_TOO_LARGE", "{body}");
    assert_eq!(body["errors"][0]["message"], "request body larger than 4096 bytes");
}

/// A query blocked on a lock, in a binary with a 1 s request timeout and a 3 s statement timeout:
/// its answer and how long it took.
async fn blocked_query() -> (Value, Duration) {
    let app = TestApp::new().await;
    let env = [("REQUEST_TIMEOUT_SECONDS", "1"), ("DATABASE_STATEMENT_TIMEOUT_MS", "3000")];
    let api = Api::start(&app.db, &env).await;
    let token = token(&app, &app.fx.national());
    let query = "{ incidents(first: 5) { nodes { id } } }";
    assert_eq!(api.gql(&token, query).await.0, 200);
    // A slow query: the table is locked by another transaction. Not a table that signing in
    // reads: that statement is bounded by neither timeout (see the report of issue 23).
    let mut lock = app.db.owner_conn().await;
    lock.batch_execute("BEGIN; LOCK TABLE incidents IN ACCESS EXCLUSIVE MODE").await.expect("lock");
    let started = Instant::now();
    let (_, body) = api.gql(&token, query).await;
    let took = started.elapsed();
    lock.batch_execute("ROLLBACK").await.expect("unlock");
    // The process goes on serving.
    let (status, after) = api.gql(&token, query).await;
    assert_eq!(status, 200, "{after}");
    assert!(after["data"]["incidents"]["nodes"].as_array().is_some_and(|n| !n.is_empty()), "{after}");
    (body, took)
}

#[tokio::test]
async fn a_request_running_past_request_timeout_seconds_answers_timeout() {
    let (body, took) = blocked_query().await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "TIMEOUT", "{body}");
    assert_eq!(body["errors"][0]["message"], "the request took longer than 1 s");
    // At the 1 s deadline, not when the abandoned statement ends (the 3 s statement timeout):
    // the connection still running it is dropped, not committed on.
    assert!(took >= Duration::from_secs(1) && took < Duration::from_millis(2500), "answered after {took:?}");
}

/// Signing in reads the registry before the caller's settings (and with them the statement
/// timeout) are written: with the registry locked — as a migration's ALTER TABLE would — it is
/// bounded all the same, by the timeout every connection starts with, and answers UNAVAILABLE
/// (retry later) rather than holding the request and its connection until the lock goes.
#[tokio::test]
async fn signing_in_is_bounded_by_the_statement_timeout_too() {
    let app = TestApp::new().await;
    let env = [("REQUEST_TIMEOUT_SECONDS", "60"), ("DATABASE_STATEMENT_TIMEOUT_MS", "1000")];
    let api = Api::start(&app.db, &env).await;
    let token = token(&app, &app.fx.national());
    assert_eq!(api.gql(&token, VIEWER).await.0, 200);
    // A fresh connection for the blocked sign-in: the pool's one is busy with it after.
    let mut lock = app.db.owner_conn().await;
    lock.batch_execute("BEGIN; LOCK TABLE organisations IN ACCESS EXCLUSIVE MODE").await.expect("lock");
    let answer = tokio::time::timeout(Duration::from_secs(20), api.gql(&token, VIEWER)).await;
    lock.batch_execute("ROLLBACK").await.expect("unlock");
    let (status, body) = answer.expect("an answer while the registry is locked, not a wait for the lock");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAVAILABLE", "{body}");
    let (status, after) = api.gql(&token, VIEWER).await;
    assert_eq!(status, 200, "serving again once the lock is gone: {after}");
}

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_refuses_new_ones_and_exits_0() {
    let app = TestApp::new().await;
    let mut api = Api::start(&app.db, &[]).await;
    let token = token(&app, &app.fx.national());
    let query = "{ incidents(first: 5) { nodes { id } } }";
    let mut lock = app.db.owner_conn().await;
    lock.batch_execute("BEGIN; LOCK TABLE incidents IN ACCESS EXCLUSIVE MODE").await.expect("lock");
    let in_flight = tokio::spawn({
        let (http, url, token) = (api.http.clone(), format!("{}/graphql", api.url), token.clone());
        async move {
            let res = http.post(url).bearer_auth(token).json(&json!({ "query": query })).send().await?;
            let status = res.status().as_u16();
            Ok::<_, reqwest::Error>((status, res.json::<Value>().await?))
        }
    });
    // In flight: its statement waits for the lock.
    eventually("the request waits on the lock", Duration::from_secs(10), || async {
        let waiting = "SELECT 1 FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
                       WHERE NOT l.granted AND d.datname = current_database()";
        let mut c = app.db.owner_conn().await;
        holds(diesel_async::RunQueryDsl::execute(diesel::sql_query(waiting), &mut c).await.unwrap_or(0) > 0)
    })
    .await;

    Command::new("kill").arg("-TERM").arg(api.pid().to_string()).status().expect("kill -TERM");
    let address = format!("127.0.0.1:{}", api.port);
    eventually("new connections are refused", Duration::from_secs(10), || {
        let address = address.clone();
        async move { holds(tokio::net::TcpStream::connect(&address).await.is_err()) }
    })
    .await;
    assert!(!in_flight.is_finished(), "the request is still in flight");
    assert!(api.exited().is_none(), "the process waits for it");

    lock.batch_execute("ROLLBACK").await.expect("unlock");
    let (status, body) = in_flight.await.expect("join").expect("the request in flight got its answer");
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["incidents"]["nodes"].as_array().is_some_and(|n| !n.is_empty()), "{body}");
    let status = eventually("the process exits", Duration::from_secs(10), || {
        let status = api.exited();
        async move { status }
    })
    .await;
    assert!(status.success(), "exit status {status:?}");
}

/// Sends `n` queries as `token`, alternating between `replicas`: how many each served (200 with
/// data) before the others were refused (429, `RATE_LIMITED`).
async fn alternate(replicas: &[&Api], token: &str, n: usize) -> Vec<usize> {
    let mut served = vec![0; replicas.len()];
    for i in 0..n {
        let which = i % replicas.len();
        let (status, body) = replicas[which].gql(token, VIEWER).await;
        match status {
            200 => {
                assert!(body["data"]["viewer"]["role"].is_string(), "{body}");
                served[which] += 1;
            }
            429 => assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED", "{body}"),
            _ => panic!("request {i} to replica {which}: {status} {body}"),
        }
    }
    served
}

#[tokio::test]
async fn two_replicas_share_one_limit_each_limits_alone_while_redis_is_away() {
    const LIMIT: usize = 6;
    let app = TestApp::new().await;
    let mut redis = OwnRedis::start().await;
    let limit = LIMIT.to_string();
    let env = [("REDIS_URL", redis.url()), ("RATE_LIMIT_QUERIES", limit.clone()), ("RATE_LIMIT_PER_IP", "0".into())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (a, b) = (Api::start(&app.db, &env).await, Api::start(&app.db, &env).await);

    // Shared: the two together serve the limit, each half of it, far from the limit alone.
    let national = token(&app, &app.fx.national());
    let served = alternate(&[&a, &b], &national, 2 * LIMIT).await;
    assert_eq!(served, [LIMIT / 2, LIMIT / 2], "one window for both replicas");
    assert_eq!((a.redis_up().await, b.redis_up().await), (Some(1), Some(1)));

    // Redis goes away: both keep serving, each limiting on its own (README: "Without Redis each
    // replica limits on its own and renkei_rate_limit_redis_up drops to 0").
    redis.stop();
    let tokyo = token(&app, &app.fx.prefecture(&app.fx.tokyo));
    let served = alternate(&[&a, &b], &tokyo, 2 * LIMIT + 4).await;
    assert_eq!(served, [LIMIT, LIMIT], "each replica its own limit");
    assert_eq!((a.redis_up().await, b.redis_up().await), (Some(0), Some(0)));

    // Redis comes back (empty): both find it again by themselves, and share the limit again.
    redis.start_again().await;
    let probe = token(&app, &app.fx.hospital_admin(&app.fx.tokyo));
    eventually("both replicas use Redis again", Duration::from_secs(15), || {
        let (a, b, probe) = (&a, &b, &probe);
        async move {
            a.gql(probe, VIEWER).await;
            b.gql(probe, VIEWER).await;
            holds((a.redis_up().await, b.redis_up().await) == (Some(1), Some(1)))
        }
    })
    .await;
    let osaka = token(&app, &app.fx.prefecture(&app.fx.osaka));
    let served = alternate(&[&a, &b], &osaka, 2 * LIMIT).await;
    assert_eq!(served, [LIMIT / 2, LIMIT / 2], "one window again");
}
