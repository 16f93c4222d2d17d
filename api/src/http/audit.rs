//! What the routes record in the audit log once their work is done.

use renkei_core::{Principal, audit};

use crate::AppState;

/// Records actions in the audit log; a failure leaves what was done standing and is logged.
pub(crate) async fn audit_actions(state: &AppState, principal: &Principal, rid: &str, actions: Vec<audit::Action>) {
    if let Err(e) = audit::record(&state.db, principal, actions).await {
        tracing::error!(request_id = %rid, code = %e.code, detail = %e.detail(), "audit.record_failed");
    }
}
