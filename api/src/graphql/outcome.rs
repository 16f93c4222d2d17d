//! What one operation answers, and how it goes out: a body (juniper's data and errors, or an
//! answer kept from before), whether it was a request error, and the status it may force.

use std::sync::Arc;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use juniper::{GraphQLError, ScalarValue};
use renkei_core::RequestCode;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::AppState;
use crate::http::{Answer, Forced, Refusal, error, respond};

/// What a validation error says when introspection is off.
pub(super) const INVALID_DOCUMENT: &str = "the document is invalid";

/// A GraphQL response. The data stays juniper's value, written out as it stands: in the order
/// the query asked for the fields, and without first being copied into a `serde_json::Value`
/// (a third of the time of a 2,500-row KPI report).
#[derive(Default, serde::Serialize)]
pub(super) struct Body {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<juniper::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Value>,
}

impl Body {
    fn errors(errors: Vec<Value>) -> Self {
        Self { data: None, errors: Some(Value::Array(errors)) }
    }

    /// The first error, or null.
    pub fn first_error(&self) -> &Value {
        static NULL: Value = Value::Null;
        self.errors.as_ref().and_then(|e| e.get(0)).unwrap_or(&NULL)
    }

    /// `data.<key>.id` as a string, when the root field answered an object with an id.
    pub fn root_id(&self, key: &str) -> Option<&str> {
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
pub(super) enum Reply {
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
pub(super) struct Outcome {
    /// Set when the answer came from, or went into, the KPI cache: written out as it is.
    pub kept: Option<Arc<RawValue>>,
    pub body: Body,
    pub request_error: bool,
    pub forced: Option<Forced>,
}

impl Outcome {
    /// An answer juniper gave (data, field errors or both).
    pub fn answered(body: Body) -> Self {
        Self { kept: None, body, request_error: false, forced: None }
    }

    /// A kept answer, written out as it is.
    pub fn kept(answer: Arc<RawValue>) -> Self {
        Self { kept: Some(answer), body: Body::default(), request_error: false, forced: None }
    }

    /// The operation refused before it ran, with one error.
    pub fn refused(code: impl Into<&'static str>, message: &str, rid: &str) -> Self {
        Self { kept: None, body: Body::errors(vec![error(code, message, rid)]), request_error: true, forced: None }
    }

    /// A request error from juniper. Its validation messages describe the schema (`Unknown
    /// field "rol" on type "Viewer"`); with introspection off they would give away what
    /// introspection hides, so then each says only that the document is invalid, where.
    pub fn juniper(state: &AppState, rid: &str, code: impl Into<&'static str>, e: &GraphQLError) -> Self {
        let code: &'static str = code.into();
        let errors = match e {
            GraphQLError::ValidationError(rules) => rules
                .iter()
                .map(|r| {
                    let locations: Vec<Value> = r
                        .locations()
                        .iter()
                        .map(|l| json!({ "line": l.line() + 1, "column": l.column() + 1 }))
                        .collect();
                    let mut error = error(code, if state.introspection { r.message() } else { INVALID_DOCUMENT }, rid);
                    error["locations"] = Value::Array(locations);
                    error
                })
                .collect(),
            other => vec![error(code, &other.to_string(), rid)],
        };
        Self { kept: None, body: Body::errors(errors), request_error: true, forced: None }
    }

    /// The request's time ran out (a batch's operations share it). Not a request error: the
    /// operation was valid.
    pub fn timed_out(state: &AppState, rid: &str) -> Self {
        let message = format!("the request took longer than {} s", state.request_timeout.as_secs());
        Self::answered(Body::errors(vec![error(RequestCode::Timeout, &message, rid)]))
    }

    pub fn reply(self) -> Reply {
        match self.kept {
            Some(answer) => Reply::Kept(answer),
            None => Reply::Fresh(self.body),
        }
    }

    /// Answers a single operation: request errors are 400 for graphql-response+json, 200 for
    /// json, unless the outcome forces a status.
    pub fn response(self, answer: Answer, rid: &str) -> HttpResponse {
        if let Some(forced) = self.forced {
            return forced.respond(answer, rid, Reply::Fresh(self.body));
        }
        let status = if self.request_error && answer == Answer::GraphqlResponse {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        };
        respond(status, answer, rid, self.reply())
    }
}

/// A refusal of the request (a rate limit, the registry) met by one of its operations.
impl From<Refusal> for Outcome {
    fn from(refusal: Refusal) -> Self {
        Self { kept: None, body: Body::errors(vec![refusal.error]), request_error: true, forced: Some(refusal.forced) }
    }
}
