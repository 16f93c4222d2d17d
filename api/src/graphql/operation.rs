//! One operation, step by step: parse and validate the document, admit it (limits, budget,
//! deadline, rate limit, the registry), answer it in the caller's session (or from the KPI
//! cache), and record what a mutation did in the audit log. Its span and metrics wrap the lot.

use std::sync::Arc;

use actix_web::http::StatusCode;
use juniper::{DefaultScalarValue, Definition, EmptySubscription, GraphQLError, OperationType, ValidatedOperation};
use renkei_core::db::{Purpose, Session};
use renkei_core::{Identity, Principal, RequestCode, audit};
use renkei_graphql::limits::{Analysis, analyse, parse_limit, unknown_variable_type};
use renkei_graphql::{Audit, AuditedField, AuditedMutation, Context, Query, REQUEST_ID};
use serde_json::Value;
use serde_json::value::RawValue;
use tracing::Instrument;

use super::outcome::{Body, INVALID_DOCUMENT, Outcome};
use super::request::Operation;
use crate::AppState;
use crate::http::admission::{auth_refused, record_principal};
use crate::http::audit::audit_actions;
use crate::http::{Forced, Refusal, error};
use crate::kpi_cache::KpiCache;

type Validated<'a> = ValidatedOperation<'a, Query, AuditedMutation, EmptySubscription<Context>>;

/// What one HTTP request may still spend: its operations (a batch's together) share one cost
/// budget and one deadline, so that batching multiplies neither.
pub(super) struct Allowance {
    cost_left: u64,
    deadline: tokio::time::Instant,
}

impl Allowance {
    pub fn new(state: &AppState) -> Self {
        Self { cost_left: state.limits.max_cost, deadline: tokio::time::Instant::now() + state.request_timeout }
    }
}

/// An operation admitted to run: what the client sent, juniper's validation of it, our
/// analysis (root fields, cost, name), and the request's deadline it must finish by.
struct Admitted<'a> {
    op: &'a Operation,
    validated: Validated<'a>,
    analysis: Analysis,
    deadline: tokio::time::Instant,
}

/// How GraphQL over HTTP reached us: over GET, mutations are refused.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    Get,
    Post,
}

/// An operation's outcome with what the metrics need: its type (`None` when refused before it
/// was known) and its name.
struct Ran {
    outcome: Outcome,
    kind: Option<OperationType>,
    name: Option<String>,
}

impl Ran {
    fn refused(outcome: Outcome) -> Self {
        Ran { outcome, kind: None, name: None }
    }
}

/// The `type` label and span field.
fn kind_label(kind: Option<OperationType>) -> &'static str {
    match kind {
        Some(OperationType::Query) => "query",
        Some(OperationType::Mutation) => "mutation",
        Some(OperationType::Subscription) => "subscription",
        None => "unknown",
    }
}

/// Runs one operation inside its `graphql.operation` span and counts it.
pub(super) async fn execute(
    state: &AppState,
    identity: &Identity,
    rid: &str,
    op: Operation,
    method: Method,
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
    let ran = match run(state, identity, rid, &op, method, allowance, &request_span).instrument(span.clone()).await {
        Ok(ran) | Err(ran) => ran,
    };
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
    state.metrics.graphql_operations.with_label_values(&[name.as_str(), kind_label(ran.kind), result]).inc();
    state.metrics.graphql_duration.with_label_values(&[name.as_str()]).observe(started.elapsed().as_secs_f64());
    ran.outcome
}

