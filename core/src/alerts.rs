//! Alerts by e-mail. An alert job works out who should hear of something — prefecture
//! officials, the health centre, the ministry, the hospital's admins, each as their preferences
//! allow — and queues one `mail.send` job per person with a key of its own; the mail job sends
//! once and records the key, so a retried job never sends the same message twice.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::db::{Conn, Db};
use crate::incidents::clocks::format_jst;
use crate::incidents::store as incidents;
use crate::jobs::{self, Job};
use crate::mail::{Mail, Mailer};
use crate::registry::geography::Geography;
use crate::registry::organisations;
use crate::schema::{email_deliveries, organisations as orgs_t, user_alert_preferences, users};
use crate::{Error, Principal, Result, Role};

/// The alerts a person can switch on or off (all on by default).
pub const ALERTS: &[&str] = &[
    "incident_created",
    "incident_phase_changed",
    "incident_clock",
    "designation_coverage",
    "checklist_overdue",
    "submission_window_closing",
];

/// Who gets an alert.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Audience {
    PrefectureOfficials(i16),
    HealthCentre(Uuid),
    Ministry,
    HospitalAdmins(Uuid),
}

#[derive(Queryable)]
struct Recipient {
    id: Uuid,
    email: String,
}

async fn recipients(c: &mut Conn, alert: &str, audiences: &[Audience]) -> Result<Vec<Recipient>> {
    let mut out: Vec<Recipient> = Vec::new();
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
        let rows: Vec<Recipient> =
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
    alert: &str,
    alert_key: &str,
    audiences: &[Audience],
    subject: &str,
    body: &str,
    prefecture: Option<i16>,
) -> Result<usize> {
    let people = recipients(c, alert, audiences).await?;
    for person in &people {
        let key = format!("{alert_key}:{}", person.id);
        jobs::enqueue(
            c,
            "mail.send",
            json!({ "to": person.email, "subject": subject, "body": body, "key": key, "prefecture": prefecture }),
            Some(format!("mail:{key}")),
        )
        .await?;
    }
    Ok(people.len())
}

fn kind_ja(kind: &str) -> &'static str {
    match kind {
        "ransomware" => "ランサムウェア",
        "unauthorised_access" => "不正アクセス",
        "malware" => "マルウェア感染",
        "phishing" => "フィッシング",
        "dos" => "サービス妨害",
        "near_miss" => "ヒヤリハット",
        "threat_info" => "脅威情報",
        _ => "その他",
    }
}

fn phase_ja(phase: &str) -> &'static str {
    match phase {
        "detection" => "検知",
        "initial_response" => "初動対応",
        "recovery" => "復旧処理",
        "post_incident" => "事後対応",
        "closed" => "完了",
        _ => "不明",
    }
}

fn recipient_ja(recipient: &str) -> &'static str {
    match recipient {
        "mhlw" => "厚生労働省への報告",
        "police" => "警察への届出",
        "prefecture" => "都道府県への報告",
        "ppc_preliminary" => "個人情報保護委員会への速報",
        "ppc_final" => "個人情報保護委員会への確報",
        "patients" => "本人（患者）への通知",
        _ => "報告",
    }
}

#[derive(Deserialize)]
struct IncidentPayload {
    incident_id: Uuid,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    recipient: Option<String>,
    #[serde(default)]
    due_at: Option<DateTime<Utc>>,
    #[serde(default)]
    state: Option<String>,
}

