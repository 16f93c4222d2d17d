//! A small registry with two tenants (Tokyo, 13, and Osaka, 27), built through the domain layer
//! as the ministry, and the principals that act in it.

use renkei_core::db::Db;
use renkei_core::incidents;
use renkei_core::registry::organisations::{self as orgs, NewOrganisation, OrganisationKind as K};
use renkei_core::registry::{users, vendors};
use renkei_core::{Principal, Role};
use uuid::Uuid;

pub struct Tenant {
    pub prefecture: i16,
    /// The prefecture's name, which the registered users' subjects start with ("東京-official").
    pub label: &'static str,
    pub office: Uuid,
    pub centre: Uuid,
    pub hospital: Uuid,
    pub clinic: Uuid,
    pub vendor: Uuid,
    /// The user id of the hospital's admin.
    pub hospital_admin_user: Uuid,
}

pub struct Fixture {
    pub ministry: Uuid,
    pub tokyo: Tenant,
    /// A second Tokyo health centre with a hospital of its own.
    pub tokyo_centre2: Uuid,
    pub tokyo_hospital2: Uuid,
    pub osaka: Tenant,
    /// A ransomware incident of the Osaka hospital, discovered two days ago, with a task.
    pub osaka_incident: Uuid,
    pub osaka_task: Uuid,
    /// A dead job about Osaka's incident, and a marker string that only its payload carries.
    /// `deadJobs` shows the incident's id and never the marker (see `Job::shown_payload`), so it
    /// is by the id that a caller who sees the job is caught.
    pub osaka_dead_job: i64,
    pub osaka_dead_job_marker: String,
    /// A reporting bundle of Osaka's.
    pub osaka_bundle: Uuid,
    /// Osaka's FY2024 hospital checklist, submitted.
    pub osaka_submission: Uuid,
}

fn new_org(kind: K, name: &str, prefecture: i16) -> NewOrganisation {
    NewOrganisation::named(kind, name.into(), None, prefecture)
}

async fn create(db: &Db, new: NewOrganisation) -> Uuid {
    db.run_as(&Principal::system(), move |c, p| Box::pin(orgs::create(c, p, new)))
        .await
        .unwrap_or_else(|e| panic!("fixture organisation: {e} {}", e.detail()))
        .id
}

async fn care(db: &Db, kind: K, name: &str, prefecture: i16, centre: Uuid, beds: i32, code: &str) -> Uuid {
    let mut new = new_org(kind, name, prefecture);
    new.jurisdiction_id = Some(centre);
    new.licensed_beds = Some(beds);
    new.medical_institution_code = Some(code.into());
    create(db, new).await
}

async fn user(db: &Db, org: Uuid, subject: &str, role: Role) -> Uuid {
    let new = users::NewUser {
        organisation_id: org,
        email: format!("{subject}@test.renkei.example"),
        display_name: subject.into(),
        role,
        subject: Some(subject.into()),
    };
    db.run(&Principal::system(), move |c| Box::pin(async move { users::invite(c, &Principal::system(), new).await }))
        .await
        .unwrap_or_else(|e| panic!("fixture user: {e} {}", e.detail()))
        .id
}

async fn link(db: &Db, hospital: Uuid, vendor: Uuid) {
    db.run(&Principal::system(), move |c| {
        Box::pin(async move { vendors::link(c, &Principal::system(), hospital, vendor).await })
    })
    .await
    .unwrap_or_else(|e| panic!("fixture link: {e} {}", e.detail()));
}

async fn tenant(db: &Db, prefecture: i16, label: &'static str, code_prefix: &str) -> Tenant {
    let office = create(db, new_org(K::PrefectureOffice, &format!("{label}庁"), prefecture)).await;
    let centre = create(db, new_org(K::HealthCentre, &format!("{label}中央保健所"), prefecture)).await;
    let hospital =
        care(db, K::Hospital, &format!("{label}市民病院"), prefecture, centre, 150, &format!("{code_prefix}10000001"))
            .await;
    let clinic =
        care(db, K::Clinic, &format!("{label}クリニック"), prefecture, centre, 0, &format!("{code_prefix}30000001"))
            .await;
    let vendor = create(db, new_org(K::Vendor, &format!("{label}システム株式会社"), prefecture)).await;
    link(db, hospital, vendor).await;
    user(db, office, &format!("{label}-official"), Role::Prefecture).await;
    user(db, centre, &format!("{label}-inspector"), Role::HealthCentre).await;
    let hospital_admin_user = user(db, hospital, &format!("{label}-hospital-admin"), Role::HospitalAdmin).await;
    user(db, hospital, &format!("{label}-hospital-staff"), Role::HospitalStaff).await;
    user(db, vendor, &format!("{label}-vendor"), Role::Vendor).await;
    Tenant { prefecture, label, office, centre, hospital, clinic, vendor, hospital_admin_user }
}

