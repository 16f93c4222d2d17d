//! Incidents in the database. Every function runs inside the caller's tenant transaction; the
//! visibility rule here mirrors the `incidents_read` policy so that both layers guard tenants.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::clocks::{self, Clock, Facts};
use super::{IncidentKind, LeakStatus, Phase, Recipient, Report, ReportKind};
use crate::db::Conn;
use crate::registry::organisations::{self, OrganisationKind};
use crate::schema::{
    flowchart_steps, incident_events, incident_notifications, incident_tasks, incident_versions, incidents,
    ransomware_points, ransomware_preparedness,
};
use crate::text::{optional_text, text_field};
use crate::{Error, Principal, Result, Role, alerts, jobs};

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = incidents)]
pub struct Incident {
    pub id: Uuid,
    pub hospital_id: Uuid,
    pub prefecture_code: i16,
    pub jurisdiction_id: Option<Uuid>,
    pub kind: IncidentKind,
    pub phase: Phase,
    pub title: String,
    pub discovered_at: DateTime<Utc>,
    pub suspected_cyber_attack: bool,
    pub infection_vector: Option<String>,
    pub personal_data_leak: LeakStatus,
    pub leak_learned_on: Option<NaiveDate>,
    pub wrongful_intent: bool,
    pub contained_at: Option<DateTime<Utc>>,
    pub recovered_at: Option<DateTime<Utc>>,
    pub current_version: i32,
    pub reported_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl Incident {
    pub fn facts(&self) -> Facts {
        Facts {
            kind: self.kind,
            discovered_at: self.discovered_at,
            suspected_cyber_attack: self.suspected_cyber_attack,
            leak: self.personal_data_leak,
            leak_learned_on: self.leak_learned_on,
            wrongful_intent: self.wrongful_intent,
        }
    }
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = incident_versions)]
pub struct Version {
    pub incident_id: Uuid,
    pub version: i32,
    pub report_kind: ReportKind,
    pub report: serde_json::Value,
    pub submitted_by: String,
    pub submitted_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = incident_events)]
pub struct Event {
    pub id: Uuid,
    pub incident_id: Uuid,
    pub step: String,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub note: Option<String>,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = incident_notifications)]
pub struct Notification {
    pub incident_id: Uuid,
    pub recipient: Recipient,
    pub notified_at: DateTime<Utc>,
    pub reference: Option<String>,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = incident_tasks)]
pub struct Task {
    pub id: Uuid,
    pub incident_id: Uuid,
    pub title: String,
    pub assignee: Option<String>,
    pub due_on: Option<NaiveDate>,
    pub step: Option<String>,
    pub required: bool,
    pub done_at: Option<DateTime<Utc>>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = flowchart_steps)]
pub struct Step {
    pub code: String,
    pub sort_order: i16,
    pub phase: String,
    pub title_ja: String,
    pub title_en: String,
    pub actors: Vec<String>,
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = ransomware_points)]
pub struct RansomwarePoint {
    pub no: i16,
    pub level: String,
    pub steps: Vec<String>,
    pub pitfall_ja: String,
    pub point_ja: String,
    pub point_en: String,
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = ransomware_preparedness)]
pub struct Preparedness {
    pub hospital_id: Uuid,
    pub point_no: i16,
    pub done: bool,
    pub note: Option<String>,
    pub prefecture_code: i16,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

type Boxed<'a> = incidents::BoxedQuery<'a, diesel::pg::Pg>;

/// The incidents `p` may see; the same rule as the `incidents_read` policy.
fn visible_to(p: &Principal) -> Boxed<'static> {
    let q = incidents::table.into_boxed();
    let org = p.organisation_id.unwrap_or_default();
    match p.role {
        Role::National => q,
        Role::Prefecture => q.filter(incidents::prefecture_code.eq(p.prefecture.unwrap_or_default())),
        Role::HealthCentre => q.filter(incidents::jurisdiction_id.eq(org)),
        Role::HospitalAdmin | Role::HospitalStaff => q.filter(incidents::hospital_id.eq(org)),
        Role::Vendor | Role::Dashboard => q.filter(diesel::dsl::sql::<diesel::sql_types::Bool>("false")),
    }
}

