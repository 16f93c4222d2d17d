//! Organisations, their list (a Relay connection) and the inputs that create and change them.

use chrono::{DateTime, Utc};
use juniper::{GraphQLInputObject, ID, graphql_object};
use renkei_core::Error;
use renkei_core::registry::organisations::{
    self as orgs, BedBand as CoreBand, Organisation as Core, OrganisationFilter,
};
use renkei_core::registry::{designations, users, vendors};

use super::designation::Designation;
use super::enums::{BedBand, HospitalFunction, OrganisationKind};
use super::geography::Prefecture;
use super::user::{User, UserConnection, UserEdge};
use crate::Context;
use crate::connection::PageInfo;
use crate::error::ApiResult;
use crate::ids::{decode_cursor, encode_cursor, page_size, parse_id, to_id};

pub struct Organisation(pub Core);

/// A ministry office, prefecture office, health centre, hospital, clinic or vendor.
#[graphql_object(context = Context)]
impl Organisation {
    fn id(&self) -> ID {
        to_id(self.0.id)
    }
    fn kind(&self) -> OrganisationKind {
        self.0.kind.into()
    }
    /// Official name in Japanese.
    fn name(&self) -> &str {
        &self.0.name
    }
    fn name_en(&self) -> Option<&str> {
        self.0.name_en.as_deref()
    }
    fn prefecture(&self, ctx: &Context) -> Option<Prefecture> {
        ctx.geography.prefecture(self.0.prefecture_code).cloned().map(Prefecture)
    }
    /// The health centre (保健所) whose jurisdiction a hospital or clinic is in, when the caller
    /// may see it.
    async fn health_centre(&self, ctx: &Context) -> ApiResult<Option<Organisation>> {
        let Some(id) = self.0.jurisdiction_id else { return Ok(None) };
        Ok(ctx.run(move |c, p| Box::pin(async move { orgs::find(c, p, id).await })).await?.map(Organisation))
    }
    fn licensed_beds(&self) -> Option<i32> {
        self.0.licensed_beds
    }
    fn bed_band(&self) -> Option<BedBand> {
        self.0.licensed_beds.map(|b| CoreBand::of(b).into())
    }
    fn functions(&self) -> Vec<HospitalFunction> {
        self.0.functions.iter().map(|f| (*f).into()).collect()
    }
    /// Whether an electronic health record system is in use.
    fn ehr_in_use(&self) -> Option<bool> {
        self.0.ehr_in_use
    }
    fn ehr_product(&self) -> Option<&str> {
        self.0.ehr_product.as_deref()
    }
    /// 医療機関コード (10 digits).
    fn medical_institution_code(&self) -> Option<&str> {
        self.0.medical_institution_code.as_deref()
    }
    /// Identifier in G-MIS, the ministry's hospital information system.
    fn gmis_id(&self) -> Option<&str> {
        self.0.gmis_id.as_deref()
    }
    fn active(&self) -> bool {
        self.0.active
    }
    fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// Critical-infrastructure designations (重要インフラ指定), oldest first.
    async fn designations(&self, ctx: &Context) -> ApiResult<Vec<Designation>> {
        if self.0.kind != orgs::OrganisationKind::Hospital {
            return Ok(Vec::new());
        }
        let id = self.0.id;
        let rows = ctx.run(move |c, _| Box::pin(async move { designations::for_hospitals(c, &[id]).await })).await?;
        Ok(rows.into_iter().map(Designation).collect())
    }
    /// Whether a designation is in force today.
    async fn designated(&self, ctx: &Context) -> ApiResult<bool> {
        let today = Utc::now().date_naive();
        Ok(self.designations(ctx).await?.iter().any(|d| d.0.in_force_on(today)))
    }
    /// The organisation's users, for those who may manage or see them.
    async fn users(&self, ctx: &Context, first: i32, after: Option<String>) -> ApiResult<UserConnection> {
        let first = page_size(first)?;
        let after = after.map(|a| decode_cursor(&a)).transpose()?;
        let id = self.0.id;
        let (rows, more) = ctx
            .run(move |c, _| Box::pin(async move { users::list_for_organisation(c, id, first, after).await }))
            .await?;
        let edges: Vec<UserEdge> = rows
            .into_iter()
            .map(|u| UserEdge { cursor: encode_cursor(&u.display_name, u.id), node: User(u) })
            .collect();
        Ok(UserConnection { page_info: PageInfo::forward(edges.iter().map(|e| &e.cursor), more), edges })
    }
    /// Vendors this hospital or clinic has linked.
    async fn vendors(&self, ctx: &Context) -> ApiResult<Vec<Organisation>> {
        if !self.0.kind.gives_care() {
            return Ok(Vec::new());
        }
        let id = self.0.id;
        let rows = ctx.run(move |c, _| Box::pin(async move { vendors::vendors_of(c, id).await })).await?;
        Ok(rows.into_iter().map(Organisation).collect())
    }
    /// For a vendor: the hospitals and clinics that linked it.
    async fn linked_hospitals(&self, ctx: &Context) -> ApiResult<Vec<Organisation>> {
        if self.0.kind != orgs::OrganisationKind::Vendor {
            return Ok(Vec::new());
        }
        let id = self.0.id;
        let rows = ctx.run(move |c, _| Box::pin(async move { vendors::hospitals_of(c, id).await })).await?;
        Ok(rows.into_iter().map(Organisation).collect())
    }
}

