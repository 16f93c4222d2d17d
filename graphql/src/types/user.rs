//! Users and the invitation input.

use chrono::{DateTime, Utc};
use juniper::{GraphQLInputObject, ID, graphql_object};
use renkei_core::registry::organisations as orgs;
use renkei_core::registry::users::User as Core;

use super::enums::Role;
use super::organisation::Organisation;
use crate::Context;
use crate::connection::PageInfo;
use crate::error::ApiResult;
use crate::ids::to_id;

pub struct User(pub Core);

/// A membership: a person acting for one organisation in one role (a person may hold several).
#[graphql_object(context = Context)]
impl User {
    fn id(&self) -> ID {
        to_id(self.0.id)
    }
    fn email(&self) -> &str {
        &self.0.email
    }
    fn display_name(&self) -> &str {
        &self.0.display_name
    }
    fn role(&self) -> ApiResult<Role> {
        Ok(self.0.role.into())
    }
    fn active(&self) -> bool {
        self.0.active
    }
    /// Invited by e-mail and not signed in yet: the first sign-in with that verified address
    /// binds the invitation to the person's identity.
    fn invitation_pending(&self) -> bool {
        self.0.subject.is_none()
    }
    fn deactivated_at(&self) -> Option<DateTime<Utc>> {
        self.0.deactivated_at
    }
    fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn organisation(&self, ctx: &Context) -> ApiResult<Option<Organisation>> {
        let id = self.0.organisation_id;
        Ok(ctx.run(move |c, p| Box::pin(async move { orgs::find(c, p, id).await })).await?.map(Organisation))
    }
}

pub struct UserEdge {
    pub cursor: String,
    pub node: User,
}

#[graphql_object(context = Context)]
impl UserEdge {
    fn cursor(&self) -> &str {
        &self.cursor
    }
    fn node(&self) -> &User {
        &self.node
    }
}

pub struct UserConnection {
    pub edges: Vec<UserEdge>,
    pub page_info: PageInfo,
}

#[graphql_object(context = Context)]
impl UserConnection {
    fn edges(&self) -> &[UserEdge] {
        &self.edges
    }
    fn nodes(&self) -> Vec<&User> {
        self.edges.iter().map(|e| &e.node).collect()
    }
    fn page_info(&self) -> &PageInfo {
        &self.page_info
    }
}

/// A new user of an organisation. The role must fit the organisation's kind.
#[derive(GraphQLInputObject)]
pub struct InviteUserInput {
    pub organisation_id: ID,
    pub email: String,
    /// 1 to 100 characters.
    pub display_name: String,
    pub role: Role,
    /// The identity provider's subject (`sub`), for service accounts and the ministry's own
    /// users: only the ministry may name one. Everyone else is invited by e-mail.
    pub subject: Option<String>,
}
