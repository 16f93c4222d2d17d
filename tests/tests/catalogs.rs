//! Checklist catalogs as data: the shipped FY2023/FY2024 forms match the reference, and new
//! years load through the API (the ministry only), validated, all or nothing.

use renkei_tests::TestApp;
use serde_json::{Value, json};

const CATALOG: &str = "query($fy: Int!, $form: ChecklistForm!) { checklistCatalog(fiscalYear: $fy, form: $form) { title items { code status note answerType choices kpi } } }";

fn items(reply: &renkei_tests::Reply) -> Vec<Value> {
    reply.ok()["checklistCatalog"]["items"].as_array().expect("items").clone()
}

#[tokio::test]
async fn the_shipped_hospital_forms_follow_the_reference() {
    let app = TestApp::new().await;
    let staff = app.fx.hospital_staff(&app.fx.tokyo);
    let fy2024 = items(&app.gql(&staff, CATALOG, json!({ "fy": 2024, "form": "HOSPITAL" })).await);
    assert_eq!(fy2024.len(), 13);
    assert!(fy2024.iter().all(|i| i["status"] == "REQUIRED" && i["answerType"] == "YES_NO"));
    let fy2023 = items(&app.gql(&staff, CATALOG, json!({ "fy": 2023, "form": "HOSPITAL" })).await);
    let status =
        |code: &str| fy2023.iter().find(|i| i["code"] == code).map(|i| (i["status"].clone(), i["note"].clone()));
    for added in ["2-9", "3-2", "3-3"] {
        assert_eq!(status(added), Some((json!("ABSENT"), Value::Null)), "{added} was added for FY2024");
    }
    for endpoint in ["2-4", "2-5", "2-7"] {
        assert_eq!(status(endpoint), Some((json!("REQUIRED"), json!("endpoint PCs: reference"))), "{endpoint}");
    }
    assert_eq!(fy2024.iter().find(|i| i["code"] == "3-3").map(|i| i["kpi"].clone()), Some(json!("bcp")));
    let survey = items(&app.gql(&staff, CATALOG, json!({ "fy": 2024, "form": "SURVEY" })).await);
    let methods = survey.iter().find(|i| i["answerType"] == "MULTI_CHOICE").expect("backup methods");
    assert!(methods["choices"].as_array().is_some_and(|c| c.contains(&json!("lto")) && c.contains(&json!("cloud"))));
    assert_eq!(
        app.gql(&staff, CATALOG, json!({ "fy": 2030, "form": "HOSPITAL" })).await.ok()["checklistCatalog"],
        Value::Null
    );
}

fn item(code: &str) -> Value {
    json!({ "code": code, "sectionJa": "体制構築", "sectionEn": "Organisation", "textJa": "責任者を設置している。", "textEn": "A manager is appointed.", "answerType": "YES_NO", "status": "REQUIRED" })
}

const IMPORT: &str = "mutation($input: ChecklistCatalogInput!) { importChecklistCatalog(input: $input) { fiscalYear form items { code position } } }";

#[tokio::test]
async fn new_years_load_as_data_validated_all_or_nothing() {
    let app = TestApp::new().await;
    let national = app.fx.national();
    let mut vendor_item = item("V-1");
    vendor_item["answerType"] = json!("CHOICE");
    vendor_item["choices"] = json!(["対応済", "未対応", "該当なし"]);
    let good = json!({ "fiscalYear": 2025, "form": "VENDOR", "title": "事業者確認用 2025年度", "items": [item("1-1"), vendor_item] });
    assert_eq!(
        app.gql(&app.fx.prefecture(&app.fx.tokyo), IMPORT, json!({ "input": good })).await.code(),
        Some("FORBIDDEN")
    );

    let mut bad_choice = item("2-1");
    bad_choice["answerType"] = json!("CHOICE");
    let bad = json!({ "fiscalYear": 2026, "form": "HOSPITAL", "title": "x", "items": [item("1-1"), item("1-1"), item("bad code"), bad_choice] });
    let reply = app.gql(&national, IMPORT, json!({ "input": bad })).await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"));
    let message = reply.body["errors"][0]["message"].as_str().unwrap_or_default().to_owned();
    for expected in [
        "items[1] (1-1): code appears twice",
        "items[2] (bad code): code must look like",
        "items[3] (2-1): a choice item needs",
    ] {
        assert!(message.contains(expected), "names every problem: {message}");
    }
    let none = app.gql(&national, CATALOG, json!({ "fy": 2026, "form": "HOSPITAL" })).await;
    assert_eq!(none.ok()["checklistCatalog"], Value::Null, "nothing was written");

    let loaded = app.gql(&national, IMPORT, json!({ "input": good })).await;
    assert_eq!(
        loaded.ok()["importChecklistCatalog"]["items"],
        json!([{ "code": "1-1", "position": 1 }, { "code": "V-1", "position": 2 }])
    );
    assert_eq!(
        app.gql(&national, IMPORT, json!({ "input": good })).await.code(),
        Some("CONFLICT"),
        "a year's form loads once"
    );
}
