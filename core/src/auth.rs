//! Token verification (and, for development, minting). Tokens are JWTs signed with an asymmetric
//! key whose public half comes from a PEM file or an identity provider's JWKS URL; the algorithm
//! is pinned by configuration, never taken from the token.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::{parse_or, var_opt, var_or};
use crate::identity::Identity;
use crate::{Error, Principal, Result, Role};

/// The claims Renkei reads. `sub` and `iss` say who is asking; what they may do comes from the
/// registry (`identity`). `role`, `org` and `pref` are optional: a token that carries them must
/// agree with the registry, and `org` (like the `Renkei-Organisation` header) chooses among a
/// person's memberships. `email` binds a pending invitation when `email_verified` is true.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub aud: Audience,
    pub exp: u64,
    pub nbf: u64,
    pub iat: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pref: Option<i16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}

/// `aud` is a string or an array of strings (RFC 7519 §4.1.3); the verifier has already checked
/// that ours is among them.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Clone, Debug)]
pub enum KeySource {
    /// `JWT_PUBLIC_KEY_FILE`: one PEM public key, known by `kid`.
    Pem { pem: Vec<u8>, kid: String },
    /// `JWT_JWKS_URL`: the provider's key set, fetched at start and again when an unknown `kid`
    /// appears (at most every `JWKS_MIN_REFRESH`).
    Jwks { url: String },
}

#[derive(Clone, Debug)]
pub struct AuthConfig {
    pub issuer: String,
    pub audience: String,
    pub algorithm: Algorithm,
    pub leeway_seconds: u64,
    /// The longest a token may be valid (`exp` − `iat`, and `exp` − now): a leaked token with
    /// an `exp` in the year 2^62 would otherwise never stop working.
    pub max_lifetime_seconds: u64,
    pub keys: KeySource,
}

/// Only asymmetric algorithms: a shared secret would let every verifier mint tokens.
fn parse_algorithm(name: &str) -> anyhow::Result<Algorithm> {
    match name {
        "EdDSA" => Ok(Algorithm::EdDSA),
        "RS256" => Ok(Algorithm::RS256),
        "ES256" => Ok(Algorithm::ES256),
        other => bail!("JWT_ALGORITHM={other:?} is not supported (EdDSA, RS256 or ES256)"),
    }
}

impl AuthConfig {
    pub fn from_env() -> anyhow::Result<Self> {
        let algorithm = parse_algorithm(&var_or("JWT_ALGORITHM", "EdDSA"))?;
        let keys = match (var_opt("JWT_PUBLIC_KEY_FILE"), var_opt("JWT_JWKS_URL")) {
            (Some(path), None) => KeySource::Pem {
                pem: std::fs::read(&path).with_context(|| format!("JWT_PUBLIC_KEY_FILE: cannot read {path}"))?,
                kid: var_or("JWT_KEY_ID", "renkei-dev"),
            },
            (None, Some(url)) => {
                if !url.starts_with("https://") && !url.starts_with("http://") {
                    bail!("JWT_JWKS_URL must be an http(s) URL");
                }
                KeySource::Jwks { url }
            }
            (Some(_), Some(_)) => bail!("set only one of JWT_PUBLIC_KEY_FILE and JWT_JWKS_URL"),
            (None, None) => bail!("JWT_PUBLIC_KEY_FILE or JWT_JWKS_URL must be set"),
        };
        let leeway_seconds = parse_or("JWT_LEEWAY_SECONDS", 30u64)?;
        if leeway_seconds > 300 {
            bail!("JWT_LEEWAY_SECONDS must be at most 300");
        }
        let max_lifetime_seconds = parse_or("JWT_MAX_LIFETIME_SECONDS", 86_400u64)?;
        if !(60..=2_592_000).contains(&max_lifetime_seconds) {
            bail!("JWT_MAX_LIFETIME_SECONDS must be between 60 and 2592000 (30 days)");
        }
        Ok(Self {
            issuer: var_or("JWT_ISSUER", "renkei-dev"),
            audience: var_or("JWT_AUDIENCE", "renkei"),
            algorithm,
            leeway_seconds,
            max_lifetime_seconds,
            keys,
        })
    }
}

const JWKS_MIN_REFRESH: Duration = Duration::from_secs(30);

/// Verifies bearer tokens and turns them into principals.
pub struct Verifier {
    config: AuthConfig,
    validation: Validation,
    keys: RwLock<Arc<HashMap<String, DecodingKey>>>,
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
    http: reqwest::Client,
}

