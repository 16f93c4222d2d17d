//! Read operations.

use juniper::{ID, graphql_object};
use renkei_core::Error;
use renkei_core::audit;
use renkei_core::registry::organisations as orgs;

use crate::Context;
use crate::connection::PageInfo;
use crate::error::ApiResult;
use crate::ids::{decode_cursor, encode_cursor, page_size, parse_id};
use crate::types::audit::{AuditEntry, AuditEntryConnection, AuditEntryEdge};
use crate::types::geography::{Prefecture, Region};
use crate::types::organisation::{Organisation, OrganisationConnection, OrganisationEdge, OrganisationFilterInput};
use crate::types::viewer::Viewer;

pub struct Query;

#[graphql_object(context = Context)]
impl Query {
    /// The caller.
    fn viewer() -> Viewer {
        Viewer
    }

    /// The eight regions, in their official order.
    fn regions(ctx: &Context) -> Vec<Region> {
        ctx.geography.regions.iter().cloned().map(Region).collect()
    }

    /// The 47 prefectures by JIS code, optionally those of one region.
    fn prefectures(ctx: &Context, region: Option<String>) -> Vec<Prefecture> {
        ctx.geography
            .prefectures
            .iter()
            .filter(|p| region.as_deref().is_none_or(|r| p.region_code == r))
            .cloned()
            .map(Prefecture)
            .collect()
    }

    fn prefecture(ctx: &Context, code: i32) -> Option<Prefecture> {
        i16::try_from(code).ok().and_then(|c| ctx.geography.prefecture(c)).cloned().map(Prefecture)
    }

    /// Organisations the caller may see, ordered by name. `first` is 1 to 100.
    async fn organisations(
        ctx: &Context,
        first: i32,
        after: Option<String>,
        filter: Option<OrganisationFilterInput>,
    ) -> ApiResult<OrganisationConnection> {
        let first = page_size(first)?;
        let after = after.map(|a| decode_cursor(&a)).transpose()?.map(|(name, id)| orgs::Position { name, id });
        let filter = filter.unwrap_or_default().into_core(ctx)?;
        let p = ctx.principal.clone();
        let query_filter = filter.clone();
        let (rows, more) =
            ctx.run(move |c| Box::pin(async move { orgs::list(c, &p, &query_filter, first, after).await })).await?;
        let edges: Vec<OrganisationEdge> = rows
            .into_iter()
            .map(|o| OrganisationEdge { cursor: encode_cursor(&o.name, o.id), node: Organisation(o) })
            .collect();
        Ok(OrganisationConnection {
            page_info: PageInfo {
                has_next_page: more,
                has_previous_page: false,
                start_cursor: edges.first().map(|e| e.cursor.clone()),
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
            filter,
        })
    }

    /// The audit trail, newest first: the ministry reads all of it, a prefecture official their
    /// prefecture's. `first` is 1 to 100.
    async fn audit_trail(ctx: &Context, first: i32, after: Option<String>) -> ApiResult<AuditEntryConnection> {
        audit::require_reader(&ctx.principal)?;
        let first = page_size(first)?;
        let before = after
            .map(|a| {
                decode_cursor(&a).and_then(|(seq, _)| {
                    seq.parse::<i64>().map_err(|_| Error::bad_input("after: not a cursor from this list"))
                })
            })
            .transpose()?;
        let (rows, more) = ctx.run(move |c| Box::pin(async move { audit::trail(c, before, first).await })).await?;
        let edges: Vec<AuditEntryEdge> = rows
            .into_iter()
            .map(|e| AuditEntryEdge {
                cursor: encode_cursor(&e.id.to_string(), uuid::Uuid::nil()),
                node: AuditEntry(e),
            })
            .collect();
        Ok(AuditEntryConnection {
            page_info: PageInfo {
                has_next_page: more,
                has_previous_page: false,
                start_cursor: edges.first().map(|e| e.cursor.clone()),
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
        })
    }

    /// One organisation, if it exists and the caller may see it.
    async fn organisation(ctx: &Context, id: ID) -> ApiResult<Option<Organisation>> {
        let id = parse_id("id", &id)?;
        let p = ctx.principal.clone();
        Ok(ctx.run(move |c| Box::pin(async move { orgs::find(c, &p, id).await })).await?.map(Organisation))
    }
}
