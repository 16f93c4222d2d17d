//! KPI reports, peer comparison and designation coverage.

use chrono::NaiveDate;
use juniper::{GraphQLInputObject, GraphQLObject, ID, graphql_object};
use renkei_core::kpis::coverage as core_coverage;
use renkei_core::kpis::peers::{PeerRow as CorePeerRow, Peers};
use renkei_core::kpis::{Row, Scope};
use renkei_core::registry::organisations::BedBand as CoreBand;

use super::enums::{BedBand, DesignationRequirement, KpiMetric, KpiProtection};
use crate::Context;
use crate::error::ApiResult;
use crate::ids::{parse_id, to_id};

/// Where a report looks: at most one of these; none means the whole country.
#[derive(GraphQLInputObject, Default)]
pub struct KpiScopeInput {
    /// A region code, e.g. `kanto`.
    pub region_code: Option<String>,
    pub prefecture_code: Option<i32>,
    /// A health centre, for its jurisdiction (its own staff, its prefecture and the ministry).
    pub jurisdiction_id: Option<ID>,
}

impl KpiScopeInput {
    pub fn scope(&self) -> ApiResult<Scope> {
        let set = [self.region_code.is_some(), self.prefecture_code.is_some(), self.jurisdiction_id.is_some()];
        if set.iter().filter(|s| **s).count() > 1 {
            return Err(
                renkei_core::Error::bad_input("scope: give one of regionCode, prefectureCode, jurisdictionId").into()
            );
        }
        Ok(if let Some(r) = &self.region_code {
            Scope::Region(r.clone())
        } else if let Some(p) = self.prefecture_code {
            Scope::Prefecture(
                i16::try_from(p).map_err(|_| renkei_core::Error::bad_input("scope.prefectureCode: 1 to 47"))?,
            )
        } else if let Some(j) = &self.jurisdiction_id {
            Scope::Jurisdiction(parse_id("scope.jurisdictionId", j)?)
        } else {
            Scope::National
        })
    }
}

fn band(label: &str) -> Option<BedBand> {
    CoreBand::ALL.into_iter().find(|b| b.label() == label).map(BedBand::from)
}

/// One cell of a report. A perturbed cell's figures are the exact ones plus a bounded noise on the
/// part the caller may not see; a suppressed cell keeps its denominator and hides numerator and rate.
pub struct KpiRow(pub Row);

#[graphql_object(context = Context)]
impl KpiRow {
    fn fiscal_year(&self) -> i32 {
        self.0.fiscal_year
    }
    fn metric(&self) -> KpiMetric {
        self.0.metric.into()
    }
    /// The item code, for `ITEM_YES_RATE`.
    fn item(&self) -> Option<&str> {
        self.0.item.as_deref()
    }
    fn bed_band(&self) -> Option<BedBand> {
        self.0.group.bed_band.as_deref().and_then(band)
    }
    fn prefecture_code(&self) -> Option<i32> {
        self.0.group.prefecture.map(i32::from)
    }
    fn prefecture_name(&self, ctx: &Context) -> Option<String> {
        self.0.group.prefecture.and_then(|c| ctx.geography.prefecture(c)).map(|p| p.name_ja.clone())
    }
    fn region_code(&self) -> Option<&str> {
        self.0.group.region.as_deref()
    }
    fn designated(&self) -> Option<bool> {
        self.0.group.designated
    }
    /// A hospital function code (`disaster_base` …), or `none`.
    fn function(&self) -> Option<&str> {
        self.0.group.function.as_deref()
    }
    /// Null when suppressed.
    fn numerator(&self) -> Option<i32> {
        self.0.numerator.map(|n| n as i32)
    }
    fn denominator(&self) -> i32 {
        self.0.denominator as i32
    }
    /// numerator / denominator, null when suppressed or when the denominator is 0.
    fn rate(&self) -> Option<f64> {
        self.0.rate
    }
    /// Fewer hospitals behind this cell than the threshold that the caller may not see:
    /// numerator and rate withheld (`protection` is `SUPPRESSED`).
    fn suppressed(&self) -> bool {
        self.0.suppressed()
    }
    /// Whether the figures are exact, perturbed or suppressed for the caller.
    fn protection(&self) -> KpiProtection {
        self.0.protection.into()
    }
}

