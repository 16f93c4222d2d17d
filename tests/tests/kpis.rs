//! KPIs: the published survey table reproduced from facility-level data, aggregates that stay
//! equal to a recomputation whatever lands, scopes, peers and designation coverage (disclosure
//! control has its own analyst, `disclosure.rs`).

use std::collections::BTreeMap;

use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use renkei_core::checklists::catalog::Form;
use renkei_core::checklists::submissions::{self, Answer};
use renkei_core::registry::organisations::{self as orgs, NewOrganisation, OrganisationKind};
use renkei_core::{Principal, Role};
use renkei_tests::TestApp;
use serde_json::{Value, json};
use uuid::Uuid;

const REPORT: &str = "query($fy: [Int!]!, $scope: KpiScopeInput, $by: [KpiDimension!], $metrics: [KpiMetric!]) { kpiReport(fiscalYears: $fy, scope: $scope, groupBy: $by, metrics: $metrics) { fiscalYear metric item bedBand prefectureCode regionCode designated function numerator denominator rate suppressed } }";

async fn report(app: &TestApp, p: &Principal, vars: Value) -> Vec<Value> {
    let reply = app.gql(p, REPORT, vars).await;
    reply.ok()["kpiReport"].as_array().expect("rows").clone()
}

async fn seed_national(app: &TestApp) {
    let size = renkei_core::seed::national::Size { clinics: 2_000, incidents: 50 };
    let s = renkei_core::seed::national::national(&app.db.owner_url, size).await.expect("seed national");
    assert_eq!(s.hospitals, 8_205);
}

#[tokio::test]
async fn the_published_survey_table_comes_back_exactly() {
    let app = TestApp::new().await;
    seed_national(&app).await;
    let published = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/survey-2024.tsv"))
        .expect("survey-2024.tsv");
    let rows =
        report(&app, &app.fx.national(), json!({ "fy": [2024], "by": ["BED_BAND"], "metrics": ["EHR_BACKUP_RATE"] }))
            .await;
    let total = report(
        &app,
        &app.fx.national(),
        json!({ "fy": [2024], "metrics": ["EHR_BACKUP_RATE", "OFFLINE_BACKUP_RATE"] }),
    )
    .await;
    let band_name = |b: &str| match b {
        "20-99" => "BEDS_20_99",
        "100-199" => "BEDS_100_199",
        "200-299" => "BEDS_200_299",
        "300-399" => "BEDS_300_399",
        "400-499" => "BEDS_400_499",
        "500+" => "BEDS_500_PLUS",
        _ => "total",
    };
    // Bands the fixture tenants add (a few test hospitals) are not in the published table; the
    // seeded hospitals alone answer the survey.
    for line in published.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (valid, ehr): (i64, i64) = (cols[2].parse().expect("valid"), cols[3].parse().expect("ehr"));
        let row = if cols[0] == "total" {
            total.iter().find(|r| r["metric"] == "EHR_BACKUP_RATE").expect("total").clone()
        } else {
            rows.iter()
                .find(|r| r["bedBand"] == band_name(cols[0]))
                .unwrap_or_else(|| panic!("band {}", cols[0]))
                .clone()
        };
        assert_eq!((row["numerator"].as_i64(), row["denominator"].as_i64()), (Some(ehr), Some(valid)), "{line}");
        assert_eq!(row["rate"].as_f64(), Some(ehr as f64 / valid as f64), "{line}");
        assert_eq!(row["suppressed"], false);
    }
    // figures.md: 52% of the 3,702 hospitals making EHR backups keep an offline one.
    let offline = total.iter().find(|r| r["metric"] == "OFFLINE_BACKUP_RATE").expect("offline");
    assert_eq!(offline["denominator"], 3702);
    assert_eq!((offline["rate"].as_f64().unwrap_or_default() * 100.0).round(), 52.0);
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Rows that differ between the kept aggregates and a recomputation from the answers.
async fn drift(owner_url: &str) -> i64 {
    let mut c = AsyncPgConnection::establish(owner_url).await.expect("owner");
    c.batch_execute("BEGIN; SELECT set_config('renkei.role', 'national', true)").await.expect("begin");
    let sql = "WITH fresh AS (SELECT * FROM kpi_facts_source), \
       cells AS ( \
         SELECT f.fiscal_year, c.metric, f.prefecture_code, f.bed_band, f.designated, sum(c.num)::int AS n, sum(c.den)::int AS d \
         FROM fresh f CROSS JOIN LATERAL kpi_contributions(f.submitted, f.surveyed, f.ehr_backup, f.offline_backup, f.bcp, \
           f.security_manager, f.fully_compliant, f.addon1_ready, f.answered_items, f.yes_items) c GROUP BY 1, 2, 3, 4, 5), \
       kept AS (SELECT fiscal_year, metric, prefecture_code, bed_band, designated, numerator, denominator FROM kpi_cells \
                WHERE numerator <> 0 OR denominator <> 0), \
       targets AS (SELECT f.fiscal_year, f.prefecture_code, f.bed_band, f.designated, t, count(*)::int AS n \
                   FROM fresh f CROSS JOIN LATERAL unnest(f.open_targets) t GROUP BY 1, 2, 3, 4, 5), \
       kept_targets AS (SELECT fiscal_year, prefecture_code, bed_band, designated, target_on, answers FROM kpi_open_targets \
                        WHERE answers <> 0) \
       SELECT ((SELECT count(*) FROM (SELECT * FROM kpi_facts EXCEPT SELECT * FROM fresh) a) \
             + (SELECT count(*) FROM (SELECT * FROM fresh EXCEPT SELECT * FROM kpi_facts) a) \
             + (SELECT count(*) FROM (SELECT * FROM cells EXCEPT SELECT * FROM kept) a) \
             + (SELECT count(*) FROM (SELECT * FROM kept EXCEPT SELECT * FROM cells) a) \
             + (SELECT count(*) FROM (SELECT * FROM targets EXCEPT SELECT * FROM kept_targets) a) \
             + (SELECT count(*) FROM (SELECT * FROM kept_targets EXCEPT SELECT * FROM targets) a))::bigint AS n";
    let n = diesel::sql_query(sql).get_result::<Count>(&mut c).await.expect("drift").n;
    c.batch_execute("ROLLBACK").await.expect("rollback");
    n
}

