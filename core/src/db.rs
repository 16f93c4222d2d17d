//! The connection pool and the tenant transaction: every query runs inside a short transaction
//! whose `renkei.*` settings carry the caller, so PostgreSQL's row-level security sees the same
//! principal the resolvers check.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use diesel::sql_types::Text;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::{AnsiTransactionManager, AsyncPgConnection, RunQueryDsl, TransactionManager};
use tracing::Instrument;

use crate::config::DatabaseConfig;
use crate::{Error, ErrorCode, Principal, Result};

pub type Conn = AsyncPgConnection;

/// A future borrowing the connection, as returned by the closures given to [`Db::run`].
pub type DbFuture<'c, R> = Pin<Box<dyn Future<Output = Result<R>> + Send + 'c>>;

#[derive(Clone)]
pub struct Db {
    pool: Pool<AsyncPgConnection>,
    statement_timeout: String,
}

impl Db {
    pub fn connect(config: &DatabaseConfig) -> anyhow::Result<Self> {
        // No `SELECT 1` at every checkout (a round trip per transaction): a connection the server
        // closed, in a restart, is found out by its BEGIN instead, and replaced (`begin`).
        let mut manager_config = ManagerConfig::default();
        manager_config.recycling_method = RecyclingMethod::Fast;
        let manager =
            AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(config.url.clone(), manager_config);
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .wait_timeout(Some(config.connect_timeout))
            .create_timeout(Some(config.connect_timeout))
            .runtime(deadpool_runtime())
            .build()?;
        Ok(Self { pool, statement_timeout: config.statement_timeout_ms.to_string() })
    }

    async fn conn(&self) -> Result<Object<AsyncPgConnection>> {
        Ok(self.pool.get().await?)
    }

    /// A pooled connection inside a new transaction. A connection that died in the pool (the
    /// server restarted) fails its BEGIN, when nothing has been done yet: it is thrown away and
    /// the next one tried.
    async fn begin(&self) -> Result<Object<AsyncPgConnection>> {
        let mut tries = self.pool.status().max_size + 1;
        loop {
            let mut conn = self.conn().await?;
            match AnsiTransactionManager::begin_transaction(&mut *conn).await {
                Ok(()) => return Ok(conn),
                Err(e) => {
                    let e = Error::from(e);
                    tries -= 1;
                    if e.code != ErrorCode::Unavailable || tries == 0 {
                        return Err(e);
                    }
                    drop(Object::take(conn));
                }
            }
        }
    }

    /// A connection in a new transaction carrying `principal` (and, with `check_account`, refused
    /// when the caller's account was deactivated).
    async fn open(&self, principal: &Principal, check_account: bool) -> Result<Object<AsyncPgConnection>> {
        let mut conn = self.begin().await?;
        if let Err(e) = set_principal(&mut conn, principal, &self.statement_timeout, check_account).await {
            if let Err(rollback) = AnsiTransactionManager::rollback_transaction(&mut *conn).await {
                tracing::warn!(error = %rollback, "db.rollback_failed");
            }
            return Err(e);
        }
        Ok(conn)
    }

    /// Runs `f` in one transaction as `principal`. The settings are transaction-local
    /// (`set_config(…, true)`), so they vanish at commit or rollback and a pooled connection never
    /// carries one caller's identity into the next.
    pub async fn run<R, F>(&self, principal: &Principal, f: F) -> Result<R>
    where
        R: Send,
        F: for<'c> FnOnce(&'c mut Conn) -> DbFuture<'c, R> + Send,
    {
        let span =
            tracing::info_span!("db.transaction", db.system = "postgresql", renkei.role = principal.role.as_str());
        self.run_in(principal, f).instrument(span).await
    }

    /// [`Db::run`], tried again while the database cannot be reached (a restart, a failover), for
    /// up to `patience`. For the bookkeeping after work that cannot be taken back — a mail the
    /// relay accepted, a job done — where giving up would have the work done twice.
    pub async fn run_patiently<R, F>(&self, principal: &Principal, patience: Duration, f: F) -> Result<R>
    where
        R: Send,
        F: for<'c> Fn(&'c mut Conn) -> DbFuture<'c, R> + Send + Sync,
    {
        let deadline = Instant::now() + patience;
        let mut wait = Duration::from_millis(200);
        loop {
            match self.run(principal, &f).await {
                Err(e) if e.code == ErrorCode::Unavailable && Instant::now() + wait < deadline => {
                    tracing::warn!(detail = %e.detail(), "db.retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
                other => return other,
            }
        }
    }

    async fn run_in<R, F>(&self, principal: &Principal, f: F) -> Result<R>
    where
        R: Send,
        F: for<'c> FnOnce(&'c mut Conn) -> DbFuture<'c, R> + Send,
    {
        let mut conn = self.open(principal, false).await?;
        let conn: &mut Conn = &mut conn;
        match f(conn).await {
            Ok(value) => {
                AnsiTransactionManager::commit_transaction(conn).await?;
                Ok(value)
            }
            Err(e) => {
                // A failed rollback leaves the connection marked broken; the pool discards it.
                if let Err(rollback) = AnsiTransactionManager::rollback_transaction(conn).await {
                    tracing::warn!(error = %rollback, "db.rollback_failed");
                }
                Err(e)
            }
        }
    }

    /// Runs `f` on a pooled connection without a transaction or the caller's settings: only for
    /// single statements that need neither (a definer function that checks what it reads).
    pub async fn bare<R, F>(&self, f: F) -> Result<R>
    where
        R: Send,
        F: for<'c> FnOnce(&'c mut Conn) -> DbFuture<'c, R> + Send,
    {
        let mut conn = self.conn().await?;
        f(&mut conn).await
    }

    /// `SELECT 1`, for readiness.
    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.conn().await?;
        diesel::sql_query("SELECT 1").execute(&mut *conn).await?;
        Ok(())
    }

    /// The newest migration version applied to the database.
    pub async fn applied_migration(&self) -> Result<Option<String>> {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
            version: Option<String>,
        }
        let mut conn = self.conn().await?;
        let row: Row = diesel::sql_query("SELECT max(version) AS version FROM __diesel_schema_migrations")
            .get_result(&mut *conn)
            .await?;
        Ok(row.version)
    }

    /// Whether the database carries every migration this binary knows. A newer database (a
    /// rollout migrates before it replaces the old pods) still counts as current.
    pub async fn migrations_current(&self) -> Result<bool> {
        let expected = renkei_migrations::versions().map_err(Error::internal)?.last().cloned();
        let applied = self.applied_migration().await?;
        Ok(matches!((applied, expected), (Some(a), Some(e)) if a >= e))
    }

    pub fn pool_status(&self) -> deadpool::Status {
        self.pool.status()
    }
}

