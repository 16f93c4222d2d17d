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
