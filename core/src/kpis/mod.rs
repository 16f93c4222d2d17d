//! KPIs (DESIGN §3): for fiscal years and a scope, grouped by bed band, prefecture, region,
//! designation or hospital function; every row a numerator, a denominator and their rate.
//!
//! The figures come from aggregates that PostgreSQL keeps current as submissions land (migration
//! `kpis`): `kpi_cells` by prefecture × bed band × designation for the national, regional and
//! prefectural views, and `kpi_fine_cells` over the per-hospital facts for a health centre's
//! jurisdiction and for functions. Neither rescans answers. For callers who may not see every
//! hospital, what they may not see is perturbed at those cells before any table is summed
//! ([`protection`]).

pub mod coverage;
pub mod peers;
pub mod protection;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use diesel::sql_types::{Array, BigInt, Bool, Date, Nullable, SmallInt, Text};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::db::Conn;
use crate::registry::geography::Geography;
use crate::text::text_enum;
use crate::{Error, Principal, Result, Role};
pub use protection::{Count, Protection};

/// Settings of the KPI engine (see the README's configuration table).
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// `KPI_SUPPRESSION_THRESHOLD`: cells with fewer hidden hospitals than this are suppressed.
    pub suppression_threshold: i64,
    /// `KPI_PROTECTION_PERCENT`: how wide, either side and as a share of its denominator, the
    /// range of true values consistent with a suppressed cell is at least.
    pub protection_percent: i64,
    /// `DESIGNATION_LAW_START_FY`: the fiscal year the designation rules took effect.
    pub designation_law_start_fy: i32,
}

impl Default for Settings {
    fn default() -> Self {
        Self { suppression_threshold: 5, protection_percent: 20, designation_law_start_fy: 2026 }
    }
}

impl Settings {
    /// From the environment; an invalid value names its variable.
    pub fn from_env() -> anyhow::Result<Self> {
        let d = Self::default();
        let s = Self {
            suppression_threshold: crate::config::parse_or("KPI_SUPPRESSION_THRESHOLD", d.suppression_threshold)?,
            protection_percent: crate::config::parse_or("KPI_PROTECTION_PERCENT", d.protection_percent)?,
            designation_law_start_fy: crate::config::parse_or("DESIGNATION_LAW_START_FY", d.designation_law_start_fy)?,
        };
        if !(1..=100).contains(&s.suppression_threshold) {
            anyhow::bail!("KPI_SUPPRESSION_THRESHOLD must be between 1 and 100");
        }
        if !(1..=50).contains(&s.protection_percent) {
            anyhow::bail!("KPI_PROTECTION_PERCENT must be between 1 and 50");
        }
        if !(2020..=2100).contains(&s.designation_law_start_fy) {
            anyhow::bail!("DESIGNATION_LAW_START_FY must be a fiscal year between 2020 and 2100");
        }
        Ok(s)
    }

    /// The disclosure-control parameters these settings give.
    pub fn protection(&self) -> protection::Rules {
        protection::Rules::new(self.suppression_threshold, self.protection_percent)
    }
}

text_enum! {
    /// A KPI (DESIGN §3).
    Metric {
        /// Hospitals with a submitted checklist / hospitals in scope.
        SubmissionRate = "submission_rate",
        /// Respondents with a cyber BCP (survey, or checklist 3-3) / respondents.
        BcpRate = "bcp_rate",
        /// Survey respondents making EHR backups / survey respondents.
        EhrBackupRate = "ehr_backup_rate",
        /// Respondents keeping an offline backup / respondents making EHR backups.
        OfflineBackupRate = "offline_backup_rate",
        /// Checklist 1-1 yes / hospitals with a submitted checklist.
        SecurityManagerRate = "security_manager_rate",
        /// Every required item yes (first or second check) / hospitals with a submitted checklist.
        FullComplianceRate = "full_compliance_rate",
        /// Yes / answers, per item.
        ItemYesRate = "item_yes_rate",
        /// "No" answers past their target date with no later yes (per hospital with a checklist).
        OverdueImprovements = "overdue_improvements",
        /// Hospitals meeting the 診療録管理体制加算1 criteria / hospitals in scope.
        Addon1ReadinessRate = "addon1_readiness_rate",
    }
}

