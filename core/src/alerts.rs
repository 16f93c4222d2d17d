//! Alerts by e-mail. An alert job works out who should hear of something — prefecture
//! officials, the health centre, the ministry, the hospital's admins, each as their preferences
//! allow — and queues one [`SendMail`] job per person with a key of its own; the mail job sends
//! once and records the key, so a retried job never sends the same message twice.
//!
//! The incident alerts, the clock scan that queues them and the coverage alert are jobs of this
//! module; the checklist reminders are the reminders' own and only use [`fan_out`].

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::Conn;
use crate::incidents::clocks::format_jst;
use crate::incidents::store::{self as incidents, Incident};
use crate::incidents::{Phase, Recipient};
use crate::jobs::{self, BackgroundJob, Context, Failure, JobError};
use crate::mail::Mail;
use crate::registry::geography::Geography;
use crate::registry::organisations;
use crate::schema::{email_deliveries, organisations as orgs_t, user_alert_preferences, users};
use crate::text::text_enum;
use crate::{Principal, Result, Role};

text_enum! {
    /// The alerts a person can switch on or off (all on by default).
    Alert {
        IncidentCreated = "incident_created",
        IncidentPhaseChanged = "incident_phase_changed",
        IncidentClock = "incident_clock",
        DesignationCoverage = "designation_coverage",
        ChecklistOverdue = "checklist_overdue",
        SubmissionWindowClosing = "submission_window_closing",
    }
}

/// Who gets an alert.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Audience {
    PrefectureOfficials(i16),
    HealthCentre(Uuid),
    Ministry,
    HospitalAdmins(Uuid),
}

#[derive(Queryable)]
struct Person {
    id: Uuid,
    email: String,
}

async fn recipients(c: &mut Conn, alert: Alert, audiences: &[Audience]) -> Result<Vec<Person>> {
    let mut out: Vec<Person> = Vec::new();
    let mut seen = BTreeSet::new();
    for audience in audiences {
        let q = users::table.inner_join(orgs_t::table).filter(users::active.eq(true)).into_boxed();
        let q = match *audience {
            Audience::PrefectureOfficials(p) => {
                q.filter(users::role.eq(Role::Prefecture.as_str()).and(orgs_t::prefecture_code.eq(p)))
            }
            Audience::HealthCentre(org) => {
                q.filter(users::role.eq(Role::HealthCentre.as_str()).and(users::organisation_id.eq(org)))
            }
            Audience::Ministry => q.filter(users::role.eq(Role::National.as_str())),
            Audience::HospitalAdmins(org) => {
                q.filter(users::role.eq(Role::HospitalAdmin.as_str()).and(users::organisation_id.eq(org)))
            }
        };
        let opted_out = user_alert_preferences::table
            .filter(user_alert_preferences::alert.eq(alert).and(user_alert_preferences::enabled.eq(false)))
            .select(user_alert_preferences::user_id);
        let rows: Vec<Person> =
            q.filter(users::id.ne_all(opted_out)).select((users::id, users::email)).order(users::id).load(c).await?;
        for r in rows {
            if seen.insert(r.id) {
                out.push(r);
            }
        }
    }
    Ok(out)
}

/// Queues one mail per recipient, keyed `alert_key` + recipient.
pub(crate) async fn fan_out(
    c: &mut Conn,
    alert: Alert,
    alert_key: &str,
    audiences: &[Audience],
    subject: &str,
    body: &str,
    prefecture: Option<i16>,
) -> Result<usize> {
    let people = recipients(c, alert, audiences).await?;
    for person in &people {
        let key = format!("{alert_key}:{}", person.id);
        let mail = SendMail { to: person.email.clone(), subject: subject.into(), body: body.into(), key, prefecture };
        jobs::enqueue(c, &mail).await?;
    }
    Ok(people.len())
}

