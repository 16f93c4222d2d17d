//! MHLW reporting bundles: a ZIP per fiscal year, national or for one prefecture, with
//! `manifest.json` (each file's SHA-256, size and row count), tables as CSV that Excel opens in
//! Japanese (UTF-8 with BOM, CRLF), an incident table, and `summary.html` in Japanese with
//! inline SVG charts. The same data gives the same bytes: entries carry a fixed time, and the
//! manifest's date is that of the newest data, not of the build.
//! The KPI tables (every headline KPI by prefecture and bed band, with numerator and
//! denominator) and the checklist item counts come from the KPI engine, as the bundle's scope
//! sees them.

use std::collections::BTreeMap;
use std::io::Write;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::alerts::SendMail;
use crate::checklists::catalog::{self, Form};
use crate::db::Conn;
use crate::incidents::clocks::{day_of, format_jst};
use crate::incidents::stats::{self, GroupBy};
use crate::incidents::store as incidents;
use crate::incidents::{IncidentKind, Recipient};
use crate::jobs::{self, BackgroundJob, Context, JobError};
use crate::registry::designations;
use crate::registry::geography::Geography;
use crate::registry::organisations::{BedBand, OrganisationKind};
use crate::schema::{bundles, organisations, users};
use crate::{Error, Principal, Result, Role};

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = bundles)]
pub struct Bundle {
    pub id: Uuid,
    pub prefecture_code: Option<i16>,
    pub fiscal_year: i16,
    pub status: String,
    pub requested_by: String,
    pub created_at: DateTime<Utc>,
    pub ready_at: Option<DateTime<Utc>>,
    pub sha256: Option<String>,
    pub size_bytes: Option<i32>,
    pub error: Option<String>,
}

/// The fiscal year (1 April – 31 March) a day falls in.
pub fn fiscal_year_of(day: NaiveDate) -> i32 {
    use chrono::Datelike;
    if day.month() >= 4 { day.year() } else { day.year() - 1 }
}

/// [1 April, next 1 April) of fiscal year `fy`, in JST.
pub fn fiscal_year_bounds(fy: i32) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = |y: i32| {
        NaiveDate::from_ymd_opt(y, 4, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc() - chrono::Duration::hours(9))
            .unwrap_or_default()
    };
    (start(fy), start(fy + 1))
}

/// Queues a bundle. The ministry asks for any scope; a prefecture official for their own.
pub async fn request(c: &mut Conn, p: &Principal, fiscal_year: i32, prefecture: Option<i16>) -> Result<Bundle> {
    p.require(&[Role::National, Role::Prefecture], "request reporting bundles")?;
    if p.is(Role::Prefecture) && prefecture != p.prefecture {
        return Err(Error::forbidden("a prefecture official requests their own prefecture's bundle"));
    }
    let this_year = fiscal_year_of(day_of(Utc::now()));
    if !(2020..=this_year).contains(&fiscal_year) {
        return Err(Error::bad_input(format!("fiscalYear: between 2020 and {this_year}")));
    }
    let bundle: Bundle = diesel::insert_into(bundles::table)
        .values((
            bundles::prefecture_code.eq(prefecture),
            bundles::fiscal_year.eq(fiscal_year as i16),
            bundles::requested_by.eq(&p.subject),
        ))
        .returning(Bundle::as_returning())
        .get_result(c)
        .await?;
    jobs::enqueue(c, &BuildBundle { bundle_id: bundle.id, prefecture }).await?;
    Ok(bundle)
}

pub async fn list(c: &mut Conn, first: i64) -> Result<Vec<Bundle>> {
    Ok(bundles::table.select(Bundle::as_select()).order(bundles::created_at.desc()).limit(first).load(c).await?)
}

/// The ZIP of a ready bundle the caller may see.
pub async fn content(c: &mut Conn, id: Uuid) -> Result<Option<(Bundle, Vec<u8>)>> {
    let row: Option<(Bundle, Option<Vec<u8>>)> =
        bundles::table.find(id).select((Bundle::as_select(), bundles::content)).first(c).await.optional()?;
    Ok(row.and_then(|(b, content)| content.map(|bytes| (b, bytes))))
}

/// A CSV that Excel opens as UTF-8: BOM, CRLF, quoted where needed.
pub(crate) struct Csv {
    pub(crate) text: String,
    pub(crate) rows: usize,
}

