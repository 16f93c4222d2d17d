//! `seed demo`: a realistic registry for trying Renkei out — the ministry, all 47 prefecture
//! offices, health centres, a few hundred hospitals spread over the bed bands like the national
//! survey, clinics, vendors, designations, and one user per role with a known subject so that
//! `renkei-api token --user …` can mint tokens for them. Deterministic: the same run gives the
//! same data, and a second run changes nothing. `seed national` ([`national`]) loads the
//! national-scale dataset for KPIs and benchmarks.

pub mod national;

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

use crate::db::{Conn, Db};
use crate::registry::geography::Geography;
use crate::registry::organisations::{HospitalFunction as F, NewOrganisation, OrganisationKind as K};
use crate::registry::{designations, users, vendors};
use crate::schema::organisations;
use crate::{Principal, Result, Role};

/// What the demo seeding did.
#[derive(Debug, Default)]
pub struct DemoSummary {
    pub already_present: bool,
    pub organisations: usize,
    pub hospitals: usize,
    pub users: usize,
    pub incidents: usize,
    /// Checklists and surveys submitted (FY2023 and FY2024), so that the KPIs show something.
    pub submissions: usize,
    /// The hospital whose users the demo tokens act for.
    pub demo_hospital: Option<Uuid>,
}

/// Subjects of the demo users, one per role, for `renkei-api token --user`.
pub const DEMO_SUBJECTS: &[(&str, Role)] = &[
    ("demo-national", Role::National),
    ("demo-prefecture-13", Role::Prefecture),
    ("demo-health-centre", Role::HealthCentre),
    ("demo-hospital-admin", Role::HospitalAdmin),
    ("demo-hospital-staff", Role::HospitalStaff),
    ("demo-vendor", Role::Vendor),
    ("demo-dashboard", Role::Dashboard),
];

/// Share of hospitals per bed band among the 8,171 asked in the 2024 survey, with a bed range
/// to draw from.
const BANDS: &[(u32, i32, i32)] =
    &[(2940, 20, 99), (2810, 100, 199), (1015, 200, 299), (673, 300, 399), (357, 400, 499), (376, 500, 1200)];

const HOSPITAL_NAMES: &[&str] = &[
    "中央病院",
    "市民病院",
    "赤十字病院",
    "済生会病院",
    "記念病院",
    "総合病院",
    "医療センター",
    "労災病院",
    "第一病院",
    "南病院",
    "北病院",
    "東病院",
    "西病院",
    "厚生病院",
    "協立病院",
    "中央医療センター",
];

const DIRECTIONS: &[&str] = &["中央", "北部", "南部", "東部", "西部", "西北"];

const VENDORS: &[(&str, &str, i16)] = &[
    ("株式会社ミライ医療システム", "Mirai Medical Systems", 13),
    ("日本ヘルスケアネット株式会社", "Nihon Healthcare Net", 13),
    ("関西メディカルITサービス株式会社", "Kansai Medical IT Services", 27),
    ("北海道電子カルテ保守株式会社", "Hokkaido EHR Maintenance", 1),
    ("株式会社九州医療情報", "Kyushu Medical Information", 40),
    ("東海システムサポート株式会社", "Tokai System Support", 23),
    ("株式会社みちのくネットワーク", "Michinoku Network", 4),
    ("中四国医療ソリューションズ株式会社", "Chushikoku Medical Solutions", 34),
];

fn short_name(prefecture_ja: &str) -> &str {
    if prefecture_ja == "北海道" {
        return prefecture_ja;
    }
    prefecture_ja.strip_suffix(['県', '府', '都']).unwrap_or(prefecture_ja)
}

/// More hospitals for the populous prefectures, as in reality.
fn hospitals_in(code: i16) -> usize {
    match code {
        13 => 20,
        27 | 1 | 14 | 40 => 12,
        11 | 12 | 23 | 28 => 9,
        _ => 4,
    }
}

fn draw_beds(rng: &mut StdRng) -> i32 {
    let total: u32 = BANDS.iter().map(|b| b.0).sum();
    let mut pick = rng.random_range(0..total);
    for &(weight, low, high) in BANDS {
        if pick < weight {
            return rng.random_range(low..=high);
        }
        pick -= weight;
    }
    100
}

