//! Incidents as the GraphQL schema shows them, and the inputs that file and amend them.

use chrono::{DateTime, NaiveDate, Utc};
use juniper::{GraphQLInputObject, GraphQLObject, ID, graphql_object};
use renkei_core::incidents::Report;
use renkei_core::incidents::clocks::{self, Clock};
use renkei_core::incidents::report::Suspension;
use renkei_core::incidents::store::{
    self, Event, Incident as Core, Notification, Preparedness, RansomwarePoint as CorePoint, Step, Task,
};
use renkei_core::registry::organisations as orgs;

use super::enums::{
    CareService, ClockState, IncidentKind, IncidentPhase, InfectionVector, LeakStatus, NotificationRecipient,
    ReportKind, SpreadRisk,
};
use super::geography::Prefecture;
use super::organisation::Organisation;
use crate::Context;
use crate::connection::PageInfo;
use crate::error::ApiResult;
use crate::ids::to_id;

pub struct Incident(pub Core);

/// An incident report of a hospital, along the MHLW incident-response flowchart.
#[graphql_object(context = Context)]
impl Incident {
    fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn hospital(&self, ctx: &Context) -> ApiResult<Option<Organisation>> {
        let id = self.0.hospital_id;
        Ok(ctx.run(move |c, p| Box::pin(async move { orgs::find(c, p, id).await })).await?.map(Organisation))
    }
    fn prefecture(&self, ctx: &Context) -> Option<Prefecture> {
        ctx.geography.prefecture(self.0.prefecture_code).cloned().map(Prefecture)
    }
    fn kind(&self) -> IncidentKind {
        self.0.kind.into()
    }
    fn phase(&self) -> IncidentPhase {
        self.0.phase.into()
    }
    fn title(&self) -> &str {
        &self.0.title
    }
    fn discovered_at(&self) -> DateTime<Utc> {
        self.0.discovered_at
    }
    fn suspected_cyber_attack(&self) -> bool {
        self.0.suspected_cyber_attack
    }
    fn personal_data_leak(&self) -> LeakStatus {
        self.0.personal_data_leak.into()
    }
    /// The version number of the latest report.
    fn current_version(&self) -> i32 {
        self.0.current_version
    }
    fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    fn closed_at(&self) -> Option<DateTime<Utc>> {
        self.0.closed_at
    }
    /// The latest report.
    async fn report(&self, ctx: &Context) -> ApiResult<Option<IncidentReport>> {
        Ok(self.versions(ctx).await?.pop().map(|v| v.report))
    }
    /// Every version of the report, first to latest.
    async fn versions(&self, ctx: &Context) -> ApiResult<Vec<IncidentVersion>> {
        let id = self.0.id;
        let rows = ctx.run(move |c, _| Box::pin(async move { store::versions(c, id).await })).await?;
        rows.into_iter()
            .map(|v| {
                let report: Report = serde_json::from_value(v.report).map_err(renkei_core::Error::internal)?;
                Ok(IncidentVersion {
                    version: v.version,
                    report_kind: v.report_kind.into(),
                    submitted_at: v.submitted_at,
                    report: IncidentReport::from(report),
                })
            })
            .collect()
    }
    /// What happened, in order, each event tagged with its flowchart step.
    async fn timeline(&self, ctx: &Context) -> ApiResult<Vec<IncidentEvent>> {
        let id = self.0.id;
        let rows = ctx.run(move |c, _| Box::pin(async move { store::events(c, id).await })).await?;
        Ok(rows.into_iter().map(IncidentEvent::from).collect())
    }
    async fn notifications(&self, ctx: &Context) -> ApiResult<Vec<IncidentNotification>> {
        let id = self.0.id;
        let rows = ctx.run(move |c, _| Box::pin(async move { store::notifications(c, &[id]).await })).await?;
        Ok(rows.into_iter().map(IncidentNotification::from).collect())
    }
    /// The regulatory clocks that apply, with where each stands now.
    async fn clocks(&self, ctx: &Context) -> ApiResult<Vec<RegulatoryClock>> {
        let notified: Vec<_> =
            self.notifications(ctx).await?.into_iter().map(|n| (n.recipient.into(), n.notified_at)).collect();
        Ok(clocks::clocks(&self.0.facts(), &notified, Utc::now()).into_iter().map(RegulatoryClock::from).collect())
    }
    async fn tasks(&self, ctx: &Context) -> ApiResult<Vec<IncidentTask>> {
        let id = self.0.id;
        let rows = ctx.run(move |c, _| Box::pin(async move { store::tasks(c, id).await })).await?;
        Ok(rows.into_iter().map(IncidentTask::from).collect())
    }
}

#[derive(GraphQLObject)]
pub struct ServiceSuspension {
    pub service: CareService,
    pub from: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
}

