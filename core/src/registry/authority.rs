//! Who may change the registry: every "may this principal do this" rule for organisations,
//! memberships, vendor links and designations, in one place. The operations of the sibling
//! modules ask these before they write; PostgreSQL's policies check again on the write itself.
//!
//! A rule that needs only the caller is asked before anything is read, so a role that may never
//! do a thing is refused without a query; a rule about a particular entry is asked once the
//! entry is read (as the caller, so an entry it may not see is not found instead).

use uuid::Uuid;

use super::organisations::{Organisation, OrganisationChanges, OrganisationKind as Kind};
use super::users::User;
use crate::{Error, Principal, Result, Role};

/// Kinds a prefecture official registers; the ministry and prefecture offices are the ministry's.
const PREFECTURE_KINDS: &[Kind] = &[Kind::HealthCentre, Kind::Hospital, Kind::Clinic, Kind::Vendor];

/// The roles that look after the registry: the ministry, and prefecture officials for their own
/// prefecture.
const OFFICIALS: &[Role] = &[Role::National, Role::Prefecture];

/// The officials, and a hospital's admin for its own hospital.
const OFFICIALS_AND_HOSPITAL_ADMINS: &[Role] = &[Role::National, Role::Prefecture, Role::HospitalAdmin];

/// Whether `p` manages the registry entry of `org` (and its users): the ministry any, a
/// prefecture official the health centres, hospitals, clinics and vendors of its prefecture.
fn manages(p: &Principal, org: &Organisation) -> bool {
    match p.role {
        Role::National => true,
        Role::Prefecture => p.prefecture == Some(org.prefecture_code) && PREFECTURE_KINDS.contains(&org.kind),
        _ => false,
    }
}

/// The rule for an entry once read: a hospital admin was held to its own hospital before the
/// read, so it passes; officials pass for the entries they manage; anyone else is refused with
/// `refusal`.
fn admin_or_manager(p: &Principal, org: &Organisation, refusal: &str) -> Result<()> {
    if p.is(Role::HospitalAdmin) || manages(p, org) { Ok(()) } else { Err(Error::forbidden(refusal)) }
}

/// Registering an organisation of `kind` in `prefecture`.
pub fn may_register(p: &Principal, kind: Kind, prefecture: i16) -> Result<()> {
    p.require(OFFICIALS, "register organisations")?;
    if p.is(Role::Prefecture) {
        if p.prefecture != Some(prefecture) {
            return Err(Error::forbidden("a prefecture official registers organisations of their own prefecture only"));
        }
        if !PREFECTURE_KINDS.contains(&kind) {
            return Err(Error::forbidden(format!("a prefecture official may not register a {kind}")));
        }
    }
    Ok(())
}

/// Changing organisation `id` by `changes`, before it is read: a hospital admin changes only
/// its own hospital's EHR details.
pub fn may_change(p: &Principal, id: Uuid, changes: &OrganisationChanges) -> Result<()> {
    p.require(OFFICIALS_AND_HOSPITAL_ADMINS, "change organisations")?;
    if p.is(Role::HospitalAdmin) {
        if p.organisation_id != Some(id) {
            return Err(Error::forbidden("a hospital admin changes only their own hospital"));
        }
        if !changes.only_ehr_details() {
            return Err(Error::forbidden("a hospital admin may change only ehrInUse and ehrProduct"));
        }
    }
    Ok(())
}

/// Putting a hospital under a health centre, before it is read.
pub fn may_assign_health_centre(p: &Principal) -> Result<()> {
    p.require(OFFICIALS, "assign health centres")
}

/// Changing the entry `org` once read: officials only the entries they manage (a hospital
/// admin's own hospital was checked by [`may_change`]).
pub fn may_change_entry(p: &Principal, org: &Organisation) -> Result<()> {
    admin_or_manager(p, org, "not allowed to change this organisation")
}

/// Inviting a user in `role` to organisation `organisation_id`, before it is read: a hospital
/// admin invites admins and staff of its own hospital.
pub fn may_invite(p: &Principal, organisation_id: Uuid, role: Role) -> Result<()> {
    p.require(OFFICIALS_AND_HOSPITAL_ADMINS, "invite users")?;
    if p.is(Role::HospitalAdmin)
        && (p.organisation_id != Some(organisation_id) || !matches!(role, Role::HospitalAdmin | Role::HospitalStaff))
    {
        return Err(Error::forbidden("a hospital admin invites admins and staff of their own hospital only"));
    }
    Ok(())
}

/// Managing the users of `org` once read.
pub fn may_manage_users_of(p: &Principal, org: &Organisation) -> Result<()> {
    admin_or_manager(p, org, "not allowed to manage this organisation's users")
}

/// Deactivating users at all.
pub fn may_deactivate_users(p: &Principal) -> Result<()> {
    p.require(OFFICIALS_AND_HOSPITAL_ADMINS, "deactivate users")
}

/// Deactivating `user`, a member of `org`: officials the users of entries they manage, a
/// hospital admin the admins and staff of its own hospital.
pub fn may_deactivate(p: &Principal, user: &User, org: &Organisation) -> Result<()> {
    let allowed = match p.role {
        Role::National | Role::Prefecture => manages(p, org),
        Role::HospitalAdmin => {
            p.organisation_id == Some(user.organisation_id)
                && matches!(user.role, Role::HospitalAdmin | Role::HospitalStaff)
        }
        _ => false,
    };
    if allowed { Ok(()) } else { Err(Error::forbidden("not allowed to manage this user")) }
}

/// Linking vendors to, or unlinking them from, hospital `hospital_id`, before it is read.
pub fn may_manage_vendors_of(p: &Principal, hospital_id: Uuid) -> Result<()> {
    p.require(OFFICIALS_AND_HOSPITAL_ADMINS, "manage vendor links")?;
    if p.is(Role::HospitalAdmin) && p.organisation_id != Some(hospital_id) {
        return Err(Error::forbidden("a hospital admin manages their own hospital's vendors only"));
    }
    Ok(())
}

/// The same, once the hospital is read.
pub fn may_manage_vendors_of_entry(p: &Principal, hospital: &Organisation) -> Result<()> {
    admin_or_manager(p, hospital, "not allowed to change this hospital's vendors")
}

/// Designating hospitals as critical infrastructure, and revoking it: the ministry's alone.
pub fn may_designate(p: &Principal) -> Result<()> {
    p.require(&[Role::National], "designate critical infrastructure")
}