fn care_functions(beds: i32, rng: &mut StdRng) -> Vec<F> {
    let mut functions = Vec::new();
    if beds >= 500 {
        functions.extend([F::DisasterBase, F::TertiaryEmergency, F::RegionalSupport]);
        if rng.random_bool(0.5) {
            functions.push(F::CancerCentre);
        }
    } else if beds >= 300 {
        functions.push(F::SecondaryEmergency);
        if rng.random_bool(0.6) {
            functions.push(F::DisasterBase);
        }
        if rng.random_bool(0.3) {
            functions.push(F::PerinatalCentre);
        }
    } else if beds >= 100 && rng.random_bool(0.5) {
        functions.push(F::SecondaryEmergency);
    } else if rng.random_bool(0.08) {
        functions.push(F::PsychiatricEmergency);
    }
    functions
}

fn org(kind: K, name: String, name_en: Option<String>, prefecture_code: i16) -> NewOrganisation {
    NewOrganisation::named(kind, name, name_en, prefecture_code)
}

async fn insert_all(conn: &mut Conn, rows: Vec<NewOrganisation>) -> Result<Vec<Uuid>> {
    let rows = rows.into_iter().map(NewOrganisation::validated).collect::<Result<Vec<_>>>()?;
    let mut ids = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(500) {
        let chunk_ids: Vec<Uuid> = diesel::insert_into(organisations::table)
            .values(chunk)
            .returning(organisations::id)
            .get_results(conn)
            .await?;
        ids.extend(chunk_ids);
    }
    Ok(ids)
}

/// Loads the demo registry unless it is already there.
pub async fn demo(db: &Db) -> Result<DemoSummary> {
    let mut summary = db.run(&Principal::system(), |conn| Box::pin(demo_in(conn))).await?;
    if let Some(hospital) = summary.demo_hospital {
        // Incidents are raised by the hospital itself, under its own tenant settings.
        let admin = Principal::new("demo-hospital-admin".into(), Role::HospitalAdmin, Some(hospital), None)?;
        summary.incidents = db.run(&admin, move |conn| Box::pin(demo_incidents(conn, hospital))).await?;
        summary.submissions = demo_submissions(db, hospital).await?;
    }
    Ok(summary)
}

/// Every hospital answers its FY2023 and FY2024 forms (most of them, and the demo users' hospital
/// always; larger ones more often yes), each through the same save-and-submit path as a
/// hospital's administrator.
async fn demo_submissions(db: &Db, demo_hospital: Uuid) -> Result<usize> {
    use crate::checklists::catalog::{AnswerType, Form, ItemStatus};
    use crate::checklists::submissions::{self, Answer};
    let hospitals: Vec<(Uuid, Option<i32>)> = db
        .run(&Principal::system(), |c| {
            Box::pin(async move {
                Ok(organisations::table
                    .filter(organisations::kind.eq(K::Hospital))
                    .select((organisations::id, organisations::licensed_beds))
                    .order(organisations::id)
                    .load(c)
                    .await?)
            })
        })
        .await?;
    let mut forms = Vec::new();
    for fy in [2023, 2024] {
        for form in [Form::Hospital, Form::Survey] {
            let items = db
                .run(&Principal::system(), move |c| {
                    Box::pin(async move { submissions::form_catalog(c, fy, form).await.map(|(_, items)| items) })
                })
                .await?;
            forms.push((fy, form, items));
        }
    }
    let mut rng = StdRng::seed_from_u64(2027);
    let mut submitted = 0;
    for (hospital, beds) in hospitals {
        let size = f64::from(beds.unwrap_or(20).min(600)) / 600.0;
        for (fy, form, items) in &forms {
            let takes_part = rng.random_bool(if *fy == 2024 { 0.8 } else { 0.6 });
            if !takes_part && hospital != demo_hospital {
                continue;
            }
            let day = |m, d| NaiveDate::from_ymd_opt(*fy, m, d);
            let answers: Vec<Answer> = items
                .iter()
                .filter(|i| i.status != ItemStatus::Absent)
                .map(|i| {
                    let mut a = Answer { code: i.code.clone(), ..Default::default() };
                    match i.answer_type {
                        AnswerType::YesNo => {
                            let yes = rng.random_bool(0.55 + 0.35 * size);
                            a.value = Some(if yes { "yes" } else { "no" }.into());
                            a.checked_on = day(6, 1 + rng.random_range(0..28));
                            if !yes {
                                a.target_on = day(9 + rng.random_range(0..4), 1);
                            }
                        }
                        AnswerType::MultiChoice => {
                            let n = if i.choices.is_empty() { 0 } else { rng.random_range(1..=i.choices.len().min(3)) };
                            a.values = i.choices[..n].to_vec();
                        }
                        AnswerType::Date => a.value = day(10, 1 + rng.random_range(0..28)).map(|d| d.to_string()),
                        AnswerType::Number => a.value = Some(rng.random_range(7..48).to_string()),
                        AnswerType::Choice => a.value = <[String]>::first(&i.choices).cloned(),
                    }
                    a
                })
                .collect();
            let admin = Principal::new(format!("demo-seed-{hospital}"), Role::HospitalAdmin, Some(hospital), None)?;
            let (fy, form) = (*fy, *form);
            db.run(&admin.clone(), move |c| {
                Box::pin(async move {
                    let draft = submissions::save_draft(c, &admin, fy, form, hospital, answers).await?;
                    submissions::submit(c, &admin, draft.id).await
                })
            })
            .await?;
            submitted += 1;
        }
    }
    Ok(submitted)
}

