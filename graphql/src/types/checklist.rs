//! Checklist catalogs and the input that loads a new one.

use juniper::{GraphQLInputObject, GraphQLObject, graphql_object};
use renkei_core::checklists::catalog::{self, Catalog as Core, Item};

use super::enums::{AnswerType, ChecklistForm, ItemStatus};
use crate::Context;
use crate::error::ApiResult;

pub struct ChecklistCatalog(pub Core);

/// A fiscal year's form and its items.
#[graphql_object(context = Context)]
impl ChecklistCatalog {
    fn fiscal_year(&self) -> i32 {
        i32::from(self.0.fiscal_year)
    }
    fn form(&self) -> ChecklistForm {
        self.0.form.into()
    }
    fn title(&self) -> &str {
        &self.0.title
    }
    async fn items(&self, ctx: &Context) -> ApiResult<Vec<ChecklistItem>> {
        let id = self.0.id;
        let rows = ctx.run(move |c, _| Box::pin(async move { catalog::items(c, id).await })).await?;
        Ok(rows.into_iter().map(ChecklistItem::from).collect())
    }
}

/// One item of a checklist.
#[derive(GraphQLObject)]
pub struct ChecklistItem {
    /// e.g. `2-7`.
    pub code: String,
    pub position: i32,
    pub section_ja: String,
    pub section_en: String,
    pub text_ja: String,
    pub text_en: String,
    pub answer_type: AnswerType,
    pub choices: Vec<String>,
    pub status: ItemStatus,
    pub note: Option<String>,
    /// The KPI this item feeds, if any.
    pub kpi: Option<String>,
}

impl From<Item> for ChecklistItem {
    fn from(i: Item) -> Self {
        Self {
            code: i.code,
            position: i32::from(i.position),
            section_ja: i.section_ja,
            section_en: i.section_en,
            text_ja: i.text_ja,
            text_en: i.text_en,
            answer_type: i.answer_type.into(),
            choices: i.choices,
            status: i.status.into(),
            note: i.note,
            kpi: i.kpi,
        }
    }
}

#[derive(GraphQLInputObject)]
pub struct ChecklistItemInput {
    pub code: String,
    pub section_ja: String,
    pub section_en: String,
    pub text_ja: String,
    pub text_en: String,
    pub answer_type: AnswerType,
    pub choices: Option<Vec<String>>,
    pub status: ItemStatus,
    pub note: Option<String>,
    pub kpi: Option<String>,
}

/// A new catalog: a fiscal year's form with its items, in order.
#[derive(GraphQLInputObject)]
pub struct ChecklistCatalogInput {
    pub fiscal_year: i32,
    pub form: ChecklistForm,
    pub title: String,
    pub items: Vec<ChecklistItemInput>,
}

impl ChecklistCatalogInput {
    pub fn into_core(self) -> catalog::NewCatalog {
        catalog::NewCatalog {
            fiscal_year: self.fiscal_year,
            form: self.form.into(),
            title: self.title,
            items: self
                .items
                .into_iter()
                .map(|i| Item {
                    catalog_id: uuid::Uuid::nil(),
                    code: i.code,
                    position: 0,
                    section_ja: i.section_ja,
                    section_en: i.section_en,
                    text_ja: i.text_ja,
                    text_en: i.text_en,
                    answer_type: i.answer_type.into(),
                    choices: i.choices.unwrap_or_default(),
                    status: i.status.into(),
                    note: i.note,
                    kpi: i.kpi,
                })
                .collect(),
        }
    }
}