impl Csv {
    pub(crate) fn new(header: &[&str]) -> Self {
        let mut csv = Self { text: String::from("\u{feff}"), rows: 0 };
        csv.line(header.iter().map(|h| h.to_string()).collect());
        csv.rows = 0;
        csv
    }

    pub(crate) fn line(&mut self, cells: Vec<String>) {
        let escaped: Vec<String> = cells
            .into_iter()
            .map(|c| if c.contains([',', '"', '\n', '\r']) { format!("\"{}\"", c.replace('"', "\"\"")) } else { c })
            .collect();
        self.text.push_str(&escaped.join(","));
        self.text.push_str("\r\n");
        self.rows += 1;
    }
}

/// Horizontal bars, one per (label, value).
fn bar_chart(title: &str, bars: &[(String, i64)]) -> String {
    let max = bars.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let height = 30 + bars.len() * 24;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"560\" height=\"{height}\" role=\"img\" aria-label=\"{title}\">\
         <text x=\"0\" y=\"18\" font-size=\"14\" font-weight=\"bold\">{title}</text>"
    );
    for (i, (label, value)) in bars.iter().enumerate() {
        let y = 30 + i * 24;
        let width = (*value as f64 / max as f64 * 330.0).round() as i64;
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text><rect x=\"150\" y=\"{y}\" width=\"{width}\" height=\"16\" fill=\"#2b6cb0\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"12\">{value}</text>",
            y + 13,
            html_escape(label),
            156 + width,
            y + 13
        ));
    }
    svg.push_str("</svg>");
    svg
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[derive(Serialize)]
struct ManifestFile {
    name: String,
    sha256: String,
    bytes: usize,
    rows: usize,
}

#[derive(Serialize)]
struct Manifest {
    scope: String,
    prefecture: Option<i16>,
    fiscal_year: i32,
    /// The time of the newest data in the bundle.
    generated_at: String,
    generator: String,
    files: Vec<ManifestFile>,
}

/// Who reads a bundle's data: a prefecture's official for a prefecture bundle, so that it holds
/// only that prefecture's rows; the ministry for the national one.
fn reader(prefecture: Option<i16>) -> Result<Principal> {
    match prefecture {
        Some(code) => Principal::new("renkei-bundles".into(), Role::Prefecture, None, Some(code)),
        None => Ok(Principal::system()),
    }
}

/// What a bundle holds, read in one transaction as its scope: the tables, and the figures the
/// summary charts.
pub struct Contents {
    fiscal_year: i32,
    prefecture: Option<i16>,
    scope_name: String,
    /// The time of the newest data, which dates the bundle.
    newest: DateTime<Utc>,
    hospitals: Hospitals,
    incidents: Incidents,
    statistics: Csv,
    kpis: Kpis,
}

/// Reads the data of the bundle for `fiscal_year` and `prefecture` (national when `None`). The
/// caller's transaction reads as a principal of that scope, so that a prefecture's bundle holds
/// only its own data.
pub async fn read(c: &mut Conn, fiscal_year: i32, prefecture: Option<i16>) -> Result<Contents> {
    let geo = Geography::load(c).await?;
    let reader = reader(prefecture)?;
    let (from, until) = fiscal_year_bounds(fiscal_year);
    let as_of_day = day_of(until - chrono::Duration::seconds(1)).min(day_of(Utc::now()));
    let hospitals = hospitals(c, &geo, prefecture, as_of_day).await?;
    let incidents = incidents_table(c, &reader, &geo, from, until).await?;
    let statistics = statistics_table(c, &reader, &geo, from, until).await?;
    let kpis = kpi_tables(c, &reader, &geo, fiscal_year, prefecture, as_of_day).await?;
    let scope_name = match prefecture {
        Some(code) => geo.prefecture(code).map(|p| p.name_ja.clone()).unwrap_or_default(),
        None => "全国".to_owned(),
    };
    let newest = hospitals.newest.max(incidents.newest).unwrap_or(from);
    Ok(Contents { fiscal_year, prefecture, scope_name, newest, hospitals, incidents, statistics, kpis })
}

/// The ZIP for `fiscal_year` and `prefecture`, read in the caller's transaction (see [`read`]).
pub async fn build(c: &mut Conn, fiscal_year: i32, prefecture: Option<i16>) -> Result<Vec<u8>> {
    read(c, fiscal_year, prefecture).await?.zip().await
}

