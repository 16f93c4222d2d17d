//! Links between hospitals and the vendors (事業者) that run their systems. A vendor sees only
//! the hospitals that linked it.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::authority;
use super::organisations::{Organisation, OrganisationKind};
use crate::db::Conn;
use crate::schema::{organisations, vendor_links};
use crate::{Error, Principal, Result};

/// Links `vendor_id` to `hospital_id`, as `p` may ([`authority::may_manage_vendors_of`]).
pub async fn link(conn: &mut Conn, p: &Principal, hospital_id: Uuid, vendor_id: Uuid) -> Result<Organisation> {
    let hospital = hospital_of(conn, p, hospital_id).await?;
    if !hospital.kind.gives_care() {
        return Err(Error::bad_input("hospitalId: not a hospital or clinic"));
    }
    let vendor = super::organisations::find(conn, p, vendor_id).await?.ok_or_else(|| Error::not_found("vendor"))?;
    if vendor.kind != OrganisationKind::Vendor {
        return Err(Error::bad_input("vendorId: not a vendor"));
    }
    diesel::insert_into(vendor_links::table)
        .values((
            vendor_links::hospital_id.eq(hospital_id),
            vendor_links::vendor_id.eq(vendor_id),
            // Overwritten by the trigger from the hospital's own row; given for the NOT NULL.
            vendor_links::prefecture_code.eq(hospital.prefecture_code),
        ))
        .execute(conn)
        .await?;
    Ok(hospital)
}

/// Removes a link, as `p` may; not found when there was none.
pub async fn unlink(conn: &mut Conn, p: &Principal, hospital_id: Uuid, vendor_id: Uuid) -> Result<Organisation> {
    let hospital = hospital_of(conn, p, hospital_id).await?;
    let n = diesel::delete(vendor_links::table.find((hospital_id, vendor_id))).execute(conn).await?;
    if n == 0 {
        return Err(Error::not_found("vendor link"));
    }
    Ok(hospital)
}

/// The hospital whose vendor links `p` means to change, once `p` is known to be allowed to.
async fn hospital_of(conn: &mut Conn, p: &Principal, hospital_id: Uuid) -> Result<Organisation> {
    authority::may_manage_vendors_of(p, hospital_id)?;
    let hospital = super::organisations::get(conn, p, hospital_id).await?;
    authority::may_manage_vendors_of_entry(p, &hospital)?;
    Ok(hospital)
}

/// The vendors linked to a hospital (as far as the caller may see them).
pub async fn vendors_of(conn: &mut Conn, hospital_id: Uuid) -> Result<Vec<Organisation>> {
    Ok(vendor_links::table
        .inner_join(organisations::table.on(organisations::id.eq(vendor_links::vendor_id)))
        .filter(vendor_links::hospital_id.eq(hospital_id))
        .select(Organisation::as_select())
        .order((organisations::name, organisations::id))
        .load(conn)
        .await?)
}

/// The hospitals that linked a vendor (as far as the caller may see them).
pub async fn hospitals_of(conn: &mut Conn, vendor_id: Uuid) -> Result<Vec<Organisation>> {
    Ok(vendor_links::table
        .inner_join(organisations::table.on(organisations::id.eq(vendor_links::hospital_id)))
        .filter(vendor_links::vendor_id.eq(vendor_id))
        .select(Organisation::as_select())
        .order((organisations::name, organisations::id))
        .load(conn)
        .await?)
}