fn random_answers(rng: &mut StdRng, form: Form, fy: i32) -> Vec<Answer> {
    let day = |m: u32, d: u32| chrono::NaiveDate::from_ymd_opt(fy, m, d);
    let yes_no = |rng: &mut StdRng, code: &str| {
        let yes = rng.random_bool(0.6);
        let second = !yes && rng.random_bool(0.5);
        Answer {
            code: code.into(),
            value: Some(if yes { "yes" } else { "no" }.into()),
            checked_on: day(6, 1),
            target_on: if yes { None } else { day(if rng.random_bool(0.5) { 7 } else { 12 }, 1) },
            second_checked_on: if second { day(8, 1) } else { None },
            second_value: if second { Some(if rng.random_bool(0.7) { "yes" } else { "no" }.into()) } else { None },
            ..Default::default()
        }
    };
    match form {
        Form::Survey => {
            let mut a: Vec<Answer> =
                ["S-1", "S-2", "S-4", "S-5", "S-7", "S-9"].iter().map(|c| yes_no(rng, c)).collect();
            let methods = ["lto", "rdx", "external_disk", "cloud", "nas"];
            let n = rng.random_range(0..3);
            a.push(Answer {
                code: "S-3".into(),
                values: methods[..n].iter().map(|m| m.to_string()).collect(),
                ..Default::default()
            });
            a.push(Answer { code: "S-6".into(), value: day(10, 1).map(|d| d.to_string()), ..Default::default() });
            a.push(Answer {
                code: "S-8".into(),
                value: Some(rng.random_range(0..50).to_string()),
                ..Default::default()
            });
            a
        }
        _ => {
            let mut codes = vec!["1-1", "2-1", "2-2", "2-3", "2-4", "2-5", "2-6", "2-7", "2-8"];
            if fy == 2024 {
                codes.extend(["2-9", "3-1", "3-2", "3-3"]);
            } else {
                codes.push("3-1");
            }
            codes.iter().map(|c| yes_no(rng, c)).collect()
        }
    }
}