/// Narrows the organisations list; every given filter must hold.
#[derive(GraphQLInputObject, Default)]
pub struct OrganisationFilterInput {
    /// JIS prefecture code.
    pub prefecture: Option<i32>,
    pub kinds: Option<Vec<OrganisationKind>>,
    pub bed_band: Option<BedBand>,
    /// Hospitals and clinics in this health centre's jurisdiction.
    pub health_centre_id: Option<ID>,
    /// Only hospitals whose critical-infrastructure designation is in force (true) or not (false).
    pub designated: Option<bool>,
    /// Part of the Japanese or English name (case-insensitive).
    pub name_contains: Option<String>,
}

impl OrganisationFilterInput {
    pub fn into_core(self, ctx: &Context) -> Result<OrganisationFilter, Error> {
        let prefecture = self
            .prefecture
            .map(|p| ctx.geography.require_prefecture("filter.prefecture", p).map(|p| p.code))
            .transpose()?;
        let name_contains = match self.name_contains {
            Some(n) if n.chars().count() > 100 => {
                return Err(Error::bad_input("filter.nameContains: at most 100 characters"));
            }
            Some(n) if n.chars().any(char::is_control) => {
                return Err(Error::bad_input("filter.nameContains: must not contain control characters"));
            }
            Some(n) if n.trim().is_empty() => None,
            other => other.map(|n| n.trim().to_owned()),
        };
        Ok(OrganisationFilter {
            prefecture,
            kinds: self.kinds.unwrap_or_default().into_iter().map(Into::into).collect(),
            bed_band: self.bed_band.map(Into::into),
            jurisdiction_id: self.health_centre_id.map(|id| parse_id("filter.healthCentreId", &id)).transpose()?,
            designated: self.designated,
            name_contains,
        })
    }
}

pub struct OrganisationEdge {
    pub cursor: String,
    pub node: Organisation,
}

#[graphql_object(context = Context)]
impl OrganisationEdge {
    fn cursor(&self) -> &str {
        &self.cursor
    }
    fn node(&self) -> &Organisation {
        &self.node
    }
}

/// A page of organisations, ordered by name.
pub struct OrganisationConnection {
    pub edges: Vec<OrganisationEdge>,
    pub page_info: PageInfo,
    pub filter: OrganisationFilter,
}

#[graphql_object(context = Context)]
impl OrganisationConnection {
    fn edges(&self) -> &[OrganisationEdge] {
        &self.edges
    }
    fn nodes(&self) -> Vec<&Organisation> {
        self.edges.iter().map(|e| &e.node).collect()
    }
    fn page_info(&self) -> &PageInfo {
        &self.page_info
    }
    /// How many organisations match the filter in all pages (counted only when asked for).
    async fn total_count(&self, ctx: &Context) -> ApiResult<i32> {
        let filter = self.filter.clone();
        let n = ctx.run(move |c, p| Box::pin(async move { orgs::count(c, p, &filter).await })).await?;
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }
}

/// A new organisation. Hospitals need their licensed beds (20 or more); clinics have 0 to 19.
#[derive(GraphQLInputObject)]
pub struct CreateOrganisationInput {
    pub kind: OrganisationKind,
    /// Official name in Japanese, 1 to 200 characters.
    pub name: String,
    pub name_en: Option<String>,
    /// JIS prefecture code (1-47).
    pub prefecture: i32,
    /// For hospitals and clinics: the health centre whose jurisdiction they are in.
    pub health_centre_id: Option<ID>,
    pub licensed_beds: Option<i32>,
    pub functions: Option<Vec<HospitalFunction>>,
    pub ehr_in_use: Option<bool>,
    pub ehr_product: Option<String>,
    /// 医療機関コード: 10 digits.
    pub medical_institution_code: Option<String>,
    pub gmis_id: Option<String>,
}

/// Changes to an organisation; omitted fields stay as they are. A hospital's own users may
/// change only `ehrInUse` and `ehrProduct`.
#[derive(GraphQLInputObject)]
pub struct UpdateOrganisationInput {
    pub name: Option<String>,
    pub name_en: Option<String>,
    pub licensed_beds: Option<i32>,
    pub functions: Option<Vec<HospitalFunction>>,
    pub ehr_in_use: Option<bool>,
    pub ehr_product: Option<String>,
    pub medical_institution_code: Option<String>,
    pub gmis_id: Option<String>,
    pub active: Option<bool>,
}

impl UpdateOrganisationInput {
    pub fn into_core(self) -> orgs::OrganisationChanges {
        orgs::OrganisationChanges {
            name: self.name,
            name_en: self.name_en,
            licensed_beds: self.licensed_beds,
            functions: self.functions.map(|f| f.into_iter().map(Into::into).collect()),
            ehr_in_use: self.ehr_in_use,
            ehr_product: self.ehr_product,
            medical_institution_code: self.medical_institution_code,
            gmis_id: self.gmis_id,
            active: self.active,
        }
    }
}
