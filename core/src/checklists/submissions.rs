//! Submissions of a checklist: the hospital (or, for the vendor form, its vendor) keeps a draft,
//! submits it as an immutable revision, and the health centre or prefecture reviews it — accepts
//! it, or returns it with comments per item. A correction is a new revision; history stays.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::catalog::{self, AnswerType, Catalog, Form, Item, ItemStatus};
use crate::db::Conn;
use crate::registry::organisations::{self, OrganisationKind};
use crate::schema::{submission_revisions, submissions, vendor_links};
use crate::{Error, Principal, Result, Role};

/// One item's answer, as on the paper form: the answer and the day it was checked; a "no" with
/// the day it will be fixed; later a second check (day and answer).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub code: String,
    /// yes/no, a number, a date (YYYY-MM-DD) or a choice.
    pub value: Option<String>,
    /// The choices of a multi-choice item.
    #[serde(default)]
    pub values: Vec<String>,
    pub checked_on: Option<NaiveDate>,
    pub target_on: Option<NaiveDate>,
    pub second_checked_on: Option<NaiveDate>,
    pub second_value: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewComment {
    pub code: String,
    pub comment: String,
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = submissions)]
pub struct Submission {
    pub id: Uuid,
    pub hospital_id: Uuid,
    pub catalog_id: Uuid,
    pub vendor_id: Option<Uuid>,
    pub prefecture_code: i16,
    pub jurisdiction_id: Option<Uuid>,
    pub status: String,
    pub draft_answers: serde_json::Value,
    pub revision: i32,
    pub updated_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = submission_revisions)]
pub struct Revision {
    pub submission_id: Uuid,
    pub revision: i32,
    pub answers: serde_json::Value,
    pub submitted_by: String,
    pub submitted_at: DateTime<Utc>,
    pub review_outcome: Option<String>,
    pub review_comments: serde_json::Value,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<DateTime<Utc>>,
}

type Boxed<'a> = submissions::BoxedQuery<'a, diesel::pg::Pg>;

/// The submissions `p` may see; the same rule as the `submissions_read` policy.
fn visible_to(p: &Principal) -> Boxed<'static> {
    let q = submissions::table.into_boxed();
    let org = p.organisation_id.unwrap_or_default();
    match p.role {
        Role::National => q,
        Role::Prefecture => q.filter(submissions::prefecture_code.eq(p.prefecture.unwrap_or_default())),
        Role::HealthCentre => q.filter(submissions::jurisdiction_id.eq(org)),
        Role::HospitalAdmin | Role::HospitalStaff => q.filter(submissions::hospital_id.eq(org)),
        Role::Vendor => q.filter(submissions::vendor_id.eq(org)),
        Role::Dashboard => q.filter(diesel::dsl::sql::<diesel::sql_types::Bool>("false")),
    }
}

pub async fn get(c: &mut Conn, p: &Principal, id: Uuid) -> Result<Submission> {
    visible_to(p)
        .filter(submissions::id.eq(id))
        .select(Submission::as_select())
        .first(c)
        .await
        .optional()?
        .ok_or_else(|| Error::not_found("submission"))
}

pub async fn revisions(c: &mut Conn, id: Uuid) -> Result<Vec<Revision>> {
    Ok(submission_revisions::table
        .filter(submission_revisions::submission_id.eq(id))
        .select(Revision::as_select())
        .order(submission_revisions::revision)
        .load(c)
        .await?)
}

pub fn answers_of(value: &serde_json::Value) -> Result<Vec<Answer>> {
    serde_json::from_value(value.clone()).map_err(Error::internal)
}

fn yes_no(v: &str) -> bool {
    matches!(v, "yes" | "no")
}

