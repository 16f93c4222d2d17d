//! Checklists as Excel workbooks: a hospital downloads its form with its current answers, fills
//! it in Excel and uploads it again; prefectures get the year's submissions as a sheet.
//!
//! The form sheet names its form and fiscal year in labelled cells above a header row, so that a
//! file of another form or year is recognised and refused. Reading is lenient about what Excel
//! does to cells (dates typed as dates, strings or serial numbers; はい/いいえ or yes/no) and
//! strict about meaning: every bad row is reported with its row number and nothing is saved.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{Cursor, Read, Seek};

use calamine::{Data, Reader, Xlsx};
use chrono::{Datelike, NaiveDate};
use rust_xlsxwriter::{DataValidation, ExcelDateTime, Format, FormatAlign, Workbook, Worksheet, XlsxError};

use super::catalog::{AnswerType, Catalog, Item, ItemStatus};
use super::submissions::{self, Answer};
use crate::{Error, Result};

const FORM_LABEL: &str = "様式";
const YEAR_LABEL: &str = "年度";
const CODE_HEADER: &str = "項目コード";
/// Columns of the form sheet, in order.
const COLUMNS: [(&str, f64); 10] = [
    (CODE_HEADER, 10.0),
    ("区分", 18.0),
    ("確認項目", 60.0),
    ("状態", 8.0),
    ("回答", 14.0),
    ("確認日", 12.0),
    ("改善予定日", 12.0),
    ("再確認日", 12.0),
    ("再確認の回答", 12.0),
    ("選択肢", 30.0),
];
const ANSWER: u16 = 4;
const CHECKED: u16 = 5;
const TARGET: u16 = 6;
const SECOND_CHECKED: u16 = 7;
const SECOND_VALUE: u16 = 8;

/// Largest upload we open, and the most its parts may expand to: a form is a few dozen rows,
/// so anything near these is not one (and a zip bomb never reaches the XML reader).
pub const MAX_UPLOAD_BYTES: usize = 2 * 1024 * 1024;
const MAX_EXPANDED_BYTES: u64 = 32 * 1024 * 1024;
const MAX_PARTS: usize = 200;

/// One thing wrong with an uploaded file: where (a sheet row as Excel numbers it, an item code)
/// and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub row: Option<u32>,
    pub item: Option<String>,
    pub message: String,
}

