//! The checklist as an Excel workbook: download, fill, upload; bad files refused row by row with
//! nothing saved; and the prefectures' .xlsx export.

use actix_web::test::TestRequest;
use calamine::{Data, Reader, Xlsx};
use renkei_core::Principal;
use renkei_tests::{Reply, TestApp};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
use serde_json::{Value, json};

const SAVE: &str = "mutation($fy: Int!, $form: ChecklistForm!, $answers: [ChecklistAnswerInput!]!) { saveChecklistDraft(fiscalYear: $fy, form: $form, answers: $answers) { id } }";
const DRAFT: &str = "query($id: ID!) { checklistSubmission(id: $id) { status draftAnswers { code value values checkedOn targetOn secondCheckedOn secondValue } } }";

fn get(app: &TestApp, p: &Principal, path: &str) -> TestRequest {
    TestRequest::get().uri(path).insert_header(("authorization", format!("Bearer {}", app.token(p))))
}

fn put(app: &TestApp, p: &Principal, path: &str, body: Vec<u8>) -> TestRequest {
    TestRequest::put()
        .uri(path)
        .insert_header(("authorization", format!("Bearer {}", app.token(p))))
        .insert_header(("content-type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))
        .set_payload(body)
}

async fn draft(app: &TestApp, p: &Principal, id: &str) -> Value {
    app.gql(p, DRAFT, json!({ "id": id })).await.ok()["checklistSubmission"]["draftAnswers"].clone()
}

/// Every answer type of the posture survey, with a "no" that has its target and second check.
fn survey_answers() -> Value {
    json!([
        { "code": "S-1", "value": "yes", "checkedOn": "2024-06-01" },
        { "code": "S-2", "value": "no", "checkedOn": "2024-06-01", "targetOn": "2024-12-31",
          "secondCheckedOn": "2024-10-01", "secondValue": "yes" },
        { "code": "S-3", "values": ["lto", "cloud"] },
        { "code": "S-4", "value": "no", "checkedOn": "2024-06-02", "targetOn": "2025-03-31" },
        { "code": "S-6", "value": "2024-02-15" },
        { "code": "S-8", "value": "3" },
    ])
}

/// A cell of a workbook written the way a person (or Excel) might.
enum Cell<'a> {
    Text(&'a str),
    Number(f64),
    Day(u16, u8, u8),
    Blank,
}
use Cell::{Blank, Day, Number, Text};

/// A form laid out like the downloaded one: labels, header row at 5, then item rows.
fn workbook(form: &str, fiscal_year: f64, rows: &[Vec<Cell>]) -> Vec<u8> {
    let mut book = Workbook::new();
    let day = Format::new().set_num_format("yyyy/m/d");
    let sheet = book.add_worksheet();
    sheet.write_string(0, 0, "様式").expect("cell");
    sheet.write_string(0, 1, form).expect("cell");
    sheet.write_string(1, 0, "年度").expect("cell");
    sheet.write_number(1, 1, fiscal_year).expect("cell");
    let header = ["項目コード", "区分", "確認項目", "状態", "回答", "確認日", "改善予定日", "再確認日", "再確認の回答"];
    for (c, h) in (0u16..).zip(header) {
        sheet.write_string(4, c, h).expect("cell");
    }
    for (r, row) in (5u32..).zip(rows) {
        for (c, cell) in [0u16, 4, 5, 6, 7, 8].into_iter().zip(row) {
            match cell {
                Text(t) => sheet.write_string(r, c, *t).map(|_| ()),
                Number(n) => sheet.write_number(r, c, *n).map(|_| ()),
                Day(y, m, d) => sheet
                    .write_datetime_with_format(r, c, ExcelDateTime::from_ymd(*y, *m, *d).expect("day"), &day)
                    .map(|_| ()),
                Blank => Ok(()),
            }
            .expect("cell");
        }
    }
    book.save_to_buffer().expect("xlsx")
}

fn hospital_rows(no_target: bool) -> Vec<Vec<Cell<'static>>> {
    let codes = ["1-1", "2-1", "2-2", "2-3", "2-4", "2-5", "2-6", "2-7", "2-8", "2-9", "3-1", "3-2", "3-3"];
    codes
        .iter()
        .map(|c| {
            if *c == "2-7" {
                let target = if no_target { Blank } else { Text("2024年9月30日") };
                vec![Text(c), Text("いいえ"), Text("2024/06/01"), target]
            } else {
                vec![Text(c), Text("はい"), Day(2024, 6, 1)]
            }
        })
        .collect()
}

fn problems(reply: &Reply) -> Vec<(Option<u64>, Option<String>, String)> {
    reply.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            assert_eq!(e["extensions"]["code"], "BAD_USER_INPUT");
            (
                e["extensions"]["row"].as_u64(),
                e["extensions"]["item"].as_str().map(str::to_owned),
                e["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn download_then_upload_gives_back_the_same_answers() {
    let app = TestApp::new().await;
    let admin = app.fx.hospital_admin(&app.fx.tokyo);
    let saved = app.gql(&admin, SAVE, json!({ "fy": 2024, "form": "SURVEY", "answers": survey_answers() })).await;
    let id = saved.ok()["saveChecklistDraft"]["id"].as_str().expect("id").to_owned();
    let before = draft(&app, &admin, &id).await;

    let file = app.send(get(&app, &admin, "/forms/2024/survey.xlsx")).await;
    assert_eq!(file.status, 200, "{}", file.body);
    assert_eq!(file.content_type, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    // What a person sees in Excel: Japanese answers and real dates.
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(file.raw.clone())).expect("xlsx");
    let sheet = book.worksheet_range_at(0).expect("sheet").expect("range");
    let s2 = sheet.rows().find(|r| r[0] == Data::String("S-2".into())).expect("S-2 row");
    assert_eq!(s2[4], Data::String("いいえ".into()));
    assert!(matches!(s2[5], Data::DateTime(_)), "check dates are Excel dates: {:?}", s2[5]);

    // Change the draft, then upload the downloaded file: the answers it held come back.
    app.gql(&admin, SAVE, json!({ "fy": 2024, "form": "SURVEY", "answers": [] })).await.ok();
    let uploaded = app.send(put(&app, &admin, "/forms/2024/survey.xlsx", file.raw)).await;
    assert_eq!(uploaded.ok()["submission"]["answers"], 6, "{}", uploaded.body);
    assert_eq!(draft(&app, &admin, &id).await, before);
}

#[tokio::test]
async fn a_form_filled_in_excel_becomes_the_draft_and_can_be_submitted() {
    let app = TestApp::new().await;
    let admin = app.fx.hospital_admin(&app.fx.tokyo);
    let empty = app.send(get(&app, &admin, "/forms/2024/hospital.xlsx")).await;
    assert_eq!(empty.status, 200, "a form to fill before anything is saved: {}", empty.body);

    let file = workbook("hospital", 2024.0, &hospital_rows(false));
    let reply = app.send(put(&app, &admin, "/forms/2024/hospital.xlsx", file)).await;
    let id = reply.ok()["submission"]["id"].as_str().expect("id").to_owned();
    assert_eq!(reply.ok()["submission"]["status"], "draft");
    let answers = draft(&app, &admin, &id).await;
    let no = answers.as_array().expect("answers").iter().find(|a| a["code"] == "2-7").expect("2-7");
    assert_eq!(no["value"], "no");
    assert_eq!(no["checkedOn"], "2024-06-01", "a date typed as text");
    assert_eq!(no["targetOn"], "2024-09-30", "a date in Japanese");
    let yes = answers.as_array().expect("answers").iter().find(|a| a["code"] == "1-1").expect("1-1");
    assert_eq!((yes["value"].as_str(), yes["checkedOn"].as_str()), (Some("yes"), Some("2024-06-01")));
    let submitted =
        app.gql(&admin, "mutation($id: ID!) { submitChecklist(id: $id) { revision } }", json!({ "id": id }));
    assert_eq!(submitted.await.ok()["submitChecklist"]["revision"], 1);
}

#[tokio::test]
async fn bad_files_are_refused_row_by_row_and_nothing_is_saved() {
    let app = TestApp::new().await;
    let admin = app.fx.hospital_admin(&app.fx.tokyo);
    let before = app.fingerprint().await;
    let upload = |body: Vec<u8>| app.send(put(&app, &admin, "/forms/2024/hospital.xlsx", body));

    let wrong_form = upload(workbook("survey", 2024.0, &hospital_rows(false))).await;
    assert_eq!(wrong_form.status, 400);
    assert_eq!(problems(&wrong_form)[0].2, "様式: this file is the survey form; upload the hospital form");

    let wrong_year = upload(workbook("hospital", 2023.0, &hospital_rows(false))).await;
    assert_eq!(problems(&wrong_year)[0].2, "年度: this file is for fiscal year 2023, not 2024");

    let mut rows = hospital_rows(true); // 2-7 (row 13) is a "no" without a target date
    rows[1][2] = Text("来週"); // 2-1 on row 7: not a date
    rows.push(vec![Text("9-9"), Text("はい"), Day(2024, 6, 1)]); // row 19: no such item
    rows.push(vec![Text("1-1"), Text("はい"), Day(2024, 6, 2)]); // row 20: 1-1 again
    rows.push(vec![Blank, Text("はい")]); // row 21: an answer without a code
    rows[2][1] = Text("たぶん"); // 2-2 on row 8: not yes or no
    rows[3][1] = Number(1.0); // 2-3 on row 9: a number for yes/no
    let bad = upload(workbook("hospital", 2024.0, &rows)).await;
    assert_eq!(bad.status, 400);
    let found = problems(&bad);
    let at = |row: u64, item: Option<&str>, words: &str| {
        assert!(
            found.iter().any(|(r, i, m)| *r == Some(row) && i.as_deref() == item && m.contains(words)),
            "expected row {row} {item:?} \"{words}\" among {found:?}"
        )
    };
    at(7, Some("2-1"), "確認日: \"来週\" is not a date");
    at(8, Some("2-2"), "answer yes or no");
    at(9, Some("2-3"), "answer yes or no");
    at(13, Some("2-7"), "a \"no\" needs a target date");
    at(19, Some("9-9"), "not an item of this checklist");
    at(20, Some("1-1"), "also on row 6");
    at(21, None, "an answer without an item code");
    assert_eq!(found.len(), 7, "{found:?}");

    let not_xlsx =
        upload(b"\xef\xbb\xbf\xe9\xa0\x85\xe7\x9b\xae,\xe5\x9b\x9e\xe7\xad\x94\r\n1-1,yes\r\n".to_vec()).await;
    assert_eq!(problems(&not_xlsx)[0].2, "not an .xlsx workbook");
    let no_header = {
        let mut book = Workbook::new();
        book.add_worksheet().write_string(0, 0, "メモ").expect("cell");
        upload(book.save_to_buffer().expect("xlsx")).await
    };
    assert!(problems(&no_header)[0].2.contains("no header row"), "{}", no_header.body);
    let too_big = upload(vec![b'P'; renkei_core::checklists::xlsx::MAX_UPLOAD_BYTES + 1]).await;
    assert_eq!(too_big.status, 413);

    assert_eq!(app.fingerprint().await, before, "a refused file writes nothing");
}

#[tokio::test]
async fn who_may_download_and_upload_a_hospitals_form() {
    let app = TestApp::new().await;
    let fx = &app.fx;
    let tokyo_form = format!("/forms/2024/hospital.xlsx?hospital={}", fx.tokyo.hospital);
    let file = workbook("hospital", 2024.0, &hospital_rows(false));

    assert_eq!(app.send(get(&app, &fx.hospital_staff(&fx.tokyo), "/forms/2024/hospital.xlsx")).await.status, 200);
    assert_eq!(app.send(get(&app, &fx.health_centre(&fx.tokyo), &tokyo_form)).await.status, 200);
    assert_eq!(app.send(get(&app, &fx.prefecture(&fx.tokyo), &tokyo_form)).await.status, 200);
    assert_eq!(app.send(get(&app, &fx.health_centre(&fx.osaka), &tokyo_form)).await.status, 404);
    assert_eq!(app.send(get(&app, &fx.hospital_admin(&fx.osaka), &tokyo_form)).await.status, 404);
    assert_eq!(app.send(get(&app, &fx.vendor(&fx.tokyo), &tokyo_form)).await.status, 403);
    assert_eq!(app.send(get(&app, &fx.hospital_admin(&fx.tokyo), "/forms/2031/hospital.xlsx")).await.status, 400);
    assert_eq!(app.send(get(&app, &fx.hospital_admin(&fx.tokyo), "/forms/2024/invoice.xlsx")).await.status, 400);

    let before = app.fingerprint().await;
    for p in [
        fx.hospital_staff(&fx.tokyo),
        fx.health_centre(&fx.tokyo),
        fx.prefecture(&fx.tokyo),
        fx.hospital_admin(&fx.osaka),
    ] {
        let reply = app.send(put(&app, &p, &tokyo_form, file.clone())).await;
        assert_eq!(reply.status, 403, "{:?} may not fill Tokyo's form: {}", p.role, reply.body);
    }
    let anonymous = TestRequest::put().uri(&tokyo_form).set_payload(file.clone());
    assert_eq!(app.send(anonymous).await.status, 401);
    assert_eq!(app.fingerprint().await, before);
    assert_eq!(app.send(put(&app, &fx.hospital_admin(&fx.tokyo), &tokyo_form, file)).await.status, 200);
}

#[tokio::test]
async fn prefectures_export_submissions_as_xlsx() {
    let app = TestApp::new().await;
    let admin = app.fx.hospital_admin(&app.fx.tokyo);
    let reply =
        app.send(put(&app, &admin, "/forms/2024/hospital.xlsx", workbook("hospital", 2024.0, &hospital_rows(false))));
    let id = reply.await.ok()["submission"]["id"].as_str().expect("id").to_owned();
    app.gql(&admin, "mutation($id: ID!) { submitChecklist(id: $id) { revision } }", json!({ "id": id })).await.ok();

    let export = app.send(get(&app, &app.fx.prefecture(&app.fx.tokyo), "/exports/checklists/2024.xlsx")).await;
    assert_eq!(export.status, 200, "{}", export.body);
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(export.raw)).expect("xlsx");
    let sheet = book.worksheet_range_at(0).expect("sheet").expect("range");
    let rows: Vec<Vec<String>> = sheet.rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
    assert_eq!(rows.len(), 1 + 13, "a header and Tokyo's 13 items, not Osaka's");
    assert_eq!(rows[0][0], "都道府県");
    assert!(
        rows.iter().any(|r| r[2] == "東京市民病院" && r[6] == "2-7" && r[7] == "no" && r[9] == "2024-09-30"),
        "{rows:?}"
    );
    let national = app.send(get(&app, &app.fx.national(), "/exports/checklists/2024.xlsx")).await;
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(national.raw)).expect("xlsx");
    assert_eq!(book.worksheet_range_at(0).expect("sheet").expect("range").height(), 1 + 26);
    assert_eq!(app.send(get(&app, &admin, "/exports/checklists/2024.xlsx")).await.status, 403);
    assert_eq!(app.send(get(&app, &app.fx.national(), "/exports/checklists/2024.pdf")).await.status, 400);
}
