//! Prefectures (JIS X 0401) and the eight regions (八地方区分). Reference data, loaded by the first
//! migration and read once at start: it changes only with the law.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::Conn;
use crate::schema::{prefectures, regions};
use crate::{Error, Result};

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = regions)]
pub struct Region {
    pub code: String,
    pub name_ja: String,
    pub name_en: String,
    pub sort_order: i16,
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = prefectures)]
pub struct Prefecture {
    pub code: i16,
    pub name_ja: String,
    pub name_en: String,
    pub region_code: String,
}

/// All regions and prefectures, in their official order.
#[derive(Clone, Debug)]
pub struct Geography {
    pub regions: Vec<Region>,
    pub prefectures: Vec<Prefecture>,
}

impl Geography {
    pub async fn load(conn: &mut Conn) -> Result<Self> {
        let regions = regions::table.select(Region::as_select()).order(regions::sort_order).load(conn).await?;
        let prefectures =
            prefectures::table.select(Prefecture::as_select()).order(prefectures::code).load(conn).await?;
        Ok(Self { regions, prefectures })
    }

    pub fn prefecture(&self, code: i16) -> Option<&Prefecture> {
        self.prefectures.iter().find(|p| p.code == code)
    }

    /// The prefecture with `code`, or a BAD_USER_INPUT error naming `field`.
    pub fn require_prefecture(&self, field: &str, code: i32) -> Result<&Prefecture> {
        i16::try_from(code)
            .ok()
            .and_then(|c| self.prefecture(c))
            .ok_or_else(|| Error::bad_input(format!("{field}: unknown prefecture code {code} (1-47)")))
    }

    pub fn region(&self, code: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.code == code)
    }

    pub fn prefectures_in(&self, region_code: &str) -> impl Iterator<Item = &Prefecture> {
        self.prefectures.iter().filter(move |p| p.region_code == region_code)
    }
}