/// The incident as it is now (the payload carries ids, the facts are read again), who hears of
/// it, and the body every incident alert shares; `None` once the incident is gone.
async fn incident_news(c: &mut Conn, incident_id: Uuid) -> Result<Option<IncidentNews>> {
    let system = Principal::system();
    let Some(incident) = incidents::find(c, &system, incident_id).await? else { return Ok(None) };
    let hospital = organisations::get(c, &system, incident.hospital_id).await?;
    let mut audiences = vec![Audience::PrefectureOfficials(incident.prefecture_code), Audience::Ministry];
    if let Some(hc) = incident.jurisdiction_id {
        audiences.push(Audience::HealthCentre(hc));
    }
    let detail = format!(
        "医療機関: {}\n種別: {}\n件名: {}\n発見日時: {}\n現在のフェーズ: {}\nサイバー攻撃の疑い: {}\n個人情報漏えい: {}\n\nRenkei でインシデント {} を確認してください。\n",
        hospital.name,
        incident.kind.label_ja(),
        incident.title,
        format_jst(incident.discovered_at),
        incident.phase.label_ja(),
        if incident.suspected_cyber_attack { "あり" } else { "なし" },
        match incident.personal_data_leak.as_str() {
            "confirmed" => "確認",
            "suspected" => "疑い",
            _ => "なし",
        },
        incident.id,
    );
    Ok(Some(IncidentNews { incident, hospital: hospital.name, audiences, detail }))
}

struct IncidentNews {
    incident: Incident,
    hospital: String,
    audiences: Vec<Audience>,
    detail: String,
}

/// `alert.incident_created`: a hospital reported an incident.
#[derive(Serialize, Deserialize)]
pub struct IncidentCreated {
    pub incident_id: Uuid,
    /// Whose dead job it is (`deadJobs`, row-level security).
    pub prefecture: i16,
}

impl BackgroundJob for IncidentCreated {
    const NAME: &'static str = "alert.incident_created";

    fn dedup_key(&self) -> Option<String> {
        Some(format!("incident-created:{}", self.incident_id))
    }

    async fn run(self, ctx: &Context) -> std::result::Result<(), JobError> {
        ctx.as_system(move |c| {
            Box::pin(async move {
                let Some(news) = incident_news(c, self.incident_id).await? else { return Ok(0) };
                let subject =
                    format!("【Renkei】新規インシデント報告: {}（{}）", news.hospital, news.incident.kind.label_ja());
                let key = format!("incident-created:{}", news.incident.id);
                let p = Some(news.incident.prefecture_code);
                fan_out(c, Alert::IncidentCreated, &key, &news.audiences, &subject, &news.detail, p).await
            })
        })
        .await
        .map(drop)
    }
}

/// `alert.incident_phase_changed`: an incident moved on the flowchart.
#[derive(Serialize, Deserialize)]
pub struct IncidentPhaseChanged {
    pub incident_id: Uuid,
    pub from: Phase,
    pub to: Phase,
    /// Whose dead job it is (`deadJobs`, row-level security).
    pub prefecture: i16,
}

impl BackgroundJob for IncidentPhaseChanged {
    const NAME: &'static str = "alert.incident_phase_changed";

    fn dedup_key(&self) -> Option<String> {
        Some(format!("incident-phase:{}:{}", self.incident_id, self.to))
    }

    async fn run(self, ctx: &Context) -> std::result::Result<(), JobError> {
        ctx.as_system(move |c| {
            Box::pin(async move {
                let Some(news) = incident_news(c, self.incident_id).await? else { return Ok(0) };
                let subject = format!(
                    "【Renkei】インシデントのフェーズ変更: {}（{} → {}）",
                    news.hospital,
                    self.from.label_ja(),
                    self.to.label_ja()
                );
                let key = format!("incident-phase:{}:{}", news.incident.id, self.to);
                let p = Some(news.incident.prefecture_code);
                fan_out(c, Alert::IncidentPhaseChanged, &key, &news.audiences, &subject, &news.detail, p).await
            })
        })
        .await
        .map(drop)
    }
}