pub async fn find(c: &mut Conn, p: &Principal, id: Uuid) -> Result<Option<Incident>> {
    Ok(visible_to(p).filter(incidents::id.eq(id)).select(Incident::as_select()).first(c).await.optional()?)
}

pub async fn get(c: &mut Conn, p: &Principal, id: Uuid) -> Result<Incident> {
    find(c, p, id).await?.ok_or_else(|| Error::not_found("incident"))
}

/// Filters of the incidents list.
#[derive(Clone, Debug, Default)]
pub struct IncidentFilter {
    pub hospital_id: Option<Uuid>,
    pub prefecture: Option<i16>,
    pub kinds: Vec<IncidentKind>,
    pub open_only: bool,
    pub discovered_from: Option<DateTime<Utc>>,
    pub discovered_until: Option<DateTime<Utc>>,
}

/// Newest first, keyed by (discovered_at, id).
pub async fn list(
    c: &mut Conn,
    p: &Principal,
    f: &IncidentFilter,
    first: i64,
    after: Option<(DateTime<Utc>, Uuid)>,
) -> Result<(Vec<Incident>, bool)> {
    let mut q = visible_to(p);
    if let Some(h) = f.hospital_id {
        q = q.filter(incidents::hospital_id.eq(h));
    }
    if let Some(pref) = f.prefecture {
        q = q.filter(incidents::prefecture_code.eq(pref));
    }
    if !f.kinds.is_empty() {
        q = q.filter(incidents::kind.eq_any(f.kinds.clone()));
    }
    if f.open_only {
        q = q.filter(incidents::phase.ne(Phase::Closed));
    }
    if let Some(from) = f.discovered_from {
        q = q.filter(incidents::discovered_at.ge(from));
    }
    if let Some(until) = f.discovered_until {
        q = q.filter(incidents::discovered_at.lt(until));
    }
    if let Some((at, id)) = after {
        q = q.filter(incidents::discovered_at.lt(at).or(incidents::discovered_at.eq(at).and(incidents::id.lt(id))));
    }
    let mut rows: Vec<Incident> = q
        .select(Incident::as_select())
        .order((incidents::discovered_at.desc(), incidents::id.desc()))
        .limit(first + 1)
        .load(c)
        .await?;
    let more = rows.len() as i64 > first;
    rows.truncate(first as usize);
    Ok((rows, more))
}

fn require_hospital_user(p: &Principal, hospital_id: Uuid, admin_only: bool, action: &str) -> Result<()> {
    let roles: &[Role] = if admin_only { &[Role::HospitalAdmin] } else { &[Role::HospitalAdmin, Role::HospitalStaff] };
    p.require(roles, action)?;
    if p.organisation_id != Some(hospital_id) {
        return Err(Error::forbidden(format!("only the hospital's own users may {action}")));
    }
    Ok(())
}

/// Raises a first report (flowchart 1-3); anyone at the hospital may.
pub async fn raise(c: &mut Conn, p: &Principal, report: Report, now: DateTime<Utc>) -> Result<Incident> {
    let hospital_id = p.organisation_id.ok_or_else(|| Error::forbidden("only hospital users raise incidents"))?;
    require_hospital_user(p, hospital_id, false, "raise incidents")?;
    let report = report.validated(now)?;
    let hospital = organisations::get(c, p, hospital_id).await?;
    if !matches!(hospital.kind, OrganisationKind::Hospital | OrganisationKind::Clinic) {
        return Err(Error::forbidden("only hospitals and clinics raise incidents"));
    }
    let id = Uuid::new_v4();
    let incident: Incident = diesel::insert_into(incidents::table)
        .values((
            incidents::id.eq(id),
            incidents::hospital_id.eq(hospital_id),
            incidents::prefecture_code.eq(hospital.prefecture_code),
            incidents::jurisdiction_id.eq(hospital.jurisdiction_id),
            incidents::kind.eq(report.kind),
            incidents::title.eq(&report.title),
            incidents::discovered_at.eq(report.discovered_at),
            incidents::suspected_cyber_attack.eq(report.suspected_cyber_attack),
            incidents::infection_vector.eq(report.infection_vector.map(|v| v.as_str())),
            incidents::personal_data_leak.eq(report.personal_data_leak),
            incidents::leak_learned_on.eq(report.leak_learned_on),
            incidents::wrongful_intent.eq(report.wrongful_intent()),
            incidents::contained_at.eq(report.contained_at),
            incidents::recovered_at.eq(report.recovered_at),
            incidents::reported_by.eq(&p.subject),
        ))
        .returning(Incident::as_returning())
        .get_result(c)
        .await?;
    insert_version(c, p, id, 1, ReportKind::First, &report).await?;
    diesel::insert_into(incident_events::table)
        .values((
            incident_events::incident_id.eq(id),
            incident_events::step.eq("1-3"),
            incident_events::occurred_at.eq(now),
            incident_events::actor.eq(p.role.as_str()),
            incident_events::note.eq("first report raised in Renkei"),
            incident_events::recorded_by.eq(&p.subject),
        ))
        .execute(c)
        .await?;
    jobs::enqueue(c, &alerts::IncidentCreated { incident_id: id, prefecture: hospital.prefecture_code }).await?;
    Ok(incident)
}