impl Metric {
    /// How reports and bundles name the KPI in Japanese.
    pub fn label_ja(self) -> &'static str {
        match self {
            Self::SubmissionRate => "チェックリスト提出率",
            Self::BcpRate => "サイバーBCP策定率",
            Self::EhrBackupRate => "電子カルテのバックアップ作成率",
            Self::OfflineBackupRate => "オフラインバックアップ保管率",
            Self::SecurityManagerRate => "安全管理責任者の設置率",
            Self::FullComplianceRate => "必須項目すべて「はい」の率",
            Self::ItemYesRate => "項目別「はい」の率",
            Self::OverdueImprovements => "改善予定日超過",
            Self::Addon1ReadinessRate => "診療録管理体制加算1の要件充足率",
        }
    }

    /// The KPIs of a report when none are named: all but the per-item rates.
    pub const HEADLINE: [Metric; 8] = [
        Metric::SubmissionRate,
        Metric::BcpRate,
        Metric::EhrBackupRate,
        Metric::OfflineBackupRate,
        Metric::SecurityManagerRate,
        Metric::FullComplianceRate,
        Metric::OverdueImprovements,
        Metric::Addon1ReadinessRate,
    ];
}

text_enum! {
    /// What a report is grouped by.
    Dimension {
        BedBand = "bed_band",
        Prefecture = "prefecture",
        Region = "region",
        Designation = "designation",
        Function = "function",
    }
}

/// Where a report looks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Scope {
    #[default]
    National,
    Region(String),
    Prefecture(i16),
    /// A health centre's jurisdiction.
    Jurisdiction(Uuid),
}

/// The group a row stands for: the dimensions asked for are set, the others `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Group {
    pub bed_band: Option<String>,
    pub prefecture: Option<i16>,
    pub region: Option<String>,
    pub designated: Option<bool>,
    pub function: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Query {
    pub fiscal_years: Vec<i32>,
    pub scope: Scope,
    pub group_by: Vec<Dimension>,
    /// Empty: the headline KPIs.
    pub metrics: Vec<Metric>,
    /// For `ItemYesRate`: the item codes (empty: every yes/no item).
    pub items: Vec<String>,
    /// "Today", for overdue improvements.
    pub today: NaiveDate,
}

/// One row of a report. A suppressed row has no numerator and no rate.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub fiscal_year: i32,
    pub metric: Metric,
    pub item: Option<String>,
    pub group: Group,
    pub numerator: Option<i64>,
    pub denominator: i64,
    pub rate: Option<f64>,
    pub protection: Protection,
}

impl Row {
    pub fn suppressed(&self) -> bool {
        self.protection == Protection::Suppressed
    }
}

/// Aggregates at the finest grain the engine groups from.
#[derive(diesel::QueryableByName, Debug)]
struct Fine {
    #[diesel(sql_type = SmallInt)]
    fiscal_year: i16,
    #[diesel(sql_type = Text)]
    metric: String,
    #[diesel(sql_type = SmallInt)]
    prefecture_code: i16,
    #[diesel(sql_type = Text)]
    bed_band: String,
    #[diesel(sql_type = Bool)]
    designated: bool,
    #[diesel(sql_type = Nullable<Text>)]
    function: Option<String>,
    #[diesel(sql_type = BigInt)]
    numerator: i64,
    #[diesel(sql_type = BigInt)]
    denominator: i64,
}

/// The most fiscal years one report covers.
pub const MAX_YEARS: usize = 10;