/// Hospitals by prefecture and bed band, with designations in force on `as_of_day`.
struct Hospitals {
    csv: Csv,
    /// (prefecture, bed band's index) → (hospitals, designated).
    by_band: BTreeMap<(i16, usize), (i64, i64)>,
    count: usize,
    designated: usize,
    newest: Option<DateTime<Utc>>,
}

async fn hospitals(c: &mut Conn, geo: &Geography, prefecture: Option<i16>, as_of_day: NaiveDate) -> Result<Hospitals> {
    let mut q = organisations::table.filter(organisations::kind.eq(OrganisationKind::Hospital)).into_boxed();
    if let Some(code) = prefecture {
        q = q.filter(organisations::prefecture_code.eq(code));
    }
    let hospitals: Vec<(Uuid, i16, Option<i32>, DateTime<Utc>)> = q
        .select((
            organisations::id,
            organisations::prefecture_code,
            organisations::licensed_beds,
            organisations::updated_at,
        ))
        .order(organisations::id)
        .load(c)
        .await?;
    let ids: Vec<Uuid> = hospitals.iter().map(|h| h.0).collect();
    let designation_rows = designations::for_hospitals(c, &ids).await?;
    let designated: std::collections::BTreeSet<Uuid> =
        designation_rows.iter().filter(|d| d.in_force_on(as_of_day)).map(|d| d.hospital_id).collect();
    let mut by_band: BTreeMap<(i16, usize), (i64, i64)> = BTreeMap::new();
    for (id, pref, beds, _) in &hospitals {
        let band = BedBand::ALL.iter().position(|b| *b == BedBand::of(beds.unwrap_or(20))).unwrap_or(0);
        let cell = by_band.entry((*pref, band)).or_default();
        cell.0 += 1;
        if designated.contains(id) {
            cell.1 += 1;
        }
    }
    let mut csv = Csv::new(&["都道府県コード", "都道府県", "地方", "病床規模", "病院数", "重要インフラ指定病院数"]);
    for ((pref, band), (n, d)) in &by_band {
        let p = geo.prefecture(*pref);
        csv.line(vec![
            format!("{pref:02}"),
            p.map(|p| p.name_ja.clone()).unwrap_or_default(),
            p.and_then(|p| geo.region(&p.region_code)).map(|r| r.name_ja.clone()).unwrap_or_default(),
            BedBand::ALL[*band].label().to_owned(),
            n.to_string(),
            d.to_string(),
        ]);
    }
    let newest = hospitals.iter().map(|h| h.3).chain(designation_rows.iter().map(|d| d.updated_at)).max();
    Ok(Hospitals { csv, by_band, count: hospitals.len(), designated: designated.len(), newest })
}

/// Incidents discovered in the fiscal year.
struct Incidents {
    csv: Csv,
    by_kind: BTreeMap<IncidentKind, i64>,
    count: usize,
    newest: Option<DateTime<Utc>>,
}