impl Verifier {
    pub async fn new(config: AuthConfig) -> anyhow::Result<Self> {
        let mut validation = Validation::new(config.algorithm);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = config.leeway_seconds;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
        let verifier = Self {
            validation,
            keys: RwLock::new(Arc::new(HashMap::new())),
            last_fetch: tokio::sync::Mutex::new(None),
            http,
            config,
        };
        match &verifier.config.keys {
            KeySource::Pem { pem, kid } => {
                let key = decoding_key_from_pem(verifier.config.algorithm, pem)?;
                verifier.replace_keys(HashMap::from([(kid.clone(), key)]));
            }
            KeySource::Jwks { url } => {
                let keys = verifier.fetch_jwks(url).await?;
                verifier.replace_keys(keys);
                *verifier.last_fetch.lock().await = Some(Instant::now());
            }
        }
        Ok(verifier)
    }

    fn replace_keys(&self, keys: HashMap<String, DecodingKey>) {
        let mut guard = self.keys.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        *guard = Arc::new(keys);
    }

    fn current_keys(&self) -> Arc<HashMap<String, DecodingKey>> {
        self.keys.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    async fn fetch_jwks(&self, url: &str) -> anyhow::Result<HashMap<String, DecodingKey>> {
        let set: JwkSet = self
            .http
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .with_context(|| format!("fetching JWKS from {url}"))?
            .json()
            .await
            .with_context(|| format!("parsing JWKS from {url}"))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            // Keys without a kid cannot be chosen safely; keys of another family are not ours.
            let Some(kid) = jwk.common.key_id.clone() else { continue };
            if let Ok(key) = DecodingKey::from_jwk(jwk)
                && key.family() == self.config.algorithm.family()
            {
                keys.insert(kid, key);
            }
        }
        if keys.is_empty() {
            bail!("JWKS at {url} has no {:?} key with a kid", self.config.algorithm);
        }
        Ok(keys)
    }

    /// Looks up the key for `kid`, refreshing the JWKS once if it is unknown (providers rotate
    /// keys), but never more often than every `JWKS_MIN_REFRESH`.
    async fn key_for(&self, kid: Option<&str>) -> Result<DecodingKey> {
        let keys = self.current_keys();
        let found = match kid {
            Some(kid) => keys.get(kid).cloned(),
            // A token without kid is accepted only when there is exactly one key to try.
            None if keys.len() == 1 => keys.values().next().cloned(),
            None => None,
        };
        if let Some(key) = found {
            return Ok(key);
        }
        let (KeySource::Jwks { url }, Some(kid)) = (&self.config.keys, kid) else {
            return Err(Error::unauthenticated("token signed with an unknown key"));
        };
        let mut last = self.last_fetch.lock().await;
        if last.is_some_and(|t| t.elapsed() < JWKS_MIN_REFRESH) {
            return Err(Error::unauthenticated("token signed with an unknown key"));
        }
        *last = Some(Instant::now());
        match self.fetch_jwks(url).await {
            Ok(fresh) => {
                let key = fresh.get(kid).cloned();
                self.replace_keys(fresh);
                key.ok_or_else(|| Error::unauthenticated("token signed with an unknown key"))
            }
            Err(e) => {
                tracing::warn!(detail = %format!("{e:#}"), "auth.jwks_refresh_failed");
                Err(Error::unauthenticated("token signed with an unknown key"))
            }
        }
    }

    /// Verifies a compact JWT and returns who it says is asking; the registry then says what
    /// they may do (`Db::sign_in`).
    pub async fn verify(&self, token: &str) -> Result<Identity> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| Error::unauthenticated("malformed token"))?;
        if header.alg != self.config.algorithm {
            return Err(Error::unauthenticated("token algorithm not accepted"));
        }
        let key = self.key_for(header.kid.as_deref()).await?;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &self.validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            let why = match e.kind() {
                K::ExpiredSignature => "token expired",
                K::ImmatureSignature => "token not yet valid",
                K::InvalidIssuer => "token issuer not accepted",
                K::InvalidAudience => "token audience not accepted",
                K::InvalidSignature => "token signature invalid",
                K::MissingRequiredClaim(_) => "token lacks a required claim (sub, iss, aud, exp, nbf, iat)",
                _ => "token invalid",
            };
            Error::unauthenticated(why)
        })?;
        let claims = data.claims;
        let max = self.config.max_lifetime_seconds;
        let now = jsonwebtoken::get_current_timestamp();
        if claims.exp.saturating_sub(claims.iat) > max
            || claims.exp.saturating_sub(now) > max + self.config.leeway_seconds
        {
            return Err(Error::unauthenticated(format!("token lifetime longer than the {max} s allowed")));
        }
        let role = match claims.role.as_deref() {
            Some(name) => {
                Some(name.parse::<Role>().map_err(|_| Error::unauthenticated("token claim role: unknown role"))?)
            }
            None => None,
        };
        Identity {
            issuer: claims.iss,
            subject: claims.sub,
            role,
            organisation_id: claims.org,
            prefecture: claims.pref,
            verified_email: claims.email.filter(|_| claims.email_verified == Some(true)),
            acting_for: None,
        }
        .checked()
    }
}

