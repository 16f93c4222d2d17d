//! Memberships: a person acting for one organisation in one role. A person (an identity
//! provider's subject) may hold several, one per organisation; an invitation names an e-mail
//! address and is bound to a subject at that person's first sign-in (`identity`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::authority;
use super::organisations::{self, OrganisationKind};
use crate::db::Conn;
use crate::schema::users;
use crate::text::text_field;
use crate::{Error, Principal, Result, Role};

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: Uuid,
    pub organisation_id: Uuid,
    /// The identity provider's `sub`, once the person has signed in (or the ministry named it).
    pub subject: Option<String>,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub active: bool,
    pub deactivated_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub issuer: Option<String>,
    pub bound_at: Option<DateTime<Utc>>,
}

/// Which roles a user of an organisation of `kind` may hold.
pub fn roles_for(kind: OrganisationKind) -> &'static [Role] {
    match kind {
        OrganisationKind::Ministry => &[Role::National, Role::Dashboard],
        OrganisationKind::PrefectureOffice => &[Role::Prefecture],
        OrganisationKind::HealthCentre => &[Role::HealthCentre],
        OrganisationKind::Hospital | OrganisationKind::Clinic => &[Role::HospitalAdmin, Role::HospitalStaff],
        OrganisationKind::Vendor => &[Role::Vendor],
    }
}

#[derive(Clone, Debug)]
pub struct NewUser {
    pub organisation_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    /// The identity provider's subject, when known at invitation: only the ministry names one
    /// (service accounts, the first users); others invite by e-mail and the person's first
    /// sign-in with that verified address binds it.
    pub subject: Option<String>,
}

fn check_email(email: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.matches('@').count() == 1;
    if valid { Ok(email) } else { Err(Error::bad_input("email: not a valid e-mail address")) }
}

/// Adds a membership to an organisation the caller may manage ([`authority::may_invite`]).
/// Whether the address belongs to someone registered elsewhere is neither checked nor told: a
/// conflict can only come from the same organisation, which the caller sees anyway.
pub async fn invite(conn: &mut Conn, p: &Principal, new: NewUser) -> Result<User> {
    authority::may_invite(p, new.organisation_id, new.role)?;
    let email = check_email(&new.email)?;
    let display_name = text_field("displayName", &new.display_name, 100)?;
    let subject = new.subject.map(|s| text_field("subject", &s, 255)).transpose()?;
    if subject.is_some() && !p.is(Role::National) {
        // Naming a subject would bind someone's identity without their sign-in.
        return Err(Error::forbidden("only the ministry names a subject; invite by e-mail address"));
    }
    let org = organisations::get(conn, p, new.organisation_id).await?;
    authority::may_manage_users_of(p, &org)?;
    if !roles_for(org.kind).contains(&new.role) {
        return Err(Error::bad_input(format!("role: {} does not belong to a {} organisation", new.role, org.kind)));
    }
    let id = Uuid::new_v4();
    Ok(diesel::insert_into(users::table)
        .values((
            users::id.eq(id),
            users::organisation_id.eq(org.id),
            users::bound_at.eq(subject.is_some().then(Utc::now)),
            users::subject.eq(subject),
            users::email.eq(email),
            users::display_name.eq(display_name),
            users::role.eq(new.role),
        ))
        .returning(User::as_returning())
        .get_result(conn)
        .await?)
}

pub async fn find(conn: &mut Conn, id: Uuid) -> Result<Option<User>> {
    Ok(users::table.find(id).select(User::as_select()).first(conn).await.optional()?)
}

/// Deactivates a user, as `p` may ([`authority::may_deactivate`]); their tokens stop working at
/// once. Deactivating twice is harmless.
pub async fn deactivate(conn: &mut Conn, p: &Principal, id: Uuid) -> Result<User> {
    authority::may_deactivate_users(p)?;
    let user = find(conn, id).await?.ok_or_else(|| Error::not_found("user"))?;
    let org = organisations::get(conn, p, user.organisation_id).await?;
    authority::may_deactivate(p, &user, &org)?;
    if !user.active {
        return Ok(user);
    }
    let updated = diesel::update(users::table.find(id))
        .set((users::active.eq(false), users::deactivated_at.eq(diesel::dsl::now)))
        .returning(User::as_returning())
        .get_result(conn)
        .await
        .optional()?;
    updated.ok_or_else(|| Error::forbidden("not allowed to change this user"))
}

/// The caller's own membership: the one the request acts through.
pub async fn current(conn: &mut Conn, p: &Principal) -> Result<Option<User>> {
    let Some(organisation_id) = p.organisation_id else { return Ok(None) };
    Ok(users::table
        .filter(users::subject.eq(&p.subject))
        .filter(users::organisation_id.eq(organisation_id))
        .select(User::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// One organisation the signed-in person may act for.
#[derive(Clone, Debug, diesel::QueryableByName)]
pub struct Membership {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub organisation_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub organisation_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub role: Role,
}

/// Every active membership of the signed-in person, oldest first (the first is the one used
/// when a request names none).
pub async fn memberships(conn: &mut Conn) -> Result<Vec<Membership>> {
    Ok(diesel::sql_query("SELECT organisation_id, organisation_name, role FROM renkei_memberships()")
        .load(conn)
        .await?)
}

/// One page of an organisation's users, ordered by (display name, id).
pub async fn list_for_organisation(
    conn: &mut Conn,
    organisation_id: Uuid,
    first: i64,
    after: Option<(String, Uuid)>,
) -> Result<(Vec<User>, bool)> {
    let mut q = users::table.filter(users::organisation_id.eq(organisation_id)).into_boxed();
    if let Some((name, id)) = after {
        // (display name, id) > (after), written so that the index range starts at the cursor.
        q = q.filter(users::display_name.ge(name.clone())).filter(users::display_name.gt(name).or(users::id.gt(id)));
    }
    let mut rows: Vec<User> =
        q.select(User::as_select()).order((users::display_name, users::id)).limit(first + 1).load(conn).await?;
    let more = rows.len() as i64 > first;
    rows.truncate(first as usize);
    Ok((rows, more))
}

/// The ministry's organisation, registered first if it is not there yet: the first national
/// user and the dashboards' service accounts belong to it.
pub async fn ministry(conn: &mut Conn) -> Result<Uuid> {
    use crate::schema::organisations as table;
    let found: Option<Uuid> = table::table
        .filter(table::kind.eq(OrganisationKind::Ministry))
        .select(table::id)
        .order(table::created_at)
        .first(conn)
        .await
        .optional()?;
    if let Some(id) = found {
        return Ok(id);
    }
    // Kasumigaseki, Tokyo.
    let new = organisations::NewOrganisation::named(
        OrganisationKind::Ministry,
        "厚生労働省".into(),
        Some("Ministry of Health, Labour and Welfare".into()),
        13,
    );
    Ok(organisations::create(conn, &Principal::system(), new).await?.id)
}
