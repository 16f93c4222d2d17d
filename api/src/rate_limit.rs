//! Rate limits per client IP, per failed sign-in IP, and per token (queries and, stricter,
//! mutations), as sliding windows in Redis so that every replica shares them. When Redis cannot
//! be reached the API keeps serving and limits each replica on its own, and says so in the
//! `renkei_rate_limit_redis_up` and `renkei_rate_limit_local_decisions_total` metrics.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::metrics::Metrics;
use tokio::sync::RwLock;

const WINDOW: Duration = Duration::from_secs(60);
/// How long one Redis call may take before the local limit decides instead.
const REDIS_TIMEOUT: Duration = Duration::from_millis(150);
/// After a failure, Redis is tried again no sooner than this.
const RECONNECT_EVERY: Duration = Duration::from_secs(5);

/// Requests allowed per minute; 0 switches a limit off.
#[derive(Clone, Copy, Debug)]
pub struct RateLimits {
    pub per_ip: u32,
    pub auth_failures_per_ip: u32,
    pub queries_per_token: u32,
    pub mutations_per_token: u32,
}

/// A refused request: which limit, and when to come back.
#[derive(Debug)]
pub struct Limited {
    pub scope: &'static str,
    pub limit: u32,
    pub retry_after: u64,
}

/// Atomically: drop entries older than the window; refuse when `count` more would overfill it,
/// answering how long until enough of the oldest expire; else add `count` entries.
const SLIDING_WINDOW: &str = r"
local key, now, window, limit, member, count = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', key, 0, now - window)
local held = redis.call('ZCARD', key)
if held + count > limit then
  local expiring = math.max(math.min(held + count - limit, held) - 1, 0)
  local entry = redis.call('ZRANGE', key, expiring, expiring, 'WITHSCORES')
  if entry[2] == nil then return {0, window} end
  return {0, tonumber(entry[2]) + window - now}
end
for i = 1, count do
  redis.call('ZADD', key, now, member .. '-' .. i)
end
redis.call('PEXPIRE', key, window)
return {1, 0}
";

pub struct RateLimiter {
    limits: RateLimits,
    /// Keys start with this, so that tests and deployments sharing a Redis stay apart.
    prefix: String,
    redis: Option<redis::Client>,
    conn: RwLock<Option<redis::aio::MultiplexedConnection>>,
    last_attempt: Mutex<Option<Instant>>,
    script: redis::Script,
    local: Mutex<HashMap<String, (Instant, u32)>>,
    metrics: Arc<Metrics>,
}

impl RateLimiter {
    pub fn new(limits: RateLimits, redis: Option<redis::Client>, prefix: String, metrics: Arc<Metrics>) -> Self {
        Self {
            limits,
            prefix,
            redis,
            conn: RwLock::new(None),
            last_attempt: Mutex::new(None),
            script: redis::Script::new(SLIDING_WINDOW),
            local: Mutex::new(HashMap::new()),
            metrics,
        }
    }

    async fn connection(&self) -> Option<redis::aio::MultiplexedConnection> {
        if let Some(conn) = self.conn.read().await.as_ref() {
            return Some(conn.clone());
        }
        let client = self.redis.as_ref()?;
        {
            let mut last = self.last_attempt.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < RECONNECT_EVERY) {
                return None;
            }
            *last = Some(Instant::now());
        }
        let conn =
            tokio::time::timeout(REDIS_TIMEOUT * 4, client.get_multiplexed_async_connection()).await.ok()?.ok()?;
        *self.conn.write().await = Some(conn.clone());
        Some(conn)
    }

    /// One decision for `key` against `limit`: room for `count` more, which are then counted.
    async fn decide(&self, scope: &'static str, key: &str, limit: u32, count: u32) -> Result<(), Limited> {
        if limit == 0 {
            return Ok(());
        }
        let count = count.max(1);
        let key = format!("{}:{scope}:{key}", self.prefix);
        let shared = match self.connection().await {
            Some(mut conn) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                let member = format!("{now}-{}", uuid::Uuid::new_v4().simple());
                let mut call = self.script.key(&key);
                call.arg(now).arg(WINDOW.as_millis() as u64).arg(limit).arg(member).arg(count);
                match tokio::time::timeout(REDIS_TIMEOUT, call.invoke_async::<(i64, i64)>(&mut conn)).await {
                    Ok(Ok(answer)) => Some(answer),
                    _ => {
                        *self.conn.write().await = None;
                        None
                    }
                }
            }
            None => None,
        };
        let (allowed, wait_ms) = match shared {
            Some(answer) => {
                self.metrics.rate_limit_redis_up.set(1);
                answer
            }
            None => {
                self.metrics.rate_limit_redis_up.set(0);
                self.metrics.rate_limit_fallbacks.inc();
                self.decide_locally(&key, limit, count)
            }
        };
        if allowed == 1 {
            Ok(())
        } else {
            self.metrics.rate_limited.with_label_values(&[scope]).inc();
            Err(Limited { scope, limit, retry_after: (wait_ms.max(0) as u64).div_ceil(1000).max(1) })
        }
    }

    /// A fixed window per key in this process: coarser than Redis's sliding one, and per replica.
    fn decide_locally(&self, key: &str, limit: u32, count: u32) -> (i64, i64) {
        let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        if local.len() > 50_000 {
            local.retain(|_, (start, _)| start.elapsed() < WINDOW);
        }
        let entry = local.entry(key.to_owned()).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= WINDOW {
            *entry = (Instant::now(), 0);
        }
        if entry.1.saturating_add(count) > limit {
            let wait = WINDOW.saturating_sub(entry.0.elapsed()).as_millis() as i64;
            return (0, wait);
        }
        entry.1 += count;
        (1, 0)
    }

    /// Every request from `ip` counts.
    pub async fn check_ip(&self, ip: &str) -> Result<(), Limited> {
        self.decide("ip", ip, self.limits.per_ip, 1).await
    }

    /// Counts a token from `ip` that failed verification; refused once the IP has failed too
    /// often. Only failures are asked about: a token that verifies is never refused here, so
    /// that forged tokens from a shared address lock nobody else out.
    pub async fn note_auth_failure(&self, ip: &str) -> Result<(), Limited> {
        self.decide("auth_failures", ip, self.limits.auth_failures_per_ip, 1).await
    }

    /// Per token subject: queries count per operation; mutations, on a stricter budget, per
    /// root mutation field, so that neither batching nor aliases multiply what one minute allows.
    pub async fn check_operation(&self, subject: &str, mutation_fields: Option<usize>) -> Result<(), Limited> {
        match mutation_fields {
            Some(fields) => {
                let fields = u32::try_from(fields).unwrap_or(u32::MAX);
                self.decide("mutations", subject, self.limits.mutations_per_token, fields).await
            }
            None => self.decide("queries", subject, self.limits.queries_per_token, 1).await,
        }
    }
}