/// A hospital's own figures next to its bed band's, nationally and in its prefecture.
pub struct PeerComparison(pub Peers);

#[graphql_object(context = Context)]
impl PeerComparison {
    fn hospital_id(&self) -> ID {
        to_id(self.0.hospital_id)
    }
    fn fiscal_year(&self) -> i32 {
        self.0.fiscal_year
    }
    fn bed_band(&self) -> Option<BedBand> {
        band(&self.0.bed_band)
    }
    fn prefecture_code(&self) -> i32 {
        i32::from(self.0.prefecture_code)
    }
    fn rows(&self) -> Vec<PeerRow> {
        self.0.rows.iter().cloned().map(PeerRow).collect()
    }
}

pub struct PeerRow(CorePeerRow);

#[graphql_object(context = Context)]
impl PeerRow {
    fn metric(&self) -> KpiMetric {
        self.0.metric.into()
    }
    fn item(&self) -> Option<&str> {
        self.0.item.as_deref()
    }
    /// The hospital's own part: a yes is 1 of 1, a no 0 of 1, not applicable 0 of 0 (for
    /// overdue improvements, its count of overdue items).
    fn own_numerator(&self) -> i32 {
        self.0.own_numerator as i32
    }
    fn own_denominator(&self) -> i32 {
        self.0.own_denominator as i32
    }
    /// The bed band nationally.
    fn national(&self) -> Option<KpiRow> {
        self.0.national.clone().map(KpiRow)
    }
    /// The bed band in the hospital's prefecture.
    fn prefecture(&self) -> Option<KpiRow> {
        self.0.prefecture.clone().map(KpiRow)
    }
}

/// A region or prefecture and how many hospitals in it are designated.
#[derive(GraphQLObject)]
pub struct CoverageArea {
    /// A region code (`kanto`) or a two-digit prefecture code (`13`).
    pub code: String,
    pub name_ja: String,
    pub designated_hospitals: i32,
    pub covered: bool,
}

/// Critical-infrastructure designation coverage against the law's timeline.
#[derive(GraphQLObject)]
pub struct DesignationCoverage {
    pub as_of: NaiveDate,
    pub law_start_fiscal_year: i32,
    /// Regions with at least one designated hospital, of 8.
    pub regions_covered: i32,
    pub regions_total: i32,
    /// Prefectures with at least one designated hospital, of 47.
    pub prefectures_covered: i32,
    pub prefectures_total: i32,
    /// One per region from the law's start.
    pub regions_due: NaiveDate,
    pub regions_requirement: DesignationRequirement,
    /// One per prefecture by the end of the law's third fiscal year.
    pub prefectures_due: NaiveDate,
    pub prefectures_requirement: DesignationRequirement,
    pub regions: Vec<CoverageArea>,
    pub prefectures: Vec<CoverageArea>,
}

impl From<core_coverage::Coverage> for DesignationCoverage {
    fn from(c: core_coverage::Coverage) -> Self {
        let areas = |a: &[core_coverage::Area]| -> Vec<CoverageArea> {
            a.iter()
                .map(|a| CoverageArea {
                    code: a.code.clone(),
                    name_ja: a.name_ja.clone(),
                    designated_hospitals: a.designated_hospitals as i32,
                    covered: a.designated_hospitals > 0,
                })
                .collect()
        };
        Self {
            as_of: c.as_of,
            law_start_fiscal_year: c.law_start_fiscal_year,
            regions_covered: c.regions_covered() as i32,
            regions_total: c.regions.len() as i32,
            prefectures_covered: c.prefectures_covered() as i32,
            prefectures_total: c.prefectures.len() as i32,
            regions_due: c.regions_due,
            regions_requirement: c.regions_requirement.into(),
            prefectures_due: c.prefectures_due,
            prefectures_requirement: c.prefectures_requirement.into(),
            regions: areas(&c.regions),
            prefectures: areas(&c.prefectures),
        }
    }
}
