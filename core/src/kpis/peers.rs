//! Peer comparison: a hospital's own figures next to its bed band's, nationally and in its
//! prefecture (with the peers the caller may not see perturbed, and suppressed where too few).

use chrono::NaiveDate;
use diesel::sql_types::{BigInt, Date, SmallInt, Text};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::{Dimension, Metric, Query, Row, Scope, report};
use crate::db::Conn;
use crate::registry::geography::Geography;
use crate::registry::organisations;
use crate::{Error, Principal, Result};

/// One KPI: the hospital's own numerator and denominator (a yes is 1 of 1, a no 0 of 1, not
/// applicable 0 of 0) and its peers' rows.
#[derive(Clone, Debug)]
pub struct PeerRow {
    pub metric: Metric,
    pub item: Option<String>,
    pub own_numerator: i64,
    pub own_denominator: i64,
    pub national: Option<Row>,
    pub prefecture: Option<Row>,
}

#[derive(Clone, Debug)]
pub struct Peers {
    pub hospital_id: Uuid,
    pub fiscal_year: i32,
    pub bed_band: String,
    pub prefecture_code: i16,
    pub rows: Vec<PeerRow>,
}

#[derive(diesel::QueryableByName)]
struct Own {
    #[diesel(sql_type = Text)]
    metric: String,
    #[diesel(sql_type = Text)]
    bed_band: String,
    #[diesel(sql_type = SmallInt)]
    prefecture_code: i16,
    #[diesel(sql_type = BigInt)]
    num: i64,
    #[diesel(sql_type = BigInt)]
    den: i64,
}

/// `hospital_id`'s comparison for `fiscal_year`; the caller must be able to see the hospital.
pub async fn compare(
    c: &mut Conn,
    p: &Principal,
    geo: &Geography,
    hospital_id: Uuid,
    fiscal_year: i32,
    today: NaiveDate,
    settings: &super::Settings,
) -> Result<Peers> {
    organisations::get(c, p, hospital_id).await?;
    let fy = i16::try_from(fiscal_year).map_err(|_| Error::bad_input("fiscalYear: not a fiscal year"))?;
    // Read under the caller's row-level security: its own hospital (or those it oversees).
    let own: Vec<Own> = diesel::sql_query(
        "SELECT c.metric, f.bed_band, f.prefecture_code, c.num::bigint AS num, c.den::bigint AS den \
         FROM kpi_facts f CROSS JOIN LATERAL kpi_contributions( \
           f.submitted, f.surveyed, f.ehr_backup, f.offline_backup, f.bcp, \
           f.security_manager, f.fully_compliant, f.addon1_ready, f.answered_items, f.yes_items) c \
         WHERE f.hospital_id = $1 AND f.fiscal_year = $2 \
         UNION ALL \
         SELECT 'overdue_improvements', f.bed_band, f.prefecture_code, \
                (SELECT count(*) FROM unnest(f.open_targets) t WHERE t < $3), f.submitted::int \
         FROM kpi_facts f WHERE f.hospital_id = $1 AND f.fiscal_year = $2",
    )
    .bind::<diesel::sql_types::Uuid, _>(hospital_id)
    .bind::<SmallInt, _>(fy)
    .bind::<Date, _>(today)
    .load(c)
    .await?;
    let Some(first) = <[Own]>::first(&own) else {
        return Err(Error::not_found("figures for that hospital and fiscal year"));
    };
    let (bed_band, prefecture_code) = (first.bed_band.clone(), first.prefecture_code);
    let mut metrics = Metric::HEADLINE.to_vec();
    metrics.push(Metric::ItemYesRate);
    let mut query = Query {
        fiscal_years: vec![fiscal_year],
        scope: Scope::National,
        group_by: vec![Dimension::BedBand],
        metrics,
        items: Vec::new(),
        today,
    };
    let national = report(c, p, geo, &query, settings).await?;
    query.scope = Scope::Prefecture(prefecture_code);
    let in_prefecture = report(c, p, geo, &query, settings).await?;
    let peer = |rows: &[Row], metric: Metric, item: &Option<String>| {
        rows.iter()
            .find(|r| r.metric == metric && &r.item == item && r.group.bed_band.as_deref() == Some(bed_band.as_str()))
            .cloned()
    };
    let rows = own
        .iter()
        .map(|o| {
            let (metric, item) = match o.metric.strip_prefix("item:") {
                Some(code) => (Metric::ItemYesRate, Some(code.to_owned())),
                None => (o.metric.parse::<Metric>().unwrap_or(Metric::SubmissionRate), None),
            };
            PeerRow {
                national: peer(&national, metric, &item),
                prefecture: peer(&in_prefecture, metric, &item),
                metric,
                item,
                own_numerator: o.num,
                own_denominator: o.den,
            }
        })
        .collect();
    Ok(Peers { hospital_id, fiscal_year, bed_band, prefecture_code, rows })
}