/// One connection and transaction shared by every resolver of a read-only operation: the caller's
/// settings are written once, and a page of rows with its nested fields costs one query each,
/// not a transaction each (four round trips). Opened by the first read, ended by
/// [`Session::finish`]; a connection left open by a cancelled request is discarded by the pool,
/// which does not take back a connection inside a transaction.
pub struct Session {
    db: Db,
    principal: Principal,
    open: tokio::sync::Mutex<Option<(Object<AsyncPgConnection>, tracing::Span)>>,
}

impl Session {
    pub fn new(db: &Db, principal: &Principal) -> Self {
        Self { db: db.clone(), principal: principal.clone(), open: tokio::sync::Mutex::new(None) }
    }

    /// Runs `f` in the operation's transaction, opening it first if need be. After an error the
    /// transaction is ended (it may be aborted) and the next read opens a fresh one.
    pub async fn run<R, F>(&self, f: F) -> Result<R>
    where
        R: Send,
        F: for<'c> FnOnce(&'c mut Conn) -> DbFuture<'c, R> + Send,
    {
        let mut open = self.open.lock().await;
        if open.is_none() {
            *open = Some(self.begin(false).await?);
        }
        let Some((conn, span)) = open.as_mut() else {
            return Err(Error::internal(anyhow::anyhow!("session not open")));
        };
        let outcome = f(conn).instrument(span.clone()).await;
        if outcome.is_err()
            && let Some((mut conn, _)) = open.take()
            && let Err(e) = AnsiTransactionManager::rollback_transaction(&mut *conn).await
        {
            tracing::warn!(error = %e, "db.rollback_failed");
        }
        outcome
    }

    /// Opens the transaction now, and in the same round trip as the caller's settings asks
    /// whether the caller's account was deactivated (refused as unauthenticated).
    pub async fn open_for_account(&self) -> Result<()> {
        let mut open = self.open.lock().await;
        if open.is_none() {
            *open = Some(self.begin(true).await?);
        }
        Ok(())
    }

    async fn begin(&self, check_account: bool) -> Result<(Object<AsyncPgConnection>, tracing::Span)> {
        let span =
            tracing::info_span!("db.transaction", db.system = "postgresql", renkei.role = self.principal.role.as_str());
        let conn = self.db.open(&self.principal, check_account).instrument(span.clone()).await?;
        Ok((conn, span))
    }

    /// Ends the transaction, if one was opened.
    pub async fn finish(&self) {
        if let Some((mut conn, span)) = self.open.lock().await.take()
            && let Err(e) = AnsiTransactionManager::commit_transaction(&mut *conn).instrument(span).await
        {
            tracing::warn!(error = %e, "db.commit_failed");
        }
    }
}

fn deadpool_runtime() -> deadpool::Runtime {
    deadpool::Runtime::Tokio1
}

/// Writes the caller, and the statement timeout, into the transaction: one round trip. With
/// `check_account`, the same statement asks whether the caller's account was deactivated, and
/// refuses it then.
async fn set_principal(
    conn: &mut Conn,
    principal: &Principal,
    statement_timeout_ms: &str,
    check_account: bool,
) -> Result<()> {
    #[derive(diesel::QueryableByName)]
    struct Answer {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        deactivated: bool,
    }
    let answer: Answer = diesel::sql_query(
        "SELECT set_config('renkei.role', $1, true), set_config('renkei.org', $2, true), \
         set_config('renkei.prefecture', $3, true), set_config('renkei.subject', $4, true), \
         set_config('statement_timeout', $5, true), \
         CASE WHEN $6 THEN renkei_subject_deactivated($4) ELSE false END AS deactivated",
    )
    .bind::<Text, _>(principal.role.as_str())
    .bind::<Text, _>(principal.organisation_id.map(|id| id.to_string()).unwrap_or_default())
    .bind::<Text, _>(principal.prefecture.map(|p| p.to_string()).unwrap_or_default())
    .bind::<Text, _>(&principal.subject)
    .bind::<Text, _>(statement_timeout_ms)
    .bind::<diesel::sql_types::Bool, _>(check_account)
    .get_result(conn)
    .await
    .map_err(Error::from)?;
    if answer.deactivated {
        return Err(crate::registry::users::deactivated_account());
    }
    Ok(())
}
