//! Files over plain HTTP, next to GraphQL: the hospital's checklist form as an Excel workbook
//! (download, and upload as the draft), the prefectures' exports of the year's submissions (CSV
//! or .xlsx) and the reporting bundles. Same authentication, rate limits and error shape as
//! `/graphql`; every export, upload and bundle download is audited.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use renkei_core::audit;
use renkei_core::checklists::catalog::Form;
use renkei_core::checklists::{export, submissions, xlsx};
use renkei_core::db::Session;
use renkei_core::{Error as DomainError, ErrorCode, Identity, Principal, Role};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::AppState;
use crate::http::admission::{admit, admit_identity, signed_in};
use crate::http::audit::audit_actions;
use crate::http::body::read_body;
use crate::http::{Answer, error, errors, refused, request_id, respond};

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

fn attachment(rid: &str, content_type: &str, name: &str, body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("content-disposition", format!("attachment; filename=\"{name}\"")))
        .insert_header(("x-request-id", rid.to_owned()))
        .body(body)
}

fn bad_path(rid: &str, hint: &str) -> HttpResponse {
    errors(StatusCode::BAD_REQUEST, Answer::Json, rid, ErrorCode::BadUserInput, hint)
}

async fn audited(state: &AppState, principal: &Principal, rid: &str, operation: &str, target: String, outcome: String) {
    let action =
        audit::Action { operation: operation.into(), targets: vec![target], outcome, request_id: rid.to_owned() };
    audit_actions(state, principal, rid, vec![action]).await;
}

/// A file to send: its bytes, media type and name.
struct File {
    bytes: Vec<u8>,
    content_type: &'static str,
    name: String,
}

/// Sends the file, or the refusal, and audits the attempt with its outcome: every download
/// carries hospitals' answers or figures, so each is recorded like an export.
async fn sent(
    state: &AppState,
    principal: &Principal,
    rid: &str,
    operation: &str,
    target: String,
    file: Result<File, DomainError>,
) -> HttpResponse {
    let (outcome, response) = match file {
        Ok(file) => ("ok".to_owned(), attachment(rid, file.content_type, &file.name, file.bytes)),
        Err(e) => (e.code.as_str().to_owned(), refused(rid, &e)),
    };
    audited(state, principal, rid, operation, target, outcome).await;
    response
}

/// CPU work (reading or writing a workbook) off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DomainError> + Send + 'static,
) -> Result<T, DomainError> {
    web::block(f).await.map_err(DomainError::internal)?
}

/// `GET /bundles/{id}`: the ZIP of a ready reporting bundle the caller may see (the ministry
/// any, a prefecture official their own).
pub async fn download_bundle(req: HttpRequest, path: web::Path<String>, state: web::Data<AppState>) -> HttpResponse {
    let rid = request_id(&req);
    let session = match admit(&req, &state, Answer::Json, &rid).await {
        Ok(session) => session,
        Err(res) => return res,
    };
    let principal = session.principal().clone();
    let Ok(id) = Uuid::parse_str(&path) else {
        session.finish().await;
        return bad_path(&rid, "not a bundle id");
    };
    let allowed = principal.require(&[Role::National, Role::Prefecture], "download bundles");
    let found = match allowed {
        Err(e) => Err(e),
        Ok(()) => session.run(move |c| Box::pin(renkei_core::bundles::content(c, id))).await,
    };
    session.finish().await;
    let file = found
        .and_then(|found| found.ok_or_else(|| DomainError::new(ErrorCode::NotFound, "bundle not found or not ready")))
        .map(|(bundle, bytes)| {
            let scope = bundle.prefecture_code.map_or_else(|| "national".to_owned(), |p| format!("{p:02}"));
            File {
                bytes,
                content_type: "application/zip",
                name: format!("renkei-{scope}-fy{}.zip", bundle.fiscal_year),
            }
        });
    sent(&state, &principal, &rid, "downloadBundle", id.to_string(), file).await
}