async fn incidents_table(
    c: &mut Conn,
    reader: &Principal,
    geo: &Geography,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Incidents> {
    let filter =
        incidents::IncidentFilter { discovered_from: Some(from), discovered_until: Some(until), ..Default::default() };
    let (mut rows, _) = incidents::list(c, reader, &filter, i64::from(i32::MAX), None).await?;
    rows.sort_by_key(|i| (i.discovered_at, i.id));
    let incident_ids: Vec<Uuid> = rows.iter().map(|i| i.id).collect();
    let notes = incidents::notifications(c, &incident_ids).await?;
    let mut csv = Csv::new(&[
        "インシデントID",
        "都道府県",
        "種別",
        "フェーズ",
        "発見日時",
        "サイバー攻撃の疑い",
        "個人情報漏えい",
        "厚労省報告日時",
        "封じ込め日時",
        "復旧日時",
    ]);
    let mut by_kind: BTreeMap<IncidentKind, i64> = BTreeMap::new();
    for i in &rows {
        *by_kind.entry(i.kind).or_default() += 1;
        let mhlw = notes
            .iter()
            .find(|n| n.incident_id == i.id && n.recipient == Recipient::Mhlw)
            .map(|n| format_jst(n.notified_at));
        csv.line(vec![
            i.id.to_string(),
            geo.prefecture(i.prefecture_code).map(|p| p.name_ja.clone()).unwrap_or_default(),
            i.kind.label_ja().to_owned(),
            i.phase.as_str().to_owned(),
            format_jst(i.discovered_at),
            if i.suspected_cyber_attack { "あり" } else { "なし" }.to_owned(),
            i.personal_data_leak.as_str().to_owned(),
            mhlw.unwrap_or_default(),
            i.contained_at.map(format_jst).unwrap_or_default(),
            i.recovered_at.map(format_jst).unwrap_or_default(),
        ]);
    }
    Ok(Incidents { csv, by_kind, count: rows.len(), newest: rows.iter().map(|i| i.updated_at).max() })
}

/// Incident statistics by kind as of the year's end, so the same data gives the same figures.
async fn statistics_table(
    c: &mut Conn,
    reader: &Principal,
    geo: &Geography,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Csv> {
    let stats_now = until.min(Utc::now());
    let statistics = stats::statistics(c, reader, geo, from, until, GroupBy::Kind, stats_now).await?;
    let mut csv = Csv::new(&[
        "種別",
        "件数",
        "厚労省報告までの時間(中央値,h)",
        "封じ込めまで(中央値,h)",
        "復旧まで(中央値,h)",
        "期限到来の報告",
        "期限内の報告",
    ]);
    for r in &statistics {
        let fmt = |v: Option<f64>| v.map(|h| format!("{h:.1}")).unwrap_or_default();
        csv.line(vec![
            r.key.clone(),
            r.incidents.to_string(),
            fmt(r.median_hours_to_mhlw_report),
            fmt(r.median_hours_to_containment),
            fmt(r.median_hours_to_recovery),
            r.reports_due.to_string(),
            r.reports_on_time.to_string(),
        ]);
    }
    Ok(csv)
}

/// KPIs by prefecture and bed band, answers per checklist and survey item, and the headline
/// rates the summary charts.
struct Kpis {
    csv: Csv,
    items: Csv,
    /// (metric in Japanese, rate in percent).
    bars: Vec<(String, i64)>,
}

/// As the bundle's scope sees them (a prefecture its own hospitals, whole).
async fn kpi_tables(
    c: &mut Conn,
    reader: &Principal,
    geo: &Geography,
    fiscal_year: i32,
    prefecture: Option<i16>,
    as_of_day: NaiveDate,
) -> Result<Kpis> {
    let scope = match prefecture {
        Some(code) => crate::kpis::Scope::Prefecture(code),
        None => crate::kpis::Scope::National,
    };
    let mut query = crate::kpis::Query {
        fiscal_years: vec![fiscal_year],
        scope,
        group_by: vec![crate::kpis::Dimension::Prefecture, crate::kpis::Dimension::BedBand],
        metrics: Vec::new(),
        items: Vec::new(),
        today: as_of_day,
    };
    // Exact either way (the ministry's bundle, or a prefecture's own hospitals, which it sees):
    // the protection settings never come into play.
    let settings = crate::kpis::Settings::default();
    let mut kpi_rows = crate::kpis::report(c, reader, geo, &query, &settings).await?;
    let band_order = |b: &Option<String>| BedBand::ALL.iter().position(|x| Some(x.label()) == b.as_deref());
    kpi_rows.sort_by_key(|r| (r.metric.as_str(), r.group.prefecture, band_order(&r.group.bed_band)));
    let mut csv = Csv::new(&["指標", "都道府県コード", "都道府県", "病床規模", "分子", "分母", "割合"]);
    for r in &kpi_rows {
        let code = r.group.prefecture.unwrap_or_default();
        csv.line(vec![
            r.metric.as_str().to_owned(),
            format!("{code:02}"),
            geo.prefecture(code).map(|p| p.name_ja.clone()).unwrap_or_default(),
            r.group.bed_band.clone().unwrap_or_default(),
            r.numerator.map(|n| n.to_string()).unwrap_or_default(),
            r.denominator.to_string(),
            r.rate.map(|v| format!("{v:.4}")).unwrap_or_default(),
        ]);
    }
    query.group_by = Vec::new();
    let headline = crate::kpis::report(c, reader, geo, &query, &settings).await?;
    query.metrics = vec![crate::kpis::Metric::ItemYesRate];
    let item_rows = crate::kpis::report(c, reader, geo, &query, &settings).await?;
    let mut item_text: BTreeMap<String, String> = BTreeMap::new();
    for form in [Form::Hospital, Form::Survey] {
        if let Some(catalog) = catalog::find(c, fiscal_year, form).await? {
            item_text.extend(catalog::items(c, catalog.id).await?.into_iter().map(|i| (i.code, i.text_ja)));
        }
    }
    let mut items = Csv::new(&["項目", "内容", "はい", "いいえ", "回答数", "はいの割合"]);
    for r in &item_rows {
        let code = r.item.clone().unwrap_or_default();
        let yes = r.numerator.unwrap_or_default();
        items.line(vec![
            code.clone(),
            item_text.get(&code).cloned().unwrap_or_default(),
            yes.to_string(),
            (r.denominator - yes).to_string(),
            r.denominator.to_string(),
            r.rate.map(|v| format!("{v:.4}")).unwrap_or_default(),
        ]);
    }
    let bars = headline
        .iter()
        .filter(|r| r.metric != crate::kpis::Metric::OverdueImprovements)
        .filter_map(|r| r.rate.map(|v| (r.metric.label_ja().to_owned(), (v * 100.0).round() as i64)))
        .collect();
    Ok(Kpis { csv, items, bars })
}

impl Contents {
    /// `summary.html`: the headline figures and three charts.
    fn summary(&self) -> String {
        let fiscal_year = self.fiscal_year;
        let scope_name = &self.scope_name;
        let band_totals: Vec<(String, i64)> = BedBand::ALL
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, b)| {
                let hospitals = self.hospitals.by_band.iter().filter(|((_, band), _)| *band == i).map(|(_, v)| v.0);
                (b.label().to_owned(), hospitals.sum())
            })
            .collect();
        let kind_bars: Vec<(String, i64)> =
            self.incidents.by_kind.iter().map(|(k, n)| (k.label_ja().to_owned(), *n)).collect();
        format!(
            "<!DOCTYPE html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\"><title>Renkei 報告 {scope_name} 令和{}年度 ({fiscal_year}年度)</title></head><body>\
             <h1>医療機関のサイバーセキュリティ対策 報告（{scope_name}・{fiscal_year}年度）</h1>\
             <p>データ基準日時: {}。病院数 {} 施設、うち重要インフラ指定 {} 施設。年度内に発見されたインシデント {} 件。</p>\
             {}{}{}\
             <p>表は同梱の CSV（UTF-8、BOM 付き）を参照してください。</p></body></html>\n",
            fiscal_year - 2018,
            format_jst(self.newest),
            self.hospitals.count,
            self.hospitals.designated,
            self.incidents.count,
            bar_chart("病床規模別の病院数", &band_totals),
            bar_chart("主要指標（%）", &self.kpis.bars),
            bar_chart("種別ごとのインシデント件数", &kind_bars),
        )
    }

    /// The ZIP: `manifest.json`, then the tables and the summary. Compressing and hashing take
    /// the CPU for a while, so they run on the blocking pool, after the read transaction.
    pub async fn zip(self) -> Result<Vec<u8>> {
        tokio::task::spawn_blocking(move || self.zip_now()).await.map_err(Error::internal)?
    }

    fn zip_now(self) -> Result<Vec<u8>> {
        let summary = self.summary();
        let files: Vec<(&str, Vec<u8>, usize)> = vec![
            ("hospitals_by_bed_band.csv", self.hospitals.csv.text.into_bytes(), self.hospitals.csv.rows),
            ("kpis_by_prefecture_and_bed_band.csv", self.kpis.csv.text.into_bytes(), self.kpis.csv.rows),
            ("checklist_item_counts.csv", self.kpis.items.text.into_bytes(), self.kpis.items.rows),
            ("incidents.csv", self.incidents.csv.text.into_bytes(), self.incidents.csv.rows),
            ("incident_statistics.csv", self.statistics.text.into_bytes(), self.statistics.rows),
            ("summary.html", summary.into_bytes(), 0),
        ];
        let manifest = Manifest {
            scope: if self.prefecture.is_some() { "prefecture".into() } else { "national".into() },
            prefecture: self.prefecture,
            fiscal_year: self.fiscal_year,
            generated_at: self.newest.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            generator: format!("renkei {}", env!("CARGO_PKG_VERSION")),
            files: files
                .iter()
                .map(|(name, bytes, rows)| ManifestFile {
                    name: (*name).to_owned(),
                    sha256: hex::encode(Sha256::digest(bytes)),
                    bytes: bytes.len(),
                    rows: *rows,
                })
                .collect(),
        };
        let manifest = serde_json::to_vec_pretty(&manifest).map_err(Error::internal)?;

        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(0o644);
        for (name, bytes) in std::iter::once(("manifest.json", &manifest)).chain(files.iter().map(|(n, b, _)| (*n, b)))
        {
            zip.start_file(name, options).map_err(Error::internal)?;
            zip.write_all(bytes).map_err(Error::internal)?;
        }
        Ok(zip.finish().map_err(Error::internal)?.into_inner())
    }
}