/// A report as a hospital would file it: ransomware, suspected attack, data may have leaked.
pub fn ransomware_report(discovered_at: chrono::DateTime<chrono::Utc>) -> incidents::Report {
    incidents::Report {
        title: "電子カルテ端末の暗号化".into(),
        kind: incidents::IncidentKind::Ransomware,
        discovered_at,
        location_and_impact: Some("本館の電子カルテ端末20台、外来受付停止".into()),
        spread_risk: incidents::SpreadRisk::High,
        attacker: None,
        method: Some("VPN機器の脆弱性".into()),
        cause: None,
        measures_taken: Some("ネットワーク遮断".into()),
        suspected_cyber_attack: true,
        infection_vector: Some(incidents::InfectionVector::VpnDevice),
        services_suspended: Vec::new(),
        double_extortion: Some(true),
        data_exfiltrated: None,
        personal_data_leak: incidents::LeakStatus::Suspected,
        records_affected: None,
        leak_learned_on: Some(crate_day(discovered_at)),
        wrongful_intent: None,
        ransom_demanded: Some(true),
        ransom_amount_yen: None,
        ransom_paid: Some(false),
        offline_backup_intact: Some(true),
        restored_from_pre_infection_backup: None,
        contained_at: None,
        recovered_at: None,
    }
}

