//! The tenant-isolation matrix: every role of the Tokyo tenant × every query and mutation of the
//! schema × an object of the Osaka tenant. The operations are read from the schema itself, so a
//! new operation without a rule here fails the test until someone writes its rule.

use std::collections::BTreeSet;

use renkei_core::Principal;
use renkei_tests::TestApp;
use renkei_tests::fixture::Fixture;
use serde_json::{Value, json};

/// How a foreign-tenant attempt must end.
enum Expect {
    /// Refused: `FORBIDDEN` or `NOT_FOUND`, or a null result.
    Refused,
    /// Succeeds, but none of the foreign ids appear in the answer.
    Hidden,
    /// Reference data (regions, prefectures) or the caller itself: no tenant object involved.
    NotTenantData,
    /// Acts on the caller's own organisation or prefecture only (it names no other): allowed
    /// for these roles — and then seen to land — refused for everyone else, never touching the
    /// foreign tenant.
    OwnTenant(&'static [renkei_core::Role], Landing),
}

/// How an allowed own-tenant call is seen to land: from the caller and the call's data, a query
/// the caller asks next, its variables, a JSON pointer into its data and what must be there.
type Landing = fn(&Principal, &Value) -> (&'static str, Value, &'static str, Value);

struct Case {
    query: &'static str,
    variables: fn(&Fixture) -> Value,
    expect: Expect,
}

/// One rule per operation of the schema.
fn rule(field: &str) -> Option<Case> {
    use Expect::*;
    let case = |query, variables, expect| Some(Case { query, variables, expect });
    match field {
        // Queries
        "viewer" => case("{ viewer { role organisation { id } } }", |_| json!({}), NotTenantData),
        "regions" => case("{ regions { code } }", |_| json!({}), NotTenantData),
        "prefectures" => case("{ prefectures { code } }", |_| json!({}), NotTenantData),
        "prefecture" => case("{ prefecture(code: 27) { code } }", |_| json!({}), NotTenantData),
        "organisations" => case(
            "{ organisations(first: 30) { edges { node { id healthCentre { id } vendors { id } linkedHospitals { id } users(first: 5) { edges { node { id } } } } } } }",
            |_| json!({}),
            Hidden,
        ),
        "organisation" => case(
            "query($id: ID!) { organisation(id: $id) { id name users(first: 10) { edges { node { id } } } } }",
            |fx| json!({ "id": fx.osaka.hospital }),
            Refused,
        ),
        "auditTrail" => case(
            "{ auditTrail(first: 100) { edges { node { prefecture organisationId targetIds } } } }",
            |_| json!({}),
            Hidden,
        ),
        // Mutations
        "createOrganisation" => case(
            "mutation { createOrganisation(input: { kind: HOSPITAL, name: \"越境病院\", prefecture: 27, licensedBeds: 50 }) { id } }",
            |_| json!({}),
            Refused,
        ),
        "updateOrganisation" => case(
            "mutation($id: ID!) { updateOrganisation(id: $id, input: { ehrInUse: true, name: \"乗っ取り\" }) { id } }",
            |fx| json!({ "id": fx.osaka.hospital }),
            Refused,
        ),
        "setHospitalHealthCentre" => case(
            "mutation($h: ID!, $c: ID) { setHospitalHealthCentre(hospitalId: $h, healthCentreId: $c) { id } }",
            |fx| json!({ "h": fx.osaka.hospital, "c": null }),
            Refused,
        ),
        "inviteUser" => case(
            "mutation($org: ID!) { inviteUser(input: { organisationId: $org, email: \"intruder@evil.example\", displayName: \"x\", role: HOSPITAL_ADMIN }) { id } }",
            |fx| json!({ "org": fx.osaka.hospital }),
            Refused,
        ),
        "deactivateUser" => case(
            "mutation($id: ID!) { deactivateUser(id: $id) { id } }",
            |fx| json!({ "id": fx.osaka.hospital_admin_user }),
            Refused,
        ),
        "designateCriticalInfrastructure" => case(
            "mutation($id: ID!) { designateCriticalInfrastructure(hospitalId: $id, designatedOn: \"2026-04-01\") { id } }",
            |fx| json!({ "id": fx.osaka.hospital }),
            Refused,
        ),
        "revokeCriticalInfrastructure" => case(
            "mutation($id: ID!) { revokeCriticalInfrastructure(hospitalId: $id, revokedOn: \"2026-04-01\") { id } }",
            |fx| json!({ "id": fx.osaka.hospital }),
            Refused,
        ),
        "linkVendor" => case(
            "mutation($h: ID!, $v: ID!) { linkVendor(hospitalId: $h, vendorId: $v) { id } }",
            |fx| json!({ "h": fx.osaka.hospital, "v": fx.tokyo.vendor }),
            Refused,
        ),
        "unlinkVendor" => case(
            "mutation($h: ID!, $v: ID!) { unlinkVendor(hospitalId: $h, vendorId: $v) { id } }",
            |fx| json!({ "h": fx.osaka.hospital, "v": fx.osaka.vendor }),
            Refused,
        ),
        "incidents" => case(
            "{ incidents(first: 50) { edges { node { id hospital { id } timeline { id } tasks { id } notifications { recipient } } } } }",
            |_| json!({}),
            Hidden,
        ),
        "incident" => case(
            "query($id: ID!) { incident(id: $id) { id title versions { version } } }",
            |fx| json!({ "id": fx.osaka_incident }),
            Refused,
        ),
        "pressingClocks" => case("{ pressingClocks { incident { id } clock { state } } }", |_| json!({}), Hidden),
        "incidentFlowchart" => {
            case("{ incidentFlowchart { code ransomwarePoints { no } } }", |_| json!({}), NotTenantData)
        }
        "ransomwarePoints" => case("{ ransomwarePoints { no } }", |_| json!({}), NotTenantData),
        "ransomwarePreparedness" => case(
            "query($id: ID!) { ransomwarePreparedness(hospitalId: $id) { pointNo done } }",
            |fx| json!({ "id": fx.osaka.hospital }),
            Refused,
        ),
        "incidentStatistics" => case(
            "{ incidentStatistics(from: \"2000-01-01T00:00:00Z\", until: \"2100-01-01T00:00:00Z\", groupBy: KIND) { key incidents } }",
            |_| json!({}),
            Hidden,
        ),
        "reportIncident" => case(
            "mutation { reportIncident(input: { title: \"不審メール\", kind: PHISHING, discoveredAt: \"2026-01-05T09:00:00Z\", suspectedCyberAttack: true }) { id hospital { id } } }",
            |_| json!({}),
            OwnTenant(&[renkei_core::Role::HospitalAdmin, renkei_core::Role::HospitalStaff], |who, data| {
                let id = data["reportIncident"]["id"].clone();
                let query = "query($id: ID!) { incident(id: $id) { hospital { id } } }";
                (query, json!({ "id": id }), "/incident/hospital/id", json!(who.organisation_id))
            }),
        ),
        "amendIncident" => case(
            "mutation($id: ID!) { amendIncident(id: $id, reportKind: UPDATE, input: { title: \"改ざん\", kind: OTHER, discoveredAt: \"2026-01-05T09:00:00Z\", suspectedCyberAttack: false }) { id } }",
            |fx| json!({ "id": fx.osaka_incident }),
            Refused,
        ),
        "moveIncident" => case(
            "mutation($id: ID!) { moveIncident(id: $id, to: INITIAL_RESPONSE) { id } }",
            |fx| json!({ "id": fx.osaka_incident }),
            Refused,
        ),
        "addIncidentEvent" => case(
            "mutation($id: ID!) { addIncidentEvent(id: $id, input: { step: \"2-6\", occurredAt: \"2026-01-05T09:00:00Z\", actor: \"x\" }) { id } }",
            |fx| json!({ "id": fx.osaka_incident }),
            Refused,
        ),
        "recordIncidentNotification" => case(
            "mutation($id: ID!) { recordIncidentNotification(id: $id, recipient: MHLW, notifiedAt: \"2026-01-05T09:00:00Z\") { recipient } }",
            |fx| json!({ "id": fx.osaka_incident }),
            Refused,
        ),
        "addIncidentTask" => case(
            "mutation($id: ID!) { addIncidentTask(id: $id, input: { title: \"x\" }) { id } }",
            |fx| json!({ "id": fx.osaka_incident }),
            Refused,
        ),
        "setIncidentTaskDone" => case(
            "mutation($id: ID!) { setIncidentTaskDone(taskId: $id, done: true) { id } }",
            |fx| json!({ "id": fx.osaka_task }),
            Refused,
        ),
        "setRansomwarePreparedness" => case(
            "mutation { setRansomwarePreparedness(point: 1, done: true) { pointNo } }",
            |_| json!({}),
            OwnTenant(&[renkei_core::Role::HospitalAdmin], |who, _| {
                let query = "query($h: ID!) { ransomwarePreparedness(hospitalId: $h) { pointNo done } }";
                (
                    query,
                    json!({ "h": who.organisation_id }),
                    "/ransomwarePreparedness/0",
                    json!({ "pointNo": 1, "done": true }),
                )
            }),
        ),
        "reportingBundles" => case("{ reportingBundles(first: 50) { id prefecture } }", |_| json!({}), Hidden),
        "requestReportingBundle" => case(
            "mutation($fy: Int!) { requestReportingBundle(fiscalYear: $fy, prefecture: 27) { id } }",
            |_| json!({ "fy": renkei_core::bundles::fiscal_year_of(chrono::Utc::now().date_naive()) }),
            Refused,
        ),
        "checklistCatalogs" => case("{ checklistCatalogs { fiscalYear form } }", |_| json!({}), NotTenantData),
        "checklistCatalog" => case(
            "{ checklistCatalog(fiscalYear: 2024, form: HOSPITAL) { items { code } } }",
            |_| json!({}),
            NotTenantData,
        ),
        "importChecklistCatalog" => case(
            "mutation { importChecklistCatalog(input: { fiscalYear: 2030, form: HOSPITAL, title: \"x\", items: [{ code: \"1-1\", sectionJa: \"a\", sectionEn: \"a\", textJa: \"a\", textEn: \"a\", answerType: YES_NO, status: REQUIRED }] }) { fiscalYear } }",
            |_| json!({}),
            Refused,
        ),
        "checklistSubmission" => case(
            "query($id: ID!) { checklistSubmission(id: $id) { id revisions { revision } } }",
            |fx| json!({ "id": fx.osaka_submission }),
            Refused,
        ),
        // Osaka's one hospital is behind its cells: no Tokyo role may see its figures.
        "kpiReport" => case(
            "{ kpiReport(fiscalYears: [2024], groupBy: [PREFECTURE], metrics: [SUBMISSION_RATE, SECURITY_MANAGER_RATE, ITEM_YES_RATE]) { prefectureCode metric item numerator rate suppressed } }",
            |_| json!({}),
            Hidden,
        ),
        "peerComparison" => case(
            "query($h: ID!) { peerComparison(fiscalYear: 2024, hospitalId: $h) { bedBand rows { ownNumerator } } }",
            |fx| json!({ "h": fx.osaka.hospital }),
            Refused,
        ),
        "designationCoverage" => case(
            "{ designationCoverage { regionsCovered prefectures { code designatedHospitals } } }",
            |_| json!({}),
            NotTenantData,
        ),
        "checklistStatus" => {
            case("{ checklistStatus(fiscalYear: 2024) { hospital { id } status } }", |_| json!({}), Hidden)
        }
        "saveChecklistDraft" => case(
            "mutation($h: ID!) { saveChecklistDraft(fiscalYear: 2024, form: HOSPITAL, hospitalId: $h, answers: []) { id } }",
            |fx| json!({ "h": fx.osaka.hospital }),
            Refused,
        ),
        "submitChecklist" => case(
            "mutation($id: ID!) { submitChecklist(id: $id) { id } }",
            |fx| json!({ "id": fx.osaka_submission }),
            Refused,
        ),
        "reviewChecklist" => case(
            "mutation($id: ID!) { reviewChecklist(id: $id, accept: true) { id } }",
            |fx| json!({ "id": fx.osaka_submission }),
            Refused,
        ),
        "submissionWindow" => {
            case("{ submissionWindow(fiscalYear: 2024, prefecture: 27) { closesOn } }", |_| json!({}), Refused)
        }
        "inspections" => case(
            "query($h: ID!) { inspections(hospitalId: $h) { id } }",
            |fx| json!({ "h": fx.osaka.hospital }),
            Refused,
        ),
        "setSubmissionWindow" => case(
            "mutation { setSubmissionWindow(fiscalYear: 2024, opensOn: \"2024-06-03\", closesOn: \"2024-09-13\") { prefecture } }",
            |_| json!({}),
            OwnTenant(&[renkei_core::Role::Prefecture], |who, _| {
                let query = "query($p: Int!) { submissionWindow(fiscalYear: 2024, prefecture: $p) { closesOn } }";
                (query, json!({ "p": who.prefecture }), "/submissionWindow/closesOn", json!("2024-09-13"))
            }),
        ),
        "recordInspection" => case(
            "mutation($h: ID!) { recordInspection(hospitalId: $h, fiscalYear: 2024, inspectedOn: \"2024-10-01\", inspector: \"x\", findings: []) { id } }",
            |fx| json!({ "h": fx.osaka.hospital }),
            Refused,
        ),
        "startChecklistFromPreviousYear" => case(
            "mutation { startChecklistFromPreviousYear(fiscalYear: 2024) { id hospital { id } } }",
            |_| json!({}),
            OwnTenant(&[renkei_core::Role::HospitalAdmin], |who, data| {
                let id = data["startChecklistFromPreviousYear"]["id"].clone();
                let query = "query($id: ID!) { checklistSubmission(id: $id) { hospital { id } } }";
                (query, json!({ "id": id }), "/checklistSubmission/hospital/id", json!(who.organisation_id))
            }),
        ),
        "deadJobs" => case("{ deadJobs(first: 50) { id payload } }", |_| json!({}), Hidden),
        "retryJob" => case(
            "mutation($id: String!) { retryJob(id: $id) { id } }",
            |fx| json!({ "id": fx.osaka_dead_job.to_string() }),
            Refused,
        ),
        "setAlertPreference" => case(
            "mutation { setAlertPreference(alert: \"incident_created\", enabled: false) { alert enabled } }",
            |_| json!({}),
            NotTenantData,
        ),
        _ => None,
    }
}

/// Field names of `type <name> { … }` in the SDL.
fn fields_of(sdl: &str, type_name: &str) -> Vec<String> {
    let start = sdl.find(&format!("type {type_name} {{")).unwrap_or_else(|| panic!("type {type_name} in the SDL"));
    let body = &sdl[start..];
    let body = &body[body.find('{').unwrap_or(0) + 1..body.find("\n}").unwrap_or(body.len())];
    // Descriptions ("..." and """ blocks """) are not fields.
    let mut in_block = false;
    body.lines()
        .map(str::trim)
        .filter(|l| {
            if l.starts_with("\"\"\"") {
                in_block = !(in_block || (l.len() > 3 && l.ends_with("\"\"\"")));
                return false;
            }
            !in_block
        })
        .filter(|l| !l.is_empty() && !l.starts_with('"') && !l.starts_with('#'))
        .filter_map(|l| l.split(['(', ':']).next().map(|n| n.trim().to_owned()))
        .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric()))
        .collect()
}