async fn demo_in(conn: &mut Conn) -> Result<DemoSummary> {
    let present: i64 =
        organisations::table.filter(organisations::kind.eq(K::Ministry)).count().get_result(conn).await?;
    if present > 0 {
        return Ok(DemoSummary { already_present: true, ..Default::default() });
    }
    let geo = Geography::load(conn).await?;
    let mut rng = StdRng::seed_from_u64(2026);
    let (ministry, offices) = authorities(conn, &geo).await?;
    let centres = health_centres(conn, &geo).await?;
    let vendor_ids = insert_all(
        conn,
        VENDORS.iter().map(|(ja, en, pref)| org(K::Vendor, (*ja).into(), Some((*en).into()), *pref)).collect(),
    )
    .await?;
    let care = hospitals_and_clinics(conn, &geo, &centres, &mut rng).await?;
    link_vendors(conn, &care, &vendor_ids).await?;
    designate_largest_per_region(conn, &geo, &care).await?;
    let tokyo = Tokyo::of(conn, ministry, &offices, &centres, &care, &vendor_ids).await?;
    let users = demo_users(conn, &geo, ministry, &offices, &tokyo).await?;
    Ok(DemoSummary {
        organisations: 1
            + offices.len()
            + centres.iter().map(|(_, ids)| ids.len()).sum::<usize>()
            + vendor_ids.len()
            + care.len(),
        hospitals: care.iter().filter(|c| c.is_hospital).count(),
        users,
        demo_hospital: Some(tokyo.hospital),
        ..Default::default()
    })
}

/// The ministry and the 47 prefectural governments.
async fn authorities(conn: &mut Conn, geo: &Geography) -> Result<(Uuid, Vec<Uuid>)> {
    let ministry = insert_all(
        conn,
        vec![org(
            K::Ministry,
            "厚生労働省 医政局 医療情報担当参事官室".into(),
            Some("MHLW Medical Information Office".into()),
            13,
        )],
    )
    .await?[0];
    let offices = insert_all(
        conn,
        geo.prefectures
            .iter()
            .map(|p| {
                org(
                    K::PrefectureOffice,
                    format!("{}庁", p.name_ja),
                    Some(format!("{} Prefectural Government", p.name_en)),
                    p.code,
                )
            })
            .collect(),
    )
    .await?;
    Ok((ministry, offices))
}

/// Health centres: three per prefecture, five in the populous ones.
async fn health_centres(conn: &mut Conn, geo: &Geography) -> Result<Vec<(i16, Vec<Uuid>)>> {
    let mut centres_by_pref = Vec::new();
    for p in &geo.prefectures {
        let n = if hospitals_in(p.code) >= 9 { 5 } else { 3 };
        let rows = DIRECTIONS[..n]
            .iter()
            .map(|d| {
                org(
                    K::HealthCentre,
                    format!("{}{}保健所", p.name_ja, d),
                    Some(format!("{} {} Public Health Centre", p.name_en, d)),
                    p.code,
                )
            })
            .collect();
        centres_by_pref.push((p.code, insert_all(conn, rows).await?));
    }
    Ok(centres_by_pref)
}

/// A hospital or clinic of the demo, as the later steps need it.
struct Care {
    id: Uuid,
    prefecture: i16,
    beds: i32,
    is_hospital: bool,
}