impl Problem {
    fn file(message: impl Into<String>) -> Self {
        Self { row: None, item: None, message: message.into() }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.row, &self.item) {
            (Some(r), Some(i)) => write!(f, "row {r} ({i}): {}", self.message),
            (Some(r), None) => write!(f, "row {r}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

fn sheet_error(e: XlsxError) -> Error {
    Error::internal(anyhow::anyhow!("xlsx: {e}"))
}

fn yes_no_ja(v: &str) -> &str {
    match v {
        "yes" => "はい",
        "no" => "いいえ",
        other => other,
    }
}

/// The form `catalog` as a workbook, filled with `answers`, for `organisation`.
pub fn write_form(catalog: &Catalog, items: &[Item], organisation: &str, answers: &[Answer]) -> Result<Vec<u8>> {
    let by_code: BTreeMap<&str, &Answer> = answers.iter().map(|a| (a.code.as_str(), a)).collect();
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let wrap = Format::new().set_text_wrap().set_align(FormatAlign::Top);
    let day = Format::new().set_num_format("yyyy-mm-dd");
    let sheet = book.add_worksheet();
    sheet.set_name("チェックリスト").map_err(sheet_error)?;
    sheet.write_string_with_format(0, 0, FORM_LABEL, &bold).map_err(sheet_error)?;
    sheet.write_string(0, 1, catalog.form.as_str()).map_err(sheet_error)?;
    sheet.write_string(0, 2, &catalog.title).map_err(sheet_error)?;
    sheet.write_string_with_format(1, 0, YEAR_LABEL, &bold).map_err(sheet_error)?;
    sheet.write_number(1, 1, f64::from(catalog.fiscal_year)).map_err(sheet_error)?;
    sheet.write_string_with_format(2, 0, "医療機関", &bold).map_err(sheet_error)?;
    sheet.write_string(2, 1, organisation).map_err(sheet_error)?;
    sheet
        .write_string(
            3,
            0,
            "回答は「はい」「いいえ」で。「いいえ」には改善予定日を、回答には確認日を記入してください（日付は YYYY-MM-DD）。",
        )
        .map_err(sheet_error)?;
    const HEADER_ROW: u32 = 4;
    for (col, (title, width)) in (0u16..).zip(COLUMNS) {
        sheet.write_string_with_format(HEADER_ROW, col, title, &bold).map_err(sheet_error)?;
        sheet.set_column_width(col, width).map_err(sheet_error)?;
    }
    sheet.set_freeze_panes(HEADER_ROW + 1, 0).map_err(sheet_error)?;
    let yes_no = DataValidation::new().allow_list_strings(&["はい", "いいえ"]).map_err(sheet_error)?;
    for (row, item) in (HEADER_ROW + 1..).zip(items.iter().filter(|i| i.status != ItemStatus::Absent)) {
        sheet.write_string(row, 0, &item.code).map_err(sheet_error)?;
        sheet.write_string_with_format(row, 1, &item.section_ja, &wrap).map_err(sheet_error)?;
        sheet.write_string_with_format(row, 2, &item.text_ja, &wrap).map_err(sheet_error)?;
        let status = if item.status == ItemStatus::Required { "必須" } else { "参考" };
        sheet.write_string(row, 3, status).map_err(sheet_error)?;
        sheet.write_string(row, 9, item.choices.join(";")).map_err(sheet_error)?;
        if item.answer_type == AnswerType::YesNo {
            sheet.add_data_validation(row, ANSWER, row, ANSWER, &yes_no).map_err(sheet_error)?;
            sheet.add_data_validation(row, SECOND_VALUE, row, SECOND_VALUE, &yes_no).map_err(sheet_error)?;
        }
        if let Some(a) = by_code.get(item.code.as_str()) {
            write_answer(sheet, row, item, a, &day)?;
        }
    }
    book.save_to_buffer().map_err(sheet_error)
}

fn write_answer(sheet: &mut Worksheet, row: u32, item: &Item, a: &Answer, day: &Format) -> Result<()> {
    let mut date = |col: u16, d: Option<NaiveDate>| -> Result<()> {
        if let Some(d) = d {
            let excel =
                ExcelDateTime::from_ymd(d.year() as u16, d.month() as u8, d.day() as u8).map_err(sheet_error)?;
            sheet.write_datetime_with_format(row, col, &excel, day).map_err(sheet_error)?;
        }
        Ok(())
    };
    date(CHECKED, a.checked_on)?;
    date(TARGET, a.target_on)?;
    date(SECOND_CHECKED, a.second_checked_on)?;
    match (item.answer_type, a.value.as_deref()) {
        (AnswerType::MultiChoice, _) => {
            if !a.values.is_empty() {
                sheet.write_string(row, ANSWER, a.values.join(";")).map_err(sheet_error)?;
            }
        }
        (AnswerType::Number, Some(v)) => match v.parse::<f64>() {
            Ok(n) => sheet.write_number(row, ANSWER, n).map(|_| ()).map_err(sheet_error)?,
            Err(_) => sheet.write_string(row, ANSWER, v).map(|_| ()).map_err(sheet_error)?,
        },
        (AnswerType::Date, Some(v)) => match NaiveDate::parse_from_str(v, "%Y-%m-%d") {
            Ok(d) => date(ANSWER, Some(d))?,
            Err(_) => sheet.write_string(row, ANSWER, v).map(|_| ()).map_err(sheet_error)?,
        },
        (_, Some(v)) => sheet.write_string(row, ANSWER, yes_no_ja(v)).map(|_| ()).map_err(sheet_error)?,
        (_, None) => {}
    }
    if let Some(v) = &a.second_value {
        sheet.write_string(row, SECOND_VALUE, yes_no_ja(v)).map_err(sheet_error)?;
    }
    Ok(())
}

/// A plain table (a header row and text cells) as a one-sheet workbook.
pub fn write_table(sheet_name: &str, header: &[&str], rows: &[Vec<String>]) -> Result<Vec<u8>> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let sheet = book.add_worksheet();
    sheet.set_name(sheet_name).map_err(sheet_error)?;
    for (col, title) in (0u16..).zip(header) {
        sheet.write_string_with_format(0, col, *title, &bold).map_err(sheet_error)?;
    }
    for (r, cells) in (1u32..).zip(rows) {
        for (col, cell) in (0u16..).zip(cells) {
            if !cell.is_empty() {
                sheet.write_string(r, col, cell).map_err(sheet_error)?;
            }
        }
    }
    sheet.set_freeze_panes(1, 0).map_err(sheet_error)?;
    book.save_to_buffer().map_err(sheet_error)
}

/// Reads an uploaded form of `catalog`: its answers, or every problem found (by row).
pub fn read_form(bytes: &[u8], catalog: &Catalog, items: &[Item]) -> std::result::Result<Vec<Answer>, Vec<Problem>> {
    let cursor = Cursor::new(bytes);
    check_archive(cursor.clone()).map_err(|p| vec![p])?;
    let mut book: Xlsx<_> =
        calamine::open_workbook_from_rs(cursor).map_err(|_| vec![Problem::file("not an .xlsx workbook")])?;
    let range = match book.worksheet_range_at(0) {
        Some(Ok(range)) => range,
        _ => return Err(vec![Problem::file("the workbook has no readable sheet")]),
    };
    // Rows as Excel numbers them (the range may not start at A1).
    let (first_row, first_col) = range.start().unwrap_or((0, 0));
    let cell = |r: usize, c: u16| -> &Data {
        let c = usize::from(c).checked_sub(first_col as usize);
        c.and_then(|c| range.rows().nth(r).and_then(|row| row.get(c))).unwrap_or(&Data::Empty)
    };
    let excel_row = |r: usize| first_row + r as u32 + 1;
    let rows = range.height();

    let mut problems = Vec::new();
    let Some(header) = (0..rows).find(|&r| text(cell(r, 0)) == CODE_HEADER) else {
        return Err(vec![Problem::file(format!(
            "not a Renkei checklist form: no header row starting with {CODE_HEADER}"
        ))]);
    };
    let label = |name: &str| (0..header).find(|&r| text(cell(r, 0)) == name).map(|r| cell(r, 1));
    match label(FORM_LABEL).map(text) {
        Some(form) if form == catalog.form.as_str() => {}
        Some(form) if !form.is_empty() => problems.push(Problem::file(format!(
            "{FORM_LABEL}: this file is the {form} form; upload the {} form",
            catalog.form
        ))),
        _ => problems.push(Problem::file(format!("{FORM_LABEL}: the file does not say which form it is"))),
    }
    match label(YEAR_LABEL).map(whole_number) {
        Some(Some(year)) if year == i64::from(catalog.fiscal_year) => {}
        Some(Some(year)) => problems.push(Problem::file(format!(
            "{YEAR_LABEL}: this file is for fiscal year {year}, not {}",
            catalog.fiscal_year
        ))),
        _ => problems.push(Problem::file(format!("{YEAR_LABEL}: the file does not say its fiscal year"))),
    }
    if !problems.is_empty() {
        // Rows of another form or year mean nothing against this catalog.
        return Err(problems);
    }

    let by_code: BTreeMap<&str, &Item> = items.iter().map(|i| (i.code.as_str(), i)).collect();
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    let mut answers = Vec::new();
    for r in header + 1..rows {
        let at = excel_row(r);
        let code = text(cell(r, 0));
        let filled = [ANSWER, CHECKED, TARGET, SECOND_CHECKED, SECOND_VALUE].iter().any(|&c| !is_blank(cell(r, c)));
        if code.is_empty() {
            if filled {
                problems.push(Problem { row: Some(at), item: None, message: "an answer without an item code".into() });
            }
            continue;
        }
        let mut problem = |message: String| problems.push(Problem { row: Some(at), item: Some(code.clone()), message });
        let Some(item) = by_code.get(code.as_str()) else {
            problem("not an item of this checklist".into());
            continue;
        };
        if let Some(first) = seen.insert(code.clone(), at) {
            problem(format!("the item is also on row {first}"));
            continue;
        }
        if !filled {
            continue;
        }
        let mut a = Answer { code: code.clone(), ..Default::default() };
        // A cell that cannot be read is the row's problem; the rules are checked on readable rows
        // only, so that one typo is not reported three times.
        let mut unreadable = false;
        let mut day = |col: u16, name: &str| match date(cell(r, col)) {
            Ok(d) => d,
            Err(shown) => {
                problem(format!("{name}: \"{shown}\" is not a date (YYYY-MM-DD)"));
                unreadable = true;
                None
            }
        };
        a.checked_on = day(CHECKED, "確認日");
        a.target_on = day(TARGET, "改善予定日");
        a.second_checked_on = day(SECOND_CHECKED, "再確認日");
        let value = cell(r, ANSWER);
        match item.answer_type {
            AnswerType::YesNo => a.value = optional(yes_no(value)),
            AnswerType::Number => {
                a.value = match value {
                    Data::Empty => None,
                    v => Some(whole_number(v).map(|n| n.to_string()).unwrap_or_else(|| text(v))),
                }
            }
            AnswerType::Date => match date(value) {
                Ok(d) => a.value = d.map(|d| d.to_string()),
                Err(shown) => {
                    problem(format!("回答: \"{shown}\" is not a date (YYYY-MM-DD)"));
                    unreadable = true;
                }
            },
            AnswerType::Choice => a.value = optional(text(value)),
            AnswerType::MultiChoice => {
                a.values = text(value)
                    .split([';', ',', '、', '；'])
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
                    .collect()
            }
        }
        a.second_value = optional(yes_no(cell(r, SECOND_VALUE)));
        if !unreadable {
            for message in submissions::problems_of(item, &a, catalog.fiscal_year) {
                problem(message);
            }
        }
        answers.push(a);
    }
    if problems.is_empty() { Ok(answers) } else { Err(problems) }
}

/// Refuses archives that are not small workbooks before any XML is parsed.
fn check_archive<R: Read + Seek>(reader: R) -> std::result::Result<(), Problem> {
    let mut zip = zip::ZipArchive::new(reader).map_err(|_| Problem::file("not an .xlsx workbook"))?;
    if zip.len() > MAX_PARTS {
        return Err(Problem::file("the workbook has too many parts to be a checklist form"));
    }
    let mut total = 0u64;
    for i in 0..zip.len() {
        let part = zip.by_index_raw(i).map_err(|_| Problem::file("not an .xlsx workbook"))?;
        total = total.saturating_add(part.size());
    }
    if total > MAX_EXPANDED_BYTES {
        return Err(Problem::file("the workbook is too large to be a checklist form"));
    }
    Ok(())
}

fn is_blank(cell: &Data) -> bool {
    match cell {
        Data::Empty => true,
        Data::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

fn optional(s: String) -> Option<String> {
    if s.is_empty() { None } else { Some(s) }
}

/// A cell as the text a person sees (numbers without a trailing ".0").
fn text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.trim().to_owned(),
        Data::Int(n) => n.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        other => other.to_string(),
    }
}

fn whole_number(cell: &Data) -> Option<i64> {
    match cell {
        Data::Int(n) => Some(*n),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => Some(*f as i64),
        Data::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// はい/いいえ (or yes/no, ○/×, TRUE/FALSE) as yes/no; anything else as typed, for the
/// catalog rules to refuse by name.
fn yes_no(cell: &Data) -> String {
    if let Data::Bool(b) = cell {
        return if *b { "yes" } else { "no" }.into();
    }
    let t = text(cell);
    match t.to_lowercase().as_str() {
        "はい" | "yes" | "○" | "〇" => "yes".into(),
        "いいえ" | "no" | "×" | "✕" => "no".into(),
        _ => t,
    }
}

/// A date cell: a real Excel date, a serial number, or text as YYYY-MM-DD, YYYY/MM/DD or
/// YYYY年M月D日. `Err` carries what the cell showed.
fn date(cell: &Data) -> std::result::Result<Option<NaiveDate>, String> {
    let serial = |days: f64| {
        // Excel's 1900 day numbers (day 60 is its fictitious 1900-02-29; forms do not go back there).
        NaiveDate::from_ymd_opt(1899, 12, 30)
            .and_then(|epoch| epoch.checked_add_signed(chrono::Duration::days(days.floor() as i64)))
    };
    match cell {
        Data::Empty => Ok(None),
        Data::DateTime(dt) => {
            let (y, m, d, ..) = dt.to_ymd_hms_milli();
            NaiveDate::from_ymd_opt(i32::from(y), u32::from(m), u32::from(d)).map(Some).ok_or_else(|| dt.to_string())
        }
        Data::Float(f) if (1.0..2_958_466.0).contains(f) => serial(*f).map(Some).ok_or_else(|| f.to_string()),
        Data::Int(n) if (1..2_958_466).contains(n) => serial(*n as f64).map(Some).ok_or_else(|| n.to_string()),
        other => {
            let t = text(other);
            if t.is_empty() {
                return Ok(None);
            }
            let head = t.get(..10).unwrap_or(&t);
            ["%Y-%m-%d", "%Y/%m/%d"]
                .iter()
                .find_map(|f| NaiveDate::parse_from_str(head, f).ok())
                .or_else(|| NaiveDate::parse_from_str(&t, "%Y年%m月%d日").ok())
                .map(Some)
                .ok_or(t)
        }
    }
}
