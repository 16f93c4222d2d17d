//! 重要インフラ指定 — a hospital's designation as critical infrastructure under the economic
//! security law. Only the ministry records them; the history of each hospital is kept.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::authority;
use super::organisations::{self, OrganisationKind};
use crate::db::Conn;
use crate::schema::critical_designations as cd;
use crate::text::text_field;
use crate::{Error, Principal, Result};

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = cd)]
pub struct Designation {
    pub id: Uuid,
    pub hospital_id: Uuid,
    pub designated_on: NaiveDate,
    pub revoked_on: Option<NaiveDate>,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Designation {
    pub fn in_force_on(&self, day: NaiveDate) -> bool {
        self.designated_on <= day && self.revoked_on.is_none_or(|r| r > day)
    }
}

pub async fn designate(
    conn: &mut Conn,
    p: &Principal,
    hospital_id: Uuid,
    designated_on: NaiveDate,
    note: Option<String>,
) -> Result<Designation> {
    authority::may_designate(p)?;
    let note = note.map(|n| text_field("note", &n, 2000)).transpose()?;
    let hospital = organisations::get(conn, p, hospital_id).await?;
    if hospital.kind != OrganisationKind::Hospital {
        return Err(Error::bad_input("hospitalId: only hospitals can be designated"));
    }
    Ok(diesel::insert_into(cd::table)
        .values((cd::hospital_id.eq(hospital_id), cd::designated_on.eq(designated_on), cd::note.eq(note)))
        .returning(Designation::as_returning())
        .get_result(conn)
        .await?)
}

/// Closes the hospital's open designation on `revoked_on`.
pub async fn revoke(conn: &mut Conn, p: &Principal, hospital_id: Uuid, revoked_on: NaiveDate) -> Result<Designation> {
    authority::may_designate(p)?;
    organisations::get(conn, p, hospital_id).await?;
    let open: Option<Designation> = cd::table
        .filter(cd::hospital_id.eq(hospital_id).and(cd::revoked_on.is_null()))
        .select(Designation::as_select())
        .first(conn)
        .await
        .optional()?;
    let open = open.ok_or_else(|| Error::not_found("open designation for this hospital"))?;
    if revoked_on < open.designated_on {
        return Err(Error::bad_input(format!(
            "revokedOn: must not be before the designation date {}",
            open.designated_on
        )));
    }
    Ok(diesel::update(cd::table.find(open.id))
        .set(cd::revoked_on.eq(revoked_on))
        .returning(Designation::as_returning())
        .get_result(conn)
        .await?)
}

/// Every designation of the given hospitals (those visible to the caller), oldest first.
pub async fn for_hospitals(conn: &mut Conn, hospital_ids: &[Uuid]) -> Result<Vec<Designation>> {
    Ok(cd::table
        .filter(cd::hospital_id.eq_any(hospital_ids))
        .select(Designation::as_select())
        .order((cd::hospital_id, cd::designated_on))
        .load(conn)
        .await?)
}