async fn incident_alert(c: &mut Conn, job: &Job) -> Result<usize> {
    let system = Principal::system();
    let payload: IncidentPayload = serde_json::from_value(job.payload.clone()).map_err(Error::internal)?;
    // The incident as it is now: the payload carries ids, the facts are read again.
    let Some(incident) = incidents::find(c, &system, payload.incident_id).await? else { return Ok(0) };
    let hospital = organisations::get(c, &system, incident.hospital_id).await?;
    let mut audiences = vec![Audience::PrefectureOfficials(incident.prefecture_code), Audience::Ministry];
    if let Some(hc) = incident.jurisdiction_id {
        audiences.push(Audience::HealthCentre(hc));
    }
    let detail = format!(
        "医療機関: {}\n種別: {}\n件名: {}\n発見日時: {}\n現在のフェーズ: {}\nサイバー攻撃の疑い: {}\n個人情報漏えい: {}\n\nRenkei でインシデント {} を確認してください。\n",
        hospital.name,
        kind_ja(incident.kind.as_str()),
        incident.title,
        format_jst(incident.discovered_at),
        phase_ja(incident.phase.as_str()),
        if incident.suspected_cyber_attack { "あり" } else { "なし" },
        match incident.personal_data_leak.as_str() {
            "confirmed" => "確認",
            "suspected" => "疑い",
            _ => "なし",
        },
        incident.id,
    );
    let p = Some(incident.prefecture_code);
    match job.kind.as_str() {
        "alert.incident_created" => {
            let subject =
                format!("【Renkei】新規インシデント報告: {}（{}）", hospital.name, kind_ja(incident.kind.as_str()));
            fan_out(
                c,
                "incident_created",
                &format!("incident-created:{}", incident.id),
                &audiences,
                &subject,
                &detail,
                p,
            )
            .await
        }
        "alert.incident_phase_changed" => {
            let from = payload.from.unwrap_or_default();
            let to = payload.to.unwrap_or_default();
            let subject = format!(
                "【Renkei】インシデントのフェーズ変更: {}（{} → {}）",
                hospital.name,
                phase_ja(&from),
                phase_ja(&to)
            );
            fan_out(
                c,
                "incident_phase_changed",
                &format!("incident-phase:{}:{to}", incident.id),
                &audiences,
                &subject,
                &detail,
                p,
            )
            .await
        }
        _ => {
            let recipient = payload.recipient.unwrap_or_default();
            let state = payload.state.unwrap_or_default();
            let due = payload.due_at.map(format_jst).unwrap_or_default();
            let when =
                if state == "overdue" { "期限を過ぎています" } else { "期限が近づいています" };
            let subject = format!("【Renkei】{}の{}: {}", recipient_ja(&recipient), when, hospital.name);
            let body = format!("{}の期限: {due}\n\n{detail}", recipient_ja(&recipient));
            audiences.push(Audience::HospitalAdmins(incident.hospital_id));
            fan_out(
                c,
                "incident_clock",
                &format!("incident-clock:{}:{recipient}:{state}", incident.id),
                &audiences,
                &subject,
                &body,
                p,
            )
            .await
        }
    }
}

/// Regions and prefectures without a critical-infrastructure hospital in force, mailed to the
/// ministry with where the law's requirements stand.
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
    fan_out(c, "designation_coverage", &format!("coverage:{today}"), &[Audience::Ministry], &subject, &body, None).await
}

#[derive(Deserialize)]
struct MailPayload {
    to: String,
    subject: String,
    body: String,
    key: String,
}

/// How long a sent mail's record waits for an unreachable database (less than a job's lease).
const DELIVERY_PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

