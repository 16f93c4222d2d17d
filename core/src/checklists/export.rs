//! Every submitted hospital checklist of a fiscal year as one table (one row per hospital and
//! item), for prefectures (their own) and the ministry (all): as CSV (UTF-8 with BOM, so that
//! Excel shows the Japanese) or as an .xlsx workbook.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::catalog::{self, Form};
use super::submissions::{self, Submission};
use crate::bundles::Csv;
use crate::db::Conn;
use crate::registry::geography::Geography;
use crate::registry::organisations;
use crate::schema::submissions as subs_t;
use crate::{Error, Principal, Result, Role};

const HEADER: [&str; 12] = [
    "都道府県",
    "医療機関コード",
    "医療機関名",
    "許可病床数",
    "状態",
    "版",
    "項目",
    "回答",
    "確認日",
    "改善予定日",
    "再確認日",
    "再確認の回答",
];

/// The rows as CSV text.
pub fn csv_of(rows: Vec<Vec<String>>) -> String {
    let mut csv = Csv::new(&HEADER);
    for row in rows {
        csv.line(row);
    }
    csv.text
}

/// The same table as a workbook (one sheet). Writing it is CPU
/// work: callers on an async runtime run it off the reactor.
pub fn submissions_xlsx(rows: &[Vec<String>]) -> Result<Vec<u8>> {
    super::xlsx::write_table("提出状況", &HEADER, rows)
}

/// The rows of the export, in prefecture and hospital order.
pub async fn submission_rows(c: &mut Conn, p: &Principal, fiscal_year: i32) -> Result<Vec<Vec<String>>> {
    p.require(&[Role::National, Role::Prefecture], "export submissions")?;
    let catalog = catalog::find(c, fiscal_year, Form::Hospital)
        .await?
        .ok_or_else(|| Error::not_found("hospital checklist for that fiscal year"))?;
    let geo = Geography::load(c).await?;
    // RLS and the prefecture filter agree: a prefecture exports its own.
    let mut q = subs_t::table
        .filter(subs_t::catalog_id.eq(catalog.id).and(subs_t::vendor_id.is_null()).and(subs_t::revision.gt(0)))
        .into_boxed();
    if p.is(Role::Prefecture) {
        q = q.filter(subs_t::prefecture_code.eq(p.prefecture.unwrap_or_default()));
    }
    let rows: Vec<Submission> =
        q.select(Submission::as_select()).order((subs_t::prefecture_code, subs_t::hospital_id)).load(c).await?;
    let mut out = Vec::new();
    for s in rows {
        let Some(hospital) = organisations::find(c, p, s.hospital_id).await? else { continue };
        let Some(revision) = submissions::revisions(c, s.id).await?.pop() else { continue };
        for a in submissions::answers_of(&revision.answers)? {
            let day = |d: Option<chrono::NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
            out.push(vec![
                geo.prefecture(s.prefecture_code).map(|p| p.name_ja.clone()).unwrap_or_default(),
                hospital.medical_institution_code.clone().unwrap_or_default(),
                hospital.name.clone(),
                hospital.licensed_beds.map(|b| b.to_string()).unwrap_or_default(),
                s.status.clone(),
                revision.revision.to_string(),
                a.code.clone(),
                a.value.clone().unwrap_or_else(|| a.values.join(";")),
                day(a.checked_on),
                day(a.target_on),
                day(a.second_checked_on),
                a.second_value.clone().unwrap_or_default(),
            ]);
        }
    }
    Ok(out)
}