#[tokio::test]
async fn aggregates_stay_equal_to_a_recomputation_whatever_lands() {
    let app = TestApp::new().await;
    let fx = &app.fx;
    assert_eq!(drift(&app.db.owner_url).await, 0, "after the fixture");
    let mut rng = StdRng::seed_from_u64(20261121);
    let mut hospitals = Vec::new();
    for i in 0..6 {
        let new = NewOrganisation {
            kind: OrganisationKind::Hospital,
            name: format!("乱数病院{i}"),
            name_en: None,
            prefecture_code: 13,
            jurisdiction_id: Some(fx.tokyo.centre),
            licensed_beds: Some(rng.random_range(20..700)),
            functions: Vec::new(),
            ehr_in_use: None,
            ehr_product: None,
            medical_institution_code: None,
            gmis_id: None,
        };
        let id = app
            .db
            .db()
            .run_as(&Principal::system(), move |c, p| Box::pin(orgs::create(c, p, new)))
            .await
            .expect("hospital")
            .id;
        hospitals.push(id);
    }
    let db = app.db.db();
    let mut submitted: Vec<Uuid> = Vec::new();
    let mut done = BTreeMap::<&str, usize>::new();
    for step in 0..60 {
        let h = hospitals[rng.random_range(0..hospitals.len())];
        let admin = Principal::new(format!("rand-admin-{h}"), Role::HospitalAdmin, Some(h), None).expect("p");
        let action = rng.random_range(0..10);
        let outcome = match action {
            0..=4 => {
                let form = if rng.random_bool(0.5) { Form::Hospital } else { Form::Survey };
                let fy = if rng.random_bool(0.5) { 2023 } else { 2024 };
                let answers = random_answers(&mut rng, form, fy);
                let submit = rng.random_bool(0.8);
                let r = db
                    .run(&admin.clone(), move |c| {
                        Box::pin(async move {
                            let s = submissions::save_draft(c, &admin, fy, form, h, answers).await?;
                            if submit { submissions::submit(c, &admin, s.id).await } else { Ok(s) }
                        })
                    })
                    .await;
                if let Ok(s) = &r
                    && s.revision > 0
                {
                    submitted.push(s.id);
                }
                ("answer", r.map(|_| ()))
            }
            5..=6 if !submitted.is_empty() => {
                let id = submitted[rng.random_range(0..submitted.len())];
                let accept = rng.random_bool(0.5);
                let centre = fx.health_centre(&fx.tokyo);
                let comments =
                    vec![submissions::ReviewComment { code: "1-1".into(), comment: "確認してください".into() }];
                let r = db
                    .run(&centre.clone(), move |c| {
                        Box::pin(async move {
                            submissions::review(c, &centre, id, accept, if accept { Vec::new() } else { comments })
                                .await
                        })
                    })
                    .await;
                ("review", r.map(|_| ()))
            }
            7 => {
                let beds = rng.random_range(20..900);
                let reply = app
                    .gql(
                        &fx.prefecture(&fx.tokyo),
                        "mutation($id: ID!, $beds: Int!) { updateOrganisation(id: $id, input: { licensedBeds: $beds }) { id } }",
                        json!({ "id": h, "beds": beds }),
                    )
                    .await;
                (
                    "beds",
                    if reply.code().is_none() {
                        Ok(())
                    } else {
                        Err(renkei_core::Error::bad_input(reply.body.to_string()))
                    },
                )
            }
            _ => {
                let national = fx.national();
                let r = db
                    .run(&national.clone(), move |c| {
                        Box::pin(async move {
                            let day = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default();
                            match renkei_core::registry::designations::designate(c, &national, h, day, None).await {
                                Ok(_) => Ok(()),
                                Err(_) => {
                                    renkei_core::registry::designations::revoke(c, &national, h, day).await.map(|_| ())
                                }
                            }
                        })
                    })
                    .await;
                ("designation", r)
            }
        };
        // Refusals (a review of something already reviewed, say) are part of the sequence.
        if outcome.1.is_ok() {
            *done.entry(outcome.0).or_default() += 1;
        }
        assert_eq!(
            drift(&app.db.owner_url).await,
            0,
            "step {step}: {} ({:?}) left the aggregates behind",
            outcome.0,
            outcome.1.err()
        );
    }
    for kind in ["answer", "review", "beds", "designation"] {
        assert!(done.get(kind).copied().unwrap_or(0) > 0, "the sequence exercised {kind}: {done:?}");
    }
}

