//! Incident statistics for prefectures and the ministry: counts by kind, infection vector, bed
//! band, region, prefecture or month; median times from detection to the MHLW report, to
//! containment and to recovery; and how many regulatory reports were made on time.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::Recipient;
use super::clocks::{self, ClockState};
use super::store::{self, Incident};
use crate::db::Conn;
use crate::registry::geography::Geography;
use crate::registry::organisations::BedBand;
use crate::schema::{incidents, organisations};
use crate::{Error, Principal, Result, Role};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    Kind,
    InfectionVector,
    BedBand,
    Region,
    Prefecture,
    Month,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    pub key: String,
    pub incidents: i64,
    pub median_hours_to_mhlw_report: Option<f64>,
    pub median_hours_to_containment: Option<f64>,
    pub median_hours_to_recovery: Option<f64>,
    /// Regulatory reports whose deadline has passed or that were made.
    pub reports_due: i64,
    pub reports_on_time: i64,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    let m = if v.len().is_multiple_of(2) { (v[mid - 1] + v[mid]) / 2.0 } else { v[mid] };
    Some((m * 10.0).round() / 10.0)
}

fn hours(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_minutes() as f64 / 60.0
}

/// Statistics over the incidents discovered in [from, until) that the caller may see (near
/// misses and threat information left out), one row per group and a `total` row last.
pub async fn statistics(
    c: &mut Conn,
    p: &Principal,
    geo: &Geography,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    group_by: GroupBy,
    now: DateTime<Utc>,
) -> Result<Vec<Row>> {
    p.require(&[Role::National, Role::Prefecture], "read incident statistics")?;
    if until <= from {
        return Err(Error::bad_input("until: must be after from"));
    }
    let filter =
        store::IncidentFilter { discovered_from: Some(from), discovered_until: Some(until), ..Default::default() };
    // All of them: statistics are not paged.
    let (rows, _) = store::list(c, p, &filter, i64::from(i32::MAX), None).await?;
    let rows: Vec<Incident> = rows.into_iter().filter(|i| !i.kind.is_light()).collect();
    let ids: Vec<uuid::Uuid> = rows.iter().map(|i| i.id).collect();
    let beds: BTreeMap<uuid::Uuid, Option<i32>> = incidents::table
        .inner_join(organisations::table.on(organisations::id.eq(incidents::hospital_id)))
        .filter(incidents::id.eq_any(&ids))
        .select((incidents::id, organisations::licensed_beds))
        .load::<(uuid::Uuid, Option<i32>)>(c)
        .await?
        .into_iter()
        .collect();
    let made = store::notifications(c, &ids).await?;

    let key_of = |i: &Incident| -> String {
        match group_by {
            GroupBy::Kind => i.kind.as_str().to_owned(),
            GroupBy::InfectionVector => i.infection_vector.clone().unwrap_or_else(|| "unknown".into()),
            GroupBy::BedBand => beds
                .get(&i.id)
                .copied()
                .flatten()
                .map_or_else(|| "unknown".into(), |b| BedBand::of(b).label().to_owned()),
            GroupBy::Region => geo
                .prefecture(i.prefecture_code)
                .and_then(|p| geo.region(&p.region_code))
                .map_or_else(|| "unknown".into(), |r| r.code.clone()),
            GroupBy::Prefecture => format!("{:02}", i.prefecture_code),
            GroupBy::Month => {
                let d = clocks::day_of(i.discovered_at);
                format!("{:04}-{:02}", d.year(), d.month())
            }
        }
    };

    #[derive(Default)]
    struct Acc {
        n: i64,
        mhlw: Vec<f64>,
        contained: Vec<f64>,
        recovered: Vec<f64>,
        due: i64,
        on_time: i64,
    }
    let mut groups: BTreeMap<String, Acc> = BTreeMap::new();
    let mut total = Acc::default();
    for i in &rows {
        let notified: Vec<(Recipient, DateTime<Utc>)> =
            made.iter().filter(|n| n.incident_id == i.id).map(|n| (n.recipient, n.notified_at)).collect();
        for acc in [groups.entry(key_of(i)).or_default(), &mut total] {
            acc.n += 1;
            if let Some((_, at)) = notified.iter().find(|(r, _)| *r == Recipient::Mhlw) {
                acc.mhlw.push(hours(i.discovered_at, *at));
            }
            if let Some(at) = i.contained_at {
                acc.contained.push(hours(i.discovered_at, at));
            }
            if let Some(at) = i.recovered_at {
                acc.recovered.push(hours(i.discovered_at, at));
            }
            for clock in clocks::clocks(&i.facts(), &notified, now) {
                match clock.state {
                    ClockState::MetOnTime => {
                        acc.due += 1;
                        acc.on_time += 1;
                    }
                    ClockState::MetLate | ClockState::Overdue => acc.due += 1,
                    ClockState::Running | ClockState::DueSoon => {}
                }
            }
        }
    }
    let finish = |key: String, a: Acc| Row {
        key,
        incidents: a.n,
        median_hours_to_mhlw_report: median(a.mhlw),
        median_hours_to_containment: median(a.contained),
        median_hours_to_recovery: median(a.recovered),
        reports_due: a.due,
        reports_on_time: a.on_time,
    };
    let mut out: Vec<Row> = groups.into_iter().map(|(k, a)| finish(k, a)).collect();
    out.push(finish("total".into(), total));
    Ok(out)
}
