//! The connection pool and the tenant transaction: every query runs inside a short transaction
//! whose `renkei.*` settings carry the caller, so PostgreSQL's row-level security sees the same
//! principal the resolvers check.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use diesel::sql_types::Text;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::{
    AnsiTransactionManager, AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection, TransactionManager,
};
use tracing::Instrument;

use crate::config::DatabaseConfig;
use crate::identity::{self, Identity};
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
        // Every transaction sets its statement timeout with the caller's settings, but the
        // sign-in is the statement that writes them, so it would run unbounded (a table locked
        // by a migration would hold the request and its connection for as long): each new
        // connection starts with the same timeout as its default.
        let timeout = format!("SET statement_timeout = {}", config.statement_timeout_ms);
        manager_config.custom_setup = Box::new(move |url| {
            let timeout = timeout.clone();
            let url = url.to_owned();
            Box::pin(async move {
                let mut conn = AsyncPgConnection::establish(&url).await?;
                conn.batch_execute(&timeout).await.map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(conn)
            })
        });
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

    /// A connection in a new transaction carrying `principal`.
    async fn open(&self, principal: &Principal) -> Result<Object<AsyncPgConnection>> {
        let mut conn = self.begin().await?;
        if let Err(e) = set_principal(&mut conn, principal, &self.statement_timeout).await {
            rollback(&mut conn).await;
            return Err(e);
        }
        Ok(conn)
    }

    /// A connection in a new transaction carrying the principal the registry gives `identity`,
    /// found and written in one round trip.
    async fn open_signed_in(&self, identity: &Identity) -> Result<(Object<AsyncPgConnection>, Principal)> {
        let mut conn = self.begin().await?;
        match identity::sign_in(&mut conn, identity, &self.statement_timeout).await {
            Ok(principal) => Ok((conn, principal)),
            Err(e) => {
                rollback(&mut conn).await;
                Err(e)
            }
        }
    }

    /// Runs `f` in one transaction as `principal`. The settings are transaction-local
    /// (`set_config(…, true)`), so they vanish at commit or rollback and a pooled connection never
    /// carries one caller's identity into the next.
    pub async fn run<R, F>(&self, principal: &Principal, f: F) -> Result<R>
    where
        R: Send,
        F: for<'c> FnOnce(&'c mut Conn) -> DbFuture<'c, R> + Send,
    {
        self.run_as(principal, move |c, _| f(c)).await
    }

    /// [`Db::run`], handing `f` the principal whose settings the transaction carries, for the
    /// rules core checks in Rust to be the ones PostgreSQL checks.
    pub async fn run_as<R, F>(&self, principal: &Principal, f: F) -> Result<R>
    where
        R: Send,
        F: for<'c> FnOnce(&'c mut Conn, &'c Principal) -> DbFuture<'c, R> + Send,
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
        F: for<'c> FnOnce(&'c mut Conn, &'c Principal) -> DbFuture<'c, R> + Send,
    {
        let mut conn = self.open(principal).await?;
        let conn: &mut Conn = &mut conn;
        match f(conn, principal).await {
            Ok(value) => {
                AnsiTransactionManager::commit_transaction(conn).await?;
                Ok(value)
            }
            Err(e) => {
                rollback(conn).await;
                Err(e)
            }
        }
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

/// One connection and transaction shared by several resolvers:
/// - a read-only operation's: the caller's settings are written once, and a page of rows with
///   its nested fields costs one query each, not a transaction each (four round trips). Opened
///   with the sign-in, ended by [`Session::finish`];
/// - a mutation field's ([`Session::for_change`]): the change, whatever the field's nested
///   fields read, and its audit row commit together or not at all ([`Session::commit`]).
///
/// A connection left open by a cancelled request is discarded by the pool, which does not take
/// back a connection inside a transaction.
pub struct Session {
    db: Db,
    principal: Principal,
    purpose: Purpose,
    open: tokio::sync::Mutex<Option<(Object<AsyncPgConnection>, tracing::Span)>>,
}

impl Session {
    /// Opens a transaction now, as the principal the registry gives `identity` (found in the
    /// same round trip as the settings are written): the sign-in costs no round trip of its own.
    pub async fn sign_in(db: &Db, identity: &Identity, purpose: Purpose) -> Result<Self> {
        let span = transaction_span();
        let (conn, principal) = db.open_signed_in(identity).instrument(span.clone()).await?;
        span.record("renkei.role", principal.role.as_str());
        Ok(Self { db: db.clone(), principal, purpose, open: tokio::sync::Mutex::new(Some((conn, span))) })
    }

    /// A transaction for one change, opened by its first run.
    pub fn for_change(db: &Db, principal: &Principal) -> Self {
        Self {
            db: db.clone(),
            principal: principal.clone(),
            purpose: Purpose::Change,
            open: tokio::sync::Mutex::new(None),
        }
    }

    /// The caller, as the registry describes them.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Runs `f` in the transaction, opening a new one if there is none (yet, or since an error
    /// ended it).
    pub async fn run<R, F>(&self, f: F) -> Result<R>
    where
        R: Send,
        F: for<'c> FnOnce(&'c mut Conn) -> DbFuture<'c, R> + Send,
    {
        self.run_as(move |c, _| f(c)).await
    }

    /// [`Session::run`], handing `f` the principal whose settings the transaction carries.
    pub async fn run_as<R, F>(&self, f: F) -> Result<R>
    where
        R: Send,
        F: for<'c> FnOnce(&'c mut Conn, &'c Principal) -> DbFuture<'c, R> + Send,
    {
        let mut open = self.open.lock().await;
        let (conn, span) = match open.as_mut() {
            Some(open) => open,
            None => {
                let span = transaction_span();
                span.record("renkei.role", self.principal.role.as_str());
                let conn = self.db.open(&self.principal).instrument(span.clone()).await?;
                open.insert((conn, span))
            }
        };
        if self.purpose == Purpose::Change {
            // Nested in the open transaction, diesel's transaction manager uses a savepoint.
            let conn: &mut Conn = conn;
            AnsiTransactionManager::begin_transaction(conn).await?;
            let outcome = f(conn, &self.principal).instrument(span.clone()).await;
            let ended = match &outcome {
                Ok(_) => AnsiTransactionManager::commit_transaction(conn).await,
                Err(_) => AnsiTransactionManager::rollback_transaction(conn).await,
            };
            if let Err(e) = ended {
                // The savepoint could not be ended: the transaction is unusable, the change lost.
                if let Some((mut conn, _)) = open.take() {
                    rollback(&mut conn).await;
                }
                return Err(e.into());
            }
            return outcome;
        }
        let outcome = f(conn, &self.principal).instrument(span.clone()).await;
        if outcome.is_err()
            && let Some((mut conn, _)) = open.take()
        {
            rollback(&mut conn).await;
        }
        outcome
    }

    /// Commits the transaction, if one is open.
    pub async fn commit(&self) -> Result<()> {
        if let Some((mut conn, span)) = self.open.lock().await.take() {
            AnsiTransactionManager::commit_transaction(&mut *conn).instrument(span).await?;
        }
        Ok(())
    }

    /// Undoes the transaction, if one is open.
    pub async fn abandon(&self) {
        if let Some((mut conn, _)) = self.open.lock().await.take() {
            rollback(&mut conn).await;
        }
    }

    /// Drops the transaction's connection without a word to the server, for a request given up
    /// while a statement may still run on it: a commit or rollback would wait for that
    /// statement. The connection is closed, not returned to the pool; the server ends the
    /// statement by its own timeout.
    pub async fn discard(&self) {
        if let Some((conn, _)) = self.open.lock().await.take() {
            drop(Object::take(conn));
        }
    }

    /// Ends a read-only operation's transaction; a failure to commit a read is only logged.
    pub async fn finish(&self) {
        if let Err(e) = self.commit().await {
            tracing::warn!(detail = %e.detail(), "db.commit_failed");
        }
    }
}