#[tokio::test]
async fn reports_follow_scope_grouping_and_fiscal_years() {
    let app = TestApp::new().await;
    let fx = &app.fx;
    // The fixture: Osaka's hospital submitted FY2024 (all yes); nobody submitted FY2023.
    let series = report(&app, &fx.national(), json!({ "fy": [2023, 2024], "metrics": ["SUBMISSION_RATE"] })).await;
    let year = |fy: i64| series.iter().find(|r| r["fiscalYear"] == fy).cloned().unwrap_or_default();
    assert_eq!(year(2023)["numerator"], 0);
    assert_eq!(year(2024)["numerator"], 1);
    assert_eq!(year(2024)["denominator"], year(2023)["denominator"], "the same hospitals are in scope both years");
    let osaka = report(&app, &fx.prefecture(&fx.osaka), json!({ "fy": [2024], "scope": { "prefectureCode": 27 }, "metrics": ["SECURITY_MANAGER_RATE", "ITEM_YES_RATE"] })).await;
    let manager = osaka.iter().find(|r| r["metric"] == "SECURITY_MANAGER_RATE").expect("manager");
    assert_eq!(
        (manager["numerator"].as_i64(), manager["denominator"].as_i64(), manager["rate"].as_f64()),
        (Some(1), Some(1), Some(1.0))
    );
    assert_eq!(osaka.iter().filter(|r| r["metric"] == "ITEM_YES_RATE").count(), 13, "one row per yes/no item");

    // A jurisdiction: its health centre, its prefecture and the ministry; nobody else.
    let scope = |centre: Uuid| json!({ "fy": [2024], "scope": { "jurisdictionId": centre } });
    let own = report(&app, &fx.health_centre(&fx.osaka), scope(fx.osaka.centre)).await;
    assert!(own.iter().any(|r| r["metric"] == "SUBMISSION_RATE" && r["numerator"] == 1 && r["suppressed"] == false));
    for p in [fx.health_centre(&fx.tokyo), fx.prefecture(&fx.tokyo), fx.dashboard(), fx.hospital_admin(&fx.osaka)] {
        assert_eq!(app.gql(&p, REPORT, scope(fx.osaka.centre)).await.code(), Some("FORBIDDEN"), "{:?}", p.role);
    }
    report(&app, &fx.prefecture(&fx.osaka), scope(fx.osaka.centre)).await;
    report(&app, &fx.national(), scope(fx.osaka.centre)).await;

    let by_function =
        report(&app, &fx.national(), json!({ "fy": [2024], "by": ["FUNCTION"], "metrics": ["SUBMISSION_RATE"] })).await;
    assert!(!by_function.is_empty() && by_function.iter().all(|r| r["function"].is_string()), "{by_function:?}");

    for (vars, words) in [
        (json!({ "fy": [] }), "fiscalYears"),
        (json!({ "fy": [2024], "scope": { "prefectureCode": 13, "regionCode": "kanto" } }), "scope"),
        (json!({ "fy": [2024], "scope": { "regionCode": "atlantis" } }), "regionCode"),
        (json!({ "fy": [1999] }), "fiscalYears"),
    ] {
        let reply = app.gql(&fx.national(), REPORT, vars).await;
        assert_eq!(reply.code(), Some("BAD_USER_INPUT"), "{}", reply.body);
        assert!(reply.body["errors"][0]["message"].as_str().unwrap_or_default().contains(words), "{}", reply.body);
    }
    assert_eq!(app.gql(&fx.vendor(&fx.tokyo), REPORT, json!({ "fy": [2024] })).await.code(), Some("FORBIDDEN"));
}

