//! GraphQL over HTTP, as the GraphQL-over-HTTP specification describes it: POST with a JSON body,
//! GET for queries only, `application/graphql-response+json` (with 4xx for requests that fail to
//! parse or validate) when the client accepts it, `application/json` otherwise. Our own handler,
//! because juniper_actix's runs mutations over GET and panics on malformed variables.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use futures::StreamExt;
use juniper::{GraphQLError, InputValue, OperationType, ScalarValue, ValidatedOperation, Variables};
use renkei_core::audit;
use renkei_core::db::{Purpose, Session};
use renkei_core::{Error as DomainError, ErrorCode, Identity, Principal};
use renkei_graphql::limits::{LimitError, analyse, parse_limit, unknown_variable_type};
use renkei_graphql::{Audit, AuditedField, Context, REQUEST_ID};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use tracing::Instrument;

use crate::AppState;
use crate::kpi_cache::KpiCache;
use crate::rate_limit::Limited;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
/// What a validation error says when introspection is off.
const INVALID_DOCUMENT: &str = "the document is invalid";

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
}

fn negotiate(req: &HttpRequest) -> Option<Answer> {
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

pub(crate) fn request_id(req: &HttpRequest) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// A response carrying only request-level errors (no `data`).
pub(crate) fn errors(status: StatusCode, answer: Answer, rid: &str, code: &str, message: &str) -> HttpResponse {
    respond(
        status,
        answer,
        rid,
        json!({ "errors": [{ "message": message, "extensions": { "code": code, "requestId": rid } }] }),
    )
}

pub(crate) fn respond(status: StatusCode, answer: Answer, rid: &str, body: impl serde::Serialize) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, answer.content_type()))
        .insert_header(("x-request-id", rid))
        .body(serde_json::to_vec(&body).unwrap_or_default())
}

/// One operation of a request, as the client sent it.
struct Operation {
    query: String,
    operation_name: Option<String>,
    variables: Variables,
}

