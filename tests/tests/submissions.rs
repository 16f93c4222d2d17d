//! Checklist submissions: drafts, immutable revisions, second checks, review, and who may do what.

use diesel_async::SimpleAsyncConnection;
use renkei_core::{Principal, Role};
use renkei_tests::{Reply, TestApp};
use serde_json::{Value, json};

const SAVE: &str = "mutation($fy: Int!, $form: ChecklistForm!, $h: ID, $answers: [ChecklistAnswerInput!]!) { saveChecklistDraft(fiscalYear: $fy, form: $form, hospitalId: $h, answers: $answers) { id status revision draftAnswers { code value targetOn secondValue } } }";
const SUBMIT: &str = "mutation($id: ID!) { submitChecklist(id: $id) { status revision } }";
const REVIEW: &str = "mutation($id: ID!, $accept: Boolean!, $comments: [ReviewCommentInput!]) { reviewChecklist(id: $id, accept: $accept, comments: $comments) { status } }";
const READ: &str = "query($id: ID!) { checklistSubmission(id: $id) { status revision revisions { revision answers { code value targetOn secondCheckedOn secondValue } reviewOutcome reviewComments { code comment } } } }";

fn answers(no_for: Option<&str>) -> Value {
    let codes = ["1-1", "2-1", "2-2", "2-3", "2-4", "2-5", "2-6", "2-7", "2-8", "2-9", "3-1", "3-2", "3-3"];
    Value::Array(
        codes
            .iter()
            .map(|c| {
                if Some(*c) == no_for {
                    json!({ "code": c, "value": "no", "checkedOn": "2024-06-01", "targetOn": "2024-09-30" })
                } else {
                    json!({ "code": c, "value": "yes", "checkedOn": "2024-06-01" })
                }
            })
            .collect(),
    )
}