/// The steps; the first that refuses answers (`Err`), as does the last.
async fn run(
    state: &AppState,
    identity: &Identity,
    rid: &str,
    op: &Operation,
    method: Method,
    allowance: &mut Allowance,
    request_span: &tracing::Span,
) -> Result<Ran, Ran> {
    let (document, validated) = parse_and_validate(state, rid, op).map_err(|outcome| Ran::refused(*outcome))?;
    let kind = validated.operation_type();
    tracing::Span::current().record("graphql.operation.type", kind_label(Some(kind)));
    let ran = |outcome, name| Ran { outcome, kind: Some(kind), name };
    if let Some(outcome) = unsupported(state, rid, kind, method) {
        return Err(ran(outcome, None));
    }
    let analysis = analyse(&state.schema.schema, &document, op.operation_name.as_deref(), &op.variables, &state.limits)
        .map_err(|e| ran(Outcome::refused(e.code, &e.message, rid), None))?;
    tracing::Span::current().record("graphql.complexity", analysis.cost);
    let session = admit(state, identity, rid, kind, &analysis, allowance)
        .await
        .map_err(|outcome| ran(outcome, analysis.operation_name.clone()))?;
    record_principal(request_span, session.principal());
    let admitted = Admitted { op, validated, analysis, deadline: allowance.deadline };
    let outcome = match kind {
        OperationType::Query => answer_query(state, rid, &admitted, session).await,
        _ => answer_mutation(state, rid, &admitted, session).await,
    };
    Ok(ran(outcome, admitted.analysis.operation_name))
}

/// Our own parse first: it gives the tree juniper keeps to itself, for the limits it does not
/// check and for the checks that keep its validation from panicking. Then juniper's validation.
/// (The refusal is boxed: it is large, and most documents pass.)
fn parse_and_validate<'a>(
    state: &'a AppState,
    rid: &str,
    op: &'a Operation,
) -> Result<(Vec<Definition<'a, DefaultScalarValue>>, Validated<'a>), Box<Outcome>> {
    let document = juniper::parser::parse_document_source(&op.query, &state.schema.schema).map_err(|e| {
        Box::new(match parse_limit(&e.item) {
            Some(limit) => Outcome::refused(limit.code, &limit.message, rid),
            None => Outcome::juniper(state, rid, RequestCode::GraphqlParseFailed, &GraphQLError::ParseError(e)),
        })
    })?;
    if let Some(unknown) = unknown_variable_type(&state.schema.schema, &document) {
        let message = if state.introspection { format!("Unknown type \"{unknown}\"") } else { INVALID_DOCUMENT.into() };
        return Err(Box::new(Outcome::refused(RequestCode::GraphqlValidationFailed, &message, rid)));
    }
    let validate = || ValidatedOperation::new(&op.query, op.operation_name.as_deref(), &state.schema);
    let refusal = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(validate)) {
        Ok(Ok(validated)) => return Ok((document, validated)),
        Ok(Err(e @ GraphQLError::ParseError(_))) => Outcome::juniper(state, rid, RequestCode::GraphqlParseFailed, &e),
        Ok(Err(e)) => Outcome::juniper(state, rid, RequestCode::GraphqlValidationFailed, &e),
        Err(_) => {
            // A validation rule of juniper's tripped over the document; refuse it, keep serving.
            tracing::error!(request_id = %rid, "graphql.validation_panicked");
            Outcome::refused(RequestCode::GraphqlValidationFailed, "the document could not be validated", rid)
        }
    };
    Err(Box::new(refusal))
}

/// The refusal of an operation we do not serve: a subscription, or a mutation over GET.
fn unsupported(state: &AppState, rid: &str, kind: OperationType, method: Method) -> Option<Outcome> {
    match kind {
        OperationType::Mutation if method == Method::Get => Some(
            Refusal {
                forced: Forced { status: StatusCode::METHOD_NOT_ALLOWED, header: "allow", value: "POST".into() },
                error: error(RequestCode::MethodNotAllowed, "mutations must be sent with POST", rid),
            }
            .into(),
        ),
        OperationType::Subscription => {
            Some(Outcome::juniper(state, rid, RequestCode::OperationNotSupported, &GraphQLError::IsSubscription))
        }
        _ => None,
    }
}

