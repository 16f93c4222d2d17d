//! JWT verification: every forged, stale or misdirected token is refused with HTTP 401 and a
//! GraphQL-shaped error; a deactivated user's token stops working.

use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use renkei_core::auth::{AuthConfig, Claims, KeySource, Minter, Verifier};
use renkei_core::{ErrorCode, Principal, Role};
use renkei_tests::{AUDIENCE, ISSUER, KID, TestApp, fixture_bytes, minter, test_auth_config};
use serde_json::{Value, json};

const VIEWER: &str = "{ viewer { role } }";

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn claims(app: &TestApp) -> Claims {
    minter().claims(&app.fx.national(), Duration::from_secs(600))
}

fn sign(claims: &Claims) -> String {
    minter().sign(claims).expect("sign")
}

async fn assert_refused(app: &TestApp, token: &str, why: &str) {
    let reply = app.gql_with_token(Some(token), VIEWER, json!({})).await;
    assert_eq!(reply.status, 401, "{why}: {}", reply.body);
    assert_eq!(reply.code(), Some("UNAUTHENTICATED"), "{why}");
    assert!(reply.body.get("data").is_none(), "{why}: no data for a refused token");
}

#[tokio::test]
async fn a_valid_token_is_accepted() {
    let app = TestApp::new().await;
    let reply = app.gql_with_token(Some(&sign(&claims(&app))), VIEWER, json!({})).await;
    assert_eq!(reply.ok()["viewer"]["role"], "NATIONAL");
}

#[tokio::test]
async fn missing_and_malformed_tokens_are_refused() {
    let app = TestApp::new().await;
    let reply = app.gql_with_token(None, VIEWER, json!({})).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.code(), Some("UNAUTHENTICATED"));
    assert_refused(&app, "not-a-jwt", "garbage").await;
    assert_refused(&app, "", "empty").await;
}

#[tokio::test]
async fn stale_or_misdirected_tokens_are_refused() {
    let app = TestApp::new().await;
    let mut c = claims(&app);
    c.exp = now() - 120;
    c.nbf = now() - 600;
    assert_refused(&app, &sign(&c), "expired beyond the leeway").await;

    let mut c = claims(&app);
    c.nbf = now() + 300;
    c.exp = now() + 900;
    assert_refused(&app, &sign(&c), "not yet valid").await;

    let mut c = claims(&app);
    c.iss = "https://evil.example".into();
    assert_refused(&app, &sign(&c), "wrong issuer").await;

    let mut c = claims(&app);
    c.aud = renkei_core::auth::Audience::One("another-service".into());
    assert_refused(&app, &sign(&c), "wrong audience").await;

    let mut c = claims(&app);
    c.role = Some("superuser".into());
    assert_refused(&app, &sign(&c), "unknown role").await;

    // A role claim the registry does not give this subject.
    let mut c = claims(&app);
    c.role = Some("hospital_admin".into());
    c.org = None;
    assert_refused(&app, &sign(&c), "hospital role claimed by the ministry's subject").await;
}

#[tokio::test]
async fn tokens_missing_required_claims_are_refused() {
    let app = TestApp::new().await;
    let key = EncodingKey::from_ed_pem(&fixture_bytes("test-ed25519-private.pem")).expect("key");
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(KID.into());
    let base = serde_json::to_value(claims(&app)).expect("claims");
    for missing in ["sub", "exp", "nbf", "iat", "iss", "aud"] {
        let mut c = base.clone();
        c.as_object_mut().expect("object").remove(missing);
        let token = jsonwebtoken::encode(&header, &c, &key).expect("sign");
        assert_refused(&app, &token, &format!("without {missing}")).await;
    }
}

