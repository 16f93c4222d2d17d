//! What every resolver can reach: the caller, the database, and reference data.

use std::sync::Arc;

use renkei_core::db::{Conn, Db, DbFuture, Session};
use renkei_core::registry::geography::Geography;
use renkei_core::{Principal, Result};

use crate::audited::Audit;

pub struct Context {
    pub db: Db,
    pub principal: Principal,
    pub geography: Arc<Geography>,
    pub kpi: renkei_core::kpis::Settings,
    /// For queries: the one transaction every resolver reads in.
    pub session: Option<Session>,
    /// For mutations: each root field's transaction, which also receives its audit row.
    pub audit: Option<Audit>,
}

impl juniper::Context for Context {}

impl Context {
    /// Runs `f` in a tenant transaction as the caller — the operation's shared one for a query,
    /// the running root field's for a mutation, otherwise one of its own — handing it the
    /// principal whose settings that transaction carries: the one core's rules are checked for.
    pub async fn run<R, F>(&self, f: F) -> Result<R>
    where
        R: Send,
        F: for<'c> FnOnce(&'c mut Conn, &'c Principal) -> DbFuture<'c, R> + Send,
    {
        if let Some(session) = &self.session {
            return session.run_as(f).await;
        }
        match self.audit.as_ref().and_then(Audit::current) {
            Some(field) => field.run_as(f).await,
            None => self.db.run_as(&self.principal, f).await,
        }
    }
}
