//! A prefecture's submission window for a fiscal year: when hospitals submit, and when the
//! health centres inspect. After it closes, an unsubmitted checklist is overdue.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::Conn;
use crate::schema::submission_windows;
use crate::{Error, Principal, Result, Role};

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = submission_windows)]
pub struct Window {
    pub prefecture_code: i16,
    pub fiscal_year: i16,
    pub opens_on: NaiveDate,
    pub closes_on: NaiveDate,
    pub inspection_from: Option<NaiveDate>,
    pub inspection_until: Option<NaiveDate>,
    pub set_by: String,
    pub updated_at: DateTime<Utc>,
}

pub struct NewWindow {
    pub fiscal_year: i32,
    pub opens_on: NaiveDate,
    pub closes_on: NaiveDate,
    pub inspection_from: Option<NaiveDate>,
    pub inspection_until: Option<NaiveDate>,
}

/// Opens (or moves) the caller's prefecture's window for a fiscal year.
pub async fn set(c: &mut Conn, p: &Principal, w: NewWindow) -> Result<Window> {
    p.require(&[Role::Prefecture], "set submission windows")?;
    let prefecture = p.prefecture.ok_or_else(|| Error::forbidden("no prefecture"))?;
    let fy = i16::try_from(w.fiscal_year)
        .ok()
        .filter(|y| (2020..=2100).contains(y))
        .ok_or_else(|| Error::bad_input("fiscalYear: between 2020 and 2100"))?;
    if w.closes_on < w.opens_on {
        return Err(Error::bad_input("closesOn: must not be before opensOn"));
    }
    if let (Some(from), Some(until)) = (w.inspection_from, w.inspection_until)
        && until < from
    {
        return Err(Error::bad_input("inspectionUntil: must not be before inspectionFrom"));
    }
    let values = (
        submission_windows::prefecture_code.eq(prefecture),
        submission_windows::fiscal_year.eq(fy),
        submission_windows::opens_on.eq(w.opens_on),
        submission_windows::closes_on.eq(w.closes_on),
        submission_windows::inspection_from.eq(w.inspection_from),
        submission_windows::inspection_until.eq(w.inspection_until),
        submission_windows::set_by.eq(&p.subject),
    );
    Ok(diesel::insert_into(submission_windows::table)
        .values(values)
        .on_conflict((submission_windows::prefecture_code, submission_windows::fiscal_year))
        .do_update()
        .set((
            submission_windows::opens_on.eq(w.opens_on),
            submission_windows::closes_on.eq(w.closes_on),
            submission_windows::inspection_from.eq(w.inspection_from),
            submission_windows::inspection_until.eq(w.inspection_until),
            submission_windows::set_by.eq(&p.subject),
            submission_windows::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Window::as_returning())
        .get_result(c)
        .await?)
}

/// The window of `prefecture` for a fiscal year, if set and visible to the caller.
pub async fn find(c: &mut Conn, prefecture: i16, fiscal_year: i32) -> Result<Option<Window>> {
    let Ok(fy) = i16::try_from(fiscal_year) else { return Ok(None) };
    Ok(submission_windows::table.find((prefecture, fy)).select(Window::as_select()).first(c).await.optional()?)
}
