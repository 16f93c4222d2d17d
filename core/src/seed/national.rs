//! `renkei-api seed national`: the synthetic national dataset of `national.sql` (8,205 hospitals,
//! clinics, three fiscal years of checklists and surveys, designations, incidents), loaded in one
//! transaction as the schema owner, then the KPI aggregates rebuilt once.

use std::time::Instant;

use chrono::{TimeZone, Utc};
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

use crate::incidents::{IncidentKind, InfectionVector, LeakStatus, Report, SpreadRisk};

/// How much to load.
#[derive(Clone, Copy, Debug)]
pub struct Size {
    pub clinics: u32,
    pub incidents: u32,
}

impl Default for Size {
    fn default() -> Self {
        Self { clinics: 100_000, incidents: 3_000 }
    }
}

#[derive(Clone, Debug, Default)]
pub struct NationalSummary {
    pub already_present: bool,
    pub hospitals: i64,
    pub clinics: i64,
    pub submissions: i64,
    pub incidents: i64,
    pub kpi_facts: i64,
    pub seconds: f64,
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(c: &mut AsyncPgConnection, sql: &str) -> anyhow::Result<i64> {
    Ok(diesel::sql_query(sql).get_result::<Count>(c).await?.n)
}

/// The report every seeded incident starts from (its kind, title and times are set per row):
/// written by the application's own type, so that reading a seeded incident works like any other.
fn report_template() -> anyhow::Result<String> {
    let at = Utc.with_ymd_and_hms(2024, 4, 1, 0, 0, 0).single().unwrap_or_default();
    let report = Report {
        title: "全国データのインシデント".into(),
        kind: IncidentKind::Ransomware,
        discovered_at: at,
        location_and_impact: Some("電子カルテ端末の一部".into()),
        spread_risk: SpreadRisk::Low,
        attacker: None,
        method: None,
        cause: None,
        measures_taken: Some("ネットワークから隔離".into()),
        suspected_cyber_attack: true,
        infection_vector: Some(InfectionVector::VpnDevice),
        services_suspended: Vec::new(),
        double_extortion: None,
        data_exfiltrated: None,
        personal_data_leak: LeakStatus::None,
        records_affected: None,
        leak_learned_on: None,
        wrongful_intent: None,
        ransom_demanded: None,
        ransom_amount_yen: None,
        ransom_paid: None,
        offline_backup_intact: Some(true),
        restored_from_pre_infection_backup: None,
        contained_at: None,
        recovered_at: None,
    };
    Ok(serde_json::to_string(&report)?)
}

async fn load(c: &mut AsyncPgConnection, size: Size) -> anyhow::Result<NationalSummary> {
    // The owner is bound by the policies too (FORCE): look as the ministry.
    c.batch_execute("SET LOCAL statement_timeout = 0; SELECT set_config('renkei.role', 'national', true)").await?;
    if count(c, "SELECT count(*) AS n FROM organisations WHERE gmis_id = 'NAT-H00001'").await? > 0 {
        return Ok(NationalSummary { already_present: true, ..Default::default() });
    }
    let script = include_str!("national.sql")
        .replace("{clinics}", &size.clinics.to_string())
        .replace("{incidents}", &size.incidents.to_string())
        .replace("{report}", &format!("'{}'", report_template()?.replace('\'', "''")));
    // Statement by statement: each is planned once the temporary tables before it are filled
    // (sent as one batch the load took 163 s instead of 48 s on the reference machine).
    for statement in script.split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
        let started = Instant::now();
        c.batch_execute(statement).await?;
        tracing::debug!(
            ms = started.elapsed().as_millis() as u64,
            statement = &statement[..statement.len().min(80)],
            "seed.step"
        );
    }
    Ok(NationalSummary {
        already_present: false,
        hospitals: count(c, "SELECT count(*) AS n FROM organisations WHERE name LIKE '全国データ病院%'").await?,
        clinics: count(c, "SELECT count(*) AS n FROM organisations WHERE name LIKE '全国データ診療所%'").await?,
        submissions: count(c, "SELECT count(*) AS n FROM submissions WHERE updated_by = 'seed-national'").await?,
        incidents: count(c, "SELECT count(*) AS n FROM incidents WHERE reported_by = 'seed-national'").await?,
        kpi_facts: count(c, "SELECT count(*) AS n FROM kpi_facts").await?,
        seconds: 0.0,
    })
}

/// Loads the dataset through `owner_url` (the schema owner: it writes past the policies and
/// rebuilds the aggregates). Does nothing when it is already there.
pub async fn national(owner_url: &str, size: Size) -> anyhow::Result<NationalSummary> {
    let started = Instant::now();
    let mut c = AsyncPgConnection::establish(owner_url).await?;
    c.batch_execute("BEGIN").await?;
    let loaded = load(&mut c, size).await;
    match &loaded {
        Ok(_) => c.batch_execute("COMMIT").await?,
        Err(_) => c.batch_execute("ROLLBACK").await?,
    }
    let summary = loaded?;
    Ok(NationalSummary { seconds: started.elapsed().as_secs_f64(), ..summary })
}
