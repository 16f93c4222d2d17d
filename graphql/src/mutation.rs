//! Write operations on the registry. Each checks the caller's role and tenant first (the
//! resolver half of tenant isolation); PostgreSQL's policies check again on the write itself.

use chrono::{DateTime, NaiveDate, Utc};
use juniper::{ID, graphql_object};
use renkei_core::incidents::store as incidents;
use renkei_core::registry::organisations::{self as orgs, NewOrganisation};
use renkei_core::registry::{designations, users, vendors};
use renkei_core::{Error, Role};

use crate::Context;
use crate::error::ApiResult;
use crate::ids::parse_id;
use crate::types::bundle::ReportingBundle;
use crate::types::checklist::{ChecklistCatalog, ChecklistCatalogInput};
use crate::types::designation::Designation;
use crate::types::enums::ChecklistForm;
use crate::types::enums::{IncidentPhase, NotificationRecipient, ReportKind};
use crate::types::incident::{
    Incident, IncidentEvent, IncidentEventInput, IncidentNotification, IncidentReportInput, IncidentTask,
    IncidentTaskInput, RansomwarePreparedness,
};
use crate::types::job::{AlertPreference, DeadJob};
use crate::types::organisation::{CreateOrganisationInput, Organisation, UpdateOrganisationInput};
use crate::types::submission::{
    ChecklistAnswerInput, ChecklistSubmission, Inspection, InspectionFindingInput, ReviewCommentInput, SubmissionWindow,
};
use crate::types::user::{InviteUserInput, User};

pub struct Mutation;

#[graphql_object(context = Context)]
impl Mutation {
    /// Registers an organisation. The ministry registers any kind anywhere; a prefecture official
    /// registers health centres, hospitals, clinics and vendors in their own prefecture.
    async fn create_organisation(ctx: &Context, input: CreateOrganisationInput) -> ApiResult<Organisation> {
        let new = NewOrganisation {
            kind: input.kind.into(),
            name: input.name,
            name_en: input.name_en,
            prefecture_code: ctx.geography.require_prefecture("prefecture", input.prefecture)?.code,
            jurisdiction_id: input.health_centre_id.map(|id| parse_id("healthCentreId", &id)).transpose()?,
            licensed_beds: input.licensed_beds,
            functions: input.functions.unwrap_or_default().into_iter().map(Into::into).collect(),
            ehr_in_use: input.ehr_in_use,
            ehr_product: input.ehr_product,
            medical_institution_code: input.medical_institution_code,
            gmis_id: input.gmis_id,
        };
        let created = ctx.run(move |c, p| Box::pin(orgs::create(c, p, new))).await?;
        Ok(Organisation(created))
    }

    /// Changes an organisation's registry entry. A hospital's own admin may change only its EHR
    /// details.
    async fn update_organisation(ctx: &Context, id: ID, input: UpdateOrganisationInput) -> ApiResult<Organisation> {
        let id = parse_id("id", &id)?;
        let changes = input.into_core();
        let updated = ctx.run(move |c, p| Box::pin(orgs::update(c, p, id, changes))).await?;
        Ok(Organisation(updated))
    }

    /// Puts a hospital or clinic under a health centre's jurisdiction, or none when
    /// `healthCentreId` is null.
    async fn set_hospital_health_centre(
        ctx: &Context,
        hospital_id: ID,
        health_centre_id: Option<ID>,
    ) -> ApiResult<Organisation> {
        let hospital_id = parse_id("hospitalId", &hospital_id)?;
        let centre = health_centre_id.map(|id| parse_id("healthCentreId", &id)).transpose()?;
        let updated = ctx.run(move |c, p| Box::pin(orgs::set_jurisdiction(c, p, hospital_id, centre))).await?;
        Ok(Organisation(updated))
    }

    /// Adds a user to an organisation. The ministry invites anyone; a prefecture official
    /// invites users of organisations in their prefecture; a hospital admin invites admins and
    /// staff of their own hospital.
    async fn invite_user(ctx: &Context, input: InviteUserInput) -> ApiResult<User> {
        let new = users::NewUser {
            organisation_id: parse_id("organisationId", &input.organisation_id)?,
            email: input.email,
            display_name: input.display_name,
            role: input.role.into(),
            subject: input.subject,
        };
        let user = ctx.run(move |c, p| Box::pin(users::invite(c, p, new))).await?;
        Ok(User(user))
    }

    /// Deactivates a user: their tokens stop working at once.
    async fn deactivate_user(ctx: &Context, id: ID) -> ApiResult<User> {
        let id = parse_id("id", &id)?;
        let user = ctx.run(move |c, p| Box::pin(users::deactivate(c, p, id))).await?;
        Ok(User(user))
    }