async fn insert_version(
    c: &mut Conn,
    p: &Principal,
    id: Uuid,
    version: i32,
    kind: ReportKind,
    report: &Report,
) -> Result<()> {
    let body = serde_json::to_value(report).map_err(Error::internal)?;
    diesel::insert_into(incident_versions::table)
        .values((
            incident_versions::incident_id.eq(id),
            incident_versions::version.eq(version),
            incident_versions::report_kind.eq(kind),
            incident_versions::report.eq(body),
            incident_versions::submitted_by.eq(&p.subject),
        ))
        .execute(c)
        .await?;
    Ok(())
}

/// Files a new version of the report (an update or the final report); earlier versions stay.
pub async fn amend(
    c: &mut Conn,
    p: &Principal,
    id: Uuid,
    report: Report,
    kind: ReportKind,
    now: DateTime<Utc>,
) -> Result<Incident> {
    let current = get(c, p, id).await?;
    require_hospital_user(p, current.hospital_id, true, "amend incidents")?;
    if kind == ReportKind::First {
        return Err(Error::bad_input("reportKind: the first report is filed once; amend with UPDATE or FINAL"));
    }
    if current.phase == Phase::Closed {
        return Err(Error::bad_input("incident is closed; its reports can no longer change"));
    }
    let report = report.validated(now)?;
    if report.kind.is_light() != current.kind.is_light() {
        return Err(Error::bad_input(
            "kind: a near miss or threat information cannot become an incident (or back); file a new report",
        ));
    }
    let version = current.current_version + 1;
    insert_version(c, p, id, version, kind, &report).await?;
    Ok(diesel::update(incidents::table.find(id))
        .set((
            incidents::kind.eq(report.kind),
            incidents::title.eq(&report.title),
            incidents::discovered_at.eq(report.discovered_at),
            incidents::suspected_cyber_attack.eq(report.suspected_cyber_attack),
            incidents::infection_vector.eq(report.infection_vector.map(|v| v.as_str())),
            incidents::personal_data_leak.eq(report.personal_data_leak),
            incidents::leak_learned_on.eq(report.leak_learned_on),
            incidents::wrongful_intent.eq(report.wrongful_intent()),
            incidents::contained_at.eq(report.contained_at),
            incidents::recovered_at.eq(report.recovered_at),
            incidents::current_version.eq(version),
        ))
        .returning(Incident::as_returning())
        .get_result(c)
        .await?)
}

/// Moves the incident along the flowchart; only the allowed moves, and no closing while a
/// required task is open.
pub async fn move_phase(c: &mut Conn, p: &Principal, id: Uuid, to: Phase) -> Result<Incident> {
    let current = get(c, p, id).await?;
    require_hospital_user(p, current.hospital_id, true, "move incidents")?;
    if !current.phase.may_move(to, current.kind) {
        return Err(Error::bad_input(format!("phase: cannot move from {} to {to}", current.phase)));
    }
    if to == Phase::Closed {
        let open: i64 = incident_tasks::table
            .filter(
                incident_tasks::incident_id
                    .eq(id)
                    .and(incident_tasks::required.eq(true))
                    .and(incident_tasks::done_at.is_null()),
            )
            .count()
            .get_result(c)
            .await?;
        if open > 0 {
            return Err(Error::bad_input(format!(
                "phase: {open} required task(s) still open; finish them before closing"
            )));
        }
    }
    let moved: Incident = diesel::update(incidents::table.find(id))
        .set((incidents::phase.eq(to), incidents::closed_at.eq((to == Phase::Closed).then(Utc::now))))
        .returning(Incident::as_returning())
        .get_result(c)
        .await?;
    let moved_on =
        alerts::IncidentPhaseChanged { incident_id: id, from: current.phase, to, prefecture: current.prefecture_code };
    jobs::enqueue(c, &moved_on).await?;
    Ok(moved)
}

