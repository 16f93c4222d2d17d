//! Read operations.

use juniper::{ID, graphql_object};
use renkei_core::audit;
use renkei_core::incidents;
use renkei_core::registry::organisations as orgs;
use renkei_core::{Error, Role};

use crate::Context;
use crate::connection::PageInfo;
use crate::error::ApiResult;
use crate::ids::{decode_cursor, encode_cursor, page_size, parse_id};
use crate::types::audit::{AuditEntry, AuditEntryConnection, AuditEntryEdge};
use crate::types::bundle::ReportingBundle;
use crate::types::checklist::ChecklistCatalog;
use crate::types::enums::{ChecklistForm, IncidentGroupBy};
use crate::types::enums::{KpiDimension, KpiMetric};
use crate::types::geography::{Prefecture, Region};
use crate::types::incident::{
    FlowchartStep, Incident, IncidentConnection, IncidentEdge, IncidentFilterInput, IncidentStatisticsRow,
    PressingClock, RansomwarePoint, RansomwarePreparedness,
};
use crate::types::job::DeadJob;
use crate::types::kpi::{DesignationCoverage, KpiRow, KpiScopeInput, PeerComparison};
use crate::types::organisation::{Organisation, OrganisationConnection, OrganisationEdge, OrganisationFilterInput};
use crate::types::submission::{ChecklistSubmission, HospitalChecklistStatus, Inspection, SubmissionWindow};
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
        let query_filter = filter.clone();
        let (rows, more) =
            ctx.run(move |c, p| Box::pin(async move { orgs::list(c, p, &query_filter, first, after).await })).await?;
        let edges: Vec<OrganisationEdge> = rows
            .into_iter()
            .map(|o| OrganisationEdge { cursor: encode_cursor(&o.name, o.id), node: Organisation(o) })
            .collect();
        Ok(OrganisationConnection {
            page_info: PageInfo::forward(edges.iter().map(|e| &e.cursor), more),
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
        let (rows, more) = ctx.run(move |c, _| Box::pin(async move { audit::trail(c, before, first).await })).await?;
        let edges: Vec<AuditEntryEdge> = rows
            .into_iter()
            .map(|e| AuditEntryEdge {
                cursor: encode_cursor(&e.id.to_string(), uuid::Uuid::nil()),
                node: AuditEntry(e),
            })
            .collect();
        Ok(AuditEntryConnection { page_info: PageInfo::forward(edges.iter().map(|e| &e.cursor), more), edges })
    }

    /// Incidents the caller may see, newest first: a hospital its own, a health centre its
    /// jurisdiction's, a prefecture its own, the ministry all. `first` is 1 to 100.
    async fn incidents(
        ctx: &Context,
        first: i32,
        after: Option<String>,
        filter: Option<IncidentFilterInput>,
    ) -> ApiResult<IncidentConnection> {
        let first = page_size(first)?;
        let after = after
            .map(|a| {
                let (at, id) = decode_cursor(&a)?;
                let at = chrono::DateTime::parse_from_rfc3339(&at)
                    .map_err(|_| Error::bad_input("after: not a cursor from this list"))?
                    .with_timezone(&chrono::Utc);
                Ok::<_, Error>((at, id))
            })
            .transpose()?;
        let filter = match filter {
            None => incidents::store::IncidentFilter::default(),
            Some(f) => incidents::store::IncidentFilter {
                hospital_id: f.hospital_id.map(|id| parse_id("filter.hospitalId", &id)).transpose()?,
                prefecture: f
                    .prefecture
                    .map(|p| ctx.geography.require_prefecture("filter.prefecture", p).map(|p| p.code))
                    .transpose()?,
                kinds: f.kinds.unwrap_or_default().into_iter().map(Into::into).collect(),
                open_only: f.open_only.unwrap_or(false),
                discovered_from: f.discovered_from,
                discovered_until: f.discovered_until,
            },
        };
        let (rows, more) = ctx
            .run(move |c, p| Box::pin(async move { incidents::store::list(c, p, &filter, first, after).await }))
            .await?;
        let edges: Vec<IncidentEdge> = rows
            .into_iter()
            .map(|i| IncidentEdge { cursor: encode_cursor(&i.discovered_at.to_rfc3339(), i.id), node: Incident(i) })
            .collect();
        Ok(IncidentConnection { page_info: PageInfo::forward(edges.iter().map(|e| &e.cursor), more), edges })
    }

    /// One incident, if the caller may see it.
    async fn incident(ctx: &Context, id: ID) -> ApiResult<Option<Incident>> {
        let id = parse_id("id", &id)?;
        Ok(ctx.run(move |c, p| Box::pin(async move { incidents::store::find(c, p, id).await })).await?.map(Incident))
    }

    /// Regulatory clocks due soon or overdue on the open incidents the caller may see, soonest
    /// first.
    async fn pressing_clocks(ctx: &Context) -> ApiResult<Vec<PressingClock>> {
        let rows = ctx
            .run(move |c, p| Box::pin(async move { incidents::store::pressing_clocks(c, p, chrono::Utc::now()).await }))
            .await?;
        Ok(rows.into_iter().map(|(incident, clock)| PressingClock { incident, clock }).collect())
    }

    /// The MHLW incident-response flowchart, steps 0-1 to 4-9, with the ransomware points of
    /// each step.
    async fn incident_flowchart(ctx: &Context) -> ApiResult<Vec<FlowchartStep>> {
        Ok(ctx.run(|c, _| Box::pin(incidents::store::steps(c))).await?.into_iter().map(FlowchartStep).collect())
    }

    /// The eleven ransomware consideration points.
    async fn ransomware_points(ctx: &Context) -> ApiResult<Vec<RansomwarePoint>> {
        Ok(ctx
            .run(|c, _| Box::pin(incidents::store::ransomware_points(c)))
            .await?
            .into_iter()
            .map(RansomwarePoint::from)
            .collect())
    }

    /// A hospital's recorded preparedness on the ransomware points.
    async fn ransomware_preparedness(ctx: &Context, hospital_id: ID) -> ApiResult<Vec<RansomwarePreparedness>> {
        let id = parse_id("hospitalId", &hospital_id)?;
        let rows = ctx
            .run(move |c, p| {
                Box::pin(async move {
                    orgs::get(c, p, id).await?;
                    incidents::store::preparedness_of(c, id).await
                })
            })
            .await?;
        Ok(rows.into_iter().map(RansomwarePreparedness::from).collect())
    }

    /// Incident statistics over [from, until), for prefecture officials (their prefecture) and
    /// the ministry; near misses and threat information are left out.
    async fn incident_statistics(
        ctx: &Context,
        from: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
        group_by: IncidentGroupBy,
    ) -> ApiResult<Vec<IncidentStatisticsRow>> {
        let geo = ctx.geography.clone();
        let rows = ctx
            .run(move |c, p| {
                Box::pin(async move {
                    incidents::stats::statistics(c, p, &geo, from, until, group_by.into(), chrono::Utc::now()).await
                })
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| IncidentStatisticsRow {
                key: r.key,
                incidents: i32::try_from(r.incidents).unwrap_or(i32::MAX),
                median_hours_to_mhlw_report: r.median_hours_to_mhlw_report,
                median_hours_to_containment: r.median_hours_to_containment,
                median_hours_to_recovery: r.median_hours_to_recovery,
                reports_due: i32::try_from(r.reports_due).unwrap_or(i32::MAX),
                reports_on_time: i32::try_from(r.reports_on_time).unwrap_or(i32::MAX),
                on_time_rate: (r.reports_due > 0).then(|| r.reports_on_time as f64 / r.reports_due as f64),
            })
            .collect())
    }

    /// Jobs that failed their last attempt, newest first: the ministry sees all, a prefecture
    /// official those concerning their prefecture. At most 100.
    async fn dead_jobs(ctx: &Context, first: i32) -> ApiResult<Vec<DeadJob>> {
        ctx.principal.require(&[Role::National, Role::Prefecture], "read dead jobs")?;
        let first = page_size(first)?;
        let prefecture = if ctx.principal.is(Role::Prefecture) { ctx.principal.prefecture } else { None };
        let (rows, _) = ctx
            .run(move |c, _| Box::pin(async move { renkei_core::jobs::dead(c, prefecture, first, None).await }))
            .await?;
        Ok(rows.into_iter().map(DeadJob::from).collect())
    }

    /// Reporting bundles, newest first: the ministry sees all, a prefecture official their own.
    async fn reporting_bundles(ctx: &Context, first: i32) -> ApiResult<Vec<ReportingBundle>> {
        ctx.principal.require(&[Role::National, Role::Prefecture], "list reporting bundles")?;
        let first = page_size(first)?;
        let rows = ctx.run(move |c, _| Box::pin(renkei_core::bundles::list(c, first))).await?;
        Ok(rows.into_iter().map(ReportingBundle::from).collect())
    }

    /// Every checklist catalog, newest year first.
    async fn checklist_catalogs(ctx: &Context) -> ApiResult<Vec<ChecklistCatalog>> {
        let rows = ctx.run(|c, _| Box::pin(renkei_core::checklists::catalog::list(c))).await?;
        Ok(rows.into_iter().map(ChecklistCatalog).collect())
    }

    /// A fiscal year's form, if loaded.
    async fn checklist_catalog(
        ctx: &Context,
        fiscal_year: i32,
        form: ChecklistForm,
    ) -> ApiResult<Option<ChecklistCatalog>> {
        let form = form.into();
        let found = ctx
            .run(move |c, _| {
                Box::pin(async move { renkei_core::checklists::catalog::find(c, fiscal_year, form).await })
            })
            .await?;
        Ok(found.map(ChecklistCatalog))
    }

    /// A checklist submission the caller may see.
    async fn checklist_submission(ctx: &Context, id: ID) -> ApiResult<Option<ChecklistSubmission>> {
        let id = parse_id("id", &id)?;
        let found = ctx
            .run(move |c, p| {
                Box::pin(async move {
                    match renkei_core::checklists::submissions::get(c, p, id).await {
                        Ok(s) => Ok(Some(s)),
                        Err(e) if e.code == renkei_core::ErrorCode::NotFound => Ok(None),
                        Err(e) => Err(e),
                    }
                })
            })
            .await?;
        Ok(found.map(ChecklistSubmission))
    }

    /// The hospitals a health centre (its jurisdiction) or prefecture oversees, with where their
    /// hospital checklist stands for the year.
    async fn checklist_status(
        ctx: &Context,
        fiscal_year: i32,
        outstanding: Option<bool>,
    ) -> ApiResult<Vec<HospitalChecklistStatus>> {
        let today = renkei_core::incidents::clocks::day_of(chrono::Utc::now());
        let rows = ctx
            .run(move |c, p| {
                Box::pin(async move {
                    renkei_core::checklists::submissions::status_for_year(c, p, fiscal_year, today).await
                })
            })
            .await?;
        let keep =
            |s: &str| !outstanding.unwrap_or(false) || matches!(s, "not_started" | "draft" | "returned" | "overdue");
        Ok(rows
            .into_iter()
            .filter(|(_, s)| keep(s))
            .map(|(hospital, status)| HospitalChecklistStatus { hospital, status })
            .collect())
    }

    /// KPIs (DESIGN §3) for one or more fiscal years (a time series) in a scope, grouped by
    /// any of bed band, prefecture, region, designation and function. Every row gives numerator,
    /// denominator and rate. What concerns hospitals the caller may not see is perturbed, the
    /// same in every table (`protection` says so per row), and too few such hospitals are
    /// suppressed (README, disclosure control). `metrics` defaults to every KPI but the per-item rates;
    /// `ITEM_YES_RATE` covers the `items` named (all yes/no items when none).
    async fn kpi_report(
        ctx: &Context,
        fiscal_years: Vec<i32>,
        scope: Option<KpiScopeInput>,
        group_by: Option<Vec<KpiDimension>>,
        metrics: Option<Vec<KpiMetric>>,
        items: Option<Vec<String>>,
    ) -> ApiResult<Vec<KpiRow>> {
        let mut group_by: Vec<renkei_core::kpis::Dimension> =
            group_by.unwrap_or_default().into_iter().map(Into::into).collect();
        group_by.sort_by_key(|d| d.as_str());
        group_by.dedup();
        let items = items.unwrap_or_default();
        if items.len() > 200 {
            return Err(Error::bad_input("items: at most 200").into());
        }
        let query = renkei_core::kpis::Query {
            fiscal_years,
            scope: scope.unwrap_or_default().scope()?,
            group_by,
            metrics: metrics.unwrap_or_default().into_iter().map(Into::into).collect(),
            items,
            today: renkei_core::kpis::today(),
        };
        let (geo, settings) = (ctx.geography.clone(), ctx.kpi);
        let rows = ctx
            .run(move |c, p| Box::pin(async move { renkei_core::kpis::report(c, p, &geo, &query, &settings).await }))
            .await?;
        Ok(rows.into_iter().map(KpiRow).collect())
    }

    /// A hospital's own figures next to its bed band's, nationally and in its prefecture (the
    /// caller's own hospital when `hospitalId` is not given).
    async fn peer_comparison(ctx: &Context, fiscal_year: i32, hospital_id: Option<ID>) -> ApiResult<PeerComparison> {
        let hospital = match hospital_id {
            Some(id) => parse_id("hospitalId", &id)?,
            None => ctx.principal.organisation_id.ok_or_else(|| Error::bad_input("hospitalId: say which hospital"))?,
        };
        let (geo, settings) = (ctx.geography.clone(), ctx.kpi);
        let today = renkei_core::kpis::today();
        let peers = ctx
            .run(move |c, p| {
                Box::pin(async move {
                    renkei_core::kpis::peers::compare(c, p, &geo, hospital, fiscal_year, today, &settings).await
                })
            })
            .await?;
        Ok(PeerComparison(peers))
    }

    /// Regions and prefectures with and without a designated critical-infrastructure hospital
    /// on `asOf` (today by default), against the law's timeline.
    async fn designation_coverage(ctx: &Context, as_of: Option<chrono::NaiveDate>) -> ApiResult<DesignationCoverage> {
        let day = as_of.unwrap_or_else(|| renkei_core::incidents::clocks::day_of(chrono::Utc::now()));
        let (geo, settings) = (ctx.geography.clone(), ctx.kpi);
        let coverage = ctx
            .run(move |c, p| {
                Box::pin(async move { renkei_core::kpis::coverage::coverage(c, p, &geo, &settings, day).await })
            })
            .await?;
        Ok(coverage.into())
    }

    /// A prefecture's submission window for a fiscal year (the caller's own prefecture when
    /// `prefecture` is not given).
    async fn submission_window(
        ctx: &Context,
        fiscal_year: i32,
        prefecture: Option<i32>,
    ) -> ApiResult<Option<SubmissionWindow>> {
        let code = match (prefecture, ctx.principal.prefecture, ctx.principal.organisation_id) {
            (Some(p), _, _) => Some(ctx.geography.require_prefecture("prefecture", p)?.code),
            (None, Some(p), _) => Some(p),
            (None, None, Some(org)) => ctx
                .run(move |c, p| Box::pin(async move { orgs::find(c, p, org).await }))
                .await?
                .map(|o| o.prefecture_code),
            (None, None, None) => None,
        };
        let Some(code) = code else { return Ok(None) };
        let w = ctx
            .run(move |c, _| {
                Box::pin(async move { renkei_core::checklists::windows::find(c, code, fiscal_year).await })
            })
            .await?;
        Ok(w.map(SubmissionWindow::from))
    }

    /// A hospital's on-site inspections, newest first.
    async fn inspections(ctx: &Context, hospital_id: ID) -> ApiResult<Vec<Inspection>> {
        let id = parse_id("hospitalId", &hospital_id)?;
        let rows = ctx
            .run(move |c, p| {
                Box::pin(async move {
                    orgs::get(c, p, id).await?;
                    renkei_core::checklists::inspections::of_hospital(c, id).await
                })
            })
            .await?;
        Ok(rows.into_iter().map(Inspection::from_core).collect::<Result<_, _>>()?)
    }

    /// One organisation, if it exists and the caller may see it.
    async fn organisation(ctx: &Context, id: ID) -> ApiResult<Option<Organisation>> {
        let id = parse_id("id", &id)?;
        Ok(ctx.run(move |c, p| Box::pin(async move { orgs::find(c, p, id).await })).await?.map(Organisation))
    }
}