    /// Designates a hospital as critical infrastructure (ministry only).
    async fn designate_critical_infrastructure(
        ctx: &Context,
        hospital_id: ID,
        designated_on: NaiveDate,
        note: Option<String>,
    ) -> ApiResult<Designation> {
        let hospital_id = parse_id("hospitalId", &hospital_id)?;
        let d = ctx.run(move |c, p| Box::pin(designations::designate(c, p, hospital_id, designated_on, note))).await?;
        Ok(Designation(d))
    }

    /// Ends a hospital's designation on `revokedOn` (ministry only).
    async fn revoke_critical_infrastructure(
        ctx: &Context,
        hospital_id: ID,
        revoked_on: NaiveDate,
    ) -> ApiResult<Designation> {
        let hospital_id = parse_id("hospitalId", &hospital_id)?;
        let d = ctx.run(move |c, p| Box::pin(designations::revoke(c, p, hospital_id, revoked_on))).await?;
        Ok(Designation(d))
    }

    /// Raises a first incident report (flowchart 1-3). Anyone at the hospital may.
    async fn report_incident(ctx: &Context, input: IncidentReportInput) -> ApiResult<Incident> {
        let report = input.into_core()?;
        let i = ctx.run(move |c, p| Box::pin(async move { incidents::raise(c, p, report, Utc::now()).await })).await?;
        Ok(Incident(i))
    }

    /// Files a new version of the report (an UPDATE or the FINAL report); earlier versions stay
    /// readable. The hospital's admin only.
    async fn amend_incident(
        ctx: &Context,
        id: ID,
        report_kind: ReportKind,
        input: IncidentReportInput,
    ) -> ApiResult<Incident> {
        let id = parse_id("id", &id)?;
        let report = input.into_core()?;
        let i = ctx
            .run(move |c, p| {
                Box::pin(async move { incidents::amend(c, p, id, report, report_kind.into(), Utc::now()).await })
            })
            .await?;
        Ok(Incident(i))
    }

    /// Moves an incident to the next phase of the flowchart (or closes it).
    async fn move_incident(ctx: &Context, id: ID, to: IncidentPhase) -> ApiResult<Incident> {
        let id = parse_id("id", &id)?;
        let i = ctx.run(move |c, p| Box::pin(async move { incidents::move_phase(c, p, id, to.into()).await })).await?;
        Ok(Incident(i))
    }

    /// Adds an event to an incident's timeline, tagged with its flowchart step.
    async fn add_incident_event(ctx: &Context, id: ID, input: IncidentEventInput) -> ApiResult<IncidentEvent> {
        let id = parse_id("id", &id)?;
        let e = incidents::NewEvent {
            step: input.step,
            occurred_at: input.occurred_at,
            actor: input.actor,
            note: input.note,
        };
        let e =
            ctx.run(move |c, p| Box::pin(async move { incidents::add_event(c, p, id, e, Utc::now()).await })).await?;
        Ok(IncidentEvent::from(e))
    }

    /// Records that an outside body (or the patients) was told; the matching clock stops.
    async fn record_incident_notification(
        ctx: &Context,
        id: ID,
        recipient: NotificationRecipient,
        notified_at: DateTime<Utc>,
        reference: Option<String>,
    ) -> ApiResult<IncidentNotification> {
        let id = parse_id("id", &id)?;
        let n = ctx
            .run(move |c, p| {
                Box::pin(async move {
                    incidents::record_notification(c, p, id, recipient.into(), notified_at, reference, Utc::now()).await
                })
            })
            .await?;
        Ok(IncidentNotification::from(n))
    }

    /// Adds a task to an incident.
    async fn add_incident_task(ctx: &Context, id: ID, input: IncidentTaskInput) -> ApiResult<IncidentTask> {
        let id = parse_id("id", &id)?;
        let t = incidents::NewTask {
            title: input.title,
            assignee: input.assignee,
            due_on: input.due_on,
            step: input.step,
            required: input.required.unwrap_or(false),
        };
        let t = ctx.run(move |c, p| Box::pin(async move { incidents::add_task(c, p, id, t).await })).await?;
        Ok(IncidentTask::from(t))
    }

    /// Marks an incident task done, or open again.
    async fn set_incident_task_done(ctx: &Context, task_id: ID, done: bool) -> ApiResult<IncidentTask> {
        let id = parse_id("taskId", &task_id)?;
        let t = ctx.run(move |c, p| Box::pin(async move { incidents::set_task_done(c, p, id, done).await })).await?;
        Ok(IncidentTask::from(t))
    }