/// A report as the caller may see it: exact for the ministry and for a jurisdiction's overseers,
/// otherwise with the hospitals the caller may not see perturbed ([`protection`]).
pub async fn report(c: &mut Conn, p: &Principal, geo: &Geography, q: &Query, settings: &Settings) -> Result<Vec<Row>> {
    p.require(
        &[
            Role::National,
            Role::Prefecture,
            Role::HealthCentre,
            Role::HospitalAdmin,
            Role::HospitalStaff,
            Role::Dashboard,
        ],
        "read KPIs",
    )?;
    if q.fiscal_years.is_empty() || q.fiscal_years.len() > MAX_YEARS {
        return Err(Error::bad_input(format!("fiscalYears: 1 to {MAX_YEARS} fiscal years")));
    }
    let years: Vec<i16> = q
        .fiscal_years
        .iter()
        .map(|y| i16::try_from(*y).ok().filter(|y| (2000..=2100).contains(y)))
        .collect::<Option<_>>()
        .ok_or_else(|| Error::bad_input("fiscalYears: years between 2000 and 2100"))?;
    let (region, prefecture, jurisdiction) = match &q.scope {
        Scope::National => (None, None, None),
        Scope::Region(code) => {
            geo.region(code).ok_or_else(|| Error::bad_input(format!("scope.regionCode: no region {code}")))?;
            (Some(code.clone()), None, None)
        }
        Scope::Prefecture(code) => {
            (None, Some(geo.require_prefecture("scope.prefectureCode", i32::from(*code))?.code), None)
        }
        Scope::Jurisdiction(id) => {
            // A jurisdiction's figures are for those who oversee it; anyone else could subtract
            // them from the prefecture's to see a single hospital.
            let own = match p.role {
                Role::National => true,
                Role::HealthCentre => p.organisation_id == Some(*id),
                Role::Prefecture => crate::registry::organisations::find(c, p, *id).await?.is_some(),
                _ => false,
            };
            if !own {
                return Err(Error::forbidden("a jurisdiction's KPIs are for its health centre and prefecture"));
            }
            (None, None, Some(*id))
        }
    };
    let metrics: Vec<Metric> = if q.metrics.is_empty() { Metric::HEADLINE.to_vec() } else { q.metrics.clone() };
    let by_function = q.group_by.contains(&Dimension::Function);
    let fine_path = by_function || jurisdiction.is_some();
    // The ministry sees every hospital; those who oversee a jurisdiction, every hospital in it.
    let exact = p.is(Role::National) || jurisdiction.is_some();
    // A perturbed count is bounded by its perturbed parent (the offline-backup numerator by the
    // EHR-backup one, and so on up to the hospitals in scope), so every headline metric is read.
    let read: Vec<Metric> = if exact {
        metrics.clone()
    } else {
        let mut all = Metric::HEADLINE.to_vec();
        all.extend(metrics.iter().filter(|m| **m == Metric::ItemYesRate));
        all
    };

    let all = if fine_path {
        fine_cells(c, &years, jurisdiction, region.as_deref(), prefecture, by_function, q.today).await?
    } else {
        cells(c, &years, region.as_deref(), prefecture, q.today, &read).await?
    };
    // What the caller may see whole: the facts its row-level security lets it read.
    let known = if exact {
        Vec::new()
    } else {
        visible_cells(c, &years, region.as_deref(), prefecture, by_function, q.today).await?
    };
    let secret = if exact { Vec::new() } else { noise_key(c).await? };

    let wanted = |metric: &str| -> Option<(Metric, Option<String>)> {
        match metric.strip_prefix("item:") {
            Some(code) => (metrics.contains(&Metric::ItemYesRate)
                && (q.items.is_empty() || q.items.iter().any(|i| i == code)))
            .then(|| (Metric::ItemYesRate, Some(code.to_owned()))),
            None => metric.parse::<Metric>().ok().filter(|m| metrics.contains(m)).map(|m| (m, None)),
        }
    };
    let group_of = |f: &FineKey| Group {
        bed_band: q.group_by.contains(&Dimension::BedBand).then(|| f.bed_band.clone()),
        prefecture: q.group_by.contains(&Dimension::Prefecture).then_some(f.prefecture_code),
        region: q
            .group_by
            .contains(&Dimension::Region)
            .then(|| geo.prefecture(f.prefecture_code).map(|p| p.region_code.clone()).unwrap_or_default()),
        designated: q.group_by.contains(&Dimension::Designation).then_some(f.designated),
        function: if by_function { f.function.clone() } else { None },
    };

    // The fine cells, each with the counts behind the metrics (what the caller sees of them apart).
    let mut fines: BTreeMap<FineKey, protection::Split> = BTreeMap::new();
    for (f, visible) in all.iter().map(|f| (f, false)).chain(known.iter().map(|f| (f, true))) {
        let Some((num, den)) = Count::of_metric(&f.metric) else { continue };
        let fine = fines.entry(FineKey::of(f)).or_default();
        let counts = if visible { &mut fine.visible } else { &mut fine.total };
        counts.insert(num, f.numerator);
        counts.insert(den, f.denominator);
    }
    // The metrics shown: the ones asked for, and the items that were answered somewhere.
    let mut shown_metrics: Vec<(String, Metric, Option<String>)> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for f in &all {
        if let Some((m, item)) = wanted(&f.metric)
            && seen.insert(f.metric.clone())
        {
            shown_metrics.push((f.metric.clone(), m, item));
        }
    }
    let sides: Vec<(Count, Count)> = shown_metrics.iter().filter_map(|(name, _, _)| Count::of_metric(name)).collect();

    let noise = protection::Noise { secret: &secret, rules: settings.protection() };
    // A row being summed: its figures, whether anything behind it is hidden, and how many
    // hidden hospitals (perturbed).
    #[derive(Default)]
    struct Sum {
        numerator: i64,
        denominator: i64,
        hidden: bool,
        hidden_scope: i64,
    }
    let mut sums: BTreeMap<(i16, usize, Group), Sum> = BTreeMap::new();
    for (key, fine) in fines {
        let shown = if exact { protection::Shown::exact(fine.total) } else { noise.show(&key.name(), fine, &sides) };
        let group = group_of(&key);
        for (i, (num, den)) in sides.iter().enumerate() {
            let entry = sums.entry((key.fiscal_year, i, group.clone())).or_default();
            entry.numerator += shown.counts.get(num).copied().unwrap_or(0);
            entry.denominator += shown.counts.get(den).copied().unwrap_or(0);
            entry.hidden |= shown.hidden;
            entry.hidden_scope += shown.hidden_scope;
        }
    }
    Ok(sums
        .into_iter()
        .filter(|(_, sum)| sum.denominator > 0 || sum.numerator > 0)
        .map(|((fiscal_year, i, group), Sum { numerator, denominator, hidden, hidden_scope })| {
            let (_, metric, item) = shown_metrics[i].clone();
            let protection = protection::protection(hidden, hidden_scope, &noise.rules);
            let shown = protection != Protection::Suppressed;
            Row {
                fiscal_year: i32::from(fiscal_year),
                metric,
                item,
                group,
                numerator: shown.then_some(numerator),
                denominator,
                rate: (shown && denominator > 0).then(|| numerator as f64 / denominator as f64),
                protection,
            }
        })
        .collect())
}

