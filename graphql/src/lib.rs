//! Renkei's GraphQL schema (juniper): the types, queries and mutations, and the context every
//! resolver gets. The HTTP transport lives in `renkei-api`.

mod audited;
mod connection;
mod context;
mod error;
mod ids;
pub mod limits;
mod mutation;
mod query;
mod types;

use juniper::{EmptySubscription, RootNode};

pub use audited::{Audit, AuditedField, AuditedMutation};
pub use context::Context;
pub use error::{REQUEST_ID, field_error};
pub use mutation::Mutation;
pub use query::Query;

pub type Schema = RootNode<Query, AuditedMutation, EmptySubscription<Context>>;

pub fn schema() -> Schema {
    Schema::new(Query, AuditedMutation, EmptySubscription::new())
}

/// The schema with juniper's parse-time bounds set from `limits`, and introspection on or off.
pub fn schema_with(limits: &limits::Limits, introspection: bool) -> Schema {
    let schema = schema().limit_depth(limits.max_depth).limit_tokens(limits.max_tokens).limit_fields(limits.max_fields);
    if introspection { schema } else { schema.disable_introspection() }
}

/// The schema in SDL, as committed in `graphql/schema.graphql`.
pub fn sdl() -> String {
    schema().as_sdl()
}