/// `alert.incident_clock`: a regulatory clock entered its warning period or ran out.
#[derive(Serialize, Deserialize)]
pub struct IncidentClock {
    pub incident_id: Uuid,
    /// Whose dead job it is (`deadJobs`, row-level security).
    pub prefecture: i16,
    pub recipient: Recipient,
    pub due_at: DateTime<Utc>,
    /// `due_soon` or `overdue`.
    pub state: String,
}

impl BackgroundJob for IncidentClock {
    const NAME: &'static str = "alert.incident_clock";

    fn dedup_key(&self) -> Option<String> {
        Some(format!("incident-clock:{}:{}:{}", self.incident_id, self.recipient, self.state))
    }

    async fn run(self, ctx: &Context) -> std::result::Result<(), JobError> {
        ctx.as_system(move |c| {
            Box::pin(async move {
                let Some(mut news) = incident_news(c, self.incident_id).await? else { return Ok(0) };
                let recipient = self.recipient.report_ja();
                let when = if self.state == "overdue" {
                    "期限を過ぎています"
                } else {
                    "期限が近づいています"
                };
                let subject = format!("【Renkei】{recipient}の{when}: {}", news.hospital);
                let body = format!("{recipient}の期限: {}\n\n{}", format_jst(self.due_at), news.detail);
                news.audiences.push(Audience::HospitalAdmins(news.incident.hospital_id));
                let key = format!("incident-clock:{}:{}:{}", news.incident.id, self.recipient, self.state);
                let p = Some(news.incident.prefecture_code);
                fan_out(c, Alert::IncidentClock, &key, &news.audiences, &subject, &body, p).await
            })
        })
        .await
        .map(drop)
    }
}

/// `scan.incident_clocks`: queues an [`IncidentClock`] per clock due soon or overdue, each
/// minute.
#[derive(Serialize, Deserialize)]
pub struct ScanIncidentClocks {}

impl BackgroundJob for ScanIncidentClocks {
    const NAME: &'static str = "scan.incident_clocks";

    async fn run(self, ctx: &Context) -> std::result::Result<(), JobError> {
        ctx.as_system(|c| {
            Box::pin(async move { incidents::enqueue_clock_alerts(c, &Principal::system(), Utc::now()).await })
        })
        .await
        .map(drop)
    }
}

/// `alert.designation_coverage`: regions and prefectures without a critical-infrastructure
/// hospital in force, mailed to the ministry daily with where the law's requirements stand.
#[derive(Serialize, Deserialize)]
pub struct DesignationCoverage {}

impl BackgroundJob for DesignationCoverage {
    const NAME: &'static str = "alert.designation_coverage";

    async fn run(self, ctx: &Context) -> std::result::Result<(), JobError> {
        ctx.as_system(|c| Box::pin(coverage_alert(c))).await.map(drop)
    }
}

async fn coverage_alert(c: &mut Conn) -> Result<usize> {
    let geo = Geography::load(c).await?;
    let today = crate::incidents::clocks::day_of(Utc::now());
    // The worker checked the settings at start; a bad value cannot reach here.
    let settings = crate::kpis::Settings::from_env().unwrap_or_default();
    let cov = crate::kpis::coverage::coverage(c, &Principal::system(), &geo, &settings, today).await?;
    let missing = |areas: &[crate::kpis::coverage::Area]| -> Vec<String> {
        areas.iter().filter(|a| a.designated_hospitals == 0).map(|a| a.name_ja.clone()).collect()
    };
    let (regions, prefectures) = (missing(&cov.regions), missing(&cov.prefectures));
    if regions.is_empty() && prefectures.is_empty() {
        return Ok(0);
    }
    let subject = "【Renkei】重要インフラ指定病院のない地域・都道府県".to_owned();
    let body = format!(
        "{today} 時点で指定中の病院がない地域: {}\n指定中の病院がない都道府県（{}）: {}\n\n\
         制度開始時（{}）には各地域に1以上、3年度目の末（{}）までに各都道府県に1以上の指定が求められます。\n",
        if regions.is_empty() { "なし".into() } else { regions.join("、") },
        prefectures.len(),
        if prefectures.is_empty() { "なし".into() } else { prefectures.join("、") },
        cov.regions_due,
        cov.prefectures_due,
    );
    fan_out(c, Alert::DesignationCoverage, &format!("coverage:{today}"), &[Audience::Ministry], &subject, &body, None)
        .await
}

