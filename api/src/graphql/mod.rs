//! GraphQL over HTTP, as the GraphQL-over-HTTP specification describes it: POST with a JSON body,
//! GET for queries only, `application/graphql-response+json` (with 4xx for requests that fail to
//! parse or validate) when the client accepts it, `application/json` otherwise. Our own handler,
//! because juniper_actix's runs mutations over GET and panics on malformed variables.

mod operation;
mod outcome;
mod request;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use renkei_core::RequestCode;

use self::operation::{Allowance, Method, execute};
use self::request::Request;
use crate::AppState;
use crate::http::admission::admit_identity;
use crate::http::body::read_body;
use crate::http::{Answer, Forced, Refusal, error, errors, not_acceptable, request_id, respond};

/// `GET /graphql?query=…&operationName=…&variables=…`: queries only.
pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let rid = request_id(&req);
    let Some(answer) = Answer::negotiate(&req) else {
        return not_acceptable(&rid);
    };
    match request::from_query_string(req.query_string()) {
        Ok(op) => answer_request(&req, &state, answer, &rid, Request::Single(op), Method::Get).await,
        Err(unreadable) => unreadable.response(answer, &rid),
    }
}

/// `POST /graphql` with a JSON object, or a bounded array of them (a batch).
pub async fn post(req: HttpRequest, mut payload: web::Payload, state: web::Data<AppState>) -> HttpResponse {
    let rid = request_id(&req);
    let Some(answer) = Answer::negotiate(&req) else {
        return not_acceptable(&rid);
    };
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type.split(';').next().map(str::trim) != Some("application/json") {
        return errors(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            answer,
            &rid,
            RequestCode::UnsupportedMediaType,
            "send the request as application/json",
        );
    }
    let body = match read_body(&mut payload, state.max_body_bytes, answer, &rid).await {
        Ok(body) => body,
        Err(res) => return res,
    };
    match request::from_body(&body, state.max_batch) {
        Ok(request) => answer_request(&req, &state, answer, &rid, request, Method::Post).await,
        Err(unreadable) => unreadable.response(answer, &rid),
    }
}

/// A readable request: the caller admitted (rate limit by IP, token), then its operations run
/// on one allowance.
async fn answer_request(
    req: &HttpRequest,
    state: &AppState,
    answer: Answer,
    rid: &str,
    request: Request,
    method: Method,
) -> HttpResponse {
    let identity = match admit_identity(req, state, answer, rid).await {
        Ok(identity) => identity,
        Err(res) => return res,
    };
    let mut allowance = Allowance::new(state);
    match request {
        Request::Single(op) => execute(state, &identity, rid, op, method, &mut allowance).await.response(answer, rid),
        Request::Batch(ops) => {
            // One at a time: a batch never holds more than one pooled connection per request.
            let mut results = Vec::with_capacity(ops.len());
            for op in ops {
                results.push(execute(state, &identity, rid, op, method, &mut allowance).await.reply());
            }
            respond(StatusCode::OK, answer, rid, results)
        }
    }
}

/// Any other method on /graphql.
pub async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    let rid = request_id(&req);
    let forced = Forced { status: StatusCode::METHOD_NOT_ALLOWED, header: "allow", value: "GET, POST".into() };
    Refusal { forced, error: error(RequestCode::MethodNotAllowed, "use GET or POST", &rid) }
        .response(Answer::Json, &rid)
}

/// The GraphiQL IDE, when enabled.
pub async fn graphiql(state: web::Data<AppState>) -> HttpResponse {
    if !state.graphiql {
        return HttpResponse::NotFound().finish();
    }
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        // GraphiQL loads its scripts and styles from esm.sh; everything else stays 'none'.
        .insert_header((
            "content-security-policy",
            "default-src 'none'; script-src 'self' 'unsafe-inline' https://esm.sh; style-src 'unsafe-inline' https://esm.sh; \
             font-src https://esm.sh data:; img-src data: https://esm.sh; connect-src 'self' https://esm.sh; worker-src blob:; \
             frame-ancestors 'none'",
        ))
        .body(juniper::http::graphiql::graphiql_source("/graphql", None))
}