/// `bundle.build`: builds a requested bundle, stores it, and tells the requester by e-mail.
#[derive(Serialize, Deserialize)]
pub struct BuildBundle {
    pub bundle_id: Uuid,
    /// Whose dead job it is (`deadJobs`, row-level security); none for a national bundle.
    #[serde(default)]
    pub prefecture: Option<i16>,
}

impl BackgroundJob for BuildBundle {
    const NAME: &'static str = "bundle.build";

    fn dedup_key(&self) -> Option<String> {
        Some(format!("bundle:{}", self.bundle_id))
    }

    async fn run(self, ctx: &Context) -> std::result::Result<(), JobError> {
        let bundle_id = self.bundle_id;
        let built = build_and_store(ctx, bundle_id).await;
        if let Err(e) = &built {
            // The requester sees the build failed rather than a bundle queued for ever; a retry
            // that succeeds makes it ready. The cause stays in the log (`job.failed`).
            let error = format!("{}: {}", e.failure.code(), e.failure.sentence());
            let marked = ctx
                .as_system(move |c| {
                    Box::pin(async move {
                        diesel::update(bundles::table.find(bundle_id).filter(bundles::status.ne("ready")))
                            .set((bundles::status.eq("failed"), bundles::error.eq(error)))
                            .execute(c)
                            .await?;
                        Ok(())
                    })
                })
                .await;
            if let Err(m) = marked {
                tracing::warn!(code = m.failure.code(), detail = %m.detail(), "bundle.mark_failed_failed");
            }
        }
        built
    }
}

