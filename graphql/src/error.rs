//! Errors as clients see them: a message, and `extensions` with a machine-readable `code` and the
//! `requestId` under which the details were logged. Internal causes never reach the client.

use juniper::{FieldError, IntoFieldError, ScalarValue, graphql_value};
use renkei_core::{Error, ErrorCode};

tokio::task_local! {
    /// The id of the request being executed, set by the HTTP layer around execution.
    pub static REQUEST_ID: String;
}

fn request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

/// A field error with `code` and the request id in `extensions`.
pub fn field_error<S: ScalarValue>(code: ErrorCode, message: &str) -> FieldError<S> {
    let id = request_id();
    let extensions: juniper::Value = graphql_value!({ "code": (code.as_str()), "requestId": (id) });
    FieldError::new(message, extensions.map_scalar_value())
}

/// The resolvers' error type: `?` on a domain error lands here, never in juniper's blanket
/// `Display` conversion.
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl<S: ScalarValue> IntoFieldError<S> for ApiError {
    fn into_field_error(self) -> FieldError<S> {
        let e = self.0;
        match e.code {
            ErrorCode::Internal | ErrorCode::Unavailable => {
                tracing::error!(request_id = %request_id(), code = %e.code, detail = %e.detail(), "graphql.resolver_failed");
            }
            _ if e.cause.is_some() => {
                tracing::info!(request_id = %request_id(), code = %e.code, detail = %e.detail(), "graphql.refused");
            }
            _ => {}
        }
        field_error(e.code, &e.message)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
