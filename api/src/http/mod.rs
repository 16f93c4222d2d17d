//! What every route shares: the request id, the media type of the answer, responses, and the
//! one shape of an error clients see (a message, `extensions.code` and `extensions.requestId`).
//! Who may ask is `admission`, how much they may send `body`, what is recorded of it `audit`.

pub(crate) mod admission;
pub(crate) mod audit;
pub(crate) mod body;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use renkei_core::{Error as DomainError, ErrorCode, RequestCode};
use serde_json::{Value, json};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// The media type the client asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// `application/graphql-response+json`: request errors get 4xx statuses.
    GraphqlResponse,
    /// Legacy `application/json`: every well-formed request gets 200.
    Json,
}

impl Answer {
    fn content_type(self) -> &'static str {
        match self {
            Answer::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            Answer::Json => "application/json; charset=utf-8",
        }
    }

    /// The media type of the `Accept` header (JSON when there is none); `None` when the client
    /// accepts neither (see `not_acceptable`).
    pub(crate) fn negotiate(req: &HttpRequest) -> Option<Self> {
        let Some(accept) = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
            return Some(Answer::Json);
        };
        let types: Vec<&str> = accept.split(',').map(|t| t.split(';').next().unwrap_or("").trim()).collect();
        if types.contains(&GRAPHQL_RESPONSE) {
            Some(Answer::GraphqlResponse)
        } else if types.iter().any(|t| matches!(*t, "application/json" | "application/*" | "*/*")) {
            Some(Answer::Json)
        } else {
            None
        }
    }
}

/// 406 for a client that accepts neither media type; said in JSON all the same.
pub(crate) fn not_acceptable(rid: &str) -> HttpResponse {
    errors(
        StatusCode::NOT_ACCEPTABLE,
        Answer::Json,
        rid,
        RequestCode::NotAcceptable,
        "accept application/graphql-response+json or application/json",
    )
}

/// The client's `x-request-id` when it is a plausible id, else a new one: it names the request
/// in every error and log line.
pub(crate) fn request_id(req: &HttpRequest) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// One error as clients see it: the message, and the code and request id in `extensions`. A
/// refusal that says more (`retryAfter`, an Excel row) adds to `extensions`.
pub(crate) fn error(code: impl Into<&'static str>, message: &str, rid: &str) -> Value {
    json!({ "message": message, "extensions": { "code": code.into(), "requestId": rid } })
}

/// A response carrying only request-level errors (no `data`).
pub(crate) fn errors(
    status: StatusCode,
    answer: Answer,
    rid: &str,
    code: impl Into<&'static str>,
    message: &str,
) -> HttpResponse {
    respond(status, answer, rid, json!({ "errors": [error(code, message, rid)] }))
}

pub(crate) fn respond(status: StatusCode, answer: Answer, rid: &str, body: impl serde::Serialize) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, answer.content_type()))
        .insert_header(("x-request-id", rid))
        .body(serde_json::to_vec(&body).unwrap_or_default())
}

/// A status a refusal chooses for itself, whatever the media type, with the header that tells
/// the client what to do (`Retry-After`, `WWW-Authenticate`, `Allow`).
pub(crate) struct Forced {
    pub status: StatusCode,
    pub header: &'static str,
    pub value: String,
}

impl Forced {
    pub(crate) fn respond(self, answer: Answer, rid: &str, body: impl serde::Serialize) -> HttpResponse {
        let mut res = respond(self.status, answer, rid, body);
        if let Ok(value) = HeaderValue::from_str(&self.value) {
            res.headers_mut().insert(HeaderName::from_static(self.header), value);
        }
        res
    }
}

/// A request refused as a whole (by a rate limit, the token, the registry): one error, with the
/// status and header it forces. The GraphQL handler also answers it as one operation's outcome.
pub(crate) struct Refusal {
    pub forced: Forced,
    pub error: Value,
}

impl Refusal {
    pub(crate) fn response(self, answer: Answer, rid: &str) -> HttpResponse {
        self.forced.respond(answer, rid, json!({ "errors": [self.error] }))
    }
}

/// A domain error as a plain HTTP answer (for the non-GraphQL routes); faults are logged.
pub(crate) fn refused(rid: &str, e: &DomainError) -> HttpResponse {
    let status = match e.code {
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::BadUserInput => StatusCode::BAD_REQUEST,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::Unavailable | ErrorCode::Internal => {
            tracing::error!(request_id = %rid, code = %e.code, detail = %e.detail(), "http.request_failed");
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    errors(status, Answer::Json, rid, e.code, &e.message)
}
