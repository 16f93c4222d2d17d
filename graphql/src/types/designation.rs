//! Critical-infrastructure designations.

use chrono::{NaiveDate, Utc};
use juniper::{ID, graphql_object};
use renkei_core::registry::designations::Designation as Core;

use crate::Context;
use crate::ids::to_id;

pub struct Designation(pub Core);

/// 重要インフラ指定: a hospital's designation as critical infrastructure.
#[graphql_object(context = Context)]
impl Designation {
    fn id(&self) -> ID {
        to_id(self.0.id)
    }
    fn hospital_id(&self) -> ID {
        to_id(self.0.hospital_id)
    }
    fn designated_on(&self) -> NaiveDate {
        self.0.designated_on
    }
    fn revoked_on(&self) -> Option<NaiveDate> {
        self.0.revoked_on
    }
    fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }
    /// Whether the designation is in force today.
    fn in_force(&self) -> bool {
        self.0.in_force_on(Utc::now().date_naive())
    }
}
