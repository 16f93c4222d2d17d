//! Dead jobs, as the ministry and prefectures see them, and alert preferences.

use chrono::{DateTime, Utc};
use juniper::GraphQLObject;
use renkei_core::jobs::Job as Core;

/// A job that failed its last attempt and waits for someone to look at it. It says what the job
/// was about and why it failed, never to whom a mail went or what it said: the cause is in the
/// worker's log under the job's id.
#[derive(GraphQLObject)]
pub struct DeadJob {
    /// The job's number (as a string: it is a 64-bit integer).
    pub id: String,
    /// What the job does: `mail.send`, `alert.incident_created`, `bundle.build`, ….
    pub kind: String,
    pub attempts: i32,
    /// Why it last failed: `UNKNOWN_KIND` (no worker runs this kind), `BAD_PAYLOAD` (its input
    /// does not read as its kind), `SMTP_REFUSED` (the mail relay could not be reached or refused
    /// the message), `BAD_ADDRESS` (the recipient is not an e-mail address),
    /// `DATABASE_UNAVAILABLE`, `NOT_FOUND` (what it is about no longer exists) or `INTERNAL`
    /// (anything else, including failures recorded before codes existed).
    pub error_code: Option<String>,
    /// The code's sentence, in English; it names no person, address or database detail.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub dead_at: Option<DateTime<Utc>>,
    /// What the job is about, as JSON text: only `prefecture`, `incident_id`, `bundle_id` and
    /// `fiscal_year`, those of its input it has. A mail's recipient, subject and body are not
    /// shown.
    pub payload: String,
}

impl From<Core> for DeadJob {
    fn from(j: Core) -> Self {
        let failure = j.failure();
        Self {
            error_code: failure.map(|f| f.code().to_owned()),
            last_error: failure.map(|f| f.sentence().to_owned()),
            payload: j.shown_payload().to_string(),
            id: j.id.to_string(),
            kind: j.kind,
            attempts: j.attempts,
            created_at: j.created_at,
            dead_at: j.dead_at,
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

impl From<(renkei_core::alerts::Alert, bool)> for AlertPreference {
    fn from((alert, enabled): (renkei_core::alerts::Alert, bool)) -> Self {
        Self { alert: alert.as_str().to_owned(), enabled }
    }
}