/// Reads one request object (`query`, `operationName`, `variables`, `extensions`).
fn operation_from(value: Map<String, Value>) -> Result<Operation, String> {
    let query = match value.get("query") {
        Some(Value::String(q)) => q.clone(),
        Some(_) => return Err("`query` must be a string".into()),
        None => return Err("`query` is required".into()),
    };
    let operation_name = match value.get("operationName") {
        None | Some(Value::Null) => None,
        Some(Value::String(n)) => Some(n.clone()),
        Some(_) => return Err("`operationName` must be a string".into()),
    };
    let variables = match value.get("variables") {
        None | Some(Value::Null) => Variables::new(),
        Some(Value::Object(vars)) => vars
            .iter()
            .map(|(k, v)| {
                serde_json::from_value::<InputValue>(v.clone())
                    .map(|v| (k.clone(), v))
                    .map_err(|_| format!("variable `{k}` is not a valid GraphQL input value"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("`variables` must be an object".into()),
    };
    match value.get("extensions") {
        None | Some(Value::Null | Value::Object(_)) => {}
        Some(_) => return Err("`extensions` must be an object".into()),
    }
    Ok(Operation { query, operation_name, variables })
}

/// The header with which a request chooses which of its person's memberships it acts through.
pub(crate) const ORGANISATION_HEADER: &str = "renkei-organisation";

/// Verifies the bearer token: who is asking, and which organisation the request names. What
/// they may do is the registry's answer (`Session::sign_in`).
async fn authenticate(req: &HttpRequest, state: &AppState) -> Result<Identity, DomainError> {
    let header =
        req.headers().get(header::AUTHORIZATION).ok_or_else(|| DomainError::unauthenticated("missing bearer token"))?;
    let token = header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| DomainError::unauthenticated("authorization must be `Bearer <token>`"))?;
    let mut identity = state.verifier.verify(token).await?;
    if let Some(value) = req.headers().get(ORGANISATION_HEADER) {
        let id =
            value.to_str().ok().and_then(|v| uuid::Uuid::parse_str(v.trim()).ok()).ok_or_else(|| {
                DomainError::unauthenticated("the Renkei-Organisation header must be an organisation id")
            })?;
        identity.acting_for = Some(id);
    }
    Ok(identity)
}

/// Notes the registry's principal on the request's span: role and tenant, never the subject.
fn record_principal(span: &tracing::Span, principal: &Principal) {
    span.record("renkei.role", principal.role.as_str());
    if let Some(tenant) = principal.prefecture {
        span.record("renkei.tenant", tenant);
    }
}

/// The client's address for rate limits: the peer's, or, behind `forwarded_for_hops` trusted
/// proxies, the address the outermost of them wrote into `X-Forwarded-For`: that many entries
/// from the right. Entries further left were written by the client and prove nothing; with
/// fewer entries than trusted proxies (or an entry that is not an address) the peer counts.
fn client_ip(req: &HttpRequest, state: &AppState) -> String {
    let peer = || req.peer_addr().map_or_else(|| "unknown".to_owned(), |a| a.ip().to_string());
    if state.forwarded_for_hops == 0 {
        return peer();
    }
    let entries: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    entries
        .len()
        .checked_sub(state.forwarded_for_hops)
        .and_then(|i| entries[i].parse::<std::net::IpAddr>().ok())
        .map_or_else(peer, |ip| ip.to_string())
}

/// Rate limits by IP, then the token, then the registry: the file routes' caller, with the
/// transaction their work reads in (the sign-in rode on the round trip that opened it).
pub(crate) async fn admit(
    req: &HttpRequest,
    state: &AppState,
    answer: Answer,
    rid: &str,
) -> Result<Session, HttpResponse> {
    let identity = admit_identity(req, state, answer, rid).await?;
    signed_in(state, &identity, answer, rid).await
}

/// The registry's answer for `identity`, in a new transaction that carries it.
pub(crate) async fn signed_in(
    state: &AppState,
    identity: &Identity,
    answer: Answer,
    rid: &str,
) -> Result<Session, HttpResponse> {
    match Session::sign_in(&state.db, identity, Purpose::Reads).await {
        Ok(session) => {
            record_principal(&tracing::Span::current(), session.principal());
            Ok(session)
        }
        Err(e) => Err(single(answer, rid, auth_refused(rid, &e))),
    }
}

/// Rate limits by IP, then the token; a failed verification counts against the IP, which is
/// refused (429 instead of 401) once it has failed too often.
pub(crate) async fn admit_identity(
    req: &HttpRequest,
    state: &AppState,
    answer: Answer,
    rid: &str,
) -> Result<Identity, HttpResponse> {
    let ip = client_ip(req, state);
    if let Err(limited) = state.limiter.check_ip(&ip).await {
        return Err(single(answer, rid, limited.outcome(rid)));
    }
    match authenticate(req, state).await {
        Ok(identity) => Ok(identity),
        Err(e) => {
            // Failures alone are counted and refused: a verified token always gets through.
            if e.code == ErrorCode::Unauthenticated
                && let Err(limited) = state.limiter.note_auth_failure(&ip).await
            {
                return Err(single(answer, rid, limited.outcome(rid)));
            }
            Err(unauthenticated(answer, rid, &e))
        }
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
    errors(status, Answer::Json, rid, e.code.as_str(), &e.message)
}

/// Records actions in the audit log; a failure leaves what was done standing and is logged.
pub(crate) async fn audit_actions(state: &AppState, principal: &Principal, rid: &str, actions: Vec<audit::Action>) {
    if let Err(e) = audit::record(&state.db, principal, actions).await {
        tracing::error!(request_id = %rid, code = %e.code, detail = %e.detail(), "audit.record_failed");
    }
}

fn unauthenticated(answer: Answer, rid: &str, e: &DomainError) -> HttpResponse {
    single(answer, rid, auth_refused(rid, e))
}

/// A GraphQL response. The data stays juniper's value, written out as it stands: in the order
/// the query asked for the fields, and without first being copied into a `serde_json::Value`
/// (a third of the time of a 2,500-row KPI report).
#[derive(Default, serde::Serialize)]
struct Body {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<juniper::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<Value>,
}

impl Body {
    fn errors(errors: Value) -> Self {
        Self { data: None, errors: Some(errors) }
    }

    /// The first error, or null.
    fn first_error(&self) -> &Value {
        static NULL: Value = Value::Null;
        self.errors.as_ref().and_then(|e| e.get(0)).unwrap_or(&NULL)
    }

    /// `data.<key>.id` as a string, when the root field answered an object with an id.
    fn root_id(&self, key: &str) -> Option<&str> {
        self.data
            .as_ref()?
            .as_object_value()?
            .get_field_value(key)?
            .as_object_value()?
            .get_field_value("id")?
            .as_scalar()?
            .try_as_str()
    }
}

/// What goes out for one operation: a fresh answer, or one kept from before (already JSON).
enum Reply {
    Fresh(Body),
    Kept(Arc<RawValue>),
}

impl serde::Serialize for Reply {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Reply::Fresh(body) => body.serialize(s),
            Reply::Kept(raw) => raw.as_ref().serialize(s),
        }
    }
}

/// The outcome of one operation: the response body, whether it was a request error, and a
/// status (with a header) that overrides the usual choice.
struct Outcome {
    /// Set when the answer came from, or went into, the KPI cache: written out as it is.
    kept: Option<Arc<RawValue>>,
    body: Body,
    request_error: bool,
    forced: Option<(StatusCode, &'static str, String)>,
}

impl Outcome {
    fn reply(self) -> Reply {
        match self.kept {
            Some(answer) => Reply::Kept(answer),
            None => Reply::Fresh(self.body),
        }
    }
}

impl Limited {
    fn outcome(&self, rid: &str) -> Outcome {
        let message = format!(
            "rate limit of {} per minute ({}) reached; retry in {} s",
            self.limit, self.scope, self.retry_after
        );
        Outcome {
            kept: None,
            body: Body::errors(
                json!([{ "message": message, "extensions": { "code": "RATE_LIMITED", "requestId": rid, "retryAfter": self.retry_after } }]),
            ),
            request_error: true,
            forced: Some((StatusCode::TOO_MANY_REQUESTS, "retry-after", self.retry_after.to_string())),
        }
    }
}

/// A request error from juniper. Its validation messages describe the schema (`Unknown field
/// "rol" on type "Viewer"`); with introspection off they would give away what introspection
/// hides, so then each says only that the document is invalid, where.
fn request_error(state: &AppState, rid: &str, code: &str, e: &GraphQLError) -> Outcome {
    let errors: Vec<Value> = match e {
        GraphQLError::ValidationError(rules) => rules
            .iter()
            .map(|r| {
                let locations: Vec<Value> =
                    r.locations().iter().map(|l| json!({ "line": l.line() + 1, "column": l.column() + 1 })).collect();
                let message = if state.introspection { r.message() } else { INVALID_DOCUMENT };
                json!({ "message": message, "locations": locations, "extensions": { "code": code, "requestId": rid } })
            })
            .collect(),
        other => vec![json!({ "message": other.to_string(), "extensions": { "code": code, "requestId": rid } })],
    };
    Outcome { kept: None, body: Body::errors(Value::Array(errors)), request_error: true, forced: None }
}

/// What one HTTP request may still spend: its operations (a batch's together) share one cost
/// budget and one deadline, so that batching multiplies neither.
struct Allowance {
    cost_left: u64,
    deadline: tokio::time::Instant,
}

impl Allowance {
    fn new(state: &AppState) -> Self {
        Self { cost_left: state.limits.max_cost, deadline: tokio::time::Instant::now() + state.request_timeout }
    }
}

async fn execute(
    state: &AppState,
    identity: &Identity,
    rid: &str,
    op: Operation,
    over_get: bool,
    allowance: &mut Allowance,
) -> Outcome {
    let span = tracing::info_span!(
        "graphql.operation",
        graphql.operation.name = tracing::field::Empty,
        graphql.operation.type = tracing::field::Empty,
        graphql.complexity = tracing::field::Empty,
        graphql.outcome = tracing::field::Empty,
    );
    let started = std::time::Instant::now();
    let given_name = op.operation_name.clone();
    let request_span = tracing::Span::current();
    let ran =
        run_operation(state, identity, rid, op, over_get, allowance, &request_span).instrument(span.clone()).await;
    let name = state.metrics.operation_label(ran.name.as_deref().or(given_name.as_deref()));
    let result = if ran.outcome.request_error {
        "request_error"
    } else if ran.outcome.body.errors.is_some() {
        "field_error"
    } else {
        "ok"
    };
    span.record("graphql.operation.name", name.as_str());
    span.record("graphql.outcome", result);
    tracing::Span::current().record("graphql.operation.name", name.as_str());
    state.metrics.graphql_operations.with_label_values(&[name.as_str(), ran.kind, result]).inc();
    state.metrics.graphql_duration.with_label_values(&[name.as_str()]).observe(started.elapsed().as_secs_f64());
    ran.outcome
}

/// An operation's outcome with what the metrics need.
struct Ran {
    outcome: Outcome,
    kind: &'static str,
    name: Option<String>,
}

impl Ran {
    fn refused(outcome: Outcome) -> Self {
        Ran { outcome, kind: "unknown", name: None }
    }
}

fn limit_error(rid: &str, e: &LimitError) -> Outcome {
    Outcome {
        kept: None,
        body: Body::errors(json!([{ "message": e.message, "extensions": { "code": e.code, "requestId": rid } }])),
        request_error: true,
        forced: None,
    }
}

/// A refused token or deactivated account (401), or the database failing to say (503).
fn auth_refused(rid: &str, e: &DomainError) -> Outcome {
    let body =
        Body::errors(json!([{ "message": e.message, "extensions": { "code": e.code.as_str(), "requestId": rid } }]));
    if e.code == ErrorCode::Unauthenticated {
        let forced = Some((StatusCode::UNAUTHORIZED, "www-authenticate", "Bearer".to_owned()));
        return Outcome { kept: None, body, request_error: true, forced };
    }
    tracing::error!(request_id = %rid, code = %e.code, detail = %e.detail(), "auth.lookup_failed");
    Outcome {
        kept: None,
        body,
        request_error: true,
        forced: Some((StatusCode::SERVICE_UNAVAILABLE, "retry-after", "1".to_owned())),
    }
}

/// Who asks (as far as row-level security tells callers apart), on which day, what.
fn cache_key(principal: &Principal, op: &Operation) -> String {
    let variables: std::collections::BTreeMap<&String, String> =
        op.variables.iter().map(|(name, value)| (name, value.to_string())).collect();
    let operation = format!("{}\u{1f}{}", op.operation_name.as_deref().unwrap_or(""), op.query);
    KpiCache::key(principal, renkei_core::kpis::today(), &operation, &format!("{variables:?}"))
}

/// The code of the error a root field ended with, or `ok`.
fn field_outcome(body: &Body, key: &str) -> String {
    body.errors
        .as_ref()
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|e| e["path"][0].as_str() == Some(key))
        .map_or_else(|| "ok".to_owned(), |e| e["extensions"]["code"].as_str().unwrap_or("ERROR").to_owned())
}

async fn run_operation(
    state: &AppState,
    identity: &Identity,
    rid: &str,
    op: Operation,
    over_get: bool,
    allowance: &mut Allowance,
    request_span: &tracing::Span,
) -> Ran {
    // Our own parse first: it gives the tree juniper keeps to itself, for the limits it does
    // not check and for the checks that keep its validation from panicking.
    let document = match juniper::parser::parse_document_source(&op.query, &state.schema.schema) {
        Ok(d) => d,
        Err(e) => {
            return Ran::refused(match parse_limit(&e.item) {
                Some(limit) => limit_error(rid, &limit),
                None => request_error(state, rid, "GRAPHQL_PARSE_FAILED", &GraphQLError::ParseError(e)),
            });
        }
    };
    if let Some(unknown) = unknown_variable_type(&state.schema.schema, &document) {
        let message = if state.introspection { format!("Unknown type \"{unknown}\"") } else { INVALID_DOCUMENT.into() };
        let e = LimitError { code: "GRAPHQL_VALIDATION_FAILED", message };
        return Ran::refused(limit_error(rid, &e));
    }
    let validate = || ValidatedOperation::new(&op.query, op.operation_name.as_deref(), &state.schema);
    let validated = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(validate)) {
        Ok(Ok(v)) => v,
        Ok(Err(e @ GraphQLError::ParseError(_))) => {
            return Ran::refused(request_error(state, rid, "GRAPHQL_PARSE_FAILED", &e));
        }
        Ok(Err(e)) => return Ran::refused(request_error(state, rid, "GRAPHQL_VALIDATION_FAILED", &e)),
        Err(_) => {
            // A validation rule of juniper's tripped over the document; refuse it, keep serving.
            tracing::error!(request_id = %rid, "graphql.validation_panicked");
            let e =
                LimitError { code: "GRAPHQL_VALIDATION_FAILED", message: "the document could not be validated".into() };
            return Ran::refused(limit_error(rid, &e));
        }
    };
    let kind = match validated.operation_type() {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    };
    let span = tracing::Span::current();
    span.record("graphql.operation.type", kind);
    match validated.operation_type() {
        OperationType::Mutation if over_get => {
            let body = Body::errors(
                json!([{ "message": "mutations must be sent with POST", "extensions": { "code": "METHOD_NOT_ALLOWED", "requestId": rid } }]),
            );
            return Ran {
                outcome: Outcome {
                    kept: None,
                    body,
                    request_error: true,
                    forced: Some((StatusCode::METHOD_NOT_ALLOWED, "allow", "POST".into())),
                },
                kind,
                name: None,
            };
        }
        OperationType::Subscription => {
            return Ran {
                outcome: request_error(state, rid, "OPERATION_NOT_SUPPORTED", &GraphQLError::IsSubscription),
                kind,
                name: None,
            };
        }
        _ => {}
    }
    let analysis =
        match analyse(&state.schema.schema, &document, op.operation_name.as_deref(), &op.variables, &state.limits) {
            Ok(a) => a,
            Err(e) => return Ran { outcome: limit_error(rid, &e), kind, name: None },
        };
    span.record("graphql.complexity", analysis.cost);
    if analysis.cost > allowance.cost_left {
        let e = LimitError {
            code: "QUERY_TOO_COMPLEX",
            message: format!(
                "the operation costs {}; the request has {} of its budget of {} left",
                analysis.cost, allowance.cost_left, state.limits.max_cost
            ),
        };
        return Ran { outcome: limit_error(rid, &e), kind, name: analysis.operation_name };
    }
    allowance.cost_left -= analysis.cost;
    if tokio::time::Instant::now() >= allowance.deadline {
        return Ran { outcome: timed_out(state, rid), kind, name: analysis.operation_name };
    }
    let mutation_fields = (kind == "mutation").then_some(analysis.root_fields.len());
    if let Err(limited) = state.limiter.check_operation(&identity.subject, mutation_fields).await {
        return Ran { outcome: limited.outcome(rid), kind, name: analysis.operation_name };
    }
    // Who the caller is comes from the registry, in the round trip that opens the operation's
    // transaction and writes the caller's settings: a query's resolvers all read in it, a
    // mutation's first root field makes its change in it.
    let purpose = if kind == "query" { Purpose::Reads } else { Purpose::Change };
    let session = match Session::sign_in(&state.db, identity, purpose).await {
        Ok(session) => session,
        Err(e) => return Ran { outcome: auth_refused(rid, &e), kind, name: analysis.operation_name },
    };
    let principal = session.principal().clone();
    let (session, opened) = if kind == "query" { (Some(session), None) } else { (None, Some(session)) };
    record_principal(request_span, &principal);
    let principal = &principal;
    // KPI reports alone: answered from the cache while the KPI generation stands still.
    let cached = match &session {
        Some(session) if KpiCache::cacheable(analysis.root_fields.iter().map(|f| f.name.as_str())) => session
            .run(|c| Box::pin(renkei_core::kpis::generation(c)))
            .await
            .ok()
            .map(|g| (g, cache_key(principal, &op))),
        _ => None,
    };
    let kept = cached.as_ref().and_then(|(generation, key)| state.kpi_cache.get(key, *generation));
    if cached.is_some() {
        let outcome = if kept.is_some() { "hit" } else { "miss" };
        state.metrics.kpi_cache.with_label_values(&[outcome]).inc();
    }
    if let Some(answer) = kept {
        if let Some(session) = &session {
            session.finish().await;
        }
        let outcome = Outcome { kept: Some(answer), body: Body::default(), request_error: false, forced: None };
        return Ran { outcome, kind, name: analysis.operation_name };
    }
    let audit = opened.map(|opened| {
        let fields = analysis
            .root_fields
            .iter()
            .map(|f| AuditedField { name: f.name.clone(), targets: f.targets.clone() })
            .collect();
        Audit::new(rid.to_owned(), fields, opened)
    });
    let ctx = Context {
        db: state.db.clone(),
        principal: principal.clone(),
        geography: state.geography.clone(),
        kpi: state.kpi,
        session,
        audit,
    };
    let execution = REQUEST_ID.scope(rid.to_owned(), validated.execute(&op.variables, &ctx));
    let outcome = match tokio::time::timeout_at(allowance.deadline, execution).await {
        Ok(Ok((data, errs))) => {
            let errors = (!errs.is_empty()).then(|| serde_json::to_value(&errs).unwrap_or_else(|_| json!([])));
            Outcome { kept: None, body: Body { data: Some(data), errors }, request_error: false, forced: None }
        }
        Ok(Err(e)) => request_error(state, rid, "BAD_USER_INPUT", &e),
        Err(_) => timed_out(state, rid),
    };
    if let Some(session) = &ctx.session {
        session.finish().await;
    }
    let mut outcome = outcome;
    if let Some((generation, key)) = cached
        && outcome.body.errors.is_none()
        && let Ok(answer) = serde_json::value::to_raw_value(&outcome.body)
    {
        let answer: Arc<RawValue> = answer.into();
        state.kpi_cache.put(key, generation, answer.clone());
        outcome.kept = Some(answer);
    }
    if let Some(audit) = &ctx.audit {
        audit.close().await;
        // Every mutation field attempted, with its outcome: a change was recorded in its own
        // transaction; what failed, and so changed nothing, is recorded now.
        let actions = analysis
            .root_fields
            .iter()
            .enumerate()
            .filter(|(i, _)| !audit.recorded(*i))
            .map(|(_, f)| audit::Action {
                operation: f.name.clone(),
                targets: audit::Action::targets_with(&f.targets, outcome.body.root_id(&f.key)),
                outcome: if outcome.body.data.as_ref().is_none_or(juniper::Value::is_null)
                    && outcome.body.errors.is_some()
                    && !outcome.body.first_error()["path"].is_array()
                {
                    outcome.body.first_error()["extensions"]["code"].as_str().unwrap_or("ERROR").to_owned()
                } else {
                    field_outcome(&outcome.body, &f.key)
                },
                request_id: rid.to_owned(),
            })
            .collect();
        audit_actions(state, principal, rid, actions).await;
        // A mutation may have queued jobs; workers listening on Redis pick them up at once.
        if let Some(redis) = state.redis.clone() {
            tokio::spawn(async move { renkei_core::jobs::wake(&redis).await });
        }
    }
    Ran { outcome, kind, name: analysis.operation_name }
}

/// The request's time ran out (a batch's operations share it).
fn timed_out(state: &AppState, rid: &str) -> Outcome {
    let message = format!("the request took longer than {} s", state.request_timeout.as_secs());
    Outcome {
        kept: None,
        body: Body::errors(json!([{ "message": message, "extensions": { "code": "TIMEOUT", "requestId": rid } }])),
        request_error: false,
        forced: None,
    }
}

/// Answers a single operation: request errors are 400 for graphql-response+json, 200 for json.
fn single(answer: Answer, rid: &str, outcome: Outcome) -> HttpResponse {
    if let Some((status, name, value)) = outcome.forced {
        let mut res = respond(status, answer, rid, Reply::Fresh(outcome.body));
        if let Ok(value) = HeaderValue::from_str(&value) {
            res.headers_mut().insert(header::HeaderName::from_static(name), value);
        }
        return res;
    }
    let status = if outcome.request_error && answer == Answer::GraphqlResponse {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    respond(status, answer, rid, outcome.reply())
}

/// `GET /graphql?query=…&operationName=…&variables=…`: queries only.
pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let rid = request_id(&req);
    let Some(answer) = negotiate(&req) else {
        return errors(
            StatusCode::NOT_ACCEPTABLE,
            Answer::Json,
            &rid,
            "NOT_ACCEPTABLE",
            "accept application/graphql-response+json or application/json",
        );
    };
    let params: Vec<(String, String)> = match serde_urlencoded::from_str(req.query_string()) {
        Ok(p) => p,
        Err(_) => return errors(StatusCode::BAD_REQUEST, answer, &rid, "BAD_REQUEST", "malformed query string"),
    };
    let mut object = Map::new();
    for (key, value) in params {
        if object.contains_key(&key) {
            return errors(
                StatusCode::BAD_REQUEST,
                answer,
                &rid,
                "BAD_REQUEST",
                &format!("parameter `{key}` given twice"),
            );
        }
        let value = match key.as_str() {
            "variables" | "extensions" => match serde_json::from_str::<Value>(&value) {
                Ok(v) => v,
                Err(_) => {
                    return errors(
                        StatusCode::BAD_REQUEST,
                        answer,
                        &rid,
                        "BAD_REQUEST",
                        &format!("`{key}` is not valid JSON"),
                    );
                }
            },
            _ => Value::String(value),
        };
        object.insert(key, value);
    }
    let op = match operation_from(object) {
        Ok(op) => op,
        Err(message) => return errors(StatusCode::BAD_REQUEST, answer, &rid, "BAD_REQUEST", &message),
    };
    let identity = match admit_identity(&req, &state, answer, &rid).await {
        Ok(identity) => identity,
        Err(res) => return res,
    };
    let mut allowance = Allowance::new(&state);
    single(answer, &rid, execute(&state, &identity, &rid, op, true, &mut allowance).await)
}

/// The request body, refused with 413 past `limit` bytes (before more is read).
pub(crate) async fn read_body(
    payload: &mut web::Payload,
    limit: usize,
    answer: Answer,
    rid: &str,
) -> Result<web::BytesMut, HttpResponse> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else {
            return Err(errors(StatusCode::BAD_REQUEST, answer, rid, "BAD_REQUEST", "could not read the request body"));
        };
        if body.len() + chunk.len() > limit {
            return Err(errors(
                StatusCode::PAYLOAD_TOO_LARGE,
                answer,
                rid,
                "PAYLOAD_TOO_LARGE",
                &format!("request body larger than {limit} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `POST /graphql` with a JSON object, or a bounded array of them (a batch).
pub async fn post(req: HttpRequest, mut payload: web::Payload, state: web::Data<AppState>) -> HttpResponse {
    let rid = request_id(&req);
    let Some(answer) = negotiate(&req) else {
        return errors(
            StatusCode::NOT_ACCEPTABLE,
            Answer::Json,
            &rid,
            "NOT_ACCEPTABLE",
            "accept application/graphql-response+json or application/json",
        );
    };
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type.split(';').next().map(str::trim) != Some("application/json") {
        return errors(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            answer,
            &rid,
            "UNSUPPORTED_MEDIA_TYPE",
            "send the request as application/json",
        );
    }
    let body = match read_body(&mut payload, state.max_body_bytes, answer, &rid).await {
        Ok(body) => body,
        Err(res) => return res,
    };
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return errors(StatusCode::BAD_REQUEST, answer, &rid, "BAD_REQUEST", "the body is not valid JSON"),
    };
    let (objects, batch) = match parsed {
        Value::Object(o) => (vec![o], false),
        Value::Array(items) => {
            if items.is_empty() || items.len() > state.max_batch {
                return errors(
                    StatusCode::BAD_REQUEST,
                    answer,
                    &rid,
                    "BATCH_LIMIT",
                    &format!("a batch holds 1 to {} operations", state.max_batch),
                );
            }
            let mut objects = Vec::with_capacity(items.len());
            for item in items {
                let Value::Object(o) = item else {
                    return errors(
                        StatusCode::BAD_REQUEST,
                        answer,
                        &rid,
                        "BAD_REQUEST",
                        "every batch entry must be an object",
                    );
                };
                objects.push(o);
            }
            (objects, true)
        }
        _ => return errors(StatusCode::BAD_REQUEST, answer, &rid, "BAD_REQUEST", "the body must be a JSON object"),
    };
    let mut ops = Vec::with_capacity(objects.len());
    for object in objects {
        match operation_from(object) {
            Ok(op) => ops.push(op),
            Err(message) => return errors(StatusCode::BAD_REQUEST, answer, &rid, "BAD_REQUEST", &message),
        }
    }
    let identity = match admit_identity(&req, &state, answer, &rid).await {
        Ok(identity) => identity,
        Err(res) => return res,
    };
    let mut allowance = Allowance::new(&state);
    if !batch {
        return match ops.pop() {
            Some(op) => single(answer, &rid, execute(&state, &identity, &rid, op, false, &mut allowance).await),
            None => errors(StatusCode::BAD_REQUEST, answer, &rid, "BAD_REQUEST", "no operation"),
        };
    }
    // One at a time: a batch never holds more than one pooled connection per request.
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        results.push(execute(&state, &identity, &rid, op, false, &mut allowance).await.reply());
    }
    respond(StatusCode::OK, answer, &rid, results)
}

/// Any other method on /graphql.
pub async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    let rid = request_id(&req);
    let mut res = errors(StatusCode::METHOD_NOT_ALLOWED, Answer::Json, &rid, "METHOD_NOT_ALLOWED", "use GET or POST");
    res.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
    res
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