#[tokio::test]
async fn a_hospital_sees_itself_next_to_its_peers() {
    let app = TestApp::new().await;
    let admin = app.fx.hospital_admin(&app.fx.osaka);
    let q = "{ peerComparison(fiscalYear: 2024) { bedBand prefectureCode rows { metric item ownNumerator ownDenominator national { numerator denominator suppressed protection } prefecture { numerator denominator suppressed protection } } } }";
    let reply = app.gql(&admin, q, json!({})).await;
    let peers = &reply.ok()["peerComparison"];
    assert_eq!(peers["prefectureCode"], 27);
    let rows = peers["rows"].as_array().expect("rows");
    let manager = rows.iter().find(|r| r["metric"] == "SECURITY_MANAGER_RATE").expect("manager");
    assert_eq!((manager["ownNumerator"].as_i64(), manager["ownDenominator"].as_i64()), (Some(1), Some(1)));
    // In its prefecture its band holds only itself: the peers' figures are its own, exact (nothing
    // of anyone else is behind them).
    assert_eq!(manager["prefecture"]["denominator"], 1);
    assert_eq!(manager["prefecture"]["numerator"], 1);
    assert_eq!(manager["prefecture"]["protection"], "EXACT");
    // Nationally Tokyo's hospital of the same band is behind the figures too: perturbed, and one
    // hidden hospital is too few to show.
    assert_eq!(manager["national"]["protection"], "SUPPRESSED");
    assert!(manager["national"]["numerator"].is_null(), "{manager}");
    assert!(rows.iter().any(|r| r["metric"] == "ITEM_YES_RATE" && r["item"] == "2-7"));
    let tokyo = app
        .gql(&app.fx.hospital_admin(&app.fx.tokyo), "{ peerComparison(fiscalYear: 2024) { bedBand } }", json!({}))
        .await;
    assert_eq!(
        tokyo.ok()["peerComparison"]["bedBand"],
        "BEDS_100_199",
        "a hospital without answers still has its band"
    );
}

