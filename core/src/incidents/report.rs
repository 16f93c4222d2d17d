//! The report a hospital files and amends: what flowchart step 2-10 asks for and the rest of
//! DESIGN §4. Each version is stored whole (as JSON) and never changed.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{CareService, IncidentKind, InfectionVector, LeakStatus, SpreadRisk};
use crate::text::{optional_text, text_field};
use crate::{Error, Result};

/// A care service stopped from `from` until `until` (still stopped when `None`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Suspension {
    pub service: CareService,
    pub from: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub title: String,
    pub kind: IncidentKind,
    /// When the anomaly was found.
    pub discovered_at: DateTime<Utc>,
    /// Where it is and its effect on care.
    pub location_and_impact: Option<String>,
    pub spread_risk: SpreadRisk,
    pub attacker: Option<String>,
    pub method: Option<String>,
    pub cause: Option<String>,
    pub measures_taken: Option<String>,
    pub suspected_cyber_attack: bool,
    pub infection_vector: Option<InfectionVector>,
    pub services_suspended: Vec<Suspension>,
    pub double_extortion: Option<bool>,
    pub data_exfiltrated: Option<bool>,
    pub personal_data_leak: LeakStatus,
    pub records_affected: Option<i64>,
    /// The day the hospital learned that personal data may have leaked: the PPC clocks run
    /// from it.
    pub leak_learned_on: Option<NaiveDate>,
    /// Whether the leak may have been done with wrongful intent (60-day final report). When not
    /// given, presumed for ransomware, unauthorised access, malware and phishing.
    pub wrongful_intent: Option<bool>,
    pub ransom_demanded: Option<bool>,
    pub ransom_amount_yen: Option<i64>,
    pub ransom_paid: Option<bool>,
    pub offline_backup_intact: Option<bool>,
    pub restored_from_pre_infection_backup: Option<bool>,
    pub contained_at: Option<DateTime<Utc>>,
    pub recovered_at: Option<DateTime<Utc>>,
}

impl Report {
    /// Trims text and checks every rule, naming the field that breaks one.
    pub fn validated(mut self, now: DateTime<Utc>) -> Result<Self> {
        self.title = text_field("title", &self.title, 200)?;
        for (field, value) in [
            ("locationAndImpact", &mut self.location_and_impact),
            ("attacker", &mut self.attacker),
            ("method", &mut self.method),
            ("cause", &mut self.cause),
            ("measuresTaken", &mut self.measures_taken),
        ] {
            *value = optional_text(field, value.take(), 4000)?;
        }
        // A little slack for clocks that run ahead; a report from the future is a typo.
        let latest = now + chrono::Duration::minutes(10);
        if self.discovered_at > latest {
            return Err(Error::bad_input("discoveredAt: must not be in the future"));
        }
        if self.discovered_at.date_naive() < NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default() {
            return Err(Error::bad_input("discoveredAt: too far in the past"));
        }
        for (i, s) in self.services_suspended.iter().enumerate() {
            if s.until.is_some_and(|until| until < s.from) {
                return Err(Error::bad_input(format!("servicesSuspended[{i}].until: must not be before from")));
            }
        }
        if self.services_suspended.len() > 20 {
            return Err(Error::bad_input("servicesSuspended: at most 20 entries"));
        }
        if self.records_affected.is_some_and(|n| n < 0) {
            return Err(Error::bad_input("recordsAffected: must not be negative"));
        }
        if self.ransom_amount_yen.is_some_and(|n| n < 0) {
            return Err(Error::bad_input("ransomAmountYen: must not be negative"));
        }
        if self.ransom_paid == Some(true) && self.ransom_demanded == Some(false) {
            return Err(Error::bad_input("ransomPaid: a ransom was paid but none was demanded"));
        }
        match self.personal_data_leak {
            LeakStatus::None => {
                if self.records_affected.is_some_and(|n| n > 0) {
                    return Err(Error::bad_input("recordsAffected: records affected but personalDataLeak is NONE"));
                }
                self.leak_learned_on = None;
            }
            LeakStatus::Suspected | LeakStatus::Confirmed => {
                let learned = self.leak_learned_on.ok_or_else(|| {
                    Error::bad_input(
                        "leakLearnedOn: required when personal data may have leaked (the PPC clocks run from it)",
                    )
                })?;
                if learned < self.discovered_at.date_naive() - chrono::Duration::days(1) {
                    return Err(Error::bad_input("leakLearnedOn: must not be before the anomaly was discovered"));
                }
                if learned > latest.date_naive() {
                    return Err(Error::bad_input("leakLearnedOn: must not be in the future"));
                }
            }
        }
        for (field, at) in [("containedAt", self.contained_at), ("recoveredAt", self.recovered_at)] {
            if at.is_some_and(|t| t < self.discovered_at) {
                return Err(Error::bad_input(format!("{field}: must not be before discoveredAt")));
            }
            if at.is_some_and(|t| t > latest) {
                return Err(Error::bad_input(format!("{field}: must not be in the future")));
            }
        }
        if self.kind.is_light() && self.personal_data_leak != LeakStatus::None {
            return Err(Error::bad_input("personalDataLeak: a near miss or threat information cannot involve a leak"));
        }
        Ok(self)
    }

    /// Whether wrongful intent applies, presumed from the kind when not stated.
    pub fn wrongful_intent(&self) -> bool {
        self.wrongful_intent.unwrap_or_else(|| self.kind.presumes_wrongful_intent())
    }
}