/// What a [`Session`] is for, which decides what an error in one of its runs undoes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Reads: an error ends the transaction, and the next run opens a fresh one.
    Reads,
    /// One change: each run in a savepoint of its own, so that a nested field's failure undoes
    /// only its own reads, never the change already made.
    Change,
}

fn transaction_span() -> tracing::Span {
    tracing::info_span!("db.transaction", db.system = "postgresql", renkei.role = tracing::field::Empty)
}

/// Ends a transaction that failed; a failed rollback leaves the connection marked broken, and
/// the pool discards it.
async fn rollback(conn: &mut Conn) {
    if let Err(e) = AnsiTransactionManager::rollback_transaction(conn).await {
        tracing::warn!(detail = %e, "db.rollback_failed");
    }
}

fn deadpool_runtime() -> deadpool::Runtime {
    deadpool::Runtime::Tokio1
}

/// Writes the caller, and the statement timeout, into the transaction: one round trip.
async fn set_principal(conn: &mut Conn, principal: &Principal, statement_timeout_ms: &str) -> Result<()> {
    let [role, organisation, prefecture] = principal.rls_settings();
    diesel::sql_query(
        "SELECT set_config('renkei.role', $1, true), set_config('renkei.org', $2, true), \
         set_config('renkei.prefecture', $3, true), set_config('renkei.subject', $4, true), \
         set_config('statement_timeout', $5, true)",
    )
    .bind::<Text, _>(role)
    .bind::<Text, _>(organisation)
    .bind::<Text, _>(prefecture)
    .bind::<Text, _>(&principal.subject)
    .bind::<Text, _>(statement_timeout_ms)
    .execute(conn)
    .await?;
    Ok(())
}