#[tokio::test]
async fn designation_coverage_follows_the_laws_timeline() {
    let app = TestApp::new().await;
    let national = app.fx.national();
    let q = "query($d: LocalDate) { designationCoverage(asOf: $d) { regionsCovered regionsTotal prefecturesCovered prefecturesTotal regionsDue regionsRequirement prefecturesDue prefecturesRequirement regions { code covered designatedHospitals } prefectures { code covered designatedHospitals } } }";
    let on = |day: &'static str| {
        let app = &app;
        let national = national.clone();
        async move { app.gql(&national, q, json!({ "d": day })).await.ok()["designationCoverage"].clone() }
    };
    let hospital_in = |c: &Value, area: &str, code: &str| {
        c[area].as_array().expect("areas").iter().find(|a| a["code"] == code).map(|a| a["designatedHospitals"].clone())
    };
    let requirements = |c: &Value| (c["regionsRequirement"].clone(), c["prefecturesRequirement"].clone());
    let designate = |hospital: String, day: &'static str| {
        let app = &app;
        let national = national.clone();
        async move {
            app.gql(
                &national,
                "mutation($h: ID!, $d: LocalDate!) { designateCriticalInfrastructure(hospitalId: $h, designatedOn: $d) { inForce } }",
                json!({ "h": hospital, "d": day }),
            )
            .await
            .ok()["designateCriticalInfrastructure"]["inForce"]
                .clone()
        }
    };

    // Nobody designated: the regions' requirement applies from the law's start (FY2026), the
    // prefectures' from the end of its third fiscal year.
    let c = on("2026-03-31").await;
    assert_eq!((c["regionsTotal"].as_i64(), c["prefecturesTotal"].as_i64()), (Some(8), Some(47)));
    assert_eq!((c["regionsCovered"].as_i64(), c["prefecturesCovered"].as_i64()), (Some(0), Some(0)));
    assert_eq!((c["regionsDue"].as_str(), c["prefecturesDue"].as_str()), (Some("2026-04-01"), Some("2029-03-31")));
    assert_eq!(requirements(&c), (json!("NOT_YET_DUE"), json!("NOT_YET_DUE")));
    assert_eq!(requirements(&on("2026-04-01").await), (json!("MISSED"), json!("NOT_YET_DUE")), "the day it applies");

    // Tokyo's hospital, designated on 2026-04-10: counted from that day, not before.
    assert_eq!(designate(app.fx.tokyo.hospital.to_string(), "2026-04-10").await, true);
    let c = on("2026-04-09").await;
    assert_eq!(hospital_in(&c, "prefectures", "13"), Some(json!(0)));
    let c = on("2026-04-10").await;
    assert_eq!(hospital_in(&c, "prefectures", "13"), Some(json!(1)));
    assert_eq!(hospital_in(&c, "regions", "kanto"), Some(json!(1)));
    assert_eq!((c["regionsCovered"].as_i64(), c["prefecturesCovered"].as_i64()), (Some(1), Some(1)));
    assert_eq!(requirements(&c).0, json!("MISSED"), "seven regions still have none");

    // A hospital in every other prefecture: the regions first (one prefecture each, 2026-05-01),
    // then the rest (2028-01-01).
    let regions = app.gql(&national, "{ regions { code prefectures { code } } }", json!({})).await;
    let regions = regions.ok()["regions"].as_array().expect("regions").clone();
    let mut first_of_region = Vec::new();
    for r in &regions {
        let codes: Vec<i64> =
            r["prefectures"].as_array().expect("p").iter().filter_map(|p| p["code"].as_i64()).collect();
        if !codes.contains(&13) {
            first_of_region.push(codes[0]);
        }
    }
    assert_eq!(first_of_region.len(), 7);
    for code in 1..=47i64 {
        if code == 13 {
            continue;
        }
        let hospital = app
            .gql(
                &national,
                "mutation($p: Int!) { createOrganisation(input: { kind: HOSPITAL, name: \"指定病院\", prefecture: $p, licensedBeds: 300 }) { id } }",
                json!({ "p": code }),
            )
            .await;
        let id = hospital.ok()["createOrganisation"]["id"].as_str().expect("id").to_owned();
        let day = if first_of_region.contains(&code) { "2026-05-01" } else { "2028-01-01" };
        designate(id, day).await;
    }
    let c = on("2026-05-01").await;
    assert_eq!((c["regionsCovered"].as_i64(), c["prefecturesCovered"].as_i64()), (Some(8), Some(8)));
    assert_eq!(requirements(&c), (json!("MET"), json!("NOT_YET_DUE")));
    let c = on("2027-12-31").await;
    assert_eq!(requirements(&c), (json!("MET"), json!("NOT_YET_DUE")));
    let c = on("2028-01-01").await;
    assert_eq!(c["prefecturesCovered"].as_i64(), Some(47));
    assert_eq!(requirements(&c), (json!("MET"), json!("MET")));

    // Tokyo's designation revoked on 2029-06-01: Tokyo is uncovered from that day and the
    // prefectures' requirement, due since 2029-03-31, is missed; Kanto keeps its others.
    let revoked = app
        .gql(
            &national,
            "mutation($h: ID!) { revokeCriticalInfrastructure(hospitalId: $h, revokedOn: \"2029-06-01\") { revokedOn } }",
            json!({ "h": app.fx.tokyo.hospital }),
        )
        .await;
    assert_eq!(revoked.ok()["revokeCriticalInfrastructure"]["revokedOn"], "2029-06-01");
    assert_eq!(requirements(&on("2029-05-31").await), (json!("MET"), json!("MET")));
    let c = on("2029-06-01").await;
    assert_eq!(hospital_in(&c, "prefectures", "13"), Some(json!(0)));
    assert_eq!(c["prefecturesCovered"].as_i64(), Some(46));
    assert_eq!(requirements(&c), (json!("MET"), json!("MISSED")));
    let kanto_before = hospital_in(&on("2029-05-31").await, "regions", "kanto").and_then(|v| v.as_i64());
    let kanto_after = hospital_in(&c, "regions", "kanto").and_then(|v| v.as_i64());
    assert_eq!(kanto_after, kanto_before.map(|n| n - 1));
    assert_eq!(app.gql(&app.fx.hospital_admin(&app.fx.tokyo), q, json!({})).await.code(), Some("FORBIDDEN"));
}

