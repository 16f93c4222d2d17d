//! Checklist catalogs (チェックリスト): a fiscal year's form — hospital (医療機関確認用), vendor
//! (事業者確認用) or the posture survey — and its items. They are data: the FY2023 and FY2024
//! hospital forms and the survey ship with the first migration of this module, and new years
//! and the official vendor items are imported, validated, never coded.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Deserialize;
use uuid::Uuid;

use crate::db::Conn;
use crate::schema::{checklist_catalogs, checklist_items};
use crate::text::{text_enum, text_field};
use crate::{Error, Principal, Result, Role};

text_enum! {
    /// Which form a catalog is.
    Form {
        /// 医療機関確認用
        Hospital = "hospital",
        /// 事業者確認用, filled per vendor per hospital
        Vendor = "vendor",
        /// The annual posture survey (G-MIS style)
        Survey = "survey",
    }
}

text_enum! {
    /// How an item is answered.
    AnswerType {
        YesNo = "yes_no",
        Number = "number",
        Date = "date",
        Choice = "choice",
        MultiChoice = "multi_choice",
    }
}

text_enum! {
    /// An item's status in its year.
    ItemStatus {
        /// Checked at on-site inspection.
        Required = "required",
        /// 参考項目: asked, not checked at inspection that year.
        Reference = "reference",
        /// Not asked that year.
        Absent = "absent",
    }
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = checklist_catalogs)]
pub struct Catalog {
    pub id: Uuid,
    pub fiscal_year: i16,
    pub form: Form,
    pub title: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable, Deserialize)]
#[diesel(table_name = checklist_items)]
pub struct Item {
    #[serde(skip, default)]
    pub catalog_id: Uuid,
    pub code: String,
    #[serde(skip, default)]
    pub position: i16,
    pub section_ja: String,
    pub section_en: String,
    pub text_ja: String,
    pub text_en: String,
    pub answer_type: AnswerType,
    #[serde(default)]
    pub choices: Vec<String>,
    pub status: ItemStatus,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub kpi: Option<String>,
}

/// A catalog as imported (JSON: the same shape as the GraphQL input, snake_case).
#[derive(Clone, Debug, Deserialize)]
pub struct NewCatalog {
    pub fiscal_year: i32,
    pub form: Form,
    pub title: String,
    pub items: Vec<Item>,
}

pub async fn list(c: &mut Conn) -> Result<Vec<Catalog>> {
    Ok(checklist_catalogs::table
        .select(Catalog::as_select())
        .order((checklist_catalogs::fiscal_year.desc(), checklist_catalogs::form))
        .load(c)
        .await?)
}

pub async fn find(c: &mut Conn, fiscal_year: i32, form: Form) -> Result<Option<Catalog>> {
    let fy = i16::try_from(fiscal_year).map_err(|_| Error::bad_input("fiscalYear: out of range"))?;
    Ok(checklist_catalogs::table
        .filter(checklist_catalogs::fiscal_year.eq(fy).and(checklist_catalogs::form.eq(form)))
        .select(Catalog::as_select())
        .first(c)
        .await
        .optional()?)
}

pub async fn items(c: &mut Conn, catalog_id: Uuid) -> Result<Vec<Item>> {
    Ok(checklist_items::table
        .filter(checklist_items::catalog_id.eq(catalog_id))
        .select(Item::as_select())
        .order(checklist_items::position)
        .load(c)
        .await?)
}

fn valid_code(code: &str) -> bool {
    let (head, tail) = code.split_once('-').map_or((code, None), |(h, t)| (h, Some(t)));
    !head.is_empty()
        && head.len() <= 3
        && head.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        && tail.is_none_or(|t| !t.is_empty() && t.len() <= 3 && t.bytes().all(|b| b.is_ascii_digit()))
}

impl NewCatalog {
    /// Checks every rule and names the item and the rule that fail; all problems at once.
    pub fn validated(mut self) -> Result<Self> {
        let mut problems = Vec::new();
        if !(2020..=2100).contains(&self.fiscal_year) {
            problems.push(format!("fiscalYear: {} is not between 2020 and 2100", self.fiscal_year));
        }
        match text_field("title", &self.title, 300) {
            Ok(t) => self.title = t,
            Err(e) => problems.push(e.message),
        }
        if self.items.is_empty() {
            problems.push("items: a catalog needs at least one item".into());
        }
        if self.items.len() > 500 {
            problems.push("items: at most 500".into());
        }
        let mut seen = BTreeSet::new();
        for (i, item) in self.items.iter_mut().enumerate() {
            let at = format!("items[{i}] ({})", item.code);
            item.position = i16::try_from(i + 1).unwrap_or(i16::MAX);
            if !valid_code(&item.code) {
                problems.push(format!("{at}: code must look like 2-7 or S-1"));
            }
            if !seen.insert(item.code.clone()) {
                problems.push(format!("{at}: code appears twice"));
            }
            for (field, value, max) in [
                ("sectionJa", &mut item.section_ja, 200),
                ("sectionEn", &mut item.section_en, 200),
                ("textJa", &mut item.text_ja, 1000),
                ("textEn", &mut item.text_en, 1000),
            ] {
                match text_field(field, value, max) {
                    Ok(v) => *value = v,
                    Err(e) => problems.push(format!("{at}: {}", e.message)),
                }
            }
            let choice = matches!(item.answer_type, AnswerType::Choice | AnswerType::MultiChoice);
            let distinct: BTreeSet<&String> = item.choices.iter().collect();
            if choice && (item.choices.len() < 2 || distinct.len() != item.choices.len()) {
                problems.push(format!("{at}: a choice item needs at least two distinct choices"));
            }
            if !choice && !item.choices.is_empty() {
                problems.push(format!("{at}: only choice items have choices"));
            }
            if item.choices.iter().any(|c| c.is_empty() || c.len() > 100 || c.chars().any(char::is_control)) {
                problems.push(format!("{at}: choices are 1 to 100 characters of text"));
            }
            if item.note.as_ref().is_some_and(|n| n.chars().count() > 500 || n.chars().any(char::is_control)) {
                problems.push(format!("{at}: note is at most 500 characters of text"));
            }
            if item.kpi.as_ref().is_some_and(|k| {
                k.is_empty() || k.len() > 50 || !k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            }) {
                problems.push(format!("{at}: kpi is a lower-case name such as bcp"));
            }
        }
        if problems.is_empty() { Ok(self) } else { Err(Error::bad_input(problems.join("; "))) }
    }
}

/// Loads a new catalog (the ministry only). A year's form is loaded once.
pub async fn import(c: &mut Conn, p: &Principal, new: NewCatalog) -> Result<Catalog> {
    p.require(&[Role::National], "load checklist catalogs")?;
    let new = new.validated()?;
    if find(c, new.fiscal_year, new.form).await?.is_some() {
        return Err(Error::new(
            crate::ErrorCode::Conflict,
            format!("a {} catalog for fiscal year {} already exists", new.form, new.fiscal_year),
        ));
    }
    let catalog: Catalog = diesel::insert_into(checklist_catalogs::table)
        .values((
            checklist_catalogs::fiscal_year.eq(new.fiscal_year as i16),
            checklist_catalogs::form.eq(new.form),
            checklist_catalogs::title.eq(&new.title),
        ))
        .returning(Catalog::as_returning())
        .get_result(c)
        .await?;
    let items: Vec<Item> = new.items.into_iter().map(|i| Item { catalog_id: catalog.id, ..i }).collect();
    diesel::insert_into(checklist_items::table).values(&items).execute(c).await?;
    Ok(catalog)
}