/// `mail.send`: one message to one person. It sends once and records its key, so a retried job
/// never sends the same message twice.
#[derive(Serialize, Deserialize)]
pub struct SendMail {
    pub to: String,
    pub subject: String,
    pub body: String,
    pub key: String,
    /// Whose dead job it is (`deadJobs`, row-level security); none for the ministry's mail.
    #[serde(default)]
    pub prefecture: Option<i16>,
}

/// How long a sent mail's record waits for an unreachable database (less than a job's lease).
const DELIVERY_PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

impl BackgroundJob for SendMail {
    const NAME: &'static str = "mail.send";

    fn dedup_key(&self) -> Option<String> {
        Some(format!("mail:{}", self.key))
    }

    async fn run(self, ctx: &Context) -> std::result::Result<(), JobError> {
        let key = self.key.clone();
        let already: i64 = ctx
            .as_system(move |c| {
                Box::pin(async move { Ok(email_deliveries::table.find(key).count().get_result(c).await?) })
            })
            .await?;
        if already > 0 {
            return Ok(());
        }
        let m = Mail { to: self.to.clone(), subject: self.subject.clone(), body: self.body, key: self.key.clone() };
        ctx.mailer.send(&m).await.map_err(|e| JobError::new(mail_failure(&e), e))?;
        let (key, to, subject, job_id) = (self.key, self.to, self.subject, ctx.job_id);
        // The relay has the message: the record must follow it, or a retry would send it again.
        ctx.db
            .run_patiently(&Principal::system(), DELIVERY_PATIENCE, |c| {
                let (key, to, subject) = (key.clone(), to.clone(), subject.clone());
                Box::pin(async move {
                    diesel::insert_into(email_deliveries::table)
                        .values((
                            email_deliveries::key.eq(key),
                            email_deliveries::job_id.eq(job_id),
                            email_deliveries::recipient.eq(to),
                            email_deliveries::subject.eq(subject),
                        ))
                        .on_conflict_do_nothing()
                        .execute(c)
                        .await?;
                    Ok(())
                })
            })
            .await?;
        Ok(())
    }
}

/// What went wrong in sending, from lettre's error under the mailer's context.
fn mail_failure(e: &anyhow::Error) -> Failure {
    if e.downcast_ref::<lettre::address::AddressError>().is_some() {
        Failure::BadAddress
    } else if e.downcast_ref::<lettre::transport::smtp::Error>().is_some() {
        Failure::SmtpRefused
    } else {
        Failure::Internal
    }
}

/// The alerts a user has switched off.
pub async fn preferences(c: &mut Conn, user_id: Uuid) -> Result<Vec<(Alert, bool)>> {
    let set: Vec<(String, bool)> = user_alert_preferences::table
        .filter(user_alert_preferences::user_id.eq(user_id))
        .select((user_alert_preferences::alert, user_alert_preferences::enabled))
        .load(c)
        .await?;
    Ok(Alert::ALL.iter().map(|&a| (a, set.iter().find(|(k, _)| k == a.as_str()).is_none_or(|(_, on)| *on))).collect())
}

/// Switches an alert on or off for the caller's own user.
pub async fn set_preference(c: &mut Conn, user_id: Uuid, alert: Alert, enabled: bool) -> Result<()> {
    diesel::insert_into(user_alert_preferences::table)
        .values((
            user_alert_preferences::user_id.eq(user_id),
            user_alert_preferences::alert.eq(alert),
            user_alert_preferences::enabled.eq(enabled),
        ))
        .on_conflict((user_alert_preferences::user_id, user_alert_preferences::alert))
        .do_update()
        .set((user_alert_preferences::enabled.eq(enabled), user_alert_preferences::updated_at.eq(diesel::dsl::now)))
        .execute(c)
        .await?;
    Ok(())
}
