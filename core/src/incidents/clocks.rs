//! Regulatory clocks, computed from the facts of an incident and the notifications made.
//!
//! - Personal Information Protection Commission (個人情報保護委員会): where personal data may
//!   have leaked, counted from the day the hospital learned of it — a preliminary report (速報)
//!   within about 3–5 days (due on day 5, warned from day 3) and a final report (確報) within 30
//!   days, 60 when the leak may have been done with wrongful intent. Medical data is sensitive
//!   personal information, so any leak counts, whatever the number of records.
//! - The patients concerned (本人通知): told by the final report's deadline at the latest.
//! - MHLW: told of any suspected cyber attack; the guidance says "promptly", which Renkei takes
//!   as by the end of the day after discovery.
//!
//! Days are calendar days in Japan (JST): a deadline ends at 24:00 JST of its last day.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};

use super::{IncidentKind, LeakStatus, Recipient};

/// The facts the clocks depend on.
#[derive(Clone, Copy, Debug)]
pub struct Facts {
    pub kind: IncidentKind,
    pub discovered_at: DateTime<Utc>,
    pub suspected_cyber_attack: bool,
    pub leak: LeakStatus,
    pub leak_learned_on: Option<NaiveDate>,
    pub wrongful_intent: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockState {
    Running,
    /// Inside the warning period.
    DueSoon,
    Overdue,
    MetOnTime,
    MetLate,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clock {
    /// Whom the report goes to.
    pub recipient: Recipient,
    /// The last day (JST) and the instant it ends.
    pub due_on: NaiveDate,
    pub due_at: DateTime<Utc>,
    pub warn_from: DateTime<Utc>,
    pub notified_at: Option<DateTime<Utc>>,
    pub state: ClockState,
}

fn jst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).unwrap_or_else(|| FixedOffset::east_opt(0).unwrap_or_else(|| unreachable!()))
}

/// 00:00 JST of `day`, as UTC.
fn start_of(day: NaiveDate) -> DateTime<Utc> {
    jst()
        .from_local_datetime(&day.and_time(NaiveTime::MIN))
        .single()
        .map_or_else(|| day.and_time(NaiveTime::MIN).and_utc(), |t| t.with_timezone(&Utc))
}

/// An instant as people in Japan read it.
pub fn format_jst(at: DateTime<Utc>) -> String {
    at.with_timezone(&jst()).format("%Y-%m-%d %H:%M (JST)").to_string()
}

/// The day (JST) an instant falls on.
pub fn day_of(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&jst()).date_naive()
}

fn clock(
    recipient: Recipient,
    due_on: NaiveDate,
    warn_from: DateTime<Utc>,
    notified: &[(Recipient, DateTime<Utc>)],
    now: DateTime<Utc>,
) -> Clock {
    let due_at = start_of(due_on + Duration::days(1));
    let notified_at = notified.iter().find(|(r, _)| *r == recipient).map(|(_, at)| *at);
    let state = match notified_at {
        Some(at) if at <= due_at => ClockState::MetOnTime,
        Some(_) => ClockState::MetLate,
        None if now >= due_at => ClockState::Overdue,
        None if now >= warn_from => ClockState::DueSoon,
        None => ClockState::Running,
    };
    Clock { recipient, due_on, due_at, warn_from, notified_at, state }
}

