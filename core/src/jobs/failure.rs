//! Why a job failed: a code and a sentence for the people who look at dead jobs, the cause for the
//! worker's log. `last_error` is read by prefecture officials (`deadJobs`), and an error chain
//! carries recipients' addresses and database causes, so only the first two are stored.

/// Why a job failed, as stored in `last_error` and shown: a stable code and a fixed sentence that
/// names nothing (no address, subject, body or database detail).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// No job type of this version has the row's `kind`.
    UnknownKind,
    /// The payload does not read as the kind's type.
    BadPayload,
    /// The mail relay could not be reached, or it refused the message.
    SmtpRefused,
    /// The recipient is not an e-mail address.
    BadAddress,
    /// PostgreSQL could not be reached or went away.
    DatabaseUnavailable,
    /// What the job is about no longer exists.
    NotFound,
    /// Anything else: a fault of ours.
    Internal,
}

impl Failure {
    const ALL: [Self; 7] = [
        Self::UnknownKind,
        Self::BadPayload,
        Self::SmtpRefused,
        Self::BadAddress,
        Self::DatabaseUnavailable,
        Self::NotFound,
        Self::Internal,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::UnknownKind => "UNKNOWN_KIND",
            Self::BadPayload => "BAD_PAYLOAD",
            Self::SmtpRefused => "SMTP_REFUSED",
            Self::BadAddress => "BAD_ADDRESS",
            Self::DatabaseUnavailable => "DATABASE_UNAVAILABLE",
            Self::NotFound => "NOT_FOUND",
            Self::Internal => "INTERNAL",
        }
    }

    /// Safe to show to anyone who may see the job.
    pub fn sentence(self) -> &'static str {
        match self {
            Self::UnknownKind => "unknown job kind: no worker of this version runs it",
            Self::BadPayload => "the job's payload does not read as its kind",
            Self::SmtpRefused => "the mail relay could not be reached or refused the message",
            Self::BadAddress => "the recipient is not an e-mail address",
            Self::DatabaseUnavailable => "the database was unavailable",
            Self::NotFound => "what the job is about no longer exists",
            Self::Internal => "the job failed; the cause is in the worker's log under the job's id",
        }
    }

    /// As kept in `last_error`: `CODE: sentence`.
    pub(super) fn stored(self) -> String {
        format!("{}: {}", self.code(), self.sentence())
    }

    /// Read back from `last_error`. Text that does not start with one of our codes was written
    /// before codes existed, or by an older replica during a rollout, and may hold anything: it
    /// reads as [`Failure::Internal`] and is never shown.
    pub(super) fn of_stored(stored: &str) -> Self {
        let code = stored.split_once(':').map_or(stored, |(code, _)| code);
        Self::ALL.into_iter().find(|f| f.code() == code).unwrap_or(Self::Internal)
    }
}

/// A job's failure and its cause; the worker stores the first and logs the second.
#[derive(Debug)]
pub struct JobError {
    pub failure: Failure,
    cause: anyhow::Error,
}

impl JobError {
    pub fn new(failure: Failure, cause: impl Into<anyhow::Error>) -> Self {
        Self { failure, cause: cause.into() }
    }

    /// The cause chain for the log, with e-mail addresses masked.
    pub fn detail(&self) -> String {
        redact(&format!("{:#}", self.cause))
    }
}

/// Database work inside a job fails as the database's error says.
impl From<crate::Error> for JobError {
    fn from(e: crate::Error) -> Self {
        use crate::error::ErrorCode;
        let failure = match e.code {
            ErrorCode::Unavailable => Failure::DatabaseUnavailable,
            ErrorCode::NotFound => Failure::NotFound,
            _ => Failure::Internal,
        };
        Self::new(failure, e)
    }
}

/// `text` with every e-mail address replaced by `<address>`: error chains (an SMTP refusal, a
/// payload that does not parse) quote recipients, and logs must not hold them. A token is an
/// address when it has text on both sides of an `@`; the local part may be Japanese.
pub fn redact(text: &str) -> String {
    let breaks = |c: char| c.is_whitespace() || "<>()[]{}\"'`,;".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        let start = rest[..at].rfind(breaks).map_or(0, |i| i + rest[i..].chars().next().map_or(1, char::len_utf8));
        let end = rest[at + 1..].find(breaks).map_or(rest.len(), |i| at + 1 + i);
        if start < at && at + 1 < end {
            out.push_str(&rest[..start]);
            out.push_str("<address>");
        } else {
            out.push_str(&rest[..end]);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_masked_and_nothing_else() {
        assert_eq!(
            redact("recipient \"東京-official@test.renkei.example\" refused: 550 <a.b+c@x.jp>; see @mention a@"),
            "recipient \"<address>\" refused: 550 <<address>>; see @mention a@"
        );
        assert_eq!(redact("no address here"), "no address here");
    }

    #[test]
    fn a_stored_failure_reads_back_and_anything_else_is_internal() {
        for f in Failure::ALL {
            assert_eq!(Failure::of_stored(&f.stored()), f);
        }
        assert_eq!(Failure::of_stored("SMTP refused the message: a@b.jp"), Failure::Internal);
        assert_eq!(Failure::of_stored("unknown job kind \"x\""), Failure::Internal);
    }
}
