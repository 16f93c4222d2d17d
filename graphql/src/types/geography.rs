//! Regions and prefectures, served from the reference data loaded at start.

use juniper::graphql_object;
use renkei_core::registry::geography::{Prefecture as CorePrefecture, Region as CoreRegion};

use crate::Context;

pub struct Region(pub CoreRegion);
pub struct Prefecture(pub CorePrefecture);

/// One of the eight regions (八地方区分) of the designation rules.
#[graphql_object(context = Context)]
impl Region {
    /// Stable code, e.g. `kanto`.
    fn code(&self) -> &str {
        &self.0.code
    }
    fn name_ja(&self) -> &str {
        &self.0.name_ja
    }
    fn name_en(&self) -> &str {
        &self.0.name_en
    }
    fn prefectures(&self, ctx: &Context) -> Vec<Prefecture> {
        ctx.geography.prefectures_in(&self.0.code).cloned().map(Prefecture).collect()
    }
}

/// A prefecture (都道府県) by its JIS X 0401 code.
#[graphql_object(context = Context)]
impl Prefecture {
    /// JIS X 0401 code, 1 (Hokkaido) to 47 (Okinawa).
    fn code(&self) -> i32 {
        i32::from(self.0.code)
    }
    fn name_ja(&self) -> &str {
        &self.0.name_ja
    }
    fn name_en(&self) -> &str {
        &self.0.name_en
    }
    fn region(&self, ctx: &Context) -> Option<Region> {
        ctx.geography.region(&self.0.region_code).cloned().map(Region)
    }
}
