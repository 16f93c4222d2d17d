//! One error type for the whole service: a machine-readable code for clients, a message safe to
//! show them, and the cause kept for the logs only.

use std::fmt;

/// What went wrong, as clients see it (`extensions.code` in GraphQL errors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// No valid credentials.
    Unauthenticated,
    /// Valid credentials, but not allowed to do this.
    Forbidden,
    /// The input breaks a rule; the message names the field and the rule.
    BadUserInput,
    /// The object does not exist or is not visible to the caller (the two are not distinguished,
    /// so that probing another tenant's ids learns nothing).
    NotFound,
    /// The change clashes with existing data (a duplicate identifier, say).
    Conflict,
    /// A dependency (PostgreSQL) is unavailable; retrying later may work.
    Unavailable,
    /// A fault of ours; the details are in the logs under the request id.
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::NotFound => "NOT_FOUND",
            Self::Conflict => "CONFLICT",
            Self::Unavailable => "UNAVAILABLE",
            Self::Internal => "INTERNAL",
        }
    }
}

/// Where a client-visible code is written out, either kind will do.
impl From<ErrorCode> for &'static str {
    fn from(code: ErrorCode) -> Self {
        code.as_str()
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong with a request as a whole, as clients see it (`extensions.code`): refused
/// before or around its operations — its transport, its document's shape and size, a rate limit,
/// its time. With `ErrorCode`, the domain's, these are every code a client can meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestCode {
    /// Not a request we can read: a malformed query string or body, a missing `query`.
    BadRequest,
    /// The client accepts neither `application/graphql-response+json` nor `application/json`.
    NotAcceptable,
    /// A POST that is not `application/json`.
    UnsupportedMediaType,
    /// A method the route does not serve, or a mutation over GET.
    MethodNotAllowed,
    /// A body over its limit (`GRAPHQL_MAX_BODY_BYTES`, the upload limit).
    PayloadTooLarge,
    /// A batch that is empty or holds more than `GRAPHQL_MAX_BATCH` operations.
    BatchLimit,
    GraphqlParseFailed,
    GraphqlValidationFailed,
    /// A subscription: the service has none.
    OperationNotSupported,
    /// Document limits (README, Security): depth, tokens, fields, cost, aliases, root fields.
    /// `renkei_graphql::limits` writes them as text; a test of the API pins that text to these.
    QueryTooDeep,
    QueryTooLong,
    QueryTooLarge,
    QueryTooComplex,
    TooManyAliases,
    TooManyRootFields,
    /// A rate limit; `extensions.retryAfter` and the `Retry-After` header say when to come back.
    RateLimited,
    /// The request's `REQUEST_TIMEOUT_SECONDS` ran out.
    Timeout,
}

impl RequestCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "BAD_REQUEST",
            Self::NotAcceptable => "NOT_ACCEPTABLE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::BatchLimit => "BATCH_LIMIT",
            Self::GraphqlParseFailed => "GRAPHQL_PARSE_FAILED",
            Self::GraphqlValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            Self::OperationNotSupported => "OPERATION_NOT_SUPPORTED",
            Self::QueryTooDeep => "QUERY_TOO_DEEP",
            Self::QueryTooLong => "QUERY_TOO_LONG",
            Self::QueryTooLarge => "QUERY_TOO_LARGE",
            Self::QueryTooComplex => "QUERY_TOO_COMPLEX",
            Self::TooManyAliases => "TOO_MANY_ALIASES",
            Self::TooManyRootFields => "TOO_MANY_ROOT_FIELDS",
            Self::RateLimited => "RATE_LIMITED",
            Self::Timeout => "TIMEOUT",
        }
    }
}

impl From<RequestCode> for &'static str {
    fn from(code: RequestCode) -> Self {
        code.as_str()
    }
}

#[derive(Debug)]
pub struct Error {
    pub code: ErrorCode,
    /// Safe to show to the client.
    pub message: String,
    /// For the logs only.
    pub cause: Option<anyhow::Error>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), cause: None }
    }

    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadUserInput, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, message)
    }

    /// The database could not be reached or went away: the caller may try again.
    pub fn database_unavailable(cause: impl Into<anyhow::Error>) -> Self {
        Self { code: ErrorCode::Unavailable, message: "database unavailable".into(), cause: Some(cause.into()) }
    }

    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self { code: ErrorCode::Internal, message: "internal error".into(), cause: Some(cause.into()) }
    }
}

/// Only the code and the client-safe message: an error formatted by accident (juniper turns any
/// `Display` into a client message) must not carry SQL or internals.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl Error {
    /// The cause chain, for logs only.
    pub fn detail(&self) -> String {
        match &self.cause {
            Some(cause) => format!("{cause:#}"),
            None => String::new(),
        }
    }
}

/// The cause is the source, so `anyhow`'s `{:#}` and a failing `main` print the whole chain
/// for operators while `Display` stays safe for clients.
impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause.as_ref().map(|c| c.as_ref() as &(dyn std::error::Error + 'static))
    }
}

