//! Relay page info, shared by every connection.

use juniper::GraphQLObject;

#[derive(GraphQLObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}
