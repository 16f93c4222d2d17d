//! What every resolver can reach: the caller, the database, and reference data.

use std::sync::Arc;

use renkei_core::db::{Db, DbFuture, Session};
use renkei_core::registry::geography::Geography;
use renkei_core::{Principal, Result};

pub struct Context {
    pub db: Db,
    pub principal: Principal,
    pub geography: Arc<Geography>,
    pub kpi: renkei_core::kpis::coverage::Settings,
    /// For queries: the one transaction every resolver reads in. Mutations run a transaction
    /// per resolver call, each its own unit of work.
    pub session: Option<Session>,
}

impl juniper::Context for Context {}

impl Context {
    /// Runs `f` in a tenant transaction as the caller: the operation's shared one for a query,
    /// a transaction of its own for a mutation.
    pub async fn run<R, F>(&self, f: F) -> Result<R>
    where
        R: Send,
        F: for<'c> FnOnce(&'c mut renkei_core::db::Conn) -> DbFuture<'c, R> + Send,
    {
        match &self.session {
            Some(session) => session.run(f).await,
            None => self.db.run(&self.principal, f).await,
        }
    }
}