/// Constraint names of the schema, translated into messages a user can act on.
const CONSTRAINTS: &[(&str, ErrorCode, &str)] = &[
    ("organisations_medical_institution_code_key", ErrorCode::Conflict, "medicalInstitutionCode: already registered"),
    ("organisations_gmis_id_key", ErrorCode::Conflict, "gmisId: already registered in this prefecture"),
    (
        "organisations_medical_institution_code_check",
        ErrorCode::BadUserInput,
        "medicalInstitutionCode: must be 10 digits",
    ),
    ("organisations_gmis_id_check", ErrorCode::BadUserInput, "gmisId: 1 to 32 letters, digits or hyphens"),
    ("organisations_prefecture_code_fkey", ErrorCode::BadUserInput, "prefecture: unknown prefecture code"),
    ("organisations_jurisdiction_id_fkey", ErrorCode::BadUserInput, "healthCentreId: no such health centre"),
    ("jurisdiction_is_health_centre", ErrorCode::BadUserInput, "healthCentreId: not a health centre"),
    (
        "jurisdiction_same_prefecture",
        ErrorCode::BadUserInput,
        "healthCentreId: the health centre is in another prefecture",
    ),
    (
        "hospital_beds",
        ErrorCode::BadUserInput,
        "licensedBeds: a hospital has 20 beds or more (fewer makes it a clinic)",
    ),
    ("clinic_beds", ErrorCode::BadUserInput, "licensedBeds: a clinic has 0 to 19 beds"),
    (
        "care_fields_only_for_care",
        ErrorCode::BadUserInput,
        "beds, functions, health centre and medical identifiers apply only to hospitals and clinics",
    ),
    ("users_email", ErrorCode::Conflict, "email: this organisation already has a member with this e-mail address"),
    ("users_subject_key", ErrorCode::Conflict, "subject: this organisation already has a member with this subject"),
    (
        "organisations_code_prefecture",
        ErrorCode::BadUserInput,
        "medicalInstitutionCode: must start with the prefecture's two-digit code",
    ),
    (
        "users_role_matches_organisation",
        ErrorCode::BadUserInput,
        "role: this role does not belong to that kind of organisation",
    ),
    ("users_organisation_visible", ErrorCode::NotFound, "organisation not found"),
    ("critical_designations_open", ErrorCode::Conflict, "hospital is already designated"),
    ("revoked_after_designated", ErrorCode::BadUserInput, "revokedOn: must not be before the designation date"),
    ("designation_is_hospital", ErrorCode::BadUserInput, "hospitalId: only hospitals can be designated"),
    ("vendor_links_pkey", ErrorCode::Conflict, "vendor is already linked to this hospital"),
    ("vendor_link_hospital", ErrorCode::BadUserInput, "hospitalId: not a hospital or clinic"),
    ("vendor_link_vendor", ErrorCode::BadUserInput, "vendorId: not a vendor"),
];

/// What PostgreSQL says when it ends a session it is serving (SQLSTATE 57P01–57P03), and what
/// the client library says when the socket closes under it.
const LOST_SERVER: &[&str] = &[
    "terminating connection due to administrator command",
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
    "server closed the connection unexpectedly",
    "connection closed",
];

impl From<diesel::result::Error> for Error {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error as D};
        match &e {
            D::NotFound => Error::not_found("object"),
            D::DatabaseError(kind, info) => {
                if let Some(&(_, code, message)) =
                    info.constraint_name().and_then(|name| CONSTRAINTS.iter().find(|(c, _, _)| *c == name))
                {
                    return Self { code, message: message.into(), cause: Some(e.into()) };
                }
                let text = info.message();
                // PostgreSQL text cannot hold NUL; whatever let one through, the caller gets a
                // clear refusal rather than an internal error.
                if text.contains("invalid byte sequence") || text.contains("null character not permitted") {
                    return Self {
                        code: ErrorCode::BadUserInput,
                        message: "text must not contain NUL characters".into(),
                        cause: Some(e.into()),
                    };
                }
                // The server going away under a running statement (a restart, a failover): the
                // caller may simply try again, as when no connection could be had at all.
                if LOST_SERVER.iter().any(|m| text.contains(m)) {
                    return Self::database_unavailable(e);
                }
                // A statement that ran out of `statement_timeout` (a lock held by a migration, a
                // database under load): nothing of ours failed, and a retry later may pass.
                if text.contains("canceling statement due to statement timeout") {
                    return Self::database_unavailable(e);
                }
                // The second line of tenant isolation speaking: a write outside the caller's
                // rights that the resolver's own checks did not already refuse.
                if text.contains("row-level security") || text.contains("may change only") {
                    return Self { code: ErrorCode::Forbidden, message: "not allowed".into(), cause: Some(e.into()) };
                }
                match kind {
                    DatabaseErrorKind::UniqueViolation => {
                        Self { code: ErrorCode::Conflict, message: "already exists".into(), cause: Some(e.into()) }
                    }
                    DatabaseErrorKind::CheckViolation | DatabaseErrorKind::NotNullViolation => {
                        Self { code: ErrorCode::BadUserInput, message: "invalid value".into(), cause: Some(e.into()) }
                    }
                    DatabaseErrorKind::ForeignKeyViolation => Self {
                        code: ErrorCode::BadUserInput,
                        message: "refers to an unknown object".into(),
                        cause: Some(e.into()),
                    },
                    DatabaseErrorKind::ClosedConnection => Self::database_unavailable(e),
                    _ => Error::internal(e),
                }
            }
            _ => Error::internal(e),
        }
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for Error {
    fn from(e: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        Self::database_unavailable(e)
    }
}

#[cfg(test)]
mod tests {
    use diesel::result::{DatabaseErrorKind, Error as D};

    use super::*;

    fn database_error(message: &str) -> Error {
        Error::from(D::DatabaseError(DatabaseErrorKind::Unknown, Box::new(message.to_owned())))
    }

    #[test]
    fn a_restarting_server_is_unavailable_not_internal() {
        for message in ["terminating connection due to administrator command", "the database system is shutting down"] {
            assert_eq!(database_error(message).code, ErrorCode::Unavailable, "{message}");
        }
        assert_eq!(database_error("division by zero").code, ErrorCode::Internal);
    }
}
