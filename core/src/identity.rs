//! Who is asking, as a verified token says (`Identity`), and what they may do, as the registry
//! says (`Principal`). The identity provider vouches for the issuer and subject only; the role,
//! organisation and prefecture that count are those of an active membership in Renkei's
//! registry. Claims a token carries besides (`role`, `org`, `pref`) must agree with it.

use diesel::sql_types::{Nullable, SmallInt, Text};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::db::Conn;
use crate::{Error, Principal, Result, Role};

/// What a verified token says about its bearer, and which organisation the request asks to act
/// for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    /// The optional `role`, `org` and `pref` claims.
    pub role: Option<Role>,
    pub organisation_id: Option<Uuid>,
    pub prefecture: Option<i16>,
    /// `email`, when the provider marks it verified: binds pending invitations to this subject.
    pub verified_email: Option<String>,
    /// The `Renkei-Organisation` header: which of a person's memberships this request uses.
    pub acting_for: Option<Uuid>,
}

impl Identity {
    /// Checks the parts make sense, so that nothing malformed reaches the database.
    pub fn checked(self) -> Result<Self> {
        let text = |s: &str| !s.is_empty() && s.len() <= 255 && !s.chars().any(char::is_control);
        if !text(&self.subject) {
            return Err(Error::unauthenticated("token subject missing, too long or not text"));
        }
        if !text(&self.issuer) {
            return Err(Error::unauthenticated("token issuer missing, too long or not text"));
        }
        if let Some(email) = &self.verified_email
            && (email.len() > 254 || !email.contains('@') || email.chars().any(char::is_control))
        {
            return Err(Error::unauthenticated("token claim email is not an e-mail address"));
        }
        Ok(self)
    }

    /// The organisation this request acts for, if it says: the header and the `org` claim must
    /// not name two different ones.
    fn wanted(&self) -> Result<Option<Uuid>> {
        match (self.acting_for, self.organisation_id) {
            (Some(header), Some(claim)) if header != claim => Err(Error::unauthenticated(
                "the Renkei-Organisation header and the token's org claim name different organisations",
            )),
            (header, claim) => Ok(header.or(claim)),
        }
    }

    /// The principal of a membership, refused when a claim of the token disagrees with it.
    fn reconcile(&self, row: SignIn) -> Result<Principal> {
        let (Some(organisation_id), Some(role), Some(org_prefecture)) =
            (row.organisation_id, row.role, row.org_prefecture)
        else {
            return Err(match row.problem.as_deref() {
                Some("deactivated") => deactivated_account(),
                Some("not_member") => Error::unauthenticated(
                    "this account does not act for the organisation the request names (Renkei-Organisation header or org claim)",
                ),
                _ => Error::unauthenticated(
                    "this token's subject is not registered in Renkei: ask your organisation's administrator for an invitation",
                ),
            });
        };
        let role: Role = role.parse().map_err(|_| Error::internal(anyhow::anyhow!("registry role {role:?}")))?;
        if let Some(claimed) = self.role
            && claimed != role
        {
            return Err(Error::unauthenticated(format!(
                "token claim role ({claimed}) disagrees with the registry ({role})"
            )));
        }
        if let Some(claimed) = self.prefecture
            && claimed != org_prefecture
        {
            return Err(Error::unauthenticated(format!(
                "token claim pref ({claimed}) disagrees with the registry ({org_prefecture})"
            )));
        }
        let prefecture = (role == Role::Prefecture).then_some(org_prefecture);
        Principal::new(self.subject.clone(), role, Some(organisation_id), prefecture)
    }
}

/// The refusal of a token whose membership was deactivated.
fn deactivated_account() -> Error {
    Error::unauthenticated("account deactivated")
}

#[derive(diesel::QueryableByName)]
struct SignIn {
    #[diesel(sql_type = Nullable<diesel::sql_types::Uuid>)]
    organisation_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    role: Option<String>,
    #[diesel(sql_type = Nullable<SmallInt>)]
    org_prefecture: Option<i16>,
    #[diesel(sql_type = Nullable<Text>)]
    problem: Option<String>,
}

/// Resolves `identity` against the registry and writes the principal into the transaction's
/// settings (with `statement_timeout_ms`), in one statement: `renkei_sign_in`, the first of the
/// transaction it opens (the settings hold until it ends).
pub(crate) async fn sign_in(conn: &mut Conn, identity: &Identity, statement_timeout_ms: &str) -> Result<Principal> {
    let row: SignIn = diesel::sql_query(
        "SELECT organisation_id, role, org_prefecture, problem FROM renkei_sign_in($1, $2, $3, $4, $5)",
    )
    .bind::<Text, _>(&identity.issuer)
    .bind::<Text, _>(&identity.subject)
    .bind::<Nullable<diesel::sql_types::Uuid>, _>(identity.wanted()?)
    .bind::<Nullable<Text>, _>(identity.verified_email.as_deref())
    .bind::<Text, _>(statement_timeout_ms)
    .get_result(conn)
    .await?;
    identity.reconcile(row)
}