    /// Records the hospital's preparedness on one ransomware point (1-11), ahead of any incident.
    async fn set_ransomware_preparedness(
        ctx: &Context,
        point: i32,
        done: bool,
        note: Option<String>,
    ) -> ApiResult<RansomwarePreparedness> {
        let no = i16::try_from(point).map_err(|_| Error::bad_input("point: 1 to 11"))?;
        let r = ctx
            .run(move |c, p| Box::pin(async move { incidents::set_preparedness(c, p, no, done, note).await }))
            .await?;
        Ok(RansomwarePreparedness::from(r))
    }

    /// Asks for a reporting bundle for a fiscal year: national (the ministry) or for one
    /// prefecture (the ministry, or that prefecture's official). The worker builds it and
    /// e-mails the requester.
    async fn request_reporting_bundle(
        ctx: &Context,
        fiscal_year: i32,
        prefecture: Option<i32>,
    ) -> ApiResult<ReportingBundle> {
        let prefecture =
            prefecture.map(|p| ctx.geography.require_prefecture("prefecture", p).map(|p| p.code)).transpose()?;
        let bundle = ctx
            .run(move |c, p| {
                Box::pin(async move { renkei_core::bundles::request(c, p, fiscal_year, prefecture).await })
            })
            .await?;
        Ok(ReportingBundle::from(bundle))
    }

    /// Loads a fiscal year's checklist form (the ministry only): every item validated, all
    /// problems reported at once, nothing written unless all pass.
    async fn import_checklist_catalog(ctx: &Context, input: ChecklistCatalogInput) -> ApiResult<ChecklistCatalog> {
        let new = input.into_core();
        let catalog = ctx
            .run(move |c, p| Box::pin(async move { renkei_core::checklists::catalog::import(c, p, new).await }))
            .await?;
        Ok(ChecklistCatalog(catalog))
    }

    /// Saves draft answers of a checklist: the hospital admin for its own hospital and survey
    /// forms, a linked vendor for the vendor form (`hospitalId` names the hospital). Editing a
    /// submitted checklist starts a correction.
    async fn save_checklist_draft(
        ctx: &Context,
        fiscal_year: i32,
        form: ChecklistForm,
        hospital_id: Option<ID>,
        answers: Vec<ChecklistAnswerInput>,
    ) -> ApiResult<ChecklistSubmission> {
        let hospital = match hospital_id {
            Some(id) => parse_id("hospitalId", &id)?,
            None => ctx.principal.organisation_id.ok_or_else(|| Error::bad_input("hospitalId: required"))?,
        };
        let answers = answers.into_iter().map(Into::into).collect();
        let s = ctx
            .run(move |c, p| {
                Box::pin(async move {
                    renkei_core::checklists::submissions::save_draft(c, p, fiscal_year, form.into(), hospital, answers)
                        .await
                })
            })
            .await?;
        Ok(ChecklistSubmission(s))
    }

    /// Starts this fiscal year's hospital checklist from last year's: answers carried over as a
    /// draft, every check date cleared so that each item is checked again.
    async fn start_checklist_from_previous_year(ctx: &Context, fiscal_year: i32) -> ApiResult<ChecklistSubmission> {
        let s = ctx
            .run(move |c, p| {
                Box::pin(async move {
                    renkei_core::checklists::submissions::start_from_previous_year(c, p, fiscal_year).await
                })
            })
            .await?;
        Ok(ChecklistSubmission(s))
    }

    /// Submits a draft as the next revision (complete: every required item answered).
    async fn submit_checklist(ctx: &Context, id: ID) -> ApiResult<ChecklistSubmission> {
        let id = parse_id("id", &id)?;
        let s = ctx
            .run(move |c, p| Box::pin(async move { renkei_core::checklists::submissions::submit(c, p, id).await }))
            .await?;
        Ok(ChecklistSubmission(s))
    }

    /// Reviews a submitted checklist (its health centre or prefecture): accept, or return it
    /// with comments per item.
    async fn review_checklist(
        ctx: &Context,
        id: ID,
        accept: bool,
        comments: Option<Vec<ReviewCommentInput>>,
    ) -> ApiResult<ChecklistSubmission> {
        let id = parse_id("id", &id)?;
        let comments = comments
            .unwrap_or_default()
            .into_iter()
            .map(|c| renkei_core::checklists::submissions::ReviewComment { code: c.code, comment: c.comment })
            .collect();
        let s = ctx
            .run(move |c, p| {
                Box::pin(async move { renkei_core::checklists::submissions::review(c, p, id, accept, comments).await })
            })
            .await?;
        Ok(ChecklistSubmission(s))
    }