/// Every clock that applies to an incident with `facts`, given the notifications made so far.
pub fn clocks(facts: &Facts, notified: &[(Recipient, DateTime<Utc>)], now: DateTime<Utc>) -> Vec<Clock> {
    if facts.kind.is_light() {
        return Vec::new();
    }
    let mut out = Vec::new();
    if facts.suspected_cyber_attack {
        let discovered = day_of(facts.discovered_at);
        out.push(clock(Recipient::Mhlw, discovered + Duration::days(1), facts.discovered_at, notified, now));
    }
    if facts.leak != LeakStatus::None {
        let learned = facts.leak_learned_on.unwrap_or_else(|| day_of(facts.discovered_at));
        out.push(clock(
            Recipient::PpcPreliminary,
            learned + Duration::days(5),
            start_of(learned + Duration::days(3)),
            notified,
            now,
        ));
        let final_days = if facts.wrongful_intent { 60 } else { 30 };
        let final_due = learned + Duration::days(final_days);
        let warn = start_of(final_due - Duration::days(7));
        out.push(clock(Recipient::PpcFinal, final_due, warn, notified, now));
        out.push(clock(Recipient::Patients, final_due, warn, notified, now));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).unwrap_or_default()
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    fn facts(kind: IncidentKind, leak: LeakStatus, wrongful: bool) -> Facts {
        Facts {
            kind,
            discovered_at: at("2026-10-31T07:00:00+09:00"),
            suspected_cyber_attack: true,
            leak,
            leak_learned_on: Some(day("2026-11-02")),
            wrongful_intent: wrongful,
        }
    }

    fn find(clocks: &[Clock], r: Recipient) -> &Clock {
        clocks.iter().find(|c| c.recipient == r).unwrap_or_else(|| panic!("{r:?} clock"))
    }

    #[test]
    fn ppc_clocks_run_from_the_day_the_leak_was_learned() {
        let now = at("2026-11-03T12:00:00+09:00");
        let c = clocks(&facts(IncidentKind::Malware, LeakStatus::Suspected, false), &[], now);
        let pre = find(&c, Recipient::PpcPreliminary);
        assert_eq!(pre.due_on, day("2026-11-07"));
        assert_eq!(pre.due_at, at("2026-11-08T00:00:00+09:00"));
        assert_eq!(pre.warn_from, at("2026-11-05T00:00:00+09:00"));
        assert_eq!(pre.state, ClockState::Running);
        assert_eq!(find(&c, Recipient::PpcFinal).due_on, day("2026-12-02"), "30 days without wrongful intent");
        assert_eq!(find(&c, Recipient::Patients).due_on, day("2026-12-02"));
    }

    #[test]
    fn wrongful_intent_gives_sixty_days() {
        let c = clocks(
            &facts(IncidentKind::UnauthorisedAccess, LeakStatus::Confirmed, true),
            &[],
            at("2026-11-03T00:00:00Z"),
        );
        assert_eq!(find(&c, Recipient::PpcFinal).due_on, day("2027-01-01"));
    }

    #[test]
    fn states_follow_time_and_notifications() {
        let f = facts(IncidentKind::Ransomware, LeakStatus::Suspected, true);
        let state = |now: &str, notified: &[(Recipient, DateTime<Utc>)]| {
            find(&clocks(&f, notified, at(now)), Recipient::PpcPreliminary).state
        };
        assert_eq!(state("2026-11-04T23:59:00+09:00", &[]), ClockState::Running);
        assert_eq!(state("2026-11-05T00:00:00+09:00", &[]), ClockState::DueSoon);
        assert_eq!(state("2026-11-07T23:59:59+09:00", &[]), ClockState::DueSoon);
        assert_eq!(state("2026-11-08T00:00:00+09:00", &[]), ClockState::Overdue);
        let on_time = [(Recipient::PpcPreliminary, at("2026-11-06T10:00:00+09:00"))];
        assert_eq!(state("2026-11-20T00:00:00Z", &on_time), ClockState::MetOnTime);
        let late = [(Recipient::PpcPreliminary, at("2026-11-09T10:00:00+09:00"))];
        assert_eq!(state("2026-11-20T00:00:00Z", &late), ClockState::MetLate);
    }

    #[test]
    fn mhlw_is_due_the_day_after_a_suspected_attack() {
        let c = clocks(&facts(IncidentKind::Ransomware, LeakStatus::None, true), &[], at("2026-11-01T23:00:00+09:00"));
        assert_eq!(c.len(), 1, "no leak, no PPC or patient clocks");
        let mhlw = find(&c, Recipient::Mhlw);
        assert_eq!(mhlw.due_on, day("2026-11-01"));
        assert_eq!(mhlw.state, ClockState::DueSoon);
    }

    #[test]
    fn no_clock_without_attack_or_leak_and_none_for_near_misses() {
        let mut f = facts(IncidentKind::Other, LeakStatus::None, false);
        f.suspected_cyber_attack = false;
        assert!(clocks(&f, &[], at("2026-11-03T00:00:00Z")).is_empty());
        let near = facts(IncidentKind::NearMiss, LeakStatus::None, false);
        assert!(clocks(&near, &[], at("2026-11-03T00:00:00Z")).is_empty());
    }
}