/// Spends the operation's cost from the request's budget, checks the deadline and the
/// caller's rate limit, then asks the registry who the caller is, in the round trip that opens
/// the operation's transaction and writes the caller's settings: a query's resolvers all read
/// in it, a mutation's first root field makes its change in it.
async fn admit(
    state: &AppState,
    identity: &Identity,
    rid: &str,
    kind: OperationType,
    analysis: &Analysis,
    allowance: &mut Allowance,
) -> Result<Session, Outcome> {
    if analysis.cost > allowance.cost_left {
        let message = format!(
            "the operation costs {}; the request has {} of its budget of {} left",
            analysis.cost, allowance.cost_left, state.limits.max_cost
        );
        return Err(Outcome::refused(RequestCode::QueryTooComplex, &message, rid));
    }
    allowance.cost_left -= analysis.cost;
    if tokio::time::Instant::now() >= allowance.deadline {
        return Err(Outcome::timed_out(state, rid));
    }
    let mutation_fields = (kind == OperationType::Mutation).then_some(analysis.root_fields.len());
    state.limiter.check_operation(&identity.subject, mutation_fields).await.map_err(|l| l.refusal(rid))?;
    let purpose = if kind == OperationType::Query { Purpose::Reads } else { Purpose::Change };
    Session::sign_in(&state.db, identity, purpose).await.map_err(|e| auth_refused(rid, &e).into())
}

/// A query: every resolver reads in `session`. A KPI report is answered from the cache while
/// the KPI generation stands still, and a fresh one is kept for next time.
async fn answer_query(state: &AppState, rid: &str, admitted: &Admitted<'_>, session: Session) -> Outcome {
    let principal = session.principal().clone();
    let cached = if KpiCache::cacheable(admitted.analysis.root_fields.iter().map(|f| f.name.as_str())) {
        session
            .run(|c| Box::pin(renkei_core::kpis::generation(c)))
            .await
            .ok()
            .map(|generation| (generation, cache_key(&principal, admitted.op)))
    } else {
        None
    };
    if let Some((generation, key)) = &cached {
        let kept = state.kpi_cache.get(key, *generation);
        state.metrics.kpi_cache.with_label_values(&[if kept.is_some() { "hit" } else { "miss" }]).inc();
        if let Some(answer) = kept {
            session.finish().await;
            return Outcome::kept(answer);
        }
    }
    let ctx = context(state, principal, Some(session), None);
    let mut outcome = run_in(state, rid, admitted, &ctx).await;
    if let Some(session) = &ctx.session {
        session.finish().await;
    }
    if let Some((generation, key)) = cached
        && outcome.body.errors.is_none()
        && let Ok(answer) = serde_json::value::to_raw_value(&outcome.body)
    {
        let answer: Arc<RawValue> = answer.into();
        state.kpi_cache.put(key, generation, answer.clone());
        outcome.kept = Some(answer);
    }
    outcome
}

/// A mutation: its first root field makes its change in `opened`, each later one in a
/// transaction of its own; then the audit log gets every field that did not record itself.
async fn answer_mutation(state: &AppState, rid: &str, admitted: &Admitted<'_>, opened: Session) -> Outcome {
    let principal = opened.principal().clone();
    let fields = admitted
        .analysis
        .root_fields
        .iter()
        .map(|f| AuditedField { name: f.name.clone(), targets: f.targets.clone() })
        .collect();
    let audit = Audit::new(rid.to_owned(), fields, opened);
    let ctx = context(state, principal, None, Some(audit));
    let outcome = run_in(state, rid, admitted, &ctx).await;
    if let Some(audit) = &ctx.audit {
        record_mutation(state, rid, &ctx.principal, &admitted.analysis, audit, &outcome.body).await;
    }
    outcome
}

fn context(state: &AppState, principal: Principal, session: Option<Session>, audit: Option<Audit>) -> Context {
    Context { db: state.db.clone(), principal, geography: state.geography.clone(), kpi: state.kpi, session, audit }
}