fn crate_day(at: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDate {
    incidents::clocks::day_of(at)
}

async fn incident(db: &Db, t: &Tenant) -> (Uuid, Uuid) {
    let admin =
        Principal::new(format!("{}-hospital-admin", t.label), Role::HospitalAdmin, Some(t.hospital), None).expect("p");
    let discovered = chrono::Utc::now() - chrono::Duration::days(2);
    let acting = admin.clone();
    db.run(&acting, move |c| {
        Box::pin(async move {
            let i = incidents::store::raise(c, &admin, ransomware_report(discovered), chrono::Utc::now()).await?;
            let task = incidents::store::NewTask {
                title: "証拠保全".into(),
                assignee: None,
                due_on: None,
                step: Some("2-14".into()),
                required: true,
            };
            let task = incidents::store::add_task(c, &admin, i.id, task).await?;
            Ok((i.id, task.id))
        })
    })
    .await
    .unwrap_or_else(|e| panic!("fixture incident: {e} {}", e.detail()))
}

/// Every FY2024 hospital item answered yes on `day`.
pub fn all_yes(day: chrono::NaiveDate) -> Vec<renkei_core::checklists::submissions::Answer> {
    ["1-1", "2-1", "2-2", "2-3", "2-4", "2-5", "2-6", "2-7", "2-8", "2-9", "3-1", "3-2", "3-3"]
        .iter()
        .map(|code| renkei_core::checklists::submissions::Answer {
            code: (*code).into(),
            value: Some("yes".into()),
            checked_on: Some(day),
            ..Default::default()
        })
        .collect()
}

async fn submission(db: &Db, t: &Tenant) -> Uuid {
    use renkei_core::checklists::{catalog::Form, submissions};
    let admin =
        Principal::new(format!("{}-hospital-admin", t.label), Role::HospitalAdmin, Some(t.hospital), None).expect("p");
    let acting = admin.clone();
    let hospital = t.hospital;
    let submission_id = db
        .run(&acting, move |c| {
            Box::pin(async move {
                let day = chrono::NaiveDate::from_ymd_opt(2024, 6, 1).unwrap_or_default();
                let s = submissions::save_draft(c, &admin, 2024, Form::Hospital, hospital, all_yes(day)).await?;
                Ok(submissions::submit(c, &admin, s.id).await?.id)
            })
        })
        .await
        .unwrap_or_else(|e| panic!("fixture submission: {e} {}", e.detail()));
    // Osaka's window for the year, set by its official.
    let official =
        Principal::new(format!("{}-official", t.label), Role::Prefecture, Some(t.office), Some(t.prefecture))
            .expect("p");
    let acting = official.clone();
    db.run(&acting, move |c| {
        Box::pin(async move {
            let day = |m, d| chrono::NaiveDate::from_ymd_opt(2024, m, d).unwrap_or_default();
            let w = renkei_core::checklists::windows::NewWindow {
                fiscal_year: 2024,
                opens_on: day(6, 1),
                closes_on: day(8, 31),
                inspection_from: Some(day(9, 1)),
                inspection_until: Some(day(12, 31)),
            };
            renkei_core::checklists::windows::set(c, &official, w).await.map(|_| ())
        })
    })
    .await
    .unwrap_or_else(|e| panic!("fixture window: {e} {}", e.detail()));
    submission_id
}

async fn bundle(db: &Db, prefecture: i16) -> Uuid {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use renkei_core::schema::bundles;
    db.run(&Principal::system(), move |c| {
        Box::pin(async move {
            Ok(diesel::insert_into(bundles::table)
                .values((
                    bundles::prefecture_code.eq(prefecture),
                    bundles::fiscal_year.eq(2025i16),
                    bundles::requested_by.eq("fixture"),
                ))
                .returning(bundles::id)
                .get_result::<Uuid>(c)
                .await?)
        })
    })
    .await
    .unwrap_or_else(|e| panic!("fixture bundle: {e} {}", e.detail()))
}

async fn dead_job(db: &Db, prefecture: i16, incident: Uuid, marker: &str) -> i64 {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use renkei_core::schema::jobs;
    let payload = serde_json::json!({ "prefecture": prefecture, "incident_id": incident, "marker": marker });
    db.run(&Principal::system(), move |c| {
        Box::pin(async move {
            Ok(diesel::insert_into(jobs::table)
                .values((
                    jobs::kind.eq("alert.fixture"),
                    jobs::payload.eq(payload),
                    jobs::dead_at.eq(diesel::dsl::now),
                    jobs::finished_at.eq(None::<chrono::DateTime<chrono::Utc>>),
                    jobs::last_error.eq("fixture"),
                ))
                .returning(jobs::id)
                .get_result::<i64>(c)
                .await?)
        })
    })
    .await
    .unwrap_or_else(|e| panic!("fixture job: {e} {}", e.detail()))
}

impl Fixture {
    pub async fn load(db: &Db) -> Self {
        let ministry = create(db, new_org(K::Ministry, "厚生労働省", 13)).await;
        user(db, ministry, "mhlw", Role::National).await;
        user(db, ministry, "kpi-board", Role::Dashboard).await;
        let tokyo = tenant(db, 13, "東京", "13").await;
        let osaka = tenant(db, 27, "大阪", "27").await;
        let tokyo_centre2 = create(db, new_org(K::HealthCentre, "東京北部保健所", 13)).await;
        user(db, tokyo_centre2, "inspector-north", Role::HealthCentre).await;
        let tokyo_hospital2 = care(db, K::Hospital, "東京北病院", 13, tokyo_centre2, 420, "1310000002").await;
        let (osaka_incident, osaka_task) = incident(db, &osaka).await;
        let osaka_dead_job_marker = format!("osaka-dead-job-{}", Uuid::new_v4());
        let osaka_dead_job = dead_job(db, 27, osaka_incident, &osaka_dead_job_marker).await;
        let osaka_bundle = bundle(db, 27).await;
        let osaka_submission = submission(db, &osaka).await;
        Self {
            ministry,
            tokyo,
            tokyo_centre2,
            tokyo_hospital2,
            osaka,
            osaka_incident,
            osaka_task,
            osaka_dead_job,
            osaka_dead_job_marker,
            osaka_bundle,
            osaka_submission,
        }
    }

    pub fn national(&self) -> Principal {
        Principal::new("mhlw".into(), Role::National, Some(self.ministry), None).expect("principal")
    }

    pub fn dashboard(&self) -> Principal {
        Principal::new("kpi-board".into(), Role::Dashboard, Some(self.ministry), None).expect("principal")
    }

    pub fn prefecture(&self, t: &Tenant) -> Principal {
        Principal::new(format!("{}-official", t.label), Role::Prefecture, Some(t.office), Some(t.prefecture))
            .expect("principal")
    }

    pub fn health_centre(&self, t: &Tenant) -> Principal {
        Principal::new(format!("{}-inspector", t.label), Role::HealthCentre, Some(t.centre), None).expect("principal")
    }

    pub fn hospital_admin(&self, t: &Tenant) -> Principal {
        Principal::new(format!("{}-hospital-admin", t.label), Role::HospitalAdmin, Some(t.hospital), None)
            .expect("principal")
    }

    pub fn hospital_staff(&self, t: &Tenant) -> Principal {
        Principal::new(format!("{}-hospital-staff", t.label), Role::HospitalStaff, Some(t.hospital), None)
            .expect("principal")
    }

    pub fn vendor(&self, t: &Tenant) -> Principal {
        Principal::new(format!("{}-vendor", t.label), Role::Vendor, Some(t.vendor), None).expect("principal")
    }
}
