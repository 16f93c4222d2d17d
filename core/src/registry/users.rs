//! People who sign in, each acting for one organisation in one role.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::organisations::{self, OrganisationKind};
use super::text_field;
use crate::db::Conn;
use crate::schema::users;
use crate::{Error, Principal, Result, Role};

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: Uuid,
    pub organisation_id: Uuid,
    pub subject: String,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub active: bool,
    pub deactivated_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl User {
    pub fn role(&self) -> Result<Role> {
        self.role.parse()
    }
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
    /// The identity provider's subject, when known at invitation; otherwise the user's id.
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

/// Adds a user to an organisation the caller may manage.
pub async fn invite(conn: &mut Conn, p: &Principal, new: NewUser) -> Result<User> {
    let email = check_email(&new.email)?;
    let display_name = text_field("displayName", &new.display_name, 100)?;
    let subject = new.subject.map(|s| text_field("subject", &s, 255)).transpose()?;
    let org = organisations::get(conn, p, new.organisation_id).await?;
    if !roles_for(org.kind).contains(&new.role) {
        return Err(Error::bad_input(format!("role: {} does not belong to a {} organisation", new.role, org.kind)));
    }
    let id = Uuid::new_v4();
    Ok(diesel::insert_into(users::table)
        .values((
            users::id.eq(id),
            users::organisation_id.eq(org.id),
            users::subject.eq(subject.unwrap_or_else(|| id.to_string())),
            users::email.eq(email),
            users::display_name.eq(display_name),
            users::role.eq(new.role.as_str()),
        ))
        .returning(User::as_returning())
        .get_result(conn)
        .await?)
}

pub async fn find(conn: &mut Conn, id: Uuid) -> Result<Option<User>> {
    Ok(users::table.find(id).select(User::as_select()).first(conn).await.optional()?)
}

/// Deactivates a user; their tokens stop working at once. Deactivating twice is harmless.
pub async fn deactivate(conn: &mut Conn, id: Uuid) -> Result<User> {
    let user = find(conn, id).await?.ok_or_else(|| Error::not_found("user"))?;
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

/// The user behind a token's subject, if one is registered (a user can always see itself).
pub async fn by_subject(conn: &mut Conn, subject: &str) -> Result<Option<User>> {
    Ok(users::table.filter(users::subject.eq(subject)).select(User::as_select()).first(conn).await.optional()?)
}

/// The refusal of a token whose account was deactivated.
pub fn deactivated_account() -> crate::Error {
    crate::Error::unauthenticated("account deactivated")
}

/// Refuses `subject` when its account was deactivated (a subject without one passes): one
/// statement, asked before every request that does not ask it with its tenant settings.
pub async fn ensure_active(db: &crate::db::Db, subject: &str) -> Result<()> {
    #[derive(diesel::QueryableByName)]
    struct Answer {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        deactivated: bool,
    }
    let subject = subject.to_owned();
    let answer: Answer = db
        .bare(move |c| {
            Box::pin(async move {
                // The check answers for the caller's own subject only: name it first.
                Ok(diesel::sql_query(
                    "SELECT renkei_subject_deactivated(set_config('renkei.subject', $1, true)) AS deactivated",
                )
                .bind::<diesel::sql_types::Text, _>(subject)
                .get_result(c)
                .await?)
            })
        })
        .await?;
    if answer.deactivated { Err(deactivated_account()) } else { Ok(()) }
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