#[derive(Debug, PartialEq, diesel::QueryableByName)]
struct AuditEntry {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    operation: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    role: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    outcome: String,
}

/// The newest entry of the audit log, read as its owner.
async fn newest_audit_entry(owner: &mut diesel_async::AsyncPgConnection) -> Option<AuditEntry> {
    use diesel::OptionalExtension;
    use diesel_async::RunQueryDsl;
    diesel::sql_query("SELECT id, operation, role, outcome FROM audit_log ORDER BY id DESC LIMIT 1")
        .get_result(owner)
        .await
        .optional()
        .expect("audit log")
}

/// Every id of the Osaka tenant that no Tokyo role may see (its vendor is in the public directory).
fn osaka_ids(fx: &Fixture) -> Vec<String> {
    let mut ids: Vec<String> = [
        fx.osaka.office,
        fx.osaka.centre,
        fx.osaka.hospital,
        fx.osaka.clinic,
        fx.osaka.hospital_admin_user,
        fx.osaka_incident,
        fx.osaka_task,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    ids.push(fx.osaka_dead_job_marker.clone());
    ids.push(fx.osaka_bundle.to_string());
    ids.push(fx.osaka_submission.to_string());
    ids
}

#[test]
fn every_operation_has_an_isolation_rule() {
    let sdl = renkei_graphql::sdl();
    let mut missing = Vec::new();
    for root in ["Query", "Mutation"] {
        for field in fields_of(&sdl, root) {
            if rule(&field).is_none() {
                missing.push(format!("{root}.{field}"));
            }
        }
    }
    assert!(missing.is_empty(), "operations without an isolation rule in tests/tests/matrix.rs: {missing:?}");
    assert!(fields_of(&sdl, "Mutation").len() >= 9, "the SDL parser still finds the mutations");
}

#[tokio::test]
async fn every_role_is_refused_every_operation_on_a_foreign_tenant() {
    let app = TestApp::new().await;
    let fx = &app.fx;
    // An Osaka audit entry, which no Tokyo trail may show.
    app.gql(
        &fx.prefecture(&fx.osaka),
        "mutation($id: ID!) { updateOrganisation(id: $id, input: { ehrInUse: true }) { id } }",
        json!({ "id": fx.osaka.hospital }),
    )
    .await
    .ok();
    // Tokyo's FY2023 checklist, submitted: what its hospital starts FY2024 from.
    let mut answers = renkei_tests::fixture::all_yes(chrono::NaiveDate::from_ymd_opt(2023, 6, 1).expect("day"));
    // FY2023's form did not ask these yet.
    answers.retain(|a| !["2-9", "3-2", "3-3"].contains(&a.code.as_str()));
    app.submit_hospital_checklist(&fx.hospital_admin(&fx.tokyo), 2023, answers).await;
    let roles: Vec<Principal> = vec![
        fx.prefecture(&fx.tokyo),
        fx.health_centre(&fx.tokyo),
        fx.hospital_admin(&fx.tokyo),
        fx.hospital_staff(&fx.tokyo),
        fx.vendor(&fx.tokyo),
        fx.dashboard(),
    ];
    let sdl = renkei_graphql::sdl();
    let operations: BTreeSet<String> = ["Query", "Mutation"].iter().flat_map(|t| fields_of(&sdl, t)).collect();
    let foreign = osaka_ids(fx);
    let mutations: BTreeSet<String> = fields_of(&sdl, "Mutation").into_iter().collect();
    let mut owner = app.db.owner_conn().await;
    let mut checked = 0;
    for op in &operations {
        let case = rule(op).unwrap_or_else(|| panic!("no rule for {op}"));
        for who in &roles {
            // Osaka's data, as Osaka's official sees it, must not change whatever Tokyo does.
            let osaka = fx.prefecture(&fx.osaka);
            let before = app.fingerprint_as(&osaka).await;
            let audited_before = newest_audit_entry(&mut owner).await;
            let reply = app.gql(who, case.query, (case.variables)(fx)).await;
            let audited = newest_audit_entry(&mut owner).await;
            // Every mutation attempt is audited — allowed or refused — with its outcome; a query
            // leaves no entry.
            if mutations.contains(op) {
                let outcome = reply.code().unwrap_or("ok");
                assert_eq!(
                    audited,
                    Some(AuditEntry {
                        id: audited_before.as_ref().map_or(0, |e| e.id) + 1,
                        operation: op.clone(),
                        role: who.role.as_str().to_owned(),
                        outcome: outcome.to_owned(),
                    }),
                    "{op} as {:?}: one audit entry for the attempt",
                    who.role
                );
            } else {
                assert_eq!(audited, audited_before, "{op} as {:?} is a query: no audit entry", who.role);
            }
            let after = app.fingerprint_as(&osaka).await;
            assert_eq!(before, after, "{op} as {:?} changed Osaka's data", who.role);
            assert_ne!(reply.code(), Some("INTERNAL"), "{op} as {:?}: {}", who.role, reply.body);
            let text = reply.body.to_string();
            match case.expect {
                Expect::Refused => {
                    // Refused as the rules say (not any error: a BAD_USER_INPUT or a 429 would
                    // pass for the wrong reason), or answered with nothing.
                    let refused = matches!(reply.code(), Some("FORBIDDEN" | "NOT_FOUND"))
                        || reply.code().is_none() && reply.body["data"][op.as_str()].is_null();
                    assert!(refused, "{op} as {:?} must be refused: {}", who.role, reply.body);
                }
                Expect::Hidden => {
                    assert!(matches!(reply.code(), None | Some("FORBIDDEN")), "{op} as {:?}: {}", who.role, reply.body);
                    if op == "auditTrail" {
                        assert!(
                            !text.contains("\"prefecture\":27"),
                            "{op} as {:?} shows Osaka's trail: {text}",
                            who.role
                        );
                    }
                    if op == "kpiReport" {
                        for row in reply.body["data"][op.as_str()].as_array().into_iter().flatten() {
                            if row["prefectureCode"] == 27 {
                                assert!(
                                    row["suppressed"] == true && row["numerator"].is_null() && row["rate"].is_null(),
                                    "{op} as {:?} shows Osaka's figures: {row}",
                                    who.role
                                );
                            }
                        }
                    }
                    if op == "incidentStatistics" && reply.code().is_none() {
                        let total = reply.body["data"][op.as_str()].as_array().and_then(|rows| rows.last()).cloned();
                        assert_eq!(
                            total.map(|t| t["incidents"].clone()),
                            Some(json!(0)),
                            "Tokyo has no incident: {text}"
                        );
                    }
                }
                // Not tenant data: an answer, or the role's refusal — never a validation failure
                // or anything else that would pass for either.
                Expect::NotTenantData => match reply.code() {
                    None => assert!(!reply.body["data"][op.as_str()].is_null(), "{op} as {:?}: {text}", who.role),
                    code => assert_eq!(code, Some("FORBIDDEN"), "{op} as {:?}: {text}", who.role),
                },
                Expect::OwnTenant(allowed, landing) if allowed.contains(&who.role) => {
                    assert_eq!(reply.code(), None, "{op} as {:?} is allowed and must succeed: {text}", who.role);
                    let (query, variables, pointer, expected) = landing(who, &reply.body["data"]);
                    let read = app.gql(who, query, variables).await;
                    assert_eq!(
                        read.ok().pointer(pointer),
                        Some(&expected),
                        "{op} as {:?} must land in the caller's own tenant: {}",
                        who.role,
                        read.body
                    );
                }
                Expect::OwnTenant(..) => {
                    assert_eq!(reply.code(), Some("FORBIDDEN"), "{op} as {:?}: {text}", who.role);
                }
            }
            // Tokyo's own trail lists the ids its users typed in their refused attempts; that it
            // shows no Osaka entry is checked above.
            let foreign: &[String] = if op == "auditTrail" { &[] } else { &foreign };
            for id in foreign {
                assert!(
                    !text.contains(id.as_str()) || matches!(case.expect, Expect::Refused) && reply.code().is_some(),
                    "{op} as {:?} revealed foreign object {id}: {text}",
                    who.role
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, operations.len() * roles.len());
}
