//! Reading a GraphQL request — GET parameters or a POST body, one operation or a batch — into
//! the operations it asks for. Anything unreadable is a 400 before any of it runs.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use juniper::{InputValue, Variables};
use renkei_core::RequestCode;
use serde_json::{Map, Value};

use crate::http::{Answer, errors};

/// One operation of a request, as the client sent it.
pub(super) struct Operation {
    pub query: String,
    pub operation_name: Option<String>,
    pub variables: Variables,
}

/// What a request asks for (a GET, one operation).
pub(super) enum Request {
    Single(Operation),
    /// A JSON array of operations, answered as an array.
    Batch(Vec<Operation>),
}

/// Why a request could not be read: a 400 with this code and message.
pub(super) struct Unreadable(RequestCode, String);

impl Unreadable {
    fn bad(message: impl Into<String>) -> Self {
        Self(RequestCode::BadRequest, message.into())
    }

    pub fn response(self, answer: Answer, rid: &str) -> HttpResponse {
        errors(StatusCode::BAD_REQUEST, answer, rid, self.0, &self.1)
    }
}

/// `?query=…&operationName=…&variables=…` (variables and extensions as JSON).
pub(super) fn from_query_string(query_string: &str) -> Result<Operation, Unreadable> {
    let params: Vec<(String, String)> =
        serde_urlencoded::from_str(query_string).map_err(|_| Unreadable::bad("malformed query string"))?;
    let mut object = Map::new();
    for (key, value) in params {
        if object.contains_key(&key) {
            return Err(Unreadable::bad(format!("parameter `{key}` given twice")));
        }
        let value = match key.as_str() {
            "variables" | "extensions" => serde_json::from_str::<Value>(&value)
                .map_err(|_| Unreadable::bad(format!("`{key}` is not valid JSON")))?,
            _ => Value::String(value),
        };
        object.insert(key, value);
    }
    operation_from(object)
}

/// A JSON object, or an array of 1 to `max_batch` of them.
pub(super) fn from_body(body: &[u8], max_batch: usize) -> Result<Request, Unreadable> {
    let parsed: Value = serde_json::from_slice(body).map_err(|_| Unreadable::bad("the body is not valid JSON"))?;
    match parsed {
        Value::Object(o) => Ok(Request::Single(operation_from(o)?)),
        Value::Array(items) => {
            if items.is_empty() || items.len() > max_batch {
                return Err(Unreadable(RequestCode::BatchLimit, format!("a batch holds 1 to {max_batch} operations")));
            }
            let objects = items
                .into_iter()
                .map(|item| match item {
                    Value::Object(o) => Ok(o),
                    _ => Err(Unreadable::bad("every batch entry must be an object")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Request::Batch(objects.into_iter().map(operation_from).collect::<Result<_, _>>()?))
        }
        _ => Err(Unreadable::bad("the body must be a JSON object")),
    }
}

/// Reads one request object (`query`, `operationName`, `variables`, `extensions`).
fn operation_from(value: Map<String, Value>) -> Result<Operation, Unreadable> {
    let query = match value.get("query") {
        Some(Value::String(q)) => q.clone(),
        Some(_) => return Err(Unreadable::bad("`query` must be a string")),
        None => return Err(Unreadable::bad("`query` is required")),
    };
    let operation_name = match value.get("operationName") {
        None | Some(Value::Null) => None,
        Some(Value::String(n)) => Some(n.clone()),
        Some(_) => return Err(Unreadable::bad("`operationName` must be a string")),
    };
    let variables = match value.get("variables") {
        None | Some(Value::Null) => Variables::new(),
        Some(Value::Object(vars)) => vars
            .iter()
            .map(|(k, v)| {
                serde_json::from_value::<InputValue>(v.clone())
                    .map(|v| (k.clone(), v))
                    .map_err(|_| Unreadable::bad(format!("variable `{k}` is not a valid GraphQL input value")))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(Unreadable::bad("`variables` must be an object")),
    };
    match value.get("extensions") {
        None | Some(Value::Null | Value::Object(_)) => {}
        Some(_) => return Err(Unreadable::bad("`extensions` must be an object")),
    }
    Ok(Operation { query, operation_name, variables })
}