fn id_of(reply: &Reply) -> String {
    reply.ok()["saveChecklistDraft"]["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn draft_submit_return_correct_and_accept_keeps_every_revision() {
    let app = TestApp::new().await;
    let (admin, centre) = (app.fx.hospital_admin(&app.fx.tokyo), app.fx.health_centre(&app.fx.tokyo));
    let partial = json!([{ "code": "1-1", "value": "yes", "checkedOn": "2024-06-01" }]);
    let draft = app.gql(&admin, SAVE, json!({ "fy": 2024, "form": "HOSPITAL", "answers": partial })).await;
    let id = id_of(&draft);
    assert_eq!(draft.ok()["saveChecklistDraft"]["revision"], 0);
    let incomplete = app.gql(&admin, SUBMIT, json!({ "id": id })).await;
    assert_eq!(incomplete.code(), Some("BAD_USER_INPUT"));
    assert!(
        incomplete.body["errors"][0]["message"].as_str().unwrap_or_default().contains("3-3: required and not answered")
    );

    app.gql(&admin, SAVE, json!({ "fy": 2024, "form": "HOSPITAL", "answers": answers(Some("2-7")) })).await.ok();
    assert_eq!(
        app.gql(&admin, SUBMIT, json!({ "id": id })).await.ok()["submitChecklist"],
        json!({ "status": "submitted", "revision": 1 })
    );
    assert_eq!(
        app.gql(&admin, SUBMIT, json!({ "id": id })).await.code(),
        Some("BAD_USER_INPUT"),
        "nothing new to submit"
    );

    let comments = json!([{ "code": "2-7", "comment": "端末の対応予定を具体的に記載してください" }]);
    assert_eq!(
        app.gql(&centre, REVIEW, json!({ "id": id, "accept": false })).await.code(),
        Some("BAD_USER_INPUT"),
        "returning needs comments"
    );
    let returned = app.gql(&centre, REVIEW, json!({ "id": id, "accept": false, "comments": comments })).await;
    assert_eq!(returned.ok()["reviewChecklist"]["status"], "returned");

    // The correction: 2-7 gets its second check, as on the paper form.
    let mut corrected = answers(Some("2-7"));
    corrected[7]["secondCheckedOn"] = json!("2024-09-15");
    corrected[7]["secondValue"] = json!("yes");
    app.gql(&admin, SAVE, json!({ "fy": 2024, "form": "HOSPITAL", "answers": corrected })).await.ok();
    assert_eq!(app.gql(&admin, SUBMIT, json!({ "id": id })).await.ok()["submitChecklist"]["revision"], 2);
    app.gql(&centre, REVIEW, json!({ "id": id, "accept": true })).await.ok();

    let read = app.gql(&admin, READ, json!({ "id": id })).await;
    let s = &read.ok()["checklistSubmission"];
    assert_eq!(s["status"], "reviewed");
    let revisions = s["revisions"].as_array().expect("revisions");
    assert_eq!(revisions.len(), 2);
    assert_eq!(revisions[0]["reviewOutcome"], "returned");
    assert_eq!(revisions[0]["reviewComments"], comments);
    assert_eq!(
        revisions[0]["answers"][7],
        json!({ "code": "2-7", "value": "no", "targetOn": "2024-09-30", "secondCheckedOn": null, "secondValue": null }),
        "revision 1 reads as submitted"
    );
    assert_eq!(revisions[1]["answers"][7]["secondValue"], "yes");
    assert_eq!(revisions[1]["reviewOutcome"], "accepted");

    // Submitted revisions cannot change, even through the database as the application.
    let mut conn = app.db.app_conn().await;
    let err = conn.batch_execute("UPDATE submission_revisions SET answers = '[]'").await.expect_err("immutable");
    assert!(err.to_string().contains("permission denied"), "{err}");

    // The health centre follows its jurisdiction's status.
    let status = app.gql(&centre, "{ checklistStatus(fiscalYear: 2024) { hospital { id } status } }", json!({})).await;
    let rows = status.ok()["checklistStatus"].as_array().expect("rows").clone();
    assert!(rows.contains(&json!({ "hospital": { "id": app.fx.tokyo.hospital }, "status": "reviewed" })));
    assert!(rows.contains(&json!({ "hospital": { "id": app.fx.tokyo.clinic }, "status": "not_started" })));
    assert_eq!(rows.len(), 2, "its jurisdiction only");
}

#[tokio::test]
async fn bad_answers_name_the_item_and_write_nothing() {
    let app = TestApp::new().await;
    let admin = app.fx.hospital_admin(&app.fx.tokyo);
    let id = id_of(&app.gql(&admin, SAVE, json!({ "fy": 2024, "form": "HOSPITAL", "answers": answers(None) })).await);
    let before = app.fingerprint().await;
    let mut bad = answers(None);
    bad[0] = json!({ "code": "1-1", "value": "no", "checkedOn": "2024-06-01" });
    bad[1] = json!({ "code": "2-1", "value": "maybe", "checkedOn": "2024-06-01" });
    bad[2] = json!({ "code": "2-2", "value": "yes", "checkedOn": "2024-06-01", "secondCheckedOn": "2024-05-01", "secondValue": "yes" });
    bad[3] = json!({ "code": "2-3", "value": "yes" });
    bad.as_array_mut().expect("array").push(json!({ "code": "9-9", "value": "yes", "checkedOn": "2024-06-01" }));
    let reply = app.gql(&admin, SAVE, json!({ "fy": 2024, "form": "HOSPITAL", "answers": bad })).await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"));
    let message = reply.body["errors"][0]["message"].as_str().unwrap_or_default().to_owned();
    for expected in [
        "1-1: a \"no\" needs a target date",
        "2-1: answer yes or no",
        "2-2: the second check comes after",
        "2-3: the day it was checked",
        "9-9: not an item",
    ] {
        assert!(message.contains(expected), "{expected} in {message}");
    }
    // 3-3 was not asked in FY2023.
    let fy2023 = json!([{ "code": "3-3", "value": "yes", "checkedOn": "2023-06-01" }]);
    let reply = app.gql(&admin, SAVE, json!({ "fy": 2023, "form": "HOSPITAL", "answers": fy2023 })).await;
    assert!(
        reply.body["errors"][0]["message"].as_str().unwrap_or_default().contains("3-3: not asked in fiscal year 2023")
    );
    assert_eq!(
        app.gql(&admin, SAVE, json!({ "fy": 2031, "form": "HOSPITAL", "answers": [] })).await.code(),
        Some("BAD_USER_INPUT")
    );
    assert_eq!(app.fingerprint().await, before, "nothing was written");
    let read = app.gql(&admin, READ, json!({ "id": id })).await;
    assert_eq!(read.ok()["checklistSubmission"]["status"], "draft");
}

#[tokio::test]
async fn who_may_fill_read_and_review() {
    let app = TestApp::new().await;
    let fx = &app.fx;
    let admin = fx.hospital_admin(&fx.tokyo);
    let id = id_of(&app.gql(&admin, SAVE, json!({ "fy": 2024, "form": "HOSPITAL", "answers": answers(None) })).await);
    app.gql(&admin, SUBMIT, json!({ "id": id })).await.ok();

    assert_eq!(
        app.gql(&fx.hospital_staff(&fx.tokyo), SAVE, json!({ "fy": 2024, "form": "HOSPITAL", "answers": [] }))
            .await
            .code(),
        Some("FORBIDDEN")
    );
    // The health centre of another jurisdiction cannot see or review it.
    let north = Principal::new("inspector-north".into(), Role::HealthCentre, Some(fx.tokyo_centre2), None).expect("p");
    assert_eq!(app.gql(&north, READ, json!({ "id": id })).await.ok()["checklistSubmission"], Value::Null);
    assert_eq!(app.gql(&north, REVIEW, json!({ "id": id, "accept": true })).await.code(), Some("NOT_FOUND"));
    assert_eq!(
        app.gql(&admin, REVIEW, json!({ "id": id, "accept": true })).await.code(),
        Some("FORBIDDEN"),
        "no self-review"
    );
    assert_eq!(
        app.gql(&fx.prefecture(&fx.tokyo), REVIEW, json!({ "id": id, "accept": true })).await.ok()["reviewChecklist"]["status"],
        "reviewed"
    );

    // The vendor form: the ministry loads it; a linked vendor fills it; an unlinked one cannot.
    let item = json!({ "code": "1-1", "sectionJa": "体制", "sectionEn": "Organisation", "textJa": "責任者を置いている", "textEn": "A lead is appointed", "answerType": "YES_NO", "status": "REQUIRED" });
    let import = "mutation($input: ChecklistCatalogInput!) { importChecklistCatalog(input: $input) { fiscalYear } }";
    app.gql(
        &fx.national(),
        import,
        json!({ "input": { "fiscalYear": 2024, "form": "VENDOR", "title": "事業者確認用", "items": [item] } }),
    )
    .await
    .ok();
    let vendor_answers = json!([{ "code": "1-1", "value": "yes", "checkedOn": "2024-07-01" }]);
    let mine = app
        .gql(
            &fx.vendor(&fx.tokyo),
            SAVE,
            json!({ "fy": 2024, "form": "VENDOR", "h": fx.tokyo.hospital, "answers": vendor_answers }),
        )
        .await;
    let vendor_form = id_of(&mine);
    let unlinked = app
        .gql(
            &fx.vendor(&fx.osaka),
            SAVE,
            json!({ "fy": 2024, "form": "VENDOR", "h": fx.tokyo.hospital, "answers": vendor_answers }),
        )
        .await;
    assert_eq!(unlinked.code(), Some("FORBIDDEN"));
    assert_eq!(
        app.gql(
            &admin,
            SAVE,
            json!({ "fy": 2024, "form": "VENDOR", "h": fx.tokyo.hospital, "answers": vendor_answers })
        )
        .await
        .code(),
        Some("FORBIDDEN"),
        "the vendor fills it"
    );
    for who in [admin.clone(), fx.health_centre(&fx.tokyo)] {
        assert_eq!(
            app.gql(&who, READ, json!({ "id": vendor_form })).await.ok()["checklistSubmission"]["status"],
            "draft",
            "{:?} sees the vendor form",
            who.role
        );
    }
    assert_eq!(
        app.gql(&fx.vendor(&fx.osaka), READ, json!({ "id": vendor_form })).await.ok()["checklistSubmission"],
        Value::Null
    );
}

#[tokio::test]
async fn windows_make_unsubmitted_checklists_overdue_and_inspections_are_recorded() {
    let app = TestApp::new().await;
    let fx = &app.fx;
    let (official, centre) = (fx.prefecture(&fx.tokyo), fx.health_centre(&fx.tokyo));
    let set = "mutation($opens: LocalDate!, $closes: LocalDate!) { setSubmissionWindow(fiscalYear: 2024, opensOn: $opens, closesOn: $closes, inspectionFrom: \"2024-09-01\") { prefecture closesOn } }";
    assert_eq!(
        app.gql(&official, set, json!({ "opens": "2024-09-01", "closes": "2024-06-30" })).await.code(),
        Some("BAD_USER_INPUT")
    );
    assert_eq!(
        app.gql(&centre, set, json!({ "opens": "2024-06-01", "closes": "2024-06-30" })).await.code(),
        Some("FORBIDDEN")
    );
    let window = app.gql(&official, set, json!({ "opens": "2024-06-01", "closes": "2024-06-30" })).await;
    assert_eq!(window.ok()["setSubmissionWindow"], json!({ "prefecture": 13, "closesOn": "2024-06-30" }));
    // The hospital sees its prefecture's window.
    let mine =
        app.gql(&fx.hospital_staff(&fx.tokyo), "{ submissionWindow(fiscalYear: 2024) { closesOn } }", json!({})).await;
    assert_eq!(mine.ok()["submissionWindow"]["closesOn"], "2024-06-30");

    // The window has closed: nothing submitted is overdue.
    let admin = fx.hospital_admin(&fx.tokyo);
    let draft = app.gql(&admin, SAVE, json!({ "fy": 2024, "form": "HOSPITAL", "answers": answers(None) })).await;
    let id = id_of(&draft);
    let outstanding = "{ checklistStatus(fiscalYear: 2024, outstanding: true) { hospital { id } status } }";
    let rows =
        app.gql(&official, outstanding, json!({})).await.ok()["checklistStatus"].as_array().expect("rows").clone();
    assert!(rows.contains(&json!({ "hospital": { "id": fx.tokyo.hospital }, "status": "overdue" })), "{rows:?}");
    assert!(rows.contains(&json!({ "hospital": { "id": fx.tokyo_hospital2 }, "status": "overdue" })));
    app.gql(&admin, SUBMIT, json!({ "id": id })).await.ok();
    let rows =
        app.gql(&official, outstanding, json!({})).await.ok()["checklistStatus"].as_array().expect("rows").clone();
    assert!(!rows.iter().any(|r| r["hospital"]["id"] == json!(fx.tokyo.hospital)), "submitted: no longer outstanding");

    // The health centre records an inspection of a hospital in its jurisdiction.
    let record = "mutation($h: ID!, $findings: [InspectionFindingInput!]!, $on: LocalDate!) { recordInspection(hospitalId: $h, fiscalYear: 2024, inspectedOn: $on, inspector: \"保健 次郎\", findings: $findings, followUpOn: \"2024-12-01\") { id findings { code finding } followUpOn } }";
    let findings = json!([{ "code": "2-7", "finding": "端末のパスワード設定に不備" }]);
    let reply =
        app.gql(&centre, record, json!({ "h": fx.tokyo.hospital, "findings": findings, "on": "2024-10-01" })).await;
    assert_eq!(reply.ok()["recordInspection"]["findings"], findings);
    let bad = json!([{ "code": "9-9", "finding": "x" }]);
    let reply = app.gql(&centre, record, json!({ "h": fx.tokyo.hospital, "findings": bad, "on": "2024-10-01" })).await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"));
    let reply = app.gql(&centre, record, json!({ "h": fx.tokyo.hospital, "findings": [], "on": "2024-12-15" })).await;
    assert!(reply.body["errors"][0]["message"].as_str().unwrap_or_default().contains("followUpOn"), "{}", reply.body);
    let north = Principal::new("inspector-north".into(), Role::HealthCentre, Some(fx.tokyo_centre2), None).expect("p");
    assert_eq!(
        app.gql(&north, record, json!({ "h": fx.tokyo.hospital, "findings": [], "on": "2024-10-01" })).await.code(),
        Some("NOT_FOUND")
    );
    assert_eq!(
        app.gql(&admin, record, json!({ "h": fx.tokyo.hospital, "findings": [], "on": "2024-10-01" })).await.code(),
        Some("FORBIDDEN")
    );
    let list = "query($h: ID!) { inspections(hospitalId: $h) { inspector findings { code } } }";
    let seen = app.gql(&admin, list, json!({ "h": fx.tokyo.hospital })).await;
    assert_eq!(seen.ok()["inspections"].as_array().map(Vec::len), Some(1), "the hospital reads its inspections");
}

#[tokio::test]
async fn next_year_starts_from_last_year_with_every_item_to_check_again() {
    let app = TestApp::new().await;
    let admin = app.fx.hospital_admin(&app.fx.tokyo);
    let fy2023: Vec<Value> = ["1-1", "2-1", "2-2", "2-3", "2-4", "2-5", "2-6", "2-7", "2-8", "3-1"]
        .iter()
        .map(|c| {
            if *c == "2-7" {
                json!({ "code": c, "value": "no", "checkedOn": "2023-06-01", "targetOn": "2023-12-01" })
            } else {
                json!({ "code": c, "value": "yes", "checkedOn": "2023-06-01" })
            }
        })
        .collect();
    let id = id_of(&app.gql(&admin, SAVE, json!({ "fy": 2023, "form": "HOSPITAL", "answers": fy2023 })).await);
    app.gql(&admin, SUBMIT, json!({ "id": id })).await.ok();

    let start = "mutation { startChecklistFromPreviousYear(fiscalYear: 2024) { id status revision newOrChangedItems draftAnswers { code value checkedOn targetOn } } }";
    let reply = app.gql(&admin, start, json!({})).await;
    let s = &reply.ok()["startChecklistFromPreviousYear"];
    assert_eq!(s["status"], "draft");
    assert_eq!(s["revision"], 0);
    let drafts = s["draftAnswers"].as_array().expect("answers");
    assert_eq!(drafts.len(), 10, "last year's answers, carried over");
    assert!(
        drafts.iter().all(|a| a["checkedOn"].is_null() && a["targetOn"].is_null()),
        "every check date cleared: {drafts:?}"
    );
    assert!(drafts.contains(&json!({ "code": "2-7", "value": "no", "checkedOn": null, "targetOn": null })));
    assert_eq!(
        s["newOrChangedItems"],
        json!(["2-4", "2-5", "2-7", "2-9", "3-2", "3-3"]),
        "new in FY2024, or no longer partly a reference item"
    );
    // Until each item is checked again, it cannot be submitted.
    let new_id = s["id"].as_str().expect("id").to_owned();
    let reply = app.gql(&admin, SUBMIT, json!({ "id": new_id })).await;
    assert!(
        reply.body["errors"][0]["message"].as_str().unwrap_or_default().contains("the day it was checked is required")
    );
    assert_eq!(app.gql(&admin, start, json!({})).await.code(), Some("CONFLICT"), "started once");
    let staff = app.fx.hospital_staff(&app.fx.tokyo);
    assert_eq!(app.gql(&staff, start, json!({})).await.code(), Some("FORBIDDEN"));
}

#[tokio::test]
async fn prefectures_export_their_submissions_as_csv_for_excel() {
    use actix_web::test::TestRequest;
    let app = TestApp::new().await;
    let admin = app.fx.hospital_admin(&app.fx.tokyo);
    let id =
        id_of(&app.gql(&admin, SAVE, json!({ "fy": 2024, "form": "HOSPITAL", "answers": answers(Some("2-7")) })).await);
    app.gql(&admin, SUBMIT, json!({ "id": id })).await.ok();
    let get = |p: &Principal, path: &str| {
        TestRequest::get().uri(path).insert_header(("authorization", format!("Bearer {}", app.token(p))))
    };
    let reply = app.send(get(&app.fx.prefecture(&app.fx.tokyo), "/exports/checklists/2024.csv")).await;
    assert_eq!(reply.status, 200);
    assert!(reply.content_type.starts_with("text/csv"));
    let text = reply.body.as_str().expect("csv text").to_owned();
    assert!(text.starts_with('\u{feff}'), "BOM for Excel");
    let lines: Vec<&str> = text.trim_end().split("\r\n").collect();
    assert_eq!(lines.len(), 1 + 13, "a header and one row per item of Tokyo's one submission: {lines:?}");
    assert!(lines.iter().any(|l| l.contains("東京市民病院") && l.contains(",2-7,no,2024-06-01,2024-09-30")), "{text}");
    assert!(!text.contains("大阪"), "Osaka's submission stays in Osaka's export");
    let national = app.send(get(&app.fx.national(), "/exports/checklists/2024.csv")).await;
    assert_eq!(national.body.as_str().map(|t| t.trim_end().split("\r\n").count()), Some(1 + 26));
    assert_eq!(app.send(get(&admin, "/exports/checklists/2024.csv")).await.status, 403);
    assert_eq!(app.send(get(&app.fx.national(), "/exports/checklists/2031.csv")).await.status, 404);
    assert_eq!(app.send(get(&app.fx.national(), "/exports/checklists/latest.csv")).await.status, 400);
}
