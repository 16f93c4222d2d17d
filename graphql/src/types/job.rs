//! Dead jobs, as the ministry and prefectures see them, and alert preferences.

use chrono::{DateTime, Utc};
use juniper::GraphQLObject;
use renkei_core::jobs::Job as Core;

/// A job that failed its last attempt and waits for someone to look at it.
#[derive(GraphQLObject)]
pub struct DeadJob {
    /// The job's number (as a string: it is a 64-bit integer).
    pub id: String,
    pub kind: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub dead_at: Option<DateTime<Utc>>,
    /// The job's input, as JSON text.
    pub payload: String,
}

impl From<Core> for DeadJob {
    fn from(j: Core) -> Self {
        Self {
            id: j.id.to_string(),
            kind: j.kind,
            attempts: j.attempts,
            last_error: j.last_error,
            created_at: j.created_at,
            dead_at: j.dead_at,
            payload: j.payload.to_string(),
        }
    }
}

/// Whether the caller receives one kind of alert.
#[derive(GraphQLObject)]
pub struct AlertPreference {
    /// `incident_created`, `incident_phase_changed`, `incident_clock`, `designation_coverage`,
    /// `checklist_overdue` or `submission_window_closing`.
    pub alert: String,
    pub enabled: bool,
}