async fn send_mail(db: &Db, mailer: &Mailer, job: &Job) -> anyhow::Result<()> {
    let mail: MailPayload = serde_json::from_value(job.payload.clone())?;
    let system = Principal::system();
    let key = mail.key.clone();
    let already: i64 = db
        .run(&system, move |c| {
            Box::pin(async move { Ok(email_deliveries::table.find(key).count().get_result(c).await?) })
        })
        .await
        .map_err(anyhow::Error::from)?;
    if already > 0 {
        return Ok(());
    }
    let m = Mail { to: mail.to.clone(), subject: mail.subject.clone(), body: mail.body, key: mail.key.clone() };
    mailer.send(&m).await?;
    let (key, to, subject, job_id) = (mail.key, mail.to, mail.subject, job.id);
    // The relay has the message: the record must follow it, or a retry would send it again.
    db.run_patiently(&system, DELIVERY_PATIENCE, |c| {
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
    .await
    .map_err(anyhow::Error::from)?;
    Ok(())
}

/// Runs one job of any kind the worker knows.
pub async fn run(db: &Db, mailer: &Mailer, job: &Job) -> anyhow::Result<()> {
    let system = Principal::system();
    let detail = anyhow::Error::from;
    match job.kind.as_str() {
        "mail.send" => send_mail(db, mailer, job).await,
        "alert.incident_created" | "alert.incident_phase_changed" | "alert.incident_clock" => {
            let job = job.clone();
            db.run(&system, move |c| Box::pin(async move { incident_alert(c, &job).await }))
                .await
                .map(|_| ())
                .map_err(detail)
        }
        "alert.designation_coverage" => {
            db.run(&system, |c| Box::pin(coverage_alert(c))).await.map(|_| ()).map_err(detail)
        }
        "scan.incident_clocks" => db
            .run(&system, |c| {
                Box::pin(async move { incidents::enqueue_clock_alerts(c, &Principal::system(), Utc::now()).await })
            })
            .await
            .map(|_| ())
            .map_err(detail),
        "bundle.build" => {
            let id = job.payload["bundle_id"]
                .as_str()
                .and_then(|s| s.parse::<Uuid>().ok())
                .ok_or_else(|| anyhow::anyhow!("bundle.build without a bundle_id"))?;
            crate::bundles::build_and_store(db, id).await.map_err(detail)
        }
        "bundle.scheduled" => {
            let fy = job.payload["fiscal_year"].as_i64().unwrap_or_default() as i32;
            db.run(&system, move |c| {
                Box::pin(async move { crate::bundles::request(c, &Principal::system(), fy, None).await.map(|_| ()) })
            })
            .await
            .map_err(detail)
        }
        "scan.checklist_reminders" => db
            .run(&system, |c| {
                Box::pin(async move {
                    let today = crate::incidents::clocks::day_of(Utc::now());
                    crate::checklists::reminders::overdue_digests(c, today).await?;
                    crate::checklists::reminders::window_closing(c, today).await
                })
            })
            .await
            .map(|_| ())
            .map_err(detail),
        "maintenance.clean_jobs" => {
            db.run(&system, |c| Box::pin(jobs::clean_finished(c, 30))).await.map(|_| ()).map_err(detail)
        }
        other => anyhow::bail!("unknown job kind {other:?}"),
    }
}

/// Periodic work, queued by every replica but run once per period: the dedup key names the
/// period, so the first replica to queue it wins and the others' inserts do nothing.
pub async fn schedule(db: &Db, now: DateTime<Utc>) -> Result<()> {
    let minute = now.format("%Y-%m-%dT%H:%M").to_string();
    let today = crate::incidents::clocks::day_of(now);
    let day = today.to_string();
    // The national bundle of the current fiscal year, weekly: queued by the first tick of each
    // ISO week in Japan (a Monday, unless no worker ran then).
    let week = today.iso_week();
    let week = format!("{}-W{:02}", week.year(), week.week());
    let fiscal_year = crate::bundles::fiscal_year_of(today);
    db.run(&Principal::system(), move |c| {
        Box::pin(async move {
            jobs::enqueue(
                c,
                "bundle.scheduled",
                json!({ "fiscal_year": fiscal_year }),
                Some(format!("bundle.scheduled:{week}")),
            )
            .await?;
            jobs::enqueue(c, "scan.incident_clocks", json!({}), Some(format!("scan.incident_clocks:{minute}"))).await?;
            jobs::enqueue(
                c,
                "alert.designation_coverage",
                json!({}),
                Some(format!("alert.designation_coverage:{day}")),
            )
            .await?;
            jobs::enqueue(c, "scan.checklist_reminders", json!({}), Some(format!("scan.checklist_reminders:{day}")))
                .await?;
            jobs::enqueue(c, "maintenance.clean_jobs", json!({}), Some(format!("maintenance.clean_jobs:{day}")))
                .await?;
            Ok(())
        })
    })
    .await
}

/// The alerts a user has switched off.
pub async fn preferences(c: &mut Conn, user_id: Uuid) -> Result<Vec<(String, bool)>> {
    let set: Vec<(String, bool)> = user_alert_preferences::table
        .filter(user_alert_preferences::user_id.eq(user_id))
        .select((user_alert_preferences::alert, user_alert_preferences::enabled))
        .load(c)
        .await?;
    Ok(ALERTS.iter().map(|a| (a.to_string(), set.iter().find(|(k, _)| k == a).is_none_or(|(_, on)| *on))).collect())
}

/// Switches an alert on or off for the caller's own user.
pub async fn set_preference(c: &mut Conn, user_id: Uuid, alert: &str, enabled: bool) -> Result<()> {
    if !ALERTS.contains(&alert) {
        return Err(Error::bad_input(format!("alert: unknown alert {alert:?} ({})", ALERTS.join(", "))));
    }
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