/// Hospitals and clinics in every prefecture, under its health centres in turn.
async fn hospitals_and_clinics(
    conn: &mut Conn,
    geo: &Geography,
    centres: &[(i16, Vec<Uuid>)],
    rng: &mut StdRng,
) -> Result<Vec<Care>> {
    let mut serial = 0u32;
    let mut rows = Vec::new();
    let mut meta = Vec::new(); // (prefecture, beds, is_hospital)
    for (p, (code, centres)) in geo.prefectures.iter().zip(centres) {
        let short = short_name(&p.name_ja);
        for i in 0..hospitals_in(*code) + 2 {
            serial += 1;
            let is_hospital = i < hospitals_in(*code);
            let beds = if is_hospital { draw_beds(rng) } else { rng.random_range(0..=19) };
            let name = if is_hospital {
                let base = HOSPITAL_NAMES[i % HOSPITAL_NAMES.len()];
                let nth = ["", "第二", "第三"][(i / HOSPITAL_NAMES.len()).min(2)];
                format!("{short}{nth}{base}")
            } else {
                format!("{short}{}クリニック", ["さくら", "みどり"][i % 2])
            };
            let ehr = rng.random_bool(if beds >= 400 {
                0.94
            } else if beds >= 200 {
                0.79
            } else if is_hospital {
                0.59
            } else {
                0.55
            });
            let mut row = org(if is_hospital { K::Hospital } else { K::Clinic }, name, None, *code);
            row.jurisdiction_id = Some(centres[i % centres.len()]);
            row.licensed_beds = Some(beds);
            row.functions = if is_hospital { care_functions(beds, rng) } else { Vec::new() };
            row.ehr_in_use = Some(ehr);
            row.ehr_product =
                ehr.then(|| ["MiraiKarte", "HealthNet EHR", "KansaiMed", "OpenKarte"][serial as usize % 4].to_owned());
            row.medical_institution_code = Some(format!("{:02}{}{:07}", code, if is_hospital { 1 } else { 3 }, serial));
            row.gmis_id = is_hospital.then(|| format!("G{serial:07}"));
            rows.push(row);
            meta.push((*code, beds, is_hospital));
        }
    }
    let ids = insert_all(conn, rows).await?;
    Ok(ids
        .into_iter()
        .zip(meta)
        .map(|(id, (prefecture, beds, is_hospital))| Care { id, prefecture, beds, is_hospital })
        .collect())
}

/// Each hospital and clinic links one vendor, every third a second one.
async fn link_vendors(conn: &mut Conn, care: &[Care], vendor_ids: &[Uuid]) -> Result<()> {
    let system = Principal::system();
    for (n, c) in care.iter().enumerate() {
        vendors::link(conn, &system, c.id, vendor_ids[n % vendor_ids.len()]).await?;
        if n % 3 == 0 {
            vendors::link(conn, &system, c.id, vendor_ids[(n + 3) % vendor_ids.len()]).await?;
        }
    }
    Ok(())
}

/// At the law's start: the largest hospital of each region is designated.
async fn designate_largest_per_region(conn: &mut Conn, geo: &Geography, care: &[Care]) -> Result<()> {
    for region in &geo.regions {
        let largest = care
            .iter()
            .filter(|c| c.is_hospital && geo.prefecture(c.prefecture).is_some_and(|p| p.region_code == region.code))
            .max_by_key(|c| c.beds);
        if let Some(hospital) = largest {
            let on = NaiveDate::from_ymd_opt(2025, 4, 1).unwrap_or_default();
            let note = Some(format!("{}ブロックの基幹病院", region.name_ja));
            designations::designate(conn, &Principal::system(), hospital.id, on, note).await?;
        }
    }
    Ok(())
}

/// Where the demo's people work: Tokyo's government, its first health centre, its first
/// hospital, and a vendor that hospital links.
struct Tokyo {
    office: Uuid,
    centre: Uuid,
    hospital: Uuid,
    vendor: Uuid,
}

impl Tokyo {
    const CODE: i16 = 13;

    async fn of(
        conn: &mut Conn,
        ministry: Uuid,
        offices: &[Uuid],
        centres: &[(i16, Vec<Uuid>)],
        care: &[Care],
        vendor_ids: &[Uuid],
    ) -> Result<Self> {
        let office = offices[usize::try_from(Self::CODE - 1).unwrap_or(0)];
        let centre = centres.iter().find(|(c, _)| *c == Self::CODE).map(|(_, ids)| ids[0]).unwrap_or(ministry);
        let hospital =
            care.iter().find(|c| c.prefecture == Self::CODE && c.is_hospital).map(|c| c.id).unwrap_or(ministry);
        let linked = vendors::vendors_of(conn, hospital).await?;
        let vendor = linked.iter().map(|v| v.id).next().unwrap_or(vendor_ids[0]);
        Ok(Self { office, centre, hospital, vendor })
    }
}

