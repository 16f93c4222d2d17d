//! Checklist submissions, their revisions and reviews.

use chrono::{DateTime, NaiveDate, Utc};
use juniper::{GraphQLInputObject, GraphQLObject, ID, graphql_object};
use renkei_core::checklists::submissions::{self as subs, Answer, ReviewComment, Submission};
use renkei_core::registry::organisations as orgs;

use super::organisation::Organisation;
use crate::Context;
use crate::error::ApiResult;
use crate::ids::to_id;

/// One item's answer, as on the paper form.
#[derive(GraphQLObject)]
pub struct ChecklistAnswer {
    pub code: String,
    /// `yes`/`no`, a number, a date (YYYY-MM-DD) or a choice.
    pub value: Option<String>,
    /// The choices of a multi-choice item.
    pub values: Vec<String>,
    /// The day it was checked.
    pub checked_on: Option<NaiveDate>,
    /// For a "no": the day it is to be fixed by.
    pub target_on: Option<NaiveDate>,
    pub second_checked_on: Option<NaiveDate>,
    pub second_value: Option<String>,
}

impl From<Answer> for ChecklistAnswer {
    fn from(a: Answer) -> Self {
        Self {
            code: a.code,
            value: a.value,
            values: a.values,
            checked_on: a.checked_on,
            target_on: a.target_on,
            second_checked_on: a.second_checked_on,
            second_value: a.second_value,
        }
    }
}

#[derive(GraphQLInputObject)]
pub struct ChecklistAnswerInput {
    pub code: String,
    pub value: Option<String>,
    pub values: Option<Vec<String>>,
    pub checked_on: Option<NaiveDate>,
    pub target_on: Option<NaiveDate>,
    pub second_checked_on: Option<NaiveDate>,
    pub second_value: Option<String>,
}

impl From<ChecklistAnswerInput> for Answer {
    fn from(a: ChecklistAnswerInput) -> Self {
        Self {
            code: a.code,
            value: a.value,
            values: a.values.unwrap_or_default(),
            checked_on: a.checked_on,
            target_on: a.target_on,
            second_checked_on: a.second_checked_on,
            second_value: a.second_value,
        }
    }
}

/// A reviewer's comment on one item.
#[derive(GraphQLObject)]
#[graphql(name = "ReviewComment")]
pub struct ReviewNote {
    pub code: String,
    pub comment: String,
}

#[derive(GraphQLInputObject)]
pub struct ReviewCommentInput {
    pub code: String,
    pub comment: String,
}

/// A submitted revision: its answers never change.
#[derive(GraphQLObject)]
pub struct SubmissionRevision {
    pub revision: i32,
    pub answers: Vec<ChecklistAnswer>,
    pub submitted_at: DateTime<Utc>,
    /// `accepted` or `returned`, once reviewed.
    pub review_outcome: Option<String>,
    pub review_comments: Vec<ReviewNote>,
    pub reviewed_at: Option<DateTime<Utc>>,
}

pub struct ChecklistSubmission(pub Submission);

