//! Reporting bundles as listed to those who may download them.

use chrono::{DateTime, Utc};
use juniper::{GraphQLObject, ID};
use renkei_core::bundles::Bundle as Core;

use crate::ids::to_id;

/// A reporting bundle (ZIP) for MHLW: national or for one prefecture, per fiscal year.
#[derive(GraphQLObject)]
pub struct ReportingBundle {
    pub id: ID,
    /// JIS code; null for a national bundle.
    pub prefecture: Option<i32>,
    pub fiscal_year: i32,
    /// `queued`, `ready` or `failed`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub ready_at: Option<DateTime<Utc>>,
    pub sha256: Option<String>,
    pub size_bytes: Option<i32>,
    /// Where to GET the ZIP (with the same bearer token) once ready.
    pub download_path: Option<String>,
}

impl From<Core> for ReportingBundle {
    fn from(b: Core) -> Self {
        let ready = b.status == "ready";
        Self {
            id: to_id(b.id),
            prefecture: b.prefecture_code.map(i32::from),
            fiscal_year: i32::from(b.fiscal_year),
            download_path: ready.then(|| format!("/bundles/{}", b.id)),
            status: b.status,
            created_at: b.created_at,
            ready_at: b.ready_at,
            sha256: b.sha256,
            size_bytes: b.size_bytes,
        }
    }
}