/// One version of the report: what flowchart step 2-10 asks for, and more.
#[derive(GraphQLObject)]
pub struct IncidentReport {
    pub title: String,
    pub kind: IncidentKind,
    pub discovered_at: DateTime<Utc>,
    /// Where it is and its effect on care.
    pub location_and_impact: Option<String>,
    pub spread_risk: SpreadRisk,
    pub attacker: Option<String>,
    pub method: Option<String>,
    pub cause: Option<String>,
    pub measures_taken: Option<String>,
    pub suspected_cyber_attack: bool,
    pub infection_vector: Option<InfectionVector>,
    pub services_suspended: Vec<ServiceSuspension>,
    pub double_extortion: Option<bool>,
    pub data_exfiltrated: Option<bool>,
    pub personal_data_leak: LeakStatus,
    /// Records affected (a float: counts can pass 2^31).
    pub records_affected: Option<f64>,
    pub leak_learned_on: Option<NaiveDate>,
    pub wrongful_intent: bool,
    pub ransom_demanded: Option<bool>,
    pub ransom_amount_yen: Option<f64>,
    pub ransom_paid: Option<bool>,
    pub offline_backup_intact: Option<bool>,
    pub restored_from_pre_infection_backup: Option<bool>,
    pub contained_at: Option<DateTime<Utc>>,
    pub recovered_at: Option<DateTime<Utc>>,
}

impl From<Report> for IncidentReport {
    fn from(r: Report) -> Self {
        let wrongful_intent = r.wrongful_intent();
        Self {
            title: r.title,
            kind: r.kind.into(),
            discovered_at: r.discovered_at,
            location_and_impact: r.location_and_impact,
            spread_risk: r.spread_risk.into(),
            attacker: r.attacker,
            method: r.method,
            cause: r.cause,
            measures_taken: r.measures_taken,
            suspected_cyber_attack: r.suspected_cyber_attack,
            infection_vector: r.infection_vector.map(Into::into),
            services_suspended: r
                .services_suspended
                .into_iter()
                .map(|s| ServiceSuspension { service: s.service.into(), from: s.from, until: s.until })
                .collect(),
            double_extortion: r.double_extortion,
            data_exfiltrated: r.data_exfiltrated,
            personal_data_leak: r.personal_data_leak.into(),
            records_affected: r.records_affected.map(|n| n as f64),
            leak_learned_on: r.leak_learned_on,
            wrongful_intent,
            ransom_demanded: r.ransom_demanded,
            ransom_amount_yen: r.ransom_amount_yen.map(|n| n as f64),
            ransom_paid: r.ransom_paid,
            offline_backup_intact: r.offline_backup_intact,
            restored_from_pre_infection_backup: r.restored_from_pre_infection_backup,
            contained_at: r.contained_at,
            recovered_at: r.recovered_at,
        }
    }
}

#[derive(GraphQLObject)]
pub struct IncidentVersion {
    pub version: i32,
    pub report_kind: ReportKind,
    pub submitted_at: DateTime<Utc>,
    pub report: IncidentReport,
}

/// A step of the MHLW incident-response flowchart.
pub struct FlowchartStep(pub Step);

#[graphql_object(context = Context)]
impl FlowchartStep {
    /// e.g. `2-6`.
    fn code(&self) -> &str {
        &self.0.code
    }
    fn phase(&self) -> &str {
        &self.0.phase
    }
    fn title_ja(&self) -> &str {
        &self.0.title_ja
    }
    fn title_en(&self) -> &str {
        &self.0.title_en
    }
    fn actors(&self) -> &[String] {
        &self.0.actors
    }
    /// The ransomware consideration points that attach to this step.
    async fn ransomware_points(&self, ctx: &Context) -> ApiResult<Vec<RansomwarePoint>> {
        let code = self.0.code.clone();
        let all = ctx.run(|c, _| Box::pin(store::ransomware_points(c))).await?;
        Ok(all.into_iter().filter(|p| p.steps.contains(&code)).map(RansomwarePoint::from).collect())
    }
}

#[derive(GraphQLObject)]
pub struct IncidentEvent {
    pub id: ID,
    /// Flowchart step code.
    pub step: String,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub note: Option<String>,
    pub recorded_at: DateTime<Utc>,
}

impl From<Event> for IncidentEvent {
    fn from(e: Event) -> Self {
        Self {
            id: to_id(e.id),
            step: e.step,
            occurred_at: e.occurred_at,
            actor: e.actor,
            note: e.note,
            recorded_at: e.recorded_at,
        }
    }
}

#[derive(GraphQLObject)]
pub struct IncidentNotification {
    pub recipient: NotificationRecipient,
    pub notified_at: DateTime<Utc>,
    pub reference: Option<String>,
    pub recorded_at: DateTime<Utc>,
}