/// A hospital's checklist for a fiscal year (or a vendor's form for a hospital).
#[graphql_object(context = Context)]
impl ChecklistSubmission {
    fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn hospital(&self, ctx: &Context) -> ApiResult<Option<Organisation>> {
        let id = self.0.hospital_id;
        Ok(ctx.run(move |c, p| Box::pin(async move { orgs::find(c, p, id).await })).await?.map(Organisation))
    }
    fn vendor_id(&self) -> Option<ID> {
        self.0.vendor_id.map(to_id)
    }
    /// `draft`, `submitted`, `reviewed` or `returned`.
    fn status(&self) -> &str {
        &self.0.status
    }
    /// The latest submitted revision (0 before the first).
    fn revision(&self) -> i32 {
        self.0.revision
    }
    fn draft_answers(&self) -> ApiResult<Vec<ChecklistAnswer>> {
        Ok(subs::answers_of(&self.0.draft_answers)?.into_iter().map(ChecklistAnswer::from).collect())
    }
    fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// Items new or changed since the same form a year earlier (to check with extra care).
    async fn new_or_changed_items(&self, ctx: &Context) -> ApiResult<Vec<String>> {
        let id = self.0.catalog_id;
        Ok(ctx.run(move |c, _| Box::pin(async move { subs::new_or_changed(c, id).await })).await?)
    }
    /// Every submitted revision, first to latest.
    async fn revisions(&self, ctx: &Context) -> ApiResult<Vec<SubmissionRevision>> {
        let id = self.0.id;
        let rows = ctx.run(move |c, _| Box::pin(async move { subs::revisions(c, id).await })).await?;
        rows.into_iter()
            .map(|r| {
                let comments: Vec<ReviewComment> =
                    serde_json::from_value(r.review_comments).map_err(renkei_core::Error::internal)?;
                Ok(SubmissionRevision {
                    revision: r.revision,
                    answers: subs::answers_of(&r.answers)?.into_iter().map(ChecklistAnswer::from).collect(),
                    submitted_at: r.submitted_at,
                    review_outcome: r.review_outcome,
                    review_comments: comments
                        .into_iter()
                        .map(|c| ReviewNote { code: c.code, comment: c.comment })
                        .collect(),
                    reviewed_at: r.reviewed_at,
                })
            })
            .collect()
    }
}

/// A hospital and where its checklist stands for the year.
pub struct HospitalChecklistStatus {
    pub hospital: orgs::Organisation,
    pub status: String,
}

#[graphql_object(context = Context)]
impl HospitalChecklistStatus {
    fn hospital(&self) -> Organisation {
        Organisation(self.hospital.clone())
    }
    /// `not_started`, `draft`, `submitted`, `reviewed` or `returned`.
    fn status(&self) -> &str {
        &self.status
    }
}

/// A prefecture's submission window for a fiscal year.
#[derive(GraphQLObject)]
pub struct SubmissionWindow {
    pub prefecture: i32,
    pub fiscal_year: i32,
    pub opens_on: NaiveDate,
    pub closes_on: NaiveDate,
    pub inspection_from: Option<NaiveDate>,
    pub inspection_until: Option<NaiveDate>,
}

impl From<renkei_core::checklists::windows::Window> for SubmissionWindow {
    fn from(w: renkei_core::checklists::windows::Window) -> Self {
        Self {
            prefecture: i32::from(w.prefecture_code),
            fiscal_year: i32::from(w.fiscal_year),
            opens_on: w.opens_on,
            closes_on: w.closes_on,
            inspection_from: w.inspection_from,
            inspection_until: w.inspection_until,
        }
    }
}

/// A finding of an inspection on one item.
#[derive(GraphQLObject)]
pub struct InspectionFinding {
    pub code: String,
    pub finding: String,
}

#[derive(GraphQLInputObject)]
pub struct InspectionFindingInput {
    pub code: String,
    pub finding: String,
}

/// 立入検査: an on-site inspection by the health centre.
#[derive(GraphQLObject)]
pub struct Inspection {
    pub id: ID,
    pub hospital_id: ID,
    pub fiscal_year: i32,
    pub inspected_on: NaiveDate,
    pub inspector: String,
    pub findings: Vec<InspectionFinding>,
    pub follow_up_on: Option<NaiveDate>,
}

impl Inspection {
    pub fn from_core(i: renkei_core::checklists::inspections::Inspection) -> Result<Self, renkei_core::Error> {
        let findings: Vec<renkei_core::checklists::inspections::Finding> =
            serde_json::from_value(i.findings).map_err(renkei_core::Error::internal)?;
        Ok(Self {
            id: to_id(i.id),
            hospital_id: to_id(i.hospital_id),
            fiscal_year: i32::from(i.fiscal_year),
            inspected_on: i.inspected_on,
            inspector: i.inspector,
            findings: findings.into_iter().map(|f| InspectionFinding { code: f.code, finding: f.finding }).collect(),
            follow_up_on: i.follow_up_on,
        })
    }
}