async fn require_step(c: &mut Conn, step: &str) -> Result<()> {
    let known: i64 = flowchart_steps::table.filter(flowchart_steps::code.eq(step)).count().get_result(c).await?;
    if known == 0 {
        return Err(Error::bad_input(format!("step: {step:?} is not a step of the MHLW flowchart (0-1 … 4-9)")));
    }
    Ok(())
}

pub struct NewEvent {
    pub step: String,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub note: Option<String>,
}

/// Adds an event to the timeline.
pub async fn add_event(c: &mut Conn, p: &Principal, id: Uuid, e: NewEvent, now: DateTime<Utc>) -> Result<Event> {
    let incident = get(c, p, id).await?;
    require_hospital_user(p, incident.hospital_id, false, "add to the timeline")?;
    require_step(c, &e.step).await?;
    let actor = text_field("actor", &e.actor, 100)?;
    let note = optional_text("note", e.note, 4000)?;
    if e.occurred_at > now + chrono::Duration::minutes(10) {
        return Err(Error::bad_input("occurredAt: must not be in the future"));
    }
    if e.occurred_at < incident.discovered_at - chrono::Duration::days(365) {
        return Err(Error::bad_input("occurredAt: more than a year before the incident was discovered"));
    }
    Ok(diesel::insert_into(incident_events::table)
        .values((
            incident_events::incident_id.eq(id),
            incident_events::step.eq(&e.step),
            incident_events::occurred_at.eq(e.occurred_at),
            incident_events::actor.eq(actor),
            incident_events::note.eq(note),
            incident_events::recorded_by.eq(&p.subject),
        ))
        .returning(Event::as_returning())
        .get_result(c)
        .await?)
}

/// The flowchart step a notification belongs to.
fn step_of(r: Recipient) -> &'static str {
    match r {
        Recipient::Mhlw => "2-13",
        Recipient::Police => "2-18",
        Recipient::PpcPreliminary | Recipient::PpcFinal | Recipient::Prefecture => "4-3",
        Recipient::Patients => "4-9",
    }
}

/// Records that an outside body was told, and puts it on the timeline.
pub async fn record_notification(
    c: &mut Conn,
    p: &Principal,
    id: Uuid,
    recipient: Recipient,
    notified_at: DateTime<Utc>,
    reference: Option<String>,
    now: DateTime<Utc>,
) -> Result<Notification> {
    let incident = get(c, p, id).await?;
    require_hospital_user(p, incident.hospital_id, true, "record notifications")?;
    if notified_at > now + chrono::Duration::minutes(10) {
        return Err(Error::bad_input("notifiedAt: must not be in the future"));
    }
    if notified_at < incident.discovered_at - chrono::Duration::days(1) {
        return Err(Error::bad_input("notifiedAt: must not be before the incident was discovered"));
    }
    let reference = optional_text("reference", reference, 200)?;
    let exists: i64 = incident_notifications::table
        .filter(incident_notifications::incident_id.eq(id).and(incident_notifications::recipient.eq(recipient)))
        .count()
        .get_result(c)
        .await?;
    if exists > 0 {
        return Err(Error::new(
            crate::ErrorCode::Conflict,
            format!("recipient: {recipient} was already recorded as notified"),
        ));
    }
    let n: Notification = diesel::insert_into(incident_notifications::table)
        .values((
            incident_notifications::incident_id.eq(id),
            incident_notifications::recipient.eq(recipient),
            incident_notifications::notified_at.eq(notified_at),
            incident_notifications::reference.eq(reference),
            incident_notifications::recorded_by.eq(&p.subject),
        ))
        .returning(Notification::as_returning())
        .get_result(c)
        .await?;
    diesel::insert_into(incident_events::table)
        .values((
            incident_events::incident_id.eq(id),
            incident_events::step.eq(step_of(recipient)),
            incident_events::occurred_at.eq(notified_at),
            incident_events::actor.eq("executive"),
            incident_events::note.eq(format!("notified: {recipient}")),
            incident_events::recorded_by.eq(&p.subject),
        ))
        .execute(c)
        .await?;
    Ok(n)
}

