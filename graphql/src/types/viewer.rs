//! The caller, as the token and the registry describe them.

use juniper::graphql_object;
use renkei_core::registry::{organisations as orgs, users};

use super::enums::Role;
use super::geography::Prefecture;
use super::job::AlertPreference;
use super::organisation::Organisation;
use super::user::User;
use crate::Context;
use crate::error::ApiResult;
use crate::ids::to_id;

pub struct Viewer;

/// Who is asking.
#[graphql_object(context = Context)]
impl Viewer {
    /// The token's subject.
    fn subject(ctx: &Context) -> &str {
        &ctx.principal.subject
    }
    fn role(ctx: &Context) -> Role {
        ctx.principal.role.into()
    }
    /// The organisation the caller acts for, if any.
    async fn organisation(ctx: &Context) -> ApiResult<Option<Organisation>> {
        let Some(id) = ctx.principal.organisation_id else { return Ok(None) };
        Ok(ctx.run(move |c, p| Box::pin(async move { orgs::find(c, p, id).await })).await?.map(Organisation))
    }
    /// The prefecture a prefecture official works for, or that of the caller's organisation.
    async fn prefecture(ctx: &Context) -> ApiResult<Option<Prefecture>> {
        let code = match ctx.principal.prefecture {
            Some(code) => Some(code),
            None => Self::organisation(ctx).await?.map(|o| o.0.prefecture_code),
        };
        Ok(code.and_then(|c| ctx.geography.prefecture(c)).cloned().map(Prefecture))
    }
    /// Which alerts the caller receives by e-mail, for the organisation they act for now.
    async fn alert_preferences(ctx: &Context) -> ApiResult<Vec<AlertPreference>> {
        let prefs = ctx
            .run(move |c, p| {
                Box::pin(async move {
                    match users::current(c, p).await? {
                        Some(user) => renkei_core::alerts::preferences(c, user.id).await,
                        None => Ok(Vec::new()),
                    }
                })
            })
            .await?;
        Ok(prefs.into_iter().map(AlertPreference::from).collect())
    }

    /// The membership the caller acts through now.
    async fn user(ctx: &Context) -> ApiResult<Option<User>> {
        Ok(ctx.run(move |c, p| Box::pin(async move { users::current(c, p).await })).await?.map(User))
    }

    /// Every organisation the caller may act for, the default first. A request chooses one
    /// with the `Renkei-Organisation` header (or the token's `org` claim).
    async fn memberships(ctx: &Context) -> ApiResult<Vec<Membership>> {
        let rows = ctx.run(|c, _| Box::pin(users::memberships(c))).await?;
        rows.into_iter()
            .map(|m| {
                Ok(Membership {
                    organisation_id: to_id(m.organisation_id),
                    organisation_name: m.organisation_name,
                    role: m.role.into(),
                })
            })
            .collect()
    }
}

/// An organisation the caller may act for, and their role there.
#[derive(juniper::GraphQLObject)]
pub struct Membership {
    pub organisation_id: juniper::ID,
    pub organisation_name: String,
    pub role: Role,
}