/// Reads the bundle's data as its scope, builds the ZIP off the async threads, stores it and
/// tells the requester.
async fn build_and_store(ctx: &Context, bundle_id: Uuid) -> std::result::Result<(), JobError> {
    let bundle: Bundle = ctx
        .as_system(move |c| {
            Box::pin(async move { Ok(bundles::table.find(bundle_id).select(Bundle::as_select()).first(c).await?) })
        })
        .await?;
    if bundle.status == "ready" {
        return Ok(());
    }
    let (fy, pref) = (i32::from(bundle.fiscal_year), bundle.prefecture_code);
    // Reading is as the bundle's own scope; storing and notifying as the ministry.
    let contents = ctx.db.run(&reader(pref)?, move |c| Box::pin(read(c, fy, pref))).await?;
    let bytes = contents.zip().await?;
    let sha = hex::encode(Sha256::digest(&bytes));
    let size = i32::try_from(bytes.len()).map_err(Error::internal)?;
    let requester = bundle.requested_by;
    ctx.as_system(move |c| {
        Box::pin(async move {
            diesel::update(bundles::table.find(bundle_id))
                .set((
                    bundles::status.eq("ready"),
                    bundles::error.eq(None::<String>),
                    bundles::ready_at.eq(diesel::dsl::now),
                    bundles::sha256.eq(&sha),
                    bundles::size_bytes.eq(size),
                    bundles::content.eq(&bytes),
                ))
                .execute(c)
                .await?;
            let email: Option<String> =
                users::table.filter(users::subject.eq(&requester)).select(users::email).first(c).await.optional()?;
            if let Some(to) = email {
                let mail = SendMail {
                    to,
                    subject: format!("【Renkei】報告バンドルの準備ができました（{fy}年度）"),
                    body: format!("ご依頼の報告バンドル（{fy}年度）ができました。\nRenkei の /bundles/{bundle_id} からダウンロードできます。\nSHA-256: {sha}\n"),
                    key: format!("bundle-ready:{bundle_id}"),
                    prefecture: pref,
                };
                jobs::enqueue(c, &mail).await?;
            }
            Ok(())
        })
    })
    .await
}

/// `bundle.scheduled`: requests the national bundle of `fiscal_year`, weekly.
#[derive(Serialize, Deserialize)]
pub struct ScheduledBundle {
    pub fiscal_year: i32,
}

impl BackgroundJob for ScheduledBundle {
    const NAME: &'static str = "bundle.scheduled";

    async fn run(self, ctx: &Context) -> std::result::Result<(), JobError> {
        let fiscal_year = self.fiscal_year;
        ctx.as_system(move |c| {
            Box::pin(async move { request(c, &Principal::system(), fiscal_year, None).await.map(drop) })
        })
        .await
    }
}