#[derive(diesel::QueryableByName)]
struct Generation {
    #[diesel(sql_type = BigInt)]
    generation: i64,
}

async fn generation(c: &mut AsyncPgConnection) -> i64 {
    let g: Generation =
        diesel::sql_query("SELECT generation FROM kpi_generation").get_result(c).await.expect("generation");
    g.generation
}

#[tokio::test]
async fn kept_reports_are_served_only_while_the_kpi_generation_stands() {
    let app = TestApp::new().await;
    let fx = &app.fx;
    let vars = json!({ "fy": [2024], "metrics": ["SUBMISSION_RATE"] });
    let submitted = |rows: &[Value]| rows.iter().map(|r| r["numerator"].as_i64().unwrap_or_default()).sum::<i64>();
    let mut owner = AsyncPgConnection::establish(&app.db.owner_url).await.expect("owner");
    let before = report(&app, &fx.national(), vars.clone()).await;
    let kept_at = generation(&mut owner).await;
    assert_eq!(report(&app, &fx.national(), vars.clone()).await, before);
    assert_eq!(generation(&mut owner).await, kept_at, "reading moves nothing");

    // Tokyo's hospital submits FY2024: the generation moves in that transaction.
    let day = chrono::NaiveDate::from_ymd_opt(2024, 6, 1).expect("day");
    app.submit_hospital_checklist(&fx.hospital_admin(&fx.tokyo), 2024, renkei_tests::fixture::all_yes(day)).await;
    let moved_to = generation(&mut owner).await;
    assert!(moved_to > kept_at, "the submission moved the generation ({kept_at} -> {moved_to})");

    // Wound back by hand, the generation makes the API serve what it kept: the cache is used...
    diesel::sql_query("UPDATE kpi_generation SET generation = $1")
        .bind::<BigInt, _>(kept_at)
        .execute(&mut owner)
        .await
        .expect("wind back");
    assert_eq!(report(&app, &fx.national(), vars.clone()).await, before, "the kept answer");
    // ...and only under the generation it was filed under.
    diesel::sql_query("UPDATE kpi_generation SET generation = $1")
        .bind::<BigInt, _>(moved_to)
        .execute(&mut owner)
        .await
        .expect("restore");
    let after = report(&app, &fx.national(), vars.clone()).await;
    assert_eq!(submitted(&after), submitted(&before) + 1, "the fresh answer counts the new submission");
}

const PROTECTED: &str = "query($fy: [Int!]!, $by: [KpiDimension!], $metrics: [KpiMetric!]) { kpiReport(fiscalYears: $fy, groupBy: $by, metrics: $metrics) { metric prefectureCode designated numerator denominator protection } }";

/// KPI reports answered from kept answers and computed afresh, as this API counts them.
fn lookups(app: &TestApp) -> (u64, u64) {
    let counter = &app.state.metrics.kpi_cache;
    (counter.with_label_values(&["hit"]).get(), counter.with_label_values(&["miss"]).get())
}

/// Asks twice: computed the first time (what changed moved the generation), kept the second.
async fn computed_then_kept(app: &TestApp, p: &Principal, vars: &Value, after: &str) -> Value {
    let (hits, misses) = lookups(app);
    let fresh = app.gql(p, PROTECTED, vars.clone()).await.ok().clone();
    assert_eq!(lookups(app), (hits, misses + 1), "after {after} the report is computed afresh");
    let kept = app.gql(p, PROTECTED, vars.clone()).await.ok().clone();
    assert_eq!(lookups(app), (hits + 1, misses + 1), "after {after}, asked again, the answer is kept");
    assert_eq!(kept, fresh, "after {after} the kept answer is the computed one");
    fresh
}