/// A fine cell: the finest grain every table is summed from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct FineKey {
    fiscal_year: i16,
    prefecture_code: i16,
    bed_band: String,
    designated: bool,
    function: Option<String>,
}

impl FineKey {
    fn of(f: &Fine) -> FineKey {
        FineKey {
            fiscal_year: f.fiscal_year,
            prefecture_code: f.prefecture_code,
            bed_band: f.bed_band.clone(),
            designated: f.designated,
            function: f.function.clone(),
        }
    }

    /// What the noise is keyed by, with the count and its value.
    fn name(&self) -> String {
        format!(
            "{}/{}/{}/{}/{}",
            self.fiscal_year,
            self.prefecture_code,
            self.bed_band,
            self.designated,
            self.function.as_deref().unwrap_or("*")
        )
    }
}

/// The secret the noise is keyed with (migration `kpi_protection`): one per installation, so
/// every replica and every restart perturbs a cell alike.
async fn noise_key(c: &mut Conn) -> Result<Vec<u8>> {
    #[derive(diesel::QueryableByName)]
    struct Key {
        #[diesel(sql_type = Text)]
        secret: String,
    }
    let key: Key = diesel::sql_query("SELECT secret FROM kpi_noise_key").get_result(c).await?;
    Ok(key.secret.into_bytes())
}

