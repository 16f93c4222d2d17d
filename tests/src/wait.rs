//! Waiting for a condition under a deadline, instead of sleeping a fixed time and hoping.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often a condition is looked at again.
const EVERY: Duration = Duration::from_millis(50);

/// Looks at `check` until it answers `Some`, at most until `deadline` has passed; `None` if it
/// never did (for checks whose deadline is the property under test).
pub async fn within<T, F, Fut>(deadline: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        tokio::time::sleep(EVERY.min(end.saturating_duration_since(Instant::now()))).await;
    }
}

/// Like [`within`], but a condition that never came true stops the test, naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    match within(deadline, check).await {
        Some(v) => v,
        None => panic!("after {deadline:?}, still not: {what}"),
    }
}

/// For boolean checks: `Some(())` when true.
pub fn holds(b: bool) -> Option<()> {
    b.then_some(())
}
