//! Renkei's PostgreSQL schema: SQL migrations embedded in the binary, run at start or by
//! `renkei-api migrate`.

use anyhow::Context;
use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("sql");

/// The role every policy is written against; the application's login role is a member of it.
pub const APP_ROLE: &str = "renkei_app";

/// Runs the pending migrations over `url`, which must name a role allowed to create tables and
/// roles (the schema owner), never the application role. Returns the versions applied.
pub async fn run(url: &str) -> anyhow::Result<Vec<String>> {
    let url = url.to_owned();
    // The harness is synchronous; it gets a thread of its own rather than blocking the runtime.
    tokio::task::spawn_blocking(move || {
        use diesel::Connection;
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)
            .context("connecting to PostgreSQL to migrate")?;
        let applied = conn.run_pending_migrations(MIGRATIONS).map_err(|e| anyhow::anyhow!("migration failed: {e}"))?;
        Ok(applied.iter().map(ToString::to_string).collect())
    })
    .await
    .context("migration thread")?
}

/// Every migration version shipped in this binary, oldest first.
pub fn versions() -> anyhow::Result<Vec<String>> {
    let migrations = MigrationSource::<Pg>::migrations(&MIGRATIONS)
        .map_err(|e| anyhow::anyhow!("reading embedded migrations: {e}"))?;
    Ok(migrations.iter().map(|m| m.name().version().to_string()).collect())
}

/// Reverts every migration, newest first (used by the up → down → up test).
pub async fn revert_all(url: &str) -> anyhow::Result<()> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        use diesel::Connection;
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)
            .context("connecting to PostgreSQL to revert")?;
        conn.revert_all_migrations(MIGRATIONS).map_err(|e| anyhow::anyhow!("revert failed: {e}"))?;
        Ok(())
    })
    .await
    .context("migration thread")?
}

/// Applies the next pending migration, if any, and says which (used by the test that checks each
/// migration up → down → up on its own).
pub async fn run_next(url: &str) -> anyhow::Result<Option<String>> {
    step(url, |conn| {
        let pending = conn.pending_migrations(MIGRATIONS).map_err(|e| anyhow::anyhow!("pending migrations: {e}"))?;
        let Some(next) = pending.into_iter().next() else { return Ok(None) };
        let version = conn.run_migration(&*next).map_err(|e| anyhow::anyhow!("migration failed: {e}"))?;
        Ok(Some(version.to_string()))
    })
    .await
}

/// Reverts the newest applied migration.
pub async fn revert_last(url: &str) -> anyhow::Result<()> {
    step(url, |conn| {
        conn.revert_last_migration(MIGRATIONS).map_err(|e| anyhow::anyhow!("revert failed: {e}"))?;
        Ok(())
    })
    .await
}

/// Runs `f` on a connection of its own, on a thread of its own (the harness is synchronous).
async fn step<R: Send + 'static>(
    url: &str,
    f: impl FnOnce(&mut AsyncConnectionWrapper<AsyncPgConnection>) -> anyhow::Result<R> + Send + 'static,
) -> anyhow::Result<R> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        use diesel::Connection;
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)
            .context("connecting to PostgreSQL to migrate")?;
        f(&mut conn)
    })
    .await
    .context("migration thread")?
}