/// The cells (national, region or prefecture scope), overdue improvements counted as of `today`.
async fn cells(
    c: &mut Conn,
    years: &[i16],
    region: Option<&str>,
    prefecture: Option<i16>,
    today: NaiveDate,
    wanted: &[Metric],
) -> Result<Vec<Fine>> {
    // Overdue improvements are counted against the security-manager cells' denominators (the
    // hospitals with a submitted checklist), so those are read whenever overdue is asked for.
    let mut metrics: Vec<&str> = wanted.iter().map(|m| m.as_str()).collect();
    metrics.push(Metric::SecurityManagerRate.as_str());
    let with_items = wanted.contains(&Metric::ItemYesRate);
    Ok(diesel::sql_query(
        "WITH scoped AS MATERIALIZED ( \
           SELECT k.* FROM kpi_cells k JOIN prefectures p ON p.code = k.prefecture_code \
           WHERE k.fiscal_year = ANY ($1) AND ($2::text IS NULL OR p.region_code = $2) \
             AND ($3::smallint IS NULL OR k.prefecture_code = $3) AND k.denominator > 0 \
             AND (k.metric = ANY ($5) OR ($6 AND k.metric LIKE 'item:%')) \
         ), overdue AS MATERIALIZED ( \
           SELECT fiscal_year, prefecture_code, bed_band, designated, sum(answers)::bigint AS answers \
           FROM kpi_open_targets WHERE fiscal_year = ANY ($1) AND target_on < $4 GROUP BY 1, 2, 3, 4 \
         ) \
         SELECT fiscal_year, metric, prefecture_code, bed_band, designated, NULL::text AS function, \
                numerator::bigint, denominator::bigint \
         FROM scoped \
         UNION ALL \
         SELECT s.fiscal_year, 'overdue_improvements', s.prefecture_code, s.bed_band, s.designated, NULL, \
                coalesce(o.answers, 0), s.denominator \
         FROM scoped s LEFT JOIN overdue o USING (fiscal_year, prefecture_code, bed_band, designated) \
         WHERE s.metric = 'security_manager_rate'",
    )
    .bind::<Array<SmallInt>, _>(years)
    .bind::<Nullable<Text>, _>(region)
    .bind::<Nullable<SmallInt>, _>(prefecture)
    .bind::<Date, _>(today)
    .bind::<Array<Text>, _>(metrics)
    .bind::<Bool, _>(with_items)
    .load(c)
    .await?)
}

/// The same figures from the per-hospital facts (a jurisdiction, or grouped by function).
async fn fine_cells(
    c: &mut Conn,
    years: &[i16],
    jurisdiction: Option<Uuid>,
    region: Option<&str>,
    prefecture: Option<i16>,
    by_function: bool,
    today: NaiveDate,
) -> Result<Vec<Fine>> {
    Ok(diesel::sql_query("SELECT * FROM kpi_fine_cells($1, $2, $3, $4, $5, $6)")
        .bind::<Array<SmallInt>, _>(years)
        .bind::<Nullable<diesel::sql_types::Uuid>, _>(jurisdiction)
        .bind::<Nullable<Text>, _>(region)
        .bind::<Nullable<SmallInt>, _>(prefecture)
        .bind::<Bool, _>(by_function)
        .bind::<Date, _>(today)
        .load(c)
        .await?)
}

/// The contributions of the hospitals the caller may see (row-level security decides), grouped
/// like [`fine_cells`]: what the caller knows anyway, and so need not be hidden from it.
async fn visible_cells(
    c: &mut Conn,
    years: &[i16],
    region: Option<&str>,
    prefecture: Option<i16>,
    by_function: bool,
    today: NaiveDate,
) -> Result<Vec<Fine>> {
    Ok(diesel::sql_query("SELECT * FROM kpi_visible_cells($1, NULL, $2, $3, $4, $5)")
        .bind::<Array<SmallInt>, _>(years)
        .bind::<Nullable<Text>, _>(region)
        .bind::<Nullable<SmallInt>, _>(prefecture)
        .bind::<Bool, _>(by_function)
        .bind::<Date, _>(today)
        .load(c)
        .await?)
}

/// The day KPI reports are computed for (in Japan): open improvements are those past it.
pub fn today() -> chrono::NaiveDate {
    crate::incidents::clocks::day_of(chrono::Utc::now())
}

/// The KPI generation: moves, inside the changing transaction, whenever anything a report reads
/// may have changed (migration `kpi_generation`).
pub async fn generation(c: &mut Conn) -> Result<i64> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        generation: i64,
    }
    let row: Row = diesel::sql_query("SELECT generation FROM kpi_generation").get_result(c).await?;
    Ok(row.generation)
}