impl From<Notification> for IncidentNotification {
    fn from(n: Notification) -> Self {
        Self {
            recipient: n.recipient.into(),
            notified_at: n.notified_at,
            reference: n.reference,
            recorded_at: n.recorded_at,
        }
    }
}

/// A deadline for telling an outside body, and where it stands.
#[derive(GraphQLObject)]
pub struct RegulatoryClock {
    pub recipient: NotificationRecipient,
    /// The last day (JST).
    pub due_on: NaiveDate,
    /// The instant the deadline passes (24:00 JST of `dueOn`).
    pub due_at: DateTime<Utc>,
    pub warn_from: DateTime<Utc>,
    pub notified_at: Option<DateTime<Utc>>,
    pub state: ClockState,
}

impl From<Clock> for RegulatoryClock {
    fn from(c: Clock) -> Self {
        Self {
            recipient: c.recipient.into(),
            due_on: c.due_on,
            due_at: c.due_at,
            warn_from: c.warn_from,
            notified_at: c.notified_at,
            state: c.state.into(),
        }
    }
}

#[derive(GraphQLObject)]
pub struct IncidentTask {
    pub id: ID,
    pub title: String,
    pub assignee: Option<String>,
    pub due_on: Option<NaiveDate>,
    pub step: Option<String>,
    /// A required task keeps the incident from closing while open.
    pub required: bool,
    pub done_at: Option<DateTime<Utc>>,
}

impl From<Task> for IncidentTask {
    fn from(t: Task) -> Self {
        Self {
            id: to_id(t.id),
            title: t.title,
            assignee: t.assignee,
            due_on: t.due_on,
            step: t.step,
            required: t.required,
            done_at: t.done_at,
        }
    }
}

/// One of the eleven ransomware consideration points.
#[derive(GraphQLObject)]
pub struct RansomwarePoint {
    pub no: i32,
    /// `must` (必須) or `recommended` (推奨).
    pub level: String,
    pub steps: Vec<String>,
    pub pitfall_ja: String,
    pub point_ja: String,
    pub point_en: String,
}

impl From<CorePoint> for RansomwarePoint {
    fn from(p: CorePoint) -> Self {
        Self {
            no: i32::from(p.no),
            level: p.level,
            steps: p.steps,
            pitfall_ja: p.pitfall_ja,
            point_ja: p.point_ja,
            point_en: p.point_en,
        }
    }
}

/// A hospital's preparedness on one ransomware point.
#[derive(GraphQLObject)]
pub struct RansomwarePreparedness {
    pub point_no: i32,
    pub done: bool,
    pub note: Option<String>,
    pub updated_at: DateTime<Utc>,
}

impl From<Preparedness> for RansomwarePreparedness {
    fn from(p: Preparedness) -> Self {
        Self { point_no: i32::from(p.point_no), done: p.done, note: p.note, updated_at: p.updated_at }
    }
}

/// A clock due soon or overdue, with its incident.
pub struct PressingClock {
    pub incident: Core,
    pub clock: Clock,
}

#[graphql_object(context = Context)]
impl PressingClock {
    fn incident(&self) -> Incident {
        Incident(self.incident.clone())
    }
    fn clock(&self) -> RegulatoryClock {
        RegulatoryClock::from(self.clock.clone())
    }
}

pub struct IncidentEdge {
    pub cursor: String,
    pub node: Incident,
}

#[graphql_object(context = Context)]
impl IncidentEdge {
    fn cursor(&self) -> &str {
        &self.cursor
    }
    fn node(&self) -> &Incident {
        &self.node
    }
}

pub struct IncidentConnection {
    pub edges: Vec<IncidentEdge>,
    pub page_info: PageInfo,
}

#[graphql_object(context = Context)]
impl IncidentConnection {
    fn edges(&self) -> &[IncidentEdge] {
        &self.edges
    }
    fn nodes(&self) -> Vec<&Incident> {
        self.edges.iter().map(|e| &e.node).collect()
    }
    fn page_info(&self) -> &PageInfo {
        &self.page_info
    }
}

/// A row of incident statistics.
#[derive(GraphQLObject)]
pub struct IncidentStatisticsRow {
    /// The group (a kind, vector, bed band label, region code, prefecture code or month), or
    /// `total`.
    pub key: String,
    pub incidents: i32,
    pub median_hours_to_mhlw_report: Option<f64>,
    pub median_hours_to_containment: Option<f64>,
    pub median_hours_to_recovery: Option<f64>,
    /// Regulatory reports whose deadline passed or that were made (denominator).
    pub reports_due: i32,
    /// Of those, made on time (numerator).
    pub reports_on_time: i32,
    /// reportsOnTime / reportsDue, when there is any.
    pub on_time_rate: Option<f64>,
}