/// `GET /exports/checklists/{fiscal_year}.csv` (or `.xlsx`): every submitted hospital checklist
/// of the year, one row per hospital and item (a prefecture its own, the ministry all).
pub async fn export_checklists(req: HttpRequest, path: web::Path<String>, state: web::Data<AppState>) -> HttpResponse {
    let rid = request_id(&req);
    let session = match admit(&req, &state, Answer::Json, &rid).await {
        Ok(session) => session,
        Err(res) => return res,
    };
    let principal = session.principal().clone();
    let parsed = path.rsplit_once('.').map(|(year, kind)| (year.parse::<i32>(), kind));
    let (Ok(fy), kind @ ("csv" | "xlsx")) = parsed.unwrap_or((Ok(0), "")) else {
        session.finish().await;
        return bad_path(&rid, "use /exports/checklists/<fiscal year>.csv or .xlsx");
    };
    let p = principal.clone();
    let rows = session.run(move |c| Box::pin(async move { export::submission_rows(c, &p, fy).await })).await;
    session.finish().await;
    let file = match (rows, kind) {
        (Err(e), _) => Err(e),
        (Ok(rows), "csv") => Ok((export::csv_of(rows).into_bytes(), "text/csv; charset=utf-8")),
        (Ok(rows), _) => blocking(move || export::submissions_xlsx(&rows)).await.map(|bytes| (bytes, XLSX)),
    }
    .map(|(bytes, content_type)| File { bytes, content_type, name: format!("renkei-checklists-fy{fy}.{kind}") });
    sent(&state, &principal, &rid, "exportChecklists", format!("{fy}.{kind}"), file).await
}

#[derive(Deserialize)]
pub struct FormQuery {
    /// The hospital whose form it is; the caller's own organisation when absent.
    hospital: Option<String>,
}

/// Who asks (the registry's answer for `identity`, in its transaction), and the fiscal year,
/// form and hospital a `/forms/{fiscal_year}/{form}.xlsx` request is about.
async fn form_request(
    state: &AppState,
    identity: &Identity,
    rid: &str,
    path: &(String, String),
    query: &FormQuery,
) -> Result<(Session, i32, Form, Uuid), HttpResponse> {
    const HINT: &str = "use /forms/<fiscal year>/<hospital|survey|vendor>.xlsx[?hospital=<id>]";
    let session = signed_in(state, identity, Answer::Json, rid).await?;
    let own = session.principal().organisation_id;
    // The refusal's hint, if the request is malformed.
    let what = || -> Result<(i32, Form, Uuid), &'static str> {
        let fy = path.0.parse::<i32>().map_err(|_| HINT)?;
        let form = path.1.strip_suffix(".xlsx").and_then(|f| f.parse::<Form>().ok()).ok_or(HINT)?;
        let hospital = match &query.hospital {
            Some(h) => Uuid::parse_str(h).map_err(|_| "hospital: not an organisation id")?,
            None => own.ok_or("hospital: say whose form (?hospital=<id>)")?,
        };
        Ok((fy, form, hospital))
    };
    match what() {
        Ok((fy, form, hospital)) => Ok((session, fy, form, hospital)),
        Err(hint) => {
            session.finish().await;
            Err(bad_path(rid, hint))
        }
    }
}

/// `GET /forms/{fiscal_year}/{form}.xlsx`: the form with the hospital's current answers, to
/// fill in Excel and upload again.
pub async fn download_form(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<FormQuery>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let rid = request_id(&req);
    let identity = match admit_identity(&req, &state, Answer::Json, &rid).await {
        Ok(identity) => identity,
        Err(res) => return res,
    };
    let (session, fy, form, hospital) = match form_request(&state, &identity, &rid, &path, &query).await {
        Ok(t) => t,
        Err(res) => return res,
    };
    let principal = session.principal().clone();
    let p = principal.clone();
    let standing = session
        .run(move |c| Box::pin(async move { submissions::form_as_it_stands(c, &p, fy, form, hospital).await }))
        .await;
    session.finish().await;
    let file = match standing {
        Ok((catalog, items, name, answers)) => {
            blocking(move || xlsx::write_form(&catalog, &items, &name, &answers)).await
        }
        Err(e) => Err(e),
    }
    .map(|bytes| File { bytes, content_type: XLSX, name: format!("renkei-{form}-fy{fy}.xlsx") });
    // The form carries the hospital's answers: an export like the others.
    sent(&state, &principal, &rid, "downloadChecklistForm", format!("{hospital}/{fy}/{form}"), file).await
}