pub struct NewTask {
    pub title: String,
    pub assignee: Option<String>,
    pub due_on: Option<NaiveDate>,
    pub step: Option<String>,
    pub required: bool,
}

pub async fn add_task(c: &mut Conn, p: &Principal, id: Uuid, t: NewTask) -> Result<Task> {
    let incident = get(c, p, id).await?;
    require_hospital_user(p, incident.hospital_id, true, "manage incident tasks")?;
    if incident.phase == Phase::Closed {
        return Err(Error::bad_input("incident is closed"));
    }
    if let Some(step) = &t.step {
        require_step(c, step).await?;
    }
    let title = text_field("title", &t.title, 200)?;
    let assignee = optional_text("assignee", t.assignee, 100)?;
    Ok(diesel::insert_into(incident_tasks::table)
        .values((
            incident_tasks::incident_id.eq(id),
            incident_tasks::title.eq(title),
            incident_tasks::assignee.eq(assignee),
            incident_tasks::due_on.eq(t.due_on),
            incident_tasks::step.eq(t.step),
            incident_tasks::required.eq(t.required),
            incident_tasks::created_by.eq(&p.subject),
        ))
        .returning(Task::as_returning())
        .get_result(c)
        .await?)
}

/// Marks a task done (or open again).
pub async fn set_task_done(c: &mut Conn, p: &Principal, task_id: Uuid, done: bool) -> Result<Task> {
    let task: Task = incident_tasks::table
        .find(task_id)
        .select(Task::as_select())
        .first(c)
        .await
        .optional()?
        .ok_or_else(|| Error::not_found("task"))?;
    let incident = get(c, p, task.incident_id).await?;
    require_hospital_user(p, incident.hospital_id, true, "manage incident tasks")?;
    Ok(diesel::update(incident_tasks::table.find(task_id))
        .set(incident_tasks::done_at.eq(done.then(Utc::now)))
        .returning(Task::as_returning())
        .get_result(c)
        .await?)
}

pub async fn versions(c: &mut Conn, id: Uuid) -> Result<Vec<Version>> {
    Ok(incident_versions::table
        .filter(incident_versions::incident_id.eq(id))
        .select(Version::as_select())
        .order(incident_versions::version)
        .load(c)
        .await?)
}

/// The timeline, in the order things happened (then the order they were recorded).
pub async fn events(c: &mut Conn, id: Uuid) -> Result<Vec<Event>> {
    Ok(incident_events::table
        .filter(incident_events::incident_id.eq(id))
        .select(Event::as_select())
        .order((incident_events::occurred_at, incident_events::recorded_at, incident_events::id))
        .load(c)
        .await?)
}

pub async fn notifications(c: &mut Conn, ids: &[Uuid]) -> Result<Vec<Notification>> {
    Ok(incident_notifications::table
        .filter(incident_notifications::incident_id.eq_any(ids))
        .select(Notification::as_select())
        .order(incident_notifications::notified_at)
        .load(c)
        .await?)
}

pub async fn tasks(c: &mut Conn, id: Uuid) -> Result<Vec<Task>> {
    Ok(incident_tasks::table
        .filter(incident_tasks::incident_id.eq(id))
        .select(Task::as_select())
        .order((incident_tasks::created_at, incident_tasks::id))
        .load(c)
        .await?)
}

pub async fn steps(c: &mut Conn) -> Result<Vec<Step>> {
    Ok(flowchart_steps::table.select(Step::as_select()).order(flowchart_steps::sort_order).load(c).await?)
}

pub async fn ransomware_points(c: &mut Conn) -> Result<Vec<RansomwarePoint>> {
    Ok(ransomware_points::table.select(RansomwarePoint::as_select()).order(ransomware_points::no).load(c).await?)
}

