//! 立入検査 — on-site inspections by a health centre: the date, the inspector, findings per
//! checklist item, and when to follow up.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::catalog::{self, Form};
use crate::db::Conn;
use crate::registry::organisations;
use crate::schema::inspections;
use crate::text::text_field;
use crate::{Error, Principal, Result, Role};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub code: String,
    pub finding: String,
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = inspections)]
pub struct Inspection {
    pub id: Uuid,
    pub hospital_id: Uuid,
    pub prefecture_code: i16,
    pub jurisdiction_id: Uuid,
    pub fiscal_year: i16,
    pub inspected_on: NaiveDate,
    pub inspector: String,
    pub findings: serde_json::Value,
    pub follow_up_on: Option<NaiveDate>,
    pub recorded_by: String,
    pub created_at: DateTime<Utc>,
}

pub struct NewInspection {
    pub hospital_id: Uuid,
    pub fiscal_year: i32,
    pub inspected_on: NaiveDate,
    pub inspector: String,
    pub findings: Vec<Finding>,
    pub follow_up_on: Option<NaiveDate>,
}

/// Records an inspection of a hospital in the caller's jurisdiction.
pub async fn record(c: &mut Conn, p: &Principal, new: NewInspection, today: NaiveDate) -> Result<Inspection> {
    p.require(&[Role::HealthCentre], "record inspections")?;
    let hospital = organisations::get(c, p, new.hospital_id).await?;
    if hospital.jurisdiction_id != p.organisation_id {
        return Err(Error::forbidden("a health centre inspects the hospitals of its jurisdiction"));
    }
    let inspector = text_field("inspector", &new.inspector, 100)?;
    if new.inspected_on > today {
        return Err(Error::bad_input("inspectedOn: must not be in the future"));
    }
    if new.follow_up_on.is_some_and(|f| f < new.inspected_on) {
        return Err(Error::bad_input("followUpOn: must not be before inspectedOn"));
    }
    let catalog = catalog::find(c, new.fiscal_year, Form::Hospital)
        .await?
        .ok_or_else(|| Error::bad_input(format!("fiscalYear: no hospital checklist for {}", new.fiscal_year)))?;
    let codes: Vec<String> = catalog::items(c, catalog.id).await?.into_iter().map(|i| i.code).collect();
    let mut problems = Vec::new();
    let mut findings = Vec::with_capacity(new.findings.len());
    for f in new.findings {
        if !codes.contains(&f.code) {
            problems.push(format!("{}: not an item of the {} checklist", f.code, new.fiscal_year));
            continue;
        }
        match text_field(&format!("findings[{}]", f.code), &f.finding, 2000) {
            Ok(finding) => findings.push(Finding { code: f.code, finding }),
            Err(e) => problems.push(e.message),
        }
    }
    if !problems.is_empty() {
        return Err(Error::bad_input(problems.join("; ")));
    }
    let jurisdiction = p.organisation_id.ok_or_else(|| Error::forbidden("no organisation"))?;
    Ok(diesel::insert_into(inspections::table)
        .values((
            inspections::hospital_id.eq(hospital.id),
            inspections::prefecture_code.eq(hospital.prefecture_code),
            inspections::jurisdiction_id.eq(jurisdiction),
            inspections::fiscal_year.eq(catalog.fiscal_year),
            inspections::inspected_on.eq(new.inspected_on),
            inspections::inspector.eq(inspector),
            inspections::findings.eq(serde_json::to_value(&findings).map_err(Error::internal)?),
            inspections::follow_up_on.eq(new.follow_up_on),
            inspections::recorded_by.eq(&p.subject),
        ))
        .returning(Inspection::as_returning())
        .get_result(c)
        .await?)
}

/// A hospital's inspections (as far as the caller may see them), newest first.
pub async fn of_hospital(c: &mut Conn, hospital_id: Uuid) -> Result<Vec<Inspection>> {
    Ok(inspections::table
        .filter(inspections::hospital_id.eq(hospital_id))
        .select(Inspection::as_select())
        .order(inspections::inspected_on.desc())
        .load(c)
        .await?)
}