/// `PUT /forms/{fiscal_year}/{form}.xlsx`: a filled form becomes the hospital's draft, as if
/// saved through `saveChecklistDraft`. A bad file is refused with one error per problem (its
/// row and item in `extensions`) and nothing is saved.
pub async fn upload_form(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<FormQuery>,
    mut payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let rid = request_id(&req);
    // The token first, then the body, and only then a pooled connection: a slow upload never
    // holds one.
    let identity = match admit_identity(&req, &state, Answer::Json, &rid).await {
        Ok(identity) => identity,
        Err(res) => return res,
    };
    let body = match read_body(&mut payload, xlsx::MAX_UPLOAD_BYTES, Answer::Json, &rid).await {
        Ok(body) => body.freeze(),
        Err(res) => return res,
    };
    let (session, fy, form, hospital) = match form_request(&state, &identity, &rid, &path, &query).await {
        Ok(t) => t,
        Err(res) => return res,
    };
    let principal = session.principal().clone();
    let p = principal.clone();
    let catalog = session
        .run(move |c| {
            Box::pin(async move {
                submissions::filler(c, &p, form, hospital).await?;
                submissions::form_catalog(c, fy, form).await
            })
        })
        .await;
    // No transaction is held while the workbook is read.
    session.finish().await;
    let parsed = match catalog {
        Ok((catalog, items)) => blocking(move || Ok(xlsx::read_form(&body, &catalog, &items))).await,
        Err(e) => Err(e),
    };
    let target = format!("{hospital}/{fy}/{form}");
    let saved = match parsed {
        Ok(Ok(answers)) => {
            let p = principal.clone();
            // The draft and its audit row commit together or not at all.
            let action = audit::Action {
                operation: UPLOAD.into(),
                targets: vec![target.clone()],
                outcome: "ok".into(),
                request_id: rid.clone(),
            };
            state
                .db
                .run(&principal, move |c| {
                    Box::pin(async move {
                        let saved = submissions::save_draft(c, &p, fy, form, hospital, answers).await?;
                        audit::record_in(c, &p, vec![action]).await?;
                        Ok(saved)
                    })
                })
                .await
                .map(Ok)
        }
        Ok(Err(problems)) => Ok(Err(problems)),
        Err(e) => Err(e),
    };
    let (outcome, response) = match saved {
        Ok(Ok(s)) => {
            let body = json!({ "data": { "submission": {
                "id": s.id, "status": s.status, "revision": s.revision, "answers": s.draft_answers.as_array().map_or(0, Vec::len)
            } } });
            ("ok".to_owned(), respond(StatusCode::OK, Answer::Json, &rid, body))
        }
        Ok(Err(problems)) => {
            let errors: Vec<_> = problems
                .iter()
                .map(|p| {
                    let mut error = error(ErrorCode::BadUserInput, &p.to_string(), &rid);
                    error["extensions"]["row"] = json!(p.row);
                    error["extensions"]["item"] = json!(p.item);
                    error
                })
                .collect();
            (
                ErrorCode::BadUserInput.as_str().to_owned(),
                respond(StatusCode::BAD_REQUEST, Answer::Json, &rid, json!({ "errors": errors })),
            )
        }
        Err(e) => (e.code.as_str().to_owned(), refused(&rid, &e)),
    };
    // A refused upload changed nothing; it is recorded on its own.
    if outcome != "ok" {
        audited(&state, &principal, &rid, UPLOAD, target, outcome).await;
    }
    response
}

const UPLOAD: &str = "uploadChecklistForm";