fn decoding_key_from_pem(algorithm: Algorithm, pem: &[u8]) -> anyhow::Result<DecodingKey> {
    let key = match algorithm {
        Algorithm::EdDSA => DecodingKey::from_ed_pem(pem),
        Algorithm::RS256 => DecodingKey::from_rsa_pem(pem),
        Algorithm::ES256 => DecodingKey::from_ec_pem(pem),
        other => return Err(anyhow!("unsupported algorithm {other:?}")),
    };
    key.context("JWT_PUBLIC_KEY_FILE is not a public key for JWT_ALGORITHM")
}

/// Signs development tokens (`renkei-api token`, `make run`, tests). Production tokens come from
/// the identity provider.
pub struct Minter {
    key: EncodingKey,
    header: Header,
    issuer: String,
    audience: String,
}

impl Minter {
    /// `JWT_PRIVATE_KEY_FILE`, with the same algorithm, kid, issuer and audience as verification.
    pub fn from_env() -> anyhow::Result<Self> {
        let config = AuthConfig::from_env()?;
        let path = var_opt("JWT_PRIVATE_KEY_FILE").context("JWT_PRIVATE_KEY_FILE must be set to mint tokens")?;
        let pem = std::fs::read(&path).with_context(|| format!("JWT_PRIVATE_KEY_FILE: cannot read {path}"))?;
        let kid = match &config.keys {
            KeySource::Pem { kid, .. } => kid.clone(),
            KeySource::Jwks { .. } => var_or("JWT_KEY_ID", "renkei-dev"),
        };
        Self::new(config.algorithm, &pem, &kid, &config.issuer, &config.audience)
    }

    pub fn new(
        algorithm: Algorithm,
        private_pem: &[u8],
        kid: &str,
        issuer: &str,
        audience: &str,
    ) -> anyhow::Result<Self> {
        let key = match algorithm {
            Algorithm::EdDSA => EncodingKey::from_ed_pem(private_pem),
            Algorithm::RS256 => EncodingKey::from_rsa_pem(private_pem),
            Algorithm::ES256 => EncodingKey::from_ec_pem(private_pem),
            other => return Err(anyhow!("unsupported algorithm {other:?}")),
        }
        .context("JWT_PRIVATE_KEY_FILE is not a private key for JWT_ALGORITHM")?;
        let mut header = Header::new(algorithm);
        header.kid = Some(kid.to_owned());
        Ok(Self { key, header, issuer: issuer.to_owned(), audience: audience.to_owned() })
    }

    /// Claims for `principal`, valid from now for `ttl`. They carry the principal's role,
    /// organisation and prefecture, which the registry must confirm.
    pub fn claims(&self, principal: &Principal, ttl: Duration) -> Claims {
        let mut claims = self.subject_claims(&principal.subject, ttl);
        claims.role = Some(principal.role.as_str().to_owned());
        claims.org = principal.organisation_id;
        claims.pref = principal.prefecture;
        claims
    }

    /// Claims that say only who is asking, as a real identity provider's token does.
    pub fn subject_claims(&self, subject: &str, ttl: Duration) -> Claims {
        let now = jsonwebtoken::get_current_timestamp();
        Claims {
            sub: subject.to_owned(),
            iss: self.issuer.clone(),
            aud: Audience::One(self.audience.clone()),
            exp: now + ttl.as_secs(),
            nbf: now,
            iat: now,
            role: None,
            org: None,
            pref: None,
            email: None,
            email_verified: None,
        }
    }

    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        jsonwebtoken::encode(&self.header, claims, &self.key).context("signing token")
    }

    pub fn mint(&self, principal: &Principal, ttl: Duration) -> anyhow::Result<String> {
        self.sign(&self.claims(principal, ttl))
    }
}