    /// Opens (or moves) the caller's prefecture's submission window for a fiscal year.
    async fn set_submission_window(
        ctx: &Context,
        fiscal_year: i32,
        opens_on: NaiveDate,
        closes_on: NaiveDate,
        inspection_from: Option<NaiveDate>,
        inspection_until: Option<NaiveDate>,
    ) -> ApiResult<SubmissionWindow> {
        let w = renkei_core::checklists::windows::NewWindow {
            fiscal_year,
            opens_on,
            closes_on,
            inspection_from,
            inspection_until,
        };
        let w =
            ctx.run(move |c, p| Box::pin(async move { renkei_core::checklists::windows::set(c, p, w).await })).await?;
        Ok(SubmissionWindow::from(w))
    }

    /// Records an on-site inspection (立入検査) of a hospital in the caller's jurisdiction.
    async fn record_inspection(
        ctx: &Context,
        hospital_id: ID,
        fiscal_year: i32,
        inspected_on: NaiveDate,
        inspector: String,
        findings: Vec<InspectionFindingInput>,
        follow_up_on: Option<NaiveDate>,
    ) -> ApiResult<Inspection> {
        let hospital_id = parse_id("hospitalId", &hospital_id)?;
        let new = renkei_core::checklists::inspections::NewInspection {
            hospital_id,
            fiscal_year,
            inspected_on,
            inspector,
            findings: findings
                .into_iter()
                .map(|f| renkei_core::checklists::inspections::Finding { code: f.code, finding: f.finding })
                .collect(),
            follow_up_on,
        };
        let today = renkei_core::incidents::clocks::day_of(Utc::now());
        let i = ctx
            .run(move |c, p| {
                Box::pin(async move { renkei_core::checklists::inspections::record(c, p, new, today).await })
            })
            .await?;
        Ok(Inspection::from_core(i)?)
    }

    /// Puts a dead job back in the queue (the ministry, or a prefecture for its own jobs).
    async fn retry_job(ctx: &Context, id: String) -> ApiResult<DeadJob> {
        ctx.principal.require(&[Role::National, Role::Prefecture], "retry jobs")?;
        let id: i64 = id.parse().map_err(|_| Error::bad_input("id: not a job number"))?;
        let prefecture = if ctx.principal.is(Role::Prefecture) { ctx.principal.prefecture } else { None };
        let job =
            ctx.run(move |c, _| Box::pin(async move { renkei_core::jobs::retry(c, id, prefecture).await })).await?;
        Ok(DeadJob::from(job))
    }

    /// Switches one of the caller's own alerts on or off.
    async fn set_alert_preference(ctx: &Context, alert: String, enabled: bool) -> ApiResult<Vec<AlertPreference>> {
        let alert: renkei_core::alerts::Alert = alert.parse()?;
        let prefs = ctx
            .run(move |c, p| {
                Box::pin(async move {
                    let user = users::current(c, p)
                        .await?
                        .ok_or_else(|| Error::forbidden("only registered users have alert preferences"))?;
                    renkei_core::alerts::set_preference(c, user.id, alert, enabled).await?;
                    renkei_core::alerts::preferences(c, user.id).await
                })
            })
            .await?;
        Ok(prefs.into_iter().map(AlertPreference::from).collect())
    }

    /// Links a vendor to a hospital or clinic; the vendor then sees that hospital.
    async fn link_vendor(ctx: &Context, hospital_id: ID, vendor_id: ID) -> ApiResult<Organisation> {
        vendor_link(ctx, hospital_id, vendor_id, true).await
    }

    /// Removes a vendor link.
    async fn unlink_vendor(ctx: &Context, hospital_id: ID, vendor_id: ID) -> ApiResult<Organisation> {
        vendor_link(ctx, hospital_id, vendor_id, false).await
    }
}

async fn vendor_link(ctx: &Context, hospital_id: ID, vendor_id: ID, link: bool) -> ApiResult<Organisation> {
    let hospital_id = parse_id("hospitalId", &hospital_id)?;
    let vendor_id = parse_id("vendorId", &vendor_id)?;
    let hospital = ctx
        .run(move |c, p| {
            Box::pin(async move {
                if link {
                    vendors::link(c, p, hospital_id, vendor_id).await
                } else {
                    vendors::unlink(c, p, hospital_id, vendor_id).await
                }
            })
        })
        .await?;
    Ok(Organisation(hospital))
}
