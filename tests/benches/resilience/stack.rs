//! The system under test as separate processes, as in production: the API, two workers, a Redis
//! of their own, the SMTP sink, and the shared PostgreSQL. Each can be taken down and brought
//! back the way an operator or Kubernetes would.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use renkei_tests::smtp::SmtpSink;
use tokio::process::{Child, Command};

/// Where the optimised binaries are: next to this benchmark's own (`target/release`).
fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("RENKEI_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("current exe");
    // target/release/deps/resilience-… → target/release
    exe.parent().and_then(Path::parent).expect("target dir").to_path_buf()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port()
}

pub struct Stack {
    pub logs: PathBuf,
    pub api_url: String,
    pub api_pid: u32,
    pub sink: SmtpSink,
    pub redis_port: u16,
    api: Child,
    workers: Vec<Child>,
    redis: Option<Child>,
    env: Vec<(String, String)>,
    spawned_workers: usize,
}

impl Stack {
    pub async fn start(app_url: &str, logs: PathBuf) -> Self {
        // This run's logs only.
        let _ = std::fs::remove_dir_all(&logs);
        std::fs::create_dir_all(&logs).expect("log dir");
        let sink = SmtpSink::start().await;
        let redis_port = free_port();
        let fixtures = renkei_tests::fixtures_dir();
        let env: Vec<(String, String)> = [
            ("DATABASE_URL", app_url.to_owned()),
            ("DATABASE_CONNECT_TIMEOUT_SECONDS", "2".into()),
            ("REDIS_URL", format!("redis://127.0.0.1:{redis_port}")),
            ("SMTP_URL", sink.url()),
            ("JWT_PUBLIC_KEY_FILE", fixtures.join("test-ed25519-public.pem").display().to_string()),
            ("JWT_KEY_ID", renkei_tests::KID.into()),
            ("JWT_ISSUER", renkei_tests::ISSUER.into()),
            ("JWT_AUDIENCE", renkei_tests::AUDIENCE.into()),
            // The whole load comes from one loopback address and a handful of tokens.
            ("RATE_LIMIT_PER_IP", "0".into()),
            ("RATE_LIMIT_QUERIES", "0".into()),
            ("RATE_LIMIT_MUTATIONS", "0".into()),
            ("HTTP_WORKERS", "2".into()),
            // A killed worker's job is taken up again after its lease: short, to see it happen.
            ("WORKER_LEASE_SECONDS", "10".into()),
            ("WORKER_POLL_MILLISECONDS", "500".into()),
            ("RUST_LOG", "warn".into()),
            ("OTEL_SDK_DISABLED", "true".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let redis = Some(spawn_redis(redis_port, &logs));
        wait_for_redis(redis_port).await;
        let api_port = free_port();
        let mut api_env = env.clone();
        api_env.push(("BIND_ADDRESS".into(), format!("127.0.0.1:{api_port}")));
        api_env.push(("METRICS_BIND_ADDRESS".into(), format!("127.0.0.1:{}", free_port())));
        let api = spawn(&bin_dir().join("renkei-api"), &["serve"], &api_env, &logs.join("api.log"));
        let api_pid = api.id().expect("api pid");
        let mut stack = Self {
            logs,
            api_url: format!("http://127.0.0.1:{api_port}"),
            api_pid,
            sink,
            redis_port,
            api,
            workers: Vec::new(),
            redis,
            env,
            spawned_workers: 0,
        };
        stack.spawn_worker();
        stack.spawn_worker();
        stack.wait_ready().await;
        stack
    }

    fn spawn_worker(&mut self) {
        self.spawned_workers += 1;
        let n = self.spawned_workers;
        let mut env = self.env.clone();
        env.push(("WORKER_BIND_ADDRESS".into(), format!("127.0.0.1:{}", free_port())));
        env.push(("HOSTNAME".into(), format!("worker{n}")));
        let log = self.logs.join(format!("worker{n}.log"));
        self.workers.push(spawn(&bin_dir().join("renkei-worker"), &[], &env, &log));
    }

    /// Waits for `/readyz` to answer 200 (database and migrations good).
    pub async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(r) = client.get(format!("{}/readyz", self.api_url)).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("the API did not become ready; see {}", self.logs.join("api.log").display());
    }

    /// kill -9 of the oldest worker, and a new one in its place a few seconds later, as a
    /// Deployment would.
    pub async fn kill_worker(&mut self) {
        let mut victim = self.workers.remove(0);
        let pid = victim.id().expect("worker pid");
        let status = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().expect("kill");
        assert!(status.success(), "kill -9 {pid} failed");
        let _ = victim.wait().await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        self.spawn_worker();
    }

    pub async fn stop_redis(&mut self) {
        if let Some(mut r) = self.redis.take() {
            let _ = r.start_kill();
            let _ = r.wait().await;
        }
    }

    pub async fn start_redis(&mut self) {
        self.redis = Some(spawn_redis(self.redis_port, &self.logs));
        wait_for_redis(self.redis_port).await;
    }

    /// Whether the API process is the one started at the beginning and still running.
    pub fn api_alive(&mut self) -> bool {
        self.api.id() == Some(self.api_pid) && matches!(self.api.try_wait(), Ok(None))
    }

    pub fn workers_alive(&mut self) -> usize {
        self.workers.iter_mut().map(|w| w.try_wait()).filter(|s| matches!(s, Ok(None))).count()
    }

    pub async fn stop(mut self) {
        for child in self.workers.iter_mut().chain(std::iter::once(&mut self.api)) {
            // SIGTERM: a graceful stop, as Kubernetes does.
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
            }
        }
        for child in self.workers.iter_mut().chain(std::iter::once(&mut self.api)) {
            if tokio::time::timeout(Duration::from_secs(35), child.wait()).await.is_err() {
                let _ = child.start_kill();
            }
        }
        self.stop_redis().await;
    }
}

