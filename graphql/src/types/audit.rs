//! The audit trail as prefectures and the ministry read it.

use chrono::{DateTime, Utc};
use juniper::{ID, graphql_object};
use renkei_core::audit::Entry;

use super::enums::Role;
use crate::Context;
use crate::connection::PageInfo;
use crate::error::ApiResult;
use crate::ids::to_id;

pub struct AuditEntry(pub Entry);

/// One audited action: who (subject, role, organisation) did what to which objects, and how it
/// ended.
#[graphql_object(context = Context)]
impl AuditEntry {
    /// Position in the chain (1, 2, …).
    fn sequence(&self) -> String {
        self.0.id.to_string()
    }
    fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    /// The token subject of the actor.
    fn actor(&self) -> &str {
        &self.0.actor
    }
    fn role(&self) -> ApiResult<Role> {
        Ok(self.0.role.parse::<renkei_core::Role>()?.into())
    }
    fn organisation_id(&self) -> Option<ID> {
        self.0.organisation_id.map(to_id)
    }
    fn prefecture(&self) -> Option<i32> {
        self.0.prefecture_code.map(i32::from)
    }
    /// The mutation field (or other action) performed.
    fn operation(&self) -> &str {
        &self.0.operation
    }
    fn target_ids(&self) -> &[String] {
        &self.0.target_ids
    }
    /// `ok`, or the error code the actor received.
    fn outcome(&self) -> &str {
        &self.0.outcome
    }
    fn request_id(&self) -> &str {
        &self.0.request_id
    }
}

pub struct AuditEntryEdge {
    pub cursor: String,
    pub node: AuditEntry,
}

#[graphql_object(context = Context)]
impl AuditEntryEdge {
    fn cursor(&self) -> &str {
        &self.cursor
    }
    fn node(&self) -> &AuditEntry {
        &self.node
    }
}

pub struct AuditEntryConnection {
    pub edges: Vec<AuditEntryEdge>,
    pub page_info: PageInfo,
}

#[graphql_object(context = Context)]
impl AuditEntryConnection {
    fn edges(&self) -> &[AuditEntryEdge] {
        &self.edges
    }
    fn nodes(&self) -> Vec<&AuditEntry> {
        self.edges.iter().map(|e| &e.node).collect()
    }
    fn page_info(&self) -> &PageInfo {
        &self.page_info
    }
}
