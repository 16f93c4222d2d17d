//! Checklist reminders, found by a daily scan (run as the system): a weekly digest to each
//! hospital whose "no" answers are past their target date with no later yes (one mail per
//! hospital, not per item), and a reminder to hospitals that have not submitted when their
//! prefecture's window closes within a week. The scan is a job of its own ([`ScanReminders`]);
//! the mails go out through the alerts' [`fan_out`], as every alert's do.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Date, Jsonb, SmallInt, Text};
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::submissions::answers_of;
use crate::alerts::{Alert, Audience, fan_out};
use crate::db::Conn;
use crate::jobs::{BackgroundJob, Context, JobError};
use crate::{Principal, Result, Role};

/// `scan.checklist_reminders`: the overdue digests and the window reminders, daily.
#[derive(Serialize, Deserialize)]
pub struct ScanReminders {}

impl BackgroundJob for ScanReminders {
    const NAME: &'static str = "scan.checklist_reminders";

    async fn run(self, ctx: &Context) -> std::result::Result<(), JobError> {
        ctx.as_system(|c| {
            Box::pin(async move {
                let today = crate::incidents::clocks::day_of(Utc::now());
                overdue_digests(c, today).await?;
                window_closing(c, today).await
            })
        })
        .await
        .map(drop)
    }
}

/// How long before a window closes the reminder goes out.
const WINDOW_NOTICE_DAYS: i64 = 7;

#[derive(diesel::QueryableByName)]
struct Open {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    hospital_id: Uuid,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = SmallInt)]
    fiscal_year: i16,
    #[diesel(sql_type = Jsonb)]
    answers: serde_json::Value,
}

/// Queues the overdue-improvement digests for `today`; returns the mails queued.
pub async fn overdue_digests(c: &mut Conn, today: NaiveDate) -> Result<usize> {
    // The facts already know who has an open "no" past its date; the answers say which items.
    // Only hospitals with an admin to tell: nationally most (the clinics) have no user yet, and
    // reading every answer sheet took the scan past the statement timeout.
    let rows: Vec<Open> = diesel::sql_query(
        "SELECT f.hospital_id, o.name, f.fiscal_year, r.answers \
         FROM kpi_facts f \
         JOIN organisations o ON o.id = f.hospital_id \
         JOIN checklist_catalogs c ON c.fiscal_year = f.fiscal_year AND c.form = 'hospital' \
         JOIN submissions s ON s.hospital_id = f.hospital_id AND s.catalog_id = c.id AND s.vendor_id IS NULL \
         JOIN submission_revisions r ON r.submission_id = s.id AND r.revision = s.revision \
         WHERE EXISTS (SELECT 1 FROM unnest(f.open_targets) t WHERE t < $1) \
           AND EXISTS (SELECT 1 FROM users u WHERE u.organisation_id = f.hospital_id \
                         AND u.role = 'hospital_admin' AND u.active) \
         ORDER BY f.hospital_id, f.fiscal_year",
    )
    .bind::<Date, _>(today)
    .load(c)
    .await?;
    let mut by_hospital: BTreeMap<Uuid, (String, Vec<String>)> = BTreeMap::new();
    for row in rows {
        let entry = by_hospital.entry(row.hospital_id).or_insert_with(|| (row.name.clone(), Vec::new()));
        for a in answers_of(&row.answers)? {
            let still_no = a.value.as_deref() == Some("no") && a.second_value.as_deref() != Some("yes");
            if let (true, Some(target)) = (still_no, a.target_on)
                && target < today
            {
                entry.1.push(format!("・{}年度 項目 {}（改善予定日 {}）", row.fiscal_year, a.code, target));
            }
        }
    }
    let week = today.iso_week();
    let mut queued = 0;
    for (hospital, (name, items)) in by_hospital {
        if items.is_empty() {
            continue;
        }
        let subject = format!("【Renkei】改善予定日を過ぎたチェックリスト項目（{}件）: {name}", items.len());
        let body = format!(
            "{name} 御中\n\n{today} 時点で、「いいえ」と回答し改善予定日を過ぎた項目が {} 件あります。\n\n{}\n\n\
             改善が済んだ項目は再確認日と再確認の回答を記入し、チェックリストを再提出してください。\n",
            items.len(),
            items.join("\n")
        );
        let key = format!("checklist_overdue:{hospital}:{}-W{:02}", week.year(), week.week());
        queued +=
            fan_out(c, Alert::ChecklistOverdue, &key, &[Audience::HospitalAdmins(hospital)], &subject, &body, None)
                .await?;
    }
    Ok(queued)
}

/// Queues reminders to hospitals that have not submitted the year's checklist when their
/// prefecture's window closes within a week of `today`; returns the mails queued.
pub async fn window_closing(c: &mut Conn, today: NaiveDate) -> Result<usize> {
    use crate::schema::submission_windows as w;
    let soon = today + chrono::Duration::days(WINDOW_NOTICE_DAYS);
    let windows: Vec<(i16, i16, NaiveDate)> = w::table
        .filter(w::closes_on.ge(today).and(w::closes_on.le(soon)))
        .select((w::prefecture_code, w::fiscal_year, w::closes_on))
        .load(c)
        .await?;
    let mut queued = 0;
    for (prefecture, fiscal_year, closes_on) in windows {
        // The prefecture's own view of who has submitted.
        let official = Principal {
            subject: "renkei-system".into(),
            role: Role::Prefecture,
            organisation_id: None,
            prefecture: Some(prefecture),
        };
        let statuses = super::submissions::status_for_year(c, &official, i32::from(fiscal_year), today).await?;
        for (hospital, status) in statuses {
            if hospital.prefecture_code != prefecture
                || !matches!(status.as_str(), "not_started" | "draft" | "returned")
            {
                continue;
            }
            let name = &hospital.name;
            let subject = format!("【Renkei】{fiscal_year}年度チェックリストの提出期限が近づいています: {name}");
            let body = format!(
                "{name} 御中\n\n{fiscal_year}年度の医療機関確認用チェックリストの提出期限は {closes_on} です。\
                 \n現在の状況: {}。期限までに提出してください。\n",
                match status.as_str() {
                    "draft" => "下書き",
                    "returned" => "差戻し（修正待ち）",
                    _ => "未着手",
                }
            );
            let key = format!("window_closing:{prefecture}:{fiscal_year}:{closes_on}:{}", hospital.id);
            queued += fan_out(
                c,
                Alert::SubmissionWindowClosing,
                &key,
                &[Audience::HospitalAdmins(hospital.id)],
                &subject,
                &body,
                Some(prefecture),
            )
            .await?;
        }
    }
    Ok(queued)
}
