//! What every resolver can reach: the caller, the database, and reference data.

use std::sync::Arc;

use renkei_core::db::{Db, DbFuture};
use renkei_core::registry::geography::Geography;
use renkei_core::{Principal, Result};

pub struct Context {
    pub db: Db,
    pub principal: Principal,
    pub geography: Arc<Geography>,
    pub kpi: renkei_core::kpis::coverage::Settings,
}

impl juniper::Context for Context {}

impl Context {
    /// Runs `f` in one tenant transaction as the caller.
    pub async fn run<R, F>(&self, f: F) -> Result<R>
    where
        R: Send,
        F: for<'c> FnOnce(&'c mut renkei_core::db::Conn) -> DbFuture<'c, R> + Send,
    {
        self.db.run(&self.principal, f).await
    }
}