fn spawn(bin: &Path, args: &[&str], env: &[(String, String)], log: &Path) -> Child {
    assert!(bin.exists(), "{} is missing: build it with `cargo build --release --workspace --bins`", bin.display());
    let out = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log file");
    let err = out.try_clone().expect("log file");
    Command::new(bin)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()))
}

fn spawn_redis(port: u16, logs: &Path) -> Child {
    Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
        .args(["--logfile", &logs.join("redis.log").display().to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-server (install Redis, or run `make services`)")
}

async fn wait_for_redis(port: u16) {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).expect("redis url");
    for _ in 0..100 {
        if let Ok(mut c) = client.get_multiplexed_async_connection().await
            && redis::cmd("PING").query_async::<String>(&mut c).await.is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("redis-server did not answer on {port}");
}

/// Restarts the PostgreSQL cluster that serves `url`'s port (fast mode: sessions are cut, open
/// transactions roll back), by `RESILIENCE_PG_RESTART` when set, else Debian's `pg_ctlcluster`.
pub fn restart_postgres(port: u16) {
    let command = std::env::var("RESILIENCE_PG_RESTART").unwrap_or_else(|_| {
        let clusters = std::process::Command::new("pg_lsclusters").arg("-h").output().expect("pg_lsclusters");
        let text = String::from_utf8_lossy(&clusters.stdout);
        let (version, name) = text
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|f| f.len() > 2 && f[2] == port.to_string())
            .map(|f| (f[0].to_owned(), f[1].to_owned()))
            .unwrap_or_else(|| panic!("no local PostgreSQL cluster on port {port}; set RESILIENCE_PG_RESTART"));
        format!("pg_ctlcluster --skip-systemctl-redirect -m fast {version} {name} restart")
    });
    let status = std::process::Command::new("sh").args(["-c", &command]).status().expect("restart PostgreSQL");
    assert!(status.success(), "`{command}` failed");
}