#[tokio::test]
async fn the_kpi_cache_keeps_each_view_apart_and_computes_afresh_after_every_change() {
    let app = TestApp::new().await;
    let fx = &app.fx;
    let vars = json!({ "fy": [2024], "by": ["PREFECTURE"], "metrics": ["SUBMISSION_RATE"] });
    // The ministry sees exact figures, Tokyo's official its own prefecture exactly and Osaka's
    // behind the protection, the dashboard every prefecture protected: three different answers
    // to one question. A cache keyed without the caller would hand the first to the others.
    let views = [fx.national(), fx.prefecture(&fx.tokyo), fx.dashboard()];
    let mut answers = Vec::new();
    for p in &views {
        answers.push(computed_then_kept(&app, p, &vars, &format!("nothing, as {:?}", p.role)).await);
    }
    for (i, a) in answers.iter().enumerate() {
        for b in &answers[i + 1..] {
            assert_ne!(a, b, "two views, one answer");
        }
    }
    let rows = |answer: &Value| answer["kpiReport"].as_array().cloned().unwrap_or_default();
    let protection_of = |answer: &Value, pref: i64| {
        rows(answer).iter().find(|r| r["prefectureCode"] == pref).map(|r| r["protection"].clone())
    };
    assert_eq!(protection_of(&answers[0], 27), Some(json!("EXACT")));
    assert_eq!(protection_of(&answers[1], 13), Some(json!("EXACT")));
    assert_ne!(protection_of(&answers[1], 27), Some(json!("EXACT")), "Osaka is protected from Tokyo");
    assert_ne!(protection_of(&answers[2], 13), Some(json!("EXACT")), "Tokyo is protected from the dashboard");

    // A read that changes nothing leaves the kept answer in place.
    app.gql(&fx.national(), "{ viewer { role } }", json!({})).await.ok();
    let (hits, misses) = lookups(&app);
    app.gql(&fx.national(), PROTECTED, vars.clone()).await.ok();
    assert_eq!(lookups(&app), (hits + 1, misses), "nothing changed: the kept answer");

    let national = fx.national();
    let submitted = |answer: &Value| {
        rows(answer)
            .iter()
            .filter(|r| r["metric"] == "SUBMISSION_RATE")
            .map(|r| r["numerator"].as_i64().unwrap_or_default())
            .sum::<i64>()
    };
    let in_scope = |answer: &Value| {
        rows(answer)
            .iter()
            .filter(|r| r["metric"] == "SUBMISSION_RATE")
            .map(|r| r["denominator"].as_i64().unwrap_or_default())
            .sum::<i64>()
    };
    let before = answers[0].clone();

    // A submission.
    let day = chrono::NaiveDate::from_ymd_opt(2024, 6, 1).expect("day");
    app.submit_hospital_checklist(&fx.hospital_admin(&fx.tokyo), 2024, renkei_tests::fixture::all_yes(day)).await;
    let after_submission = computed_then_kept(&app, &national, &vars, "a submission").await;
    assert_eq!(submitted(&after_submission), submitted(&before) + 1);

    // A registry entry.
    app.gql(
        &fx.prefecture(&fx.tokyo),
        "mutation { createOrganisation(input: { kind: HOSPITAL, name: \"新病院\", prefecture: 13, licensedBeds: 50 }) { id } }",
        json!({}),
    )
    .await
    .ok();
    let after_entry = computed_then_kept(&app, &national, &vars, "a registry entry").await;
    assert_eq!(in_scope(&after_entry), in_scope(&before) + 1);

    // A designation: the national report by designation moves Tokyo's hospital across.
    let by_designation = json!({ "fy": [2024], "by": ["DESIGNATION"], "metrics": ["SUBMISSION_RATE"] });
    let undesignated = computed_then_kept(&app, &national, &by_designation, "nothing, by designation").await;
    app.gql(
        &national,
        "mutation($h: ID!) { designateCriticalInfrastructure(hospitalId: $h, designatedOn: \"2024-04-01\") { designatedOn } }",
        json!({ "h": fx.tokyo.hospital }),
    )
    .await
    .ok();
    let designated = computed_then_kept(&app, &national, &by_designation, "a designation").await;
    assert_ne!(designated, undesignated, "the designated hospital moved across");
    // A new day gives a key of its own: `kpi_cache::tests`, as the day cannot be moved here.
}