/// Executes the validated operation in `ctx`, within the request's deadline.
async fn run_in(state: &AppState, rid: &str, admitted: &Admitted<'_>, ctx: &Context) -> Outcome {
    let execution = REQUEST_ID.scope(rid.to_owned(), admitted.validated.execute(&admitted.op.variables, ctx));
    match tokio::time::timeout_at(admitted.deadline, execution).await {
        Ok(Ok((data, errs))) => {
            let errors =
                (!errs.is_empty()).then(|| serde_json::to_value(&errs).unwrap_or_else(|_| Value::Array(vec![])));
            Outcome::answered(Body { data: Some(data), errors })
        }
        Ok(Err(e)) => Outcome::juniper(state, rid, renkei_core::ErrorCode::BadUserInput, &e),
        Err(_) => {
            // Answer at the deadline, not when the abandoned statement ends: ending the
            // transaction would wait for it. (A mutation's field transaction is dropped with
            // the request, which the pool discards likewise.)
            if let Some(session) = &ctx.session {
                session.discard().await;
            }
            Outcome::timed_out(state, rid)
        }
    }
}

/// Every mutation field attempted, with its outcome: a change was recorded in its own
/// transaction; what failed, and so changed nothing, is recorded now. A mutation may have
/// queued jobs, so workers listening on Redis are woken at once.
async fn record_mutation(
    state: &AppState,
    rid: &str,
    principal: &Principal,
    analysis: &Analysis,
    audit: &Audit,
    body: &Body,
) {
    audit.close().await;
    let actions = analysis
        .root_fields
        .iter()
        .enumerate()
        .filter(|(i, _)| !audit.recorded(*i))
        .map(|(_, f)| audit::Action {
            operation: f.name.clone(),
            targets: audit::Action::targets_with(&f.targets, body.root_id(&f.key)),
            outcome: if body.data.as_ref().is_none_or(juniper::Value::is_null)
                && body.errors.is_some()
                && !body.first_error()["path"].is_array()
            {
                body.first_error()["extensions"]["code"].as_str().unwrap_or("ERROR").to_owned()
            } else {
                field_outcome(body, &f.key)
            },
            request_id: rid.to_owned(),
        })
        .collect();
    audit_actions(state, principal, rid, actions).await;
    if let Some(redis) = state.redis.clone() {
        tokio::spawn(async move { renkei_core::jobs::wake(&redis).await });
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

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use juniper::Variables;
    use renkei_graphql::limits::Limits;

    use super::*;

    /// The code a document refused by `limits` answers with.
    fn refused_with(limits: Limits, document: &str) -> &'static str {
        let schema = renkei_graphql::schema_with(&limits, true);
        match juniper::parser::parse_document_source(document, &schema.schema) {
            Err(e) => parse_limit(&e.item).expect("a parse limit").code,
            Ok(d) => analyse(&schema.schema, &d, None, &Variables::new(), &limits).expect_err("a limit").code,
        }
    }

    /// The document limits are `renkei_graphql`'s and name their codes as text: each is the
    /// text of its `RequestCode`, so that the enum holds every code a client can meet.
    #[test]
    fn every_document_limit_answers_with_its_request_code() {
        let open = Limits::default();
        let cases = [
            (Limits { max_depth: 4, ..open }, "{ a { b { c { d { e { f } } } } } }", RequestCode::QueryTooDeep),
            (Limits { max_tokens: 10, ..open }, "{ a b c d e f g h i j k l }", RequestCode::QueryTooLong),
            (Limits { max_fields: 3, ..open }, "{ a b c d e }", RequestCode::QueryTooLarge),
            (
                Limits { max_cost: 1, ..open },
                "{ organisations(first: 100) { totalCount } }",
                RequestCode::QueryTooComplex,
            ),
            (
                Limits { max_aliases: 1, ..open },
                "{ a: viewer { role } b: viewer { role } }",
                RequestCode::TooManyAliases,
            ),
            (
                Limits { max_root_fields: 1, ..open },
                "{ viewer { role } ransomwarePoints { code } }",
                RequestCode::TooManyRootFields,
            ),
        ];
        for (limits, document, code) in cases {
            assert_eq!(refused_with(limits, document), code.as_str(), "{document}");
        }
    }
}
