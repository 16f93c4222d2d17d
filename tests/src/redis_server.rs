//! A Redis of the test's own (`redis-server` on a free loopback port, nothing persisted), that
//! the test may stop and start again without touching the shared one.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::wait::eventually;

pub struct OwnRedis {
    pub port: u16,
    child: Option<Child>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port()
}

async fn answers(url: &str) -> bool {
    let Ok(client) = redis::Client::open(url) else { return false };
    let Ok(Ok(mut conn)) =
        tokio::time::timeout(Duration::from_millis(500), client.get_multiplexed_async_connection()).await
    else {
        return false;
    };
    redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok_and(|p| p == "PONG")
}

impl OwnRedis {
    pub async fn start() -> Self {
        let mut redis = Self { port: free_port(), child: None };
        redis.start_again().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// A connection to it, for the test's own commands.
    pub async fn conn(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url()).expect("url").get_multiplexed_async_connection().await.expect("connect")
    }

    /// Takes it away at once (SIGKILL), as a crashed or unreachable Redis.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Brings it back on the same port, empty.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("redis-server is not installed (scripts/services.sh installs it)");
        self.child = Some(child);
        let url = self.url();
        eventually("our redis-server answers PING", Duration::from_secs(10), || {
            let url = url.clone();
            async move { answers(&url).await.then_some(()) }
        })
        .await;
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