#[tokio::test]
async fn forged_tokens_are_refused() {
    let app = TestApp::new().await;
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(&app)).expect("json"));

    // alg: none, no signature.
    let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    assert_refused(&app, &format!("{none}.{payload}."), "alg none").await;

    // Key confusion: HS256 with the public key as the shared secret.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(KID.into());
    let hs = jsonwebtoken::encode(
        &header,
        &claims(&app),
        &EncodingKey::from_secret(&fixture_bytes("test-ed25519-public.pem")),
    )
    .expect("hs256");
    assert_refused(&app, &hs, "HS256 signed with the public key").await;

    // Tampered payload: a staff token turned into a national one, signature kept.
    let staff = app.token(&app.fx.hospital_staff(&app.fx.tokyo));
    let parts: Vec<&str> = staff.split('.').collect();
    let mut body: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
    body["role"] = json!("national");
    let forged = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(body.to_string()), parts[2]);
    assert_refused(&app, &forged, "tampered payload").await;

    // Signed by a key we do not trust, under our kid and under another kid.
    let attacker = fixture_bytes("attacker-ed25519-private.pem");
    let ours = Minter::new(Algorithm::EdDSA, &attacker, KID, ISSUER, AUDIENCE).expect("minter");
    assert_refused(
        &app,
        &ours.mint(&app.fx.national(), Duration::from_secs(600)).expect("mint"),
        "untrusted key, our kid",
    )
    .await;
    let other = Minter::new(Algorithm::EdDSA, &attacker, "someone-else", ISSUER, AUDIENCE).expect("minter");
    assert_refused(&app, &other.mint(&app.fx.national(), Duration::from_secs(600)).expect("mint"), "unknown kid").await;
}

#[tokio::test]
async fn a_deactivated_users_token_stops_working() {
    let app = TestApp::new().await;
    let fx = &app.fx;
    // The fixture's Tokyo hospital admin user has subject "東京-hospital-admin".
    let admin =
        Principal::new("東京-hospital-admin".into(), Role::HospitalAdmin, Some(fx.tokyo.hospital), None).expect("p");
    let token = app.token(&admin);
    assert_eq!(app.gql_with_token(Some(&token), VIEWER, json!({})).await.ok()["viewer"]["role"], "HOSPITAL_ADMIN");
    let reply = app
        .gql(
            &fx.prefecture(&fx.tokyo),
            "mutation($id: ID!) { deactivateUser(id: $id) { active } }",
            json!({ "id": fx.tokyo.hospital_admin_user }),
        )
        .await;
    assert_eq!(reply.ok()["deactivateUser"]["active"], false);
    assert_refused(&app, &token, "deactivated user").await;
    // Mutations ask on their own (a query asks with its transaction's first round trip).
    let mutation = "mutation { setAlertPreference(alert: \"incident_created\", enabled: false) { alert } }";
    let reply = app.gql_with_token(Some(&token), mutation, json!({})).await;
    assert_eq!((reply.status, reply.code()), (401, Some("UNAUTHENTICATED")), "{}", reply.body);
    let file = app
        .send(
            actix_web::test::TestRequest::get()
                .uri("/forms/2024/hospital.xlsx")
                .insert_header(("authorization", format!("Bearer {token}"))),
        )
        .await;
    assert_eq!(file.status, 401, "the file routes ask too");
}

/// The public key as a JWK (Ed25519: the last 32 bytes of the SubjectPublicKeyInfo).
fn test_jwk(kid: &str) -> Value {
    let pem = String::from_utf8(fixture_bytes("test-ed25519-public.pem")).expect("utf8");
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = STANDARD.decode(b64).expect("der");
    let x = URL_SAFE_NO_PAD.encode(&der[der.len() - 32..]);
    json!({ "kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig" })
}

#[tokio::test]
async fn keys_from_a_jwks_url() {
    let jwks = json!({ "keys": [test_jwk(KID)] });
    let server = HttpServer::new(move || {
        let body = jwks.clone();
        App::new().route(
            "/jwks.json",
            web::get().to(move || {
                let body = body.clone();
                async move { HttpResponse::Ok().json(body) }
            }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .expect("bind");
    let addr = server.addrs()[0];
    let handle = server.run();
    let stop = handle.handle();
    tokio::spawn(handle);

    let config = AuthConfig { keys: KeySource::Jwks { url: format!("http://{addr}/jwks.json") }, ..test_auth_config() };
    let verifier = Verifier::new(config).await.expect("verifier from JWKS");
    let p = Principal::new("mhlw".into(), Role::National, None, None).expect("p");
    let token = minter().mint(&p, Duration::from_secs(60)).expect("mint");
    let identity = verifier.verify(&token).await.expect("accepted");
    assert_eq!((identity.issuer.as_str(), identity.subject.as_str()), (ISSUER, "mhlw"));

    let stranger =
        Minter::new(Algorithm::EdDSA, &fixture_bytes("test-ed25519-private.pem"), "rotated-away", ISSUER, AUDIENCE)
            .expect("minter")
            .mint(&p, Duration::from_secs(60))
            .expect("mint");
    let err = verifier.verify(&stranger).await.expect_err("unknown kid");
    assert_eq!(err.code, ErrorCode::Unauthenticated);
    stop.stop(true).await;
}
