//! Renkei's GraphQL schema (juniper): the types, queries and mutations, and the context every
//! resolver gets. The HTTP transport lives in `renkei-api`.

mod connection;
mod context;
mod error;
mod ids;
mod mutation;
mod query;
mod types;

use juniper::{EmptySubscription, RootNode};

pub use context::Context;
pub use error::{REQUEST_ID, field_error};
pub use mutation::Mutation;
pub use query::Query;

pub type Schema = RootNode<Query, Mutation, EmptySubscription<Context>>;

pub fn schema() -> Schema {
    Schema::new(Query, Mutation, EmptySubscription::new())
}

/// The schema in SDL, as committed in `graphql/schema.graphql`.
pub fn sdl() -> String {
    schema().as_sdl()
}