/// Checks answers against the catalog; every problem named by item code. With `complete`,
/// every required item must be answered too.
pub fn check(items: &[Item], answers: &[Answer], fiscal_year: i16, complete: bool) -> Result<()> {
    let by_code: BTreeMap<&str, &Item> = items.iter().map(|i| (i.code.as_str(), i)).collect();
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for a in answers {
        let code = a.code.as_str();
        if !seen.insert(code) {
            problems.push(format!("{code}: answered twice"));
            continue;
        }
        match by_code.get(code) {
            None => problems.push(format!("{code}: not an item of this checklist")),
            Some(item) => {
                problems.extend(problems_of(item, a, fiscal_year).into_iter().map(|p| format!("{code}: {p}")))
            }
        }
    }
    if complete {
        let answered: BTreeSet<&str> =
            answers.iter().filter(|a| a.value.is_some() || !a.values.is_empty()).map(|a| a.code.as_str()).collect();
        for item in items.iter().filter(|i| i.status == ItemStatus::Required) {
            if !answered.contains(item.code.as_str()) {
                problems.push(format!("{}: required and not answered", item.code));
            }
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(Error::bad_input(problems.join("; "))) }
}

/// What is wrong with one answer to `item` (the rules of the paper form), each problem a phrase.
pub fn problems_of(item: &Item, a: &Answer, fiscal_year: i16) -> Vec<String> {
    let mut problems: Vec<String> = Vec::new();
    if item.status == ItemStatus::Absent {
        problems.push(format!("not asked in fiscal year {fiscal_year}"));
        return problems;
    }
    match item.answer_type {
        AnswerType::YesNo => match a.value.as_deref() {
            None => {}
            Some(v) if !yes_no(v) => problems.push("answer yes or no".into()),
            Some(v) => {
                let Some(checked) = a.checked_on else {
                    problems.push("the day it was checked is required".into());
                    return problems;
                };
                if v == "no" {
                    match a.target_on {
                        None => problems.push("a \"no\" needs a target date for the fix".into()),
                        Some(t) if t < checked => problems.push("the target date is before the check".into()),
                        Some(_) => {}
                    }
                }
                match (&a.second_value, a.second_checked_on) {
                    (None, None) => {}
                    (Some(s), Some(day)) if yes_no(s) && day >= checked => {}
                    (Some(s), Some(_)) if !yes_no(s) => problems.push("the second check answers yes or no".into()),
                    (Some(_), Some(_)) => problems.push("the second check comes after the first".into()),
                    _ => problems.push("a second check needs both its day and its answer".into()),
                }
            }
        },
        AnswerType::Number => {
            if let Some(v) = &a.value
                && !v.parse::<i64>().is_ok_and(|n| n >= 0)
            {
                problems.push("a whole number of 0 or more".into());
            }
        }
        AnswerType::Date => {
            if let Some(v) = &a.value
                && NaiveDate::parse_from_str(v, "%Y-%m-%d").is_err()
            {
                problems.push("a date as YYYY-MM-DD".into());
            }
        }
        AnswerType::Choice => {
            if let Some(v) = &a.value
                && !item.choices.contains(v)
            {
                problems.push(format!("one of {}", item.choices.join(", ")));
            }
        }
        AnswerType::MultiChoice => {
            let distinct: BTreeSet<&String> = a.values.iter().collect();
            if distinct.len() != a.values.len() || a.values.iter().any(|v| !item.choices.contains(v)) {
                problems.push(format!("distinct choices among {}", item.choices.join(", ")));
            }
        }
    }
    problems
}

/// Whether `p` may fill `hospital_id`'s `form`: the hospital's administrator its own forms, a
/// vendor the vendor form of a hospital that linked it. The vendor's id for the vendor form.
pub async fn filler(c: &mut Conn, p: &Principal, form: Form, hospital_id: Uuid) -> Result<Option<Uuid>> {
    match form {
        Form::Vendor => {
            p.require(&[Role::Vendor], "fill the vendor form")?;
            let vendor = p.organisation_id.unwrap_or_default();
            let linked: i64 = vendor_links::table
                .filter(vendor_links::hospital_id.eq(hospital_id).and(vendor_links::vendor_id.eq(vendor)))
                .count()
                .get_result(c)
                .await?;
            if linked == 0 {
                return Err(Error::forbidden("the hospital has not linked this vendor"));
            }
            Ok(Some(vendor))
        }
        Form::Hospital | Form::Survey => {
            p.require(&[Role::HospitalAdmin], "fill the hospital's forms")?;
            if p.organisation_id != Some(hospital_id) {
                return Err(Error::forbidden("a hospital fills its own forms only"));
            }
            Ok(None)
        }
    }
}

/// The catalog of `form` for `fiscal_year` and its items.
pub async fn form_catalog(c: &mut Conn, fiscal_year: i32, form: Form) -> Result<(Catalog, Vec<Item>)> {
    let catalog: Catalog = catalog::find(c, fiscal_year, form)
        .await?
        .ok_or_else(|| Error::bad_input(format!("fiscalYear: no {form} checklist for {fiscal_year}")))?;
    let items = catalog::items(c, catalog.id).await?;
    Ok((catalog, items))
}

/// A hospital's form as it stands, to download: the catalog, the hospital's name and the
/// current answers (none before it is started). The hospital's own users and its health centre,
/// prefecture and the ministry may read the hospital and survey forms; a vendor its own vendor form.
pub async fn form_as_it_stands(
    c: &mut Conn,
    p: &Principal,
    fiscal_year: i32,
    form: Form,
    hospital_id: Uuid,
) -> Result<(Catalog, Vec<Item>, String, Vec<Answer>)> {
    let mine = visible_to(p).filter(submissions::hospital_id.eq(hospital_id));
    let mine = match form {
        Form::Vendor => {
            p.require(&[Role::Vendor], "read the vendor form")?;
            mine.filter(submissions::vendor_id.eq(p.organisation_id.unwrap_or_default()))
        }
        Form::Hospital | Form::Survey => {
            if p.is(Role::Vendor) {
                return Err(Error::forbidden("a vendor reads the vendor form only"));
            }
            mine.filter(submissions::vendor_id.is_null())
        }
    };
    let hospital = organisations::get(c, p, hospital_id).await?;
    let (catalog, items) = form_catalog(c, fiscal_year, form).await?;
    let draft: Option<serde_json::Value> = mine
        .filter(submissions::catalog_id.eq(catalog.id))
        .select(submissions::draft_answers)
        .first(c)
        .await
        .optional()?;
    let answers = match draft {
        Some(d) => answers_of(&d)?,
        None => Vec::new(),
    };
    Ok((catalog, items, hospital.name, answers))
}

/// Saves the draft answers of `hospital_id`'s `form` for `fiscal_year`, starting the
/// submission if need be. Editing a submitted or reviewed form starts a correction (a new
/// revision when submitted again).
pub async fn save_draft(
    c: &mut Conn,
    p: &Principal,
    fiscal_year: i32,
    form: Form,
    hospital_id: Uuid,
    answers: Vec<Answer>,
) -> Result<Submission> {
    let vendor_id = filler(c, p, form, hospital_id).await?;
    let (catalog, items) = form_catalog(c, fiscal_year, form).await?;
    check(&items, &answers, catalog.fiscal_year, false)?;
    let body = serde_json::to_value(&answers).map_err(Error::internal)?;
    let mine =
        visible_to(p).filter(submissions::hospital_id.eq(hospital_id).and(submissions::catalog_id.eq(catalog.id)));
    let mine = match vendor_id {
        Some(v) => mine.filter(submissions::vendor_id.eq(v)),
        None => mine.filter(submissions::vendor_id.is_null()),
    };
    let existing: Option<Submission> = mine.select(Submission::as_select()).first(c).await.optional()?;
    match existing {
        Some(s) => Ok(diesel::update(submissions::table.find(s.id))
            .set((
                submissions::draft_answers.eq(body),
                submissions::status.eq("draft"),
                submissions::updated_by.eq(&p.subject),
            ))
            .returning(Submission::as_returning())
            .get_result(c)
            .await?),
        None => {
            // A vendor sees the hospitals that linked it, a hospital itself: both can read the
            // prefecture and health centre to copy.
            let hospital = organisations::get(c, p, hospital_id).await?;
            if !matches!(hospital.kind, OrganisationKind::Hospital | OrganisationKind::Clinic) {
                return Err(Error::bad_input("hospitalId: not a hospital or clinic"));
            }
            Ok(diesel::insert_into(submissions::table)
                .values((
                    submissions::hospital_id.eq(hospital_id),
                    submissions::catalog_id.eq(catalog.id),
                    submissions::vendor_id.eq(vendor_id),
                    submissions::prefecture_code.eq(hospital.prefecture_code),
                    submissions::jurisdiction_id.eq(hospital.jurisdiction_id),
                    submissions::draft_answers.eq(body),
                    submissions::updated_by.eq(&p.subject),
                ))
                .returning(Submission::as_returning())
                .get_result(c)
                .await?)
        }
    }
}

fn require_filler(p: &Principal, s: &Submission) -> Result<()> {
    let ok = match s.vendor_id {
        Some(v) => p.is(Role::Vendor) && p.organisation_id == Some(v),
        None => p.is(Role::HospitalAdmin) && p.organisation_id == Some(s.hospital_id),
    };
    if ok { Ok(()) } else { Err(Error::forbidden("only the one who fills this form submits it")) }
}

/// Submits the draft: complete and valid, it becomes the next immutable revision.
pub async fn submit(c: &mut Conn, p: &Principal, id: Uuid) -> Result<Submission> {
    let s = get(c, p, id).await?;
    require_filler(p, &s)?;
    if !matches!(s.status.as_str(), "draft" | "returned") {
        return Err(Error::bad_input(format!("status: a {} submission has nothing new to submit", s.status)));
    }
    let catalog_items = catalog::items(c, s.catalog_id).await?;
    let fy: i16 = crate::schema::checklist_catalogs::table
        .find(s.catalog_id)
        .select(crate::schema::checklist_catalogs::fiscal_year)
        .first(c)
        .await?;
    let answers = answers_of(&s.draft_answers)?;
    check(&catalog_items, &answers, fy, true)?;
    let revision = s.revision + 1;
    diesel::insert_into(submission_revisions::table)
        .values((
            submission_revisions::submission_id.eq(id),
            submission_revisions::revision.eq(revision),
            submission_revisions::answers.eq(&s.draft_answers),
            submission_revisions::submitted_by.eq(&p.subject),
        ))
        .execute(c)
        .await?;
    Ok(diesel::update(submissions::table.find(id))
        .set((
            submissions::status.eq("submitted"),
            submissions::revision.eq(revision),
            submissions::updated_by.eq(&p.subject),
        ))
        .returning(Submission::as_returning())
        .get_result(c)
        .await?)
}

/// Reviews the latest revision: accepted, or returned with comments per item.
pub async fn review(
    c: &mut Conn,
    p: &Principal,
    id: Uuid,
    accept: bool,
    comments: Vec<ReviewComment>,
) -> Result<Submission> {
    p.require(&[Role::HealthCentre, Role::Prefecture], "review submissions")?;
    let s = get(c, p, id).await?;
    if s.status != "submitted" {
        return Err(Error::bad_input(format!(
            "status: only a submitted checklist is reviewed (this one is {})",
            s.status
        )));
    }
    let codes: BTreeSet<String> = catalog::items(c, s.catalog_id).await?.into_iter().map(|i| i.code).collect();
    let mut problems = Vec::new();
    for comment in &comments {
        if !codes.contains(&comment.code) {
            problems.push(format!("{}: not an item of this checklist", comment.code));
        }
        if comment.comment.trim().is_empty() || comment.comment.chars().count() > 2000 || comment.comment.contains('\0')
        {
            problems.push(format!("{}: a comment is 1 to 2000 characters", comment.code));
        }
    }
    if !accept && comments.is_empty() {
        problems.push("comments: say what to correct when returning".into());
    }
    if !problems.is_empty() {
        return Err(Error::bad_input(problems.join("; ")));
    }
    let outcome = if accept { "accepted" } else { "returned" };
    diesel::update(submission_revisions::table.find((id, s.revision)))
        .set((
            submission_revisions::review_outcome.eq(outcome),
            submission_revisions::review_comments.eq(serde_json::to_value(&comments).map_err(Error::internal)?),
            submission_revisions::reviewed_by.eq(&p.subject),
            submission_revisions::reviewed_at.eq(diesel::dsl::now),
        ))
        .execute(c)
        .await?;
    Ok(diesel::update(submissions::table.find(id))
        .set((
            submissions::status.eq(if accept { "reviewed" } else { "returned" }),
            submissions::updated_by.eq(&p.subject),
        ))
        .returning(Submission::as_returning())
        .get_result(c)
        .await?)
}

/// Every hospital the caller oversees (a health centre its jurisdiction, a prefecture its own)
/// with the status of its hospital checklist for the year (`not_started` when none, `overdue`
/// when its prefecture's window closed before `today` and it was never submitted).
pub async fn status_for_year(
    c: &mut Conn,
    p: &Principal,
    fiscal_year: i32,
    today: NaiveDate,
) -> Result<Vec<(organisations::Organisation, String)>> {
    p.require(&[Role::HealthCentre, Role::Prefecture, Role::National], "follow submissions")?;
    let catalog = catalog::find(c, fiscal_year, Form::Hospital).await?;
    let filter = organisations::OrganisationFilter {
        kinds: vec![OrganisationKind::Hospital, OrganisationKind::Clinic],
        jurisdiction_id: if p.is(Role::HealthCentre) { p.organisation_id } else { None },
        ..Default::default()
    };
    let (hospitals, _) = organisations::list(c, p, &filter, 100_000, None).await?;
    let mut status: BTreeMap<Uuid, String> = BTreeMap::new();
    if let Some(catalog) = catalog {
        let ids: Vec<Uuid> = hospitals.iter().map(|h| h.id).collect();
        let rows: Vec<(Uuid, String)> = visible_to(p)
            .filter(submissions::catalog_id.eq(catalog.id).and(submissions::vendor_id.is_null()))
            .filter(submissions::hospital_id.eq_any(ids))
            .select((submissions::hospital_id, submissions::status))
            .load(c)
            .await?;
        status.extend(rows);
    }
    let mut closed: BTreeMap<i16, bool> = BTreeMap::new();
    let mut out = Vec::with_capacity(hospitals.len());
    for h in hospitals {
        let s = status.get(&h.id).cloned().unwrap_or_else(|| "not_started".into());
        let past = match closed.get(&h.prefecture_code) {
            Some(past) => *past,
            None => {
                let window = super::windows::find(c, h.prefecture_code, fiscal_year).await?;
                let past = window.is_some_and(|w| w.closes_on < today);
                closed.insert(h.prefecture_code, past);
                past
            }
        };
        let s = if past && matches!(s.as_str(), "not_started" | "draft") { "overdue".to_owned() } else { s };
        out.push((h, s));
    }
    Ok(out)
}

/// Starts the hospital's checklist for `fiscal_year` from last year's: the answers carried over
/// as a draft, every check date cleared so that each item is checked again, items the new
/// catalog does not ask left out.
pub async fn start_from_previous_year(c: &mut Conn, p: &Principal, fiscal_year: i32) -> Result<Submission> {
    p.require(&[Role::HospitalAdmin], "start the hospital's checklist")?;
    let hospital = p.organisation_id.ok_or_else(|| Error::forbidden("no hospital"))?;
    let new_catalog = catalog::find(c, fiscal_year, Form::Hospital)
        .await?
        .ok_or_else(|| Error::bad_input(format!("fiscalYear: no hospital checklist for {fiscal_year}")))?;
    let previous = catalog::find(c, fiscal_year - 1, Form::Hospital)
        .await?
        .ok_or_else(|| Error::bad_input(format!("fiscalYear: no hospital checklist for {}", fiscal_year - 1)))?;
    let exists: i64 = visible_to(p)
        .filter(submissions::hospital_id.eq(hospital).and(submissions::catalog_id.eq(new_catalog.id)))
        .count()
        .get_result(c)
        .await?;
    if exists > 0 {
        return Err(Error::new(crate::ErrorCode::Conflict, format!("the {fiscal_year} checklist is already started")));
    }
    let last: Submission = visible_to(p)
        .filter(submissions::hospital_id.eq(hospital).and(submissions::catalog_id.eq(previous.id)))
        .filter(submissions::vendor_id.is_null())
        .select(Submission::as_select())
        .first(c)
        .await
        .optional()?
        .ok_or_else(|| {
            Error::bad_input(format!("fiscalYear: there is no {} checklist to start from", fiscal_year - 1))
        })?;
    // The last submitted revision when there is one; otherwise the draft.
    let source = match revisions(c, last.id).await?.pop() {
        Some(r) => answers_of(&r.answers)?,
        None => answers_of(&last.draft_answers)?,
    };
    let asked: BTreeSet<String> = catalog::items(c, new_catalog.id)
        .await?
        .into_iter()
        .filter(|i| i.status != ItemStatus::Absent)
        .map(|i| i.code)
        .collect();
    let carried: Vec<Answer> = source
        .into_iter()
        .filter(|a| asked.contains(&a.code))
        .map(|a| Answer { code: a.code, value: a.value, values: a.values, ..Default::default() })
        .collect();
    let org = organisations::get(c, p, hospital).await?;
    Ok(diesel::insert_into(submissions::table)
        .values((
            submissions::hospital_id.eq(hospital),
            submissions::catalog_id.eq(new_catalog.id),
            submissions::prefecture_code.eq(org.prefecture_code),
            submissions::jurisdiction_id.eq(org.jurisdiction_id),
            submissions::draft_answers.eq(serde_json::to_value(&carried).map_err(Error::internal)?),
            submissions::updated_by.eq(&p.subject),
        ))
        .returning(Submission::as_returning())
        .get_result(c)
        .await?)
}

/// Codes of the items of `catalog_id` that are new or changed against the same form a year
/// earlier: not asked then, or asked with another text or status.
pub async fn new_or_changed(c: &mut Conn, catalog_id: Uuid) -> Result<Vec<String>> {
    let this: Catalog =
        crate::schema::checklist_catalogs::table.find(catalog_id).select(Catalog::as_select()).first(c).await?;
    let items = catalog::items(c, catalog_id).await?;
    let Some(before) = catalog::find(c, i32::from(this.fiscal_year) - 1, this.form).await? else {
        return Ok(Vec::new());
    };
    let old: BTreeMap<String, Item> =
        catalog::items(c, before.id).await?.into_iter().map(|i| (i.code.clone(), i)).collect();
    Ok(items
        .into_iter()
        .filter(|i| i.status != ItemStatus::Absent)
        .filter(|i| match old.get(&i.code) {
            None => true,
            Some(o) => {
                o.status == ItemStatus::Absent || o.text_ja != i.text_ja || o.status != i.status || o.note != i.note
            }
        })
        .map(|i| i.code)
        .collect())
}