/// One user per role, the hospital ones at Tokyo's first hospital; and a prefecture official
/// for every other prefecture too. Returns how many.
async fn demo_users(
    conn: &mut Conn,
    geo: &Geography,
    ministry: Uuid,
    offices: &[Uuid],
    tokyo: &Tokyo,
) -> Result<usize> {
    let person = |organisation_id, subject: &str, display_name: &str, role| users::NewUser {
        organisation_id,
        email: format!("{subject}@demo.renkei.example"),
        display_name: display_name.into(),
        role,
        subject: Some(subject.into()),
    };
    let mut people = vec![
        person(ministry, "demo-national", "厚労 太郎", Role::National),
        person(ministry, "demo-dashboard", "KPI dashboard", Role::Dashboard),
        person(tokyo.office, "demo-prefecture-13", "都庁 花子", Role::Prefecture),
        person(tokyo.centre, "demo-health-centre", "保健 次郎", Role::HealthCentre),
        person(tokyo.hospital, "demo-hospital-admin", "安全 管理子", Role::HospitalAdmin),
        person(tokyo.hospital, "demo-hospital-staff", "看護 三郎", Role::HospitalStaff),
        person(tokyo.vendor, "demo-vendor", "保守 四郎", Role::Vendor),
    ];
    for (p, office) in geo.prefectures.iter().zip(offices).filter(|(p, _)| p.code != Tokyo::CODE) {
        people.push(users::NewUser {
            email: format!("demo-prefecture-{:02}@demo.renkei.example", p.code),
            ..person(*office, &format!("demo-prefecture-{}", p.code), &format!("{}担当", p.name_ja), Role::Prefecture)
        });
    }
    let count = people.len();
    for new in people {
        users::invite(conn, &Principal::system(), new).await?;
    }
    Ok(count)
}

/// A few incidents at the demo hospital: a ransomware attack with a suspected leak, a phishing
/// e-mail, and a near miss.
async fn demo_incidents(conn: &mut Conn, hospital: Uuid) -> Result<usize> {
    use crate::incidents::{self, IncidentKind as I, LeakStatus, Recipient};
    let admin = Principal::new("demo-hospital-admin".into(), Role::HospitalAdmin, Some(hospital), None)?;
    let now = chrono::Utc::now();
    let report = |title: &str, kind: I, days_ago: i64, leak: LeakStatus| incidents::Report {
        title: title.into(),
        kind,
        discovered_at: now - chrono::Duration::days(days_ago),
        location_and_impact: Some("本館 電子カルテ端末".into()),
        spread_risk: incidents::SpreadRisk::Unknown,
        attacker: None,
        method: None,
        cause: None,
        measures_taken: None,
        suspected_cyber_attack: !kind.is_light(),
        infection_vector: (kind == I::Ransomware).then_some(incidents::InfectionVector::VpnDevice),
        services_suspended: Vec::new(),
        double_extortion: None,
        data_exfiltrated: None,
        personal_data_leak: leak,
        records_affected: None,
        leak_learned_on: (leak != LeakStatus::None)
            .then(|| incidents::clocks::day_of(now - chrono::Duration::days(days_ago))),
        wrongful_intent: None,
        ransom_demanded: (kind == I::Ransomware).then_some(true),
        ransom_amount_yen: None,
        ransom_paid: (kind == I::Ransomware).then_some(false),
        offline_backup_intact: (kind == I::Ransomware).then_some(true),
        restored_from_pre_infection_backup: None,
        contained_at: None,
        recovered_at: None,
    };
    let ransomware = incidents::store::raise(
        conn,
        &admin,
        report("電子カルテ端末の暗号化（ランサムウェア）", I::Ransomware, 4, LeakStatus::Suspected),
        now,
    )
    .await?;
    incidents::store::move_phase(conn, &admin, ransomware.id, incidents::Phase::InitialResponse).await?;
    incidents::store::record_notification(
        conn,
        &admin,
        ransomware.id,
        Recipient::Mhlw,
        now - chrono::Duration::days(3),
        Some("医政局への第一報".into()),
        now,
    )
    .await?;
    let phishing =
        incidents::store::raise(conn, &admin, report("職員宛ての不審メール", I::Phishing, 10, LeakStatus::None), now)
            .await?;
    incidents::store::move_phase(conn, &admin, phishing.id, incidents::Phase::InitialResponse).await?;
    incidents::store::raise(conn, &admin, report("USBメモリの持ち込み未遂", I::NearMiss, 20, LeakStatus::None), now)
        .await?;
    Ok(3)
}
