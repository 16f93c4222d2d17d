//! Who may ask: rate limits by client IP, the bearer token (who is asking, and which
//! organisation they act for), then the registry (what they may do), whose answer opens the
//! transaction the request works in. Every route admits its callers here.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use renkei_core::db::{Purpose, Session};
use renkei_core::{Error as DomainError, ErrorCode, Identity, Principal, RequestCode};
use serde_json::json;

use super::{Answer, Forced, Refusal, error};
use crate::AppState;
use crate::rate_limit::Limited;

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
pub(crate) fn record_principal(span: &tracing::Span, principal: &Principal) {
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
        Err(e) => Err(auth_refused(rid, &e).response(answer, rid)),
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
        return Err(limited.refusal(rid).response(answer, rid));
    }
    match authenticate(req, state).await {
        Ok(identity) => Ok(identity),
        Err(e) => {
            // Failures alone are counted and refused: a verified token always gets through.
            if e.code == ErrorCode::Unauthenticated
                && let Err(limited) = state.limiter.note_auth_failure(&ip).await
            {
                return Err(limited.refusal(rid).response(answer, rid));
            }
            Err(auth_refused(rid, &e).response(answer, rid))
        }
    }
}

/// A refused token or deactivated account (401), or the database failing to say (503).
pub(crate) fn auth_refused(rid: &str, e: &DomainError) -> Refusal {
    let error = error(e.code, &e.message, rid);
    if e.code == ErrorCode::Unauthenticated {
        let forced = Forced { status: StatusCode::UNAUTHORIZED, header: "www-authenticate", value: "Bearer".into() };
        return Refusal { forced, error };
    }
    tracing::error!(request_id = %rid, code = %e.code, detail = %e.detail(), "auth.lookup_failed");
    Refusal {
        forced: Forced { status: StatusCode::SERVICE_UNAVAILABLE, header: "retry-after", value: "1".into() },
        error,
    }
}

impl Limited {
    /// 429 with `Retry-After`, and the same in `extensions.retryAfter`.
    pub(crate) fn refusal(&self, rid: &str) -> Refusal {
        let message = format!(
            "rate limit of {} per minute ({}) reached; retry in {} s",
            self.limit, self.scope, self.retry_after
        );
        let mut error = error(RequestCode::RateLimited, &message, rid);
        error["extensions"]["retryAfter"] = json!(self.retry_after);
        let value = self.retry_after.to_string();
        Refusal { forced: Forced { status: StatusCode::TOO_MANY_REQUESTS, header: "retry-after", value }, error }
    }
}