#[derive(GraphQLInputObject)]
pub struct ServiceSuspensionInput {
    pub service: CareService,
    pub from: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
}

/// A report, as first filed or amended. `leakLearnedOn` is required when personal data may have
/// leaked: the PPC clocks run from it.
#[derive(GraphQLInputObject)]
pub struct IncidentReportInput {
    pub title: String,
    pub kind: IncidentKind,
    pub discovered_at: DateTime<Utc>,
    pub location_and_impact: Option<String>,
    pub spread_risk: Option<SpreadRisk>,
    pub attacker: Option<String>,
    pub method: Option<String>,
    pub cause: Option<String>,
    pub measures_taken: Option<String>,
    pub suspected_cyber_attack: bool,
    pub infection_vector: Option<InfectionVector>,
    pub services_suspended: Option<Vec<ServiceSuspensionInput>>,
    pub double_extortion: Option<bool>,
    pub data_exfiltrated: Option<bool>,
    pub personal_data_leak: Option<LeakStatus>,
    pub records_affected: Option<f64>,
    pub leak_learned_on: Option<NaiveDate>,
    pub wrongful_intent: Option<bool>,
    pub ransom_demanded: Option<bool>,
    pub ransom_amount_yen: Option<f64>,
    pub ransom_paid: Option<bool>,
    pub offline_backup_intact: Option<bool>,
    pub restored_from_pre_infection_backup: Option<bool>,
    pub contained_at: Option<DateTime<Utc>>,
    pub recovered_at: Option<DateTime<Utc>>,
}

/// A count given as a GraphQL Float: whole, and within i64.
fn whole(field: &str, v: Option<f64>) -> Result<Option<i64>, renkei_core::Error> {
    match v {
        None => Ok(None),
        Some(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => Ok(Some(x as i64)),
        Some(_) => Err(renkei_core::Error::bad_input(format!("{field}: must be a whole number"))),
    }
}

impl IncidentReportInput {
    pub fn into_core(self) -> Result<Report, renkei_core::Error> {
        Ok(Report {
            title: self.title,
            kind: self.kind.into(),
            discovered_at: self.discovered_at,
            location_and_impact: self.location_and_impact,
            spread_risk: self.spread_risk.map_or(renkei_core::incidents::SpreadRisk::Unknown, Into::into),
            attacker: self.attacker,
            method: self.method,
            cause: self.cause,
            measures_taken: self.measures_taken,
            suspected_cyber_attack: self.suspected_cyber_attack,
            infection_vector: self.infection_vector.map(Into::into),
            services_suspended: self
                .services_suspended
                .unwrap_or_default()
                .into_iter()
                .map(|s| Suspension { service: s.service.into(), from: s.from, until: s.until })
                .collect(),
            double_extortion: self.double_extortion,
            data_exfiltrated: self.data_exfiltrated,
            personal_data_leak: self.personal_data_leak.map_or(renkei_core::incidents::LeakStatus::None, Into::into),
            records_affected: whole("recordsAffected", self.records_affected)?,
            leak_learned_on: self.leak_learned_on,
            wrongful_intent: self.wrongful_intent,
            ransom_demanded: self.ransom_demanded,
            ransom_amount_yen: whole("ransomAmountYen", self.ransom_amount_yen)?,
            ransom_paid: self.ransom_paid,
            offline_backup_intact: self.offline_backup_intact,
            restored_from_pre_infection_backup: self.restored_from_pre_infection_backup,
            contained_at: self.contained_at,
            recovered_at: self.recovered_at,
        })
    }
}

#[derive(GraphQLInputObject)]
pub struct IncidentEventInput {
    /// Flowchart step code, e.g. `2-6`.
    pub step: String,
    pub occurred_at: DateTime<Utc>,
    /// Who acted (a role such as `security_manager`, or a name).
    pub actor: String,
    pub note: Option<String>,
}

#[derive(GraphQLInputObject)]
pub struct IncidentTaskInput {
    pub title: String,
    pub assignee: Option<String>,
    pub due_on: Option<NaiveDate>,
    pub step: Option<String>,
    /// When true, the incident cannot close while this task is open.
    pub required: Option<bool>,
}

#[derive(GraphQLInputObject)]
pub struct IncidentFilterInput {
    pub hospital_id: Option<ID>,
    pub prefecture: Option<i32>,
    pub kinds: Option<Vec<IncidentKind>>,
    /// Only incidents not yet closed.
    pub open_only: Option<bool>,
    pub discovered_from: Option<DateTime<Utc>>,
    pub discovered_until: Option<DateTime<Utc>>,
}
