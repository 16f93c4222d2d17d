//! Relay page info, shared by every connection.

use juniper::GraphQLObject;

#[derive(GraphQLObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

impl PageInfo {
    /// Page info of a forward page whose edges have `cursors`, in order.
    pub fn forward<'a>(mut cursors: impl DoubleEndedIterator<Item = &'a String> + Clone, has_next_page: bool) -> Self {
        Self {
            has_next_page,
            has_previous_page: false,
            start_cursor: cursors.clone().next().cloned(),
            end_cursor: cursors.next_back().cloned(),
        }
    }
}