/// The clocks of open incidents that are due soon or overdue, soonest first.
pub async fn pressing_clocks(c: &mut Conn, p: &Principal, now: DateTime<Utc>) -> Result<Vec<(Incident, Clock)>> {
    let open: Vec<Incident> = visible_to(p)
        .filter(incidents::phase.ne(Phase::Closed))
        .filter(incidents::kind.ne_all(vec![IncidentKind::NearMiss, IncidentKind::ThreatInfo]))
        .select(Incident::as_select())
        .load(c)
        .await?;
    let ids: Vec<Uuid> = open.iter().map(|i| i.id).collect();
    let made = notifications(c, &ids).await?;
    let mut out = Vec::new();
    for incident in open {
        let notified: Vec<(Recipient, DateTime<Utc>)> =
            made.iter().filter(|n| n.incident_id == incident.id).map(|n| (n.recipient, n.notified_at)).collect();
        for clock in clocks::clocks(&incident.facts(), &notified, now) {
            if matches!(clock.state, clocks::ClockState::DueSoon | clocks::ClockState::Overdue) {
                out.push((incident.clone(), clock));
            }
        }
    }
    out.sort_by_key(|(_, c)| c.due_at);
    Ok(out)
}

/// Queues one alert per clock that has entered its warning period or run out, across every
/// incident `p` may see (the worker's periodic scan runs this as the ministry). The dedup key
/// makes a repeated scan queue nothing new; a clock that moves from due-soon to overdue alerts
/// once more. Returns how many clocks were considered.
pub async fn enqueue_clock_alerts(c: &mut Conn, p: &Principal, now: DateTime<Utc>) -> Result<usize> {
    let pressing = pressing_clocks(c, p, now).await?;
    for (incident, clock) in &pressing {
        let state = if clock.state == clocks::ClockState::Overdue { "overdue" } else { "due_soon" };
        let alert = alerts::IncidentClock {
            incident_id: incident.id,
            prefecture: incident.prefecture_code,
            recipient: clock.recipient,
            due_at: clock.due_at,
            state: state.into(),
        };
        jobs::enqueue(c, &alert).await?;
    }
    Ok(pressing.len())
}

/// Records whether the hospital has done what ransomware point `no` asks, ahead of any incident.
pub async fn set_preparedness(
    c: &mut Conn,
    p: &Principal,
    no: i16,
    done: bool,
    note: Option<String>,
) -> Result<Preparedness> {
    let hospital_id =
        p.organisation_id.ok_or_else(|| Error::forbidden("only a hospital admin records preparedness"))?;
    require_hospital_user(p, hospital_id, true, "record ransomware preparedness")?;
    let known: i64 = ransomware_points::table.filter(ransomware_points::no.eq(no)).count().get_result(c).await?;
    if known == 0 {
        return Err(Error::bad_input(format!("point: {no} is not one of the 11 ransomware points")));
    }
    let note = optional_text("note", note, 2000)?;
    let hospital = organisations::get(c, p, hospital_id).await?;
    Ok(diesel::insert_into(ransomware_preparedness::table)
        .values((
            ransomware_preparedness::hospital_id.eq(hospital_id),
            ransomware_preparedness::point_no.eq(no),
            ransomware_preparedness::done.eq(done),
            ransomware_preparedness::note.eq(&note),
            ransomware_preparedness::prefecture_code.eq(hospital.prefecture_code),
            ransomware_preparedness::updated_by.eq(&p.subject),
        ))
        .on_conflict((ransomware_preparedness::hospital_id, ransomware_preparedness::point_no))
        .do_update()
        .set((
            ransomware_preparedness::done.eq(done),
            ransomware_preparedness::note.eq(&note),
            ransomware_preparedness::updated_by.eq(&p.subject),
            ransomware_preparedness::updated_at.eq(Utc::now()),
        ))
        .returning(Preparedness::as_returning())
        .get_result(c)
        .await?)
}

pub async fn preparedness_of(c: &mut Conn, hospital_id: Uuid) -> Result<Vec<Preparedness>> {
    Ok(ransomware_preparedness::table
        .filter(ransomware_preparedness::hospital_id.eq(hospital_id))
        .select(Preparedness::as_select())
        .order(ransomware_preparedness::point_no)
        .load(c)
        .await?)
}
