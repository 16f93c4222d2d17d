//! Critical-infrastructure designation coverage against the law's timeline: at least one
//! designated hospital per region (8) from the law's start, and per prefecture (47) by the end of
//! its third fiscal year.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use diesel_async::RunQueryDsl;

use super::Settings;
use crate::db::Conn;
use crate::registry::geography::Geography;
use crate::text::text_enum;
use crate::{Principal, Result, Role};

text_enum! {
    /// Where a requirement of the law stands.
    Requirement {
        /// Every area has a designated hospital.
        Met = "met",
        /// Some have none, and the requirement does not apply yet.
        NotYetDue = "not_yet_due",
        /// Some have none, and it applies.
        Missed = "missed",
    }
}

/// A region or prefecture and its designated hospitals in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Area {
    pub code: String,
    pub name_ja: String,
    pub designated_hospitals: i64,
}

#[derive(Clone, Debug)]
pub struct Coverage {
    pub as_of: NaiveDate,
    pub law_start_fiscal_year: i32,
    pub regions: Vec<Area>,
    pub prefectures: Vec<Area>,
    /// The day each requirement applies from.
    pub regions_due: NaiveDate,
    pub prefectures_due: NaiveDate,
    pub regions_requirement: Requirement,
    pub prefectures_requirement: Requirement,
}

impl Coverage {
    pub fn regions_covered(&self) -> usize {
        self.regions.iter().filter(|a| a.designated_hospitals > 0).count()
    }

    pub fn prefectures_covered(&self) -> usize {
        self.prefectures.iter().filter(|a| a.designated_hospitals > 0).count()
    }
}

fn requirement(as_of: NaiveDate, due: NaiveDate, areas: &[Area]) -> Requirement {
    if areas.iter().all(|a| a.designated_hospitals > 0) {
        Requirement::Met
    } else if as_of < due {
        Requirement::NotYetDue
    } else {
        Requirement::Missed
    }
}

/// Coverage on `as_of`. Designations are national data: the ministry and prefectures read it
/// (a prefecture sees every region's and prefecture's count, not which hospitals).
pub async fn coverage(
    c: &mut Conn,
    p: &Principal,
    geo: &Geography,
    settings: &Settings,
    as_of: NaiveDate,
) -> Result<Coverage> {
    p.require(&[Role::National, Role::Prefecture, Role::Dashboard], "follow designation coverage")?;
    let by_prefecture = designated_by_prefecture(c, as_of).await?;
    let prefectures: Vec<Area> = geo
        .prefectures
        .iter()
        .map(|pr| Area {
            code: format!("{:02}", pr.code),
            name_ja: pr.name_ja.clone(),
            designated_hospitals: by_prefecture.get(&pr.code).copied().unwrap_or(0),
        })
        .collect();
    let regions: Vec<Area> = geo
        .regions
        .iter()
        .map(|r| Area {
            code: r.code.clone(),
            name_ja: r.name_ja.clone(),
            designated_hospitals: geo
                .prefectures_in(&r.code)
                .map(|pr| by_prefecture.get(&pr.code).copied().unwrap_or(0))
                .sum(),
        })
        .collect();
    let start = settings.designation_law_start_fy;
    let regions_due = NaiveDate::from_ymd_opt(start, 4, 1).unwrap_or(as_of);
    // "By the third fiscal year": the end of it.
    let prefectures_due = NaiveDate::from_ymd_opt(start + 3, 3, 31).unwrap_or(as_of);
    Ok(Coverage {
        as_of,
        law_start_fiscal_year: start,
        regions_requirement: requirement(as_of, regions_due, &regions),
        prefectures_requirement: requirement(as_of, prefectures_due, &prefectures),
        regions,
        prefectures,
        regions_due,
        prefectures_due,
    })
}

/// Designated hospitals in force on `day`, per prefecture. The counts are public; the function
/// that counts them (migration `kpis`) reads every prefecture and returns no hospital.
async fn designated_by_prefecture(c: &mut Conn, day: NaiveDate) -> Result<BTreeMap<i16, i64>> {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::SmallInt)]
        prefecture_code: i16,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        hospitals: i64,
    }
    let rows: Vec<Count> = diesel::sql_query("SELECT * FROM kpi_designated_by_prefecture($1)")
        .bind::<diesel::sql_types::Date, _>(day)
        .load(c)
        .await?;
    Ok(rows.into_iter().map(|r| (r.prefecture_code, r.hospitals)).collect())
}
