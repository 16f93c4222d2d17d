//! The identity provider says who is asking; Renkei's registry says what they may do. Tokens
//! whose claims disagree with the registry are refused, unregistered subjects are refused, a
//! person acts for each of their organisations in turn, invitations bind by verified e-mail, and
//! no tenant can squat, lock out or detect another tenant's people.

use std::time::Duration;

use renkei_core::auth::{Audience, Claims};
use renkei_core::{Principal, Role};
use renkei_tests::{TestApp, minter};
use serde_json::json;
use uuid::Uuid;

const VIEWER: &str = "{ viewer { role organisation { id } prefecture { code } memberships { organisationId role } } }";

fn subject_claims(subject: &str) -> Claims {
    minter().subject_claims(subject, Duration::from_secs(600))
}

fn sign(claims: &Claims) -> String {
    minter().sign(claims).expect("sign")
}

async fn viewer(app: &TestApp, token: &str) -> renkei_tests::Reply {
    app.gql_with_token(Some(token), VIEWER, json!({})).await
}

async fn viewer_acting_for(app: &TestApp, token: &str, organisation: Uuid) -> renkei_tests::Reply {
    let req = actix_web::test::TestRequest::post()
        .uri("/graphql")
        .insert_header(("content-type", "application/json"))
        .insert_header(("authorization", format!("Bearer {token}")))
        .insert_header(("renkei-organisation", organisation.to_string()))
        .set_payload(json!({ "query": VIEWER }).to_string());
    app.send(req).await
}

/// Refused with 401 UNAUTHENTICATED, no data, and a message that contains `says`.
fn assert_refused(reply: &renkei_tests::Reply, says: &str) {
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(reply.code(), Some("UNAUTHENTICATED"), "{}", reply.body);
    assert!(reply.body.get("data").is_none(), "{}", reply.body);
    let message = reply.body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains(says), "expected {says:?} in {message:?}");
}

#[tokio::test]
async fn the_registry_decides_role_organisation_and_prefecture() {
    let app = TestApp::new().await;
    let fx = &app.fx;
    // A token that names only its subject gets the registry's role, organisation and prefecture.
    let reply = viewer(&app, &sign(&subject_claims("東京-official"))).await;
    let v = &reply.ok()["viewer"];
    assert_eq!(v["role"], "PREFECTURE");
    assert_eq!(v["organisation"]["id"], fx.tokyo.office.to_string());
    assert_eq!(v["prefecture"]["code"], 13);
    // Claims that agree with the registry are accepted.
    let agreeing = app.token(&fx.prefecture(&fx.tokyo));
    assert_eq!(viewer(&app, &agreeing).await.ok()["viewer"]["role"], "PREFECTURE");
}

#[tokio::test]
async fn claims_that_disagree_with_the_registry_are_refused() {
    let app = TestApp::new().await;
    let fx = &app.fx;
    // A registered Tokyo hospital admin's subject with `org` set to an Osaka hospital.
    let mut c = minter().claims(&fx.hospital_admin(&fx.tokyo), Duration::from_secs(600));
    c.org = Some(fx.osaka.hospital);
    assert_refused(&viewer(&app, &sign(&c)).await, "does not act for the organisation");
    // The same through the header.
    let own = sign(&subject_claims("東京-hospital-admin"));
    assert_refused(&viewer_acting_for(&app, &own, fx.osaka.hospital).await, "does not act for the organisation");
    // A hospital_staff subject claiming the national role.
    let mut c = minter().claims(&fx.hospital_staff(&fx.tokyo), Duration::from_secs(600));
    c.role = Some("national".into());
    assert_refused(&viewer(&app, &sign(&c)).await, "token claim role (national) disagrees with the registry");
    // A Tokyo official's subject claiming Osaka.
    let mut c = minter().claims(&fx.prefecture(&fx.tokyo), Duration::from_secs(600));
    c.pref = Some(27);
    assert_refused(&viewer(&app, &sign(&c)).await, "token claim pref (27) disagrees with the registry (13)");
    // An organisation of the wrong kind for the role, and one that does not exist.
    let mut c = minter().claims(&fx.hospital_admin(&fx.tokyo), Duration::from_secs(600));
    c.org = Some(fx.tokyo.office);
    assert_refused(&viewer(&app, &sign(&c)).await, "does not act for the organisation");
    c.org = Some(Uuid::new_v4());
    assert_refused(&viewer(&app, &sign(&c)).await, "does not act for the organisation");
    // The header and the claim naming two organisations.
    let mut c = subject_claims("東京-hospital-admin");
    c.org = Some(fx.tokyo.hospital);
    assert_refused(&viewer_acting_for(&app, &sign(&c), fx.tokyo.office).await, "name different organisations");
}

#[tokio::test]
async fn unregistered_subjects_are_refused_everywhere() {
    let app = TestApp::new().await;
    let stranger = Principal::new("nobody".into(), Role::National, Some(app.fx.ministry), None).expect("p");
    let token = app.token(&stranger);
    assert_refused(&viewer(&app, &token).await, "not registered in Renkei");
    let reply = app.gql_with_token(Some(&token), "mutation { designateCriticalInfrastructure(hospitalId: \"00000000-0000-0000-0000-000000000000\", designatedOn: \"2026-04-01\") { id } }", json!({})).await;
    assert_refused(&reply, "not registered in Renkei");
    let file = app
        .send(
            actix_web::test::TestRequest::get()
                .uri("/exports/checklists/2024.csv")
                .insert_header(("authorization", format!("Bearer {token}"))),
        )
        .await;
    assert_eq!(file.status, 401, "the file routes ask the registry too: {}", file.body);
}

const INVITE: &str = "mutation($org: ID!, $email: String!, $subject: String) {
  inviteUser(input: { organisationId: $org, email: $email, displayName: \"招待\", role: HOSPITAL_STAFF, subject: $subject }) {
    id invitationPending
  }
}";

#[tokio::test]
async fn an_invitation_binds_at_the_first_sign_in_with_that_verified_address() {
    let app = TestApp::new().await;
    let fx = &app.fx;
    let email = "nurse.sato@example.jp";
    let tokyo =
        app.gql(&fx.hospital_admin(&fx.tokyo), INVITE, json!({ "org": fx.tokyo.hospital, "email": email })).await;
    assert_eq!(tokyo.ok()["inviteUser"]["invitationPending"], true);
    let osaka =
        app.gql(&fx.hospital_admin(&fx.osaka), INVITE, json!({ "org": fx.osaka.hospital, "email": email })).await;
    assert_eq!(osaka.ok()["inviteUser"]["invitationPending"], true);

    // An unverified address binds nothing.
    let mut c = subject_claims("idp|sato");
    c.email = Some(email.into());
    c.email_verified = Some(false);
    assert_refused(&viewer(&app, &sign(&c)).await, "not registered in Renkei");

    // Verified: both invitations are bound to this subject; the first invited is the default.
    c.email = Some("Nurse.Sato@example.jp".into());
    c.email_verified = Some(true);
    let reply = viewer(&app, &sign(&c)).await;
    let v = &reply.ok()["viewer"];
    assert_eq!(v["role"], "HOSPITAL_STAFF");
    assert_eq!(v["organisation"]["id"], fx.tokyo.hospital.to_string());
    let orgs: Vec<&str> =
        v["memberships"].as_array().expect("list").iter().filter_map(|m| m["organisationId"].as_str()).collect();
    assert_eq!(orgs, [fx.tokyo.hospital.to_string(), fx.osaka.hospital.to_string()]);

    // From now on the subject alone signs in, and the header chooses the organisation.
    let plain = sign(&subject_claims("idp|sato"));
    assert_eq!(viewer(&app, &plain).await.ok()["viewer"]["organisation"]["id"], fx.tokyo.hospital.to_string());
    let as_osaka = viewer_acting_for(&app, &plain, fx.osaka.hospital).await;
    assert_eq!(as_osaka.ok()["viewer"]["organisation"]["id"], fx.osaka.hospital.to_string());

    // Bound once: another subject with the same verified address gets nothing.
    let mut other = subject_claims("idp|impostor");
    other.email = Some(email.into());
    other.email_verified = Some(true);
    assert_refused(&viewer(&app, &sign(&other)).await, "not registered in Renkei");
}

#[tokio::test]
async fn no_tenant_can_squat_lock_out_or_detect_another_tenants_person() {
    let app = TestApp::new().await;
    let fx = &app.fx;
    let osaka_admin = sign(&subject_claims("大阪-hospital-admin"));
    assert_eq!(viewer(&app, &osaka_admin).await.ok()["viewer"]["organisation"]["id"], fx.osaka.hospital.to_string());

    // Naming a subject is the ministry's alone.
    let squat = app
        .gql(
            &fx.hospital_admin(&fx.tokyo),
            INVITE,
            json!({ "org": fx.tokyo.hospital, "email": "squat@example.jp", "subject": "大阪-hospital-admin" }),
        )
        .await;
    assert_eq!(squat.code(), Some("FORBIDDEN"), "{}", squat.body);

    // Inviting the Osaka admin's address answers exactly as for an unknown address.
    let known = app
        .gql(
            &fx.hospital_admin(&fx.tokyo),
            INVITE,
            json!({ "org": fx.tokyo.hospital, "email": "大阪-hospital-admin@test.renkei.example" }),
        )
        .await;
    let unknown = app
        .gql(&fx.hospital_admin(&fx.tokyo), INVITE, json!({ "org": fx.tokyo.hospital, "email": "nobody@example.jp" }))
        .await;
    assert_eq!(known.ok()["inviteUser"]["invitationPending"], unknown.ok()["inviteUser"]["invitationPending"]);
    // A second invitation of the same address to the same hospital is the caller's own business.
    let again = app
        .gql(&fx.hospital_admin(&fx.tokyo), INVITE, json!({ "org": fx.tokyo.hospital, "email": "nobody@example.jp" }))
        .await;
    assert_eq!(again.code(), Some("CONFLICT"), "{}", again.body);

    // The Osaka admin signs in with that verified address: the Tokyo invitation binds, but the
    // default stays the Osaka hospital.
    let mut c = subject_claims("大阪-hospital-admin");
    c.email = Some("大阪-hospital-admin@test.renkei.example".into());
    c.email_verified = Some(true);
    assert_eq!(viewer(&app, &sign(&c)).await.ok()["viewer"]["organisation"]["id"], fx.osaka.hospital.to_string());

    // Tokyo deactivates its membership: the person still works for Osaka.
    let id = known.ok()["inviteUser"]["id"].as_str().expect("id").to_owned();
    let off = app
        .gql(
            &fx.hospital_admin(&fx.tokyo),
            "mutation($id: ID!) { deactivateUser(id: $id) { active } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(off.ok()["deactivateUser"]["active"], false);
    assert_eq!(viewer(&app, &osaka_admin).await.ok()["viewer"]["organisation"]["id"], fx.osaka.hospital.to_string());
    assert_refused(&viewer_acting_for(&app, &osaka_admin, fx.tokyo.hospital).await, "account deactivated");
}

#[tokio::test]
async fn a_medical_institution_code_of_another_prefecture_reveals_nothing() {
    let app = TestApp::new().await;
    let fx = &app.fx;
    let create = "mutation($code: String!, $centre: ID!) {
      createOrganisation(input: { kind: HOSPITAL, name: \"新病院\", prefecture: 13, licensedBeds: 50,
                                  healthCentreId: $centre, medicalInstitutionCode: $code }) { id }
    }";
    let official = fx.prefecture(&fx.tokyo);
    // 2710000001 is the Osaka fixture hospital's code; 2719999999 is nobody's.
    let taken = app.gql(&official, create, json!({ "code": "2710000001", "centre": fx.tokyo.centre })).await;
    let free = app.gql(&official, create, json!({ "code": "2719999999", "centre": fx.tokyo.centre })).await;
    assert_eq!(taken.code(), Some("BAD_USER_INPUT"), "{}", taken.body);
    assert_eq!(taken.body["errors"][0]["message"], free.body["errors"][0]["message"]);
    // Within its own prefecture a taken code is a conflict the official could see anyway.
    let own = app.gql(&official, create, json!({ "code": "1310000001", "centre": fx.tokyo.centre })).await;
    assert_eq!(own.code(), Some("CONFLICT"), "{}", own.body);
}

#[tokio::test]
async fn token_lifetime_is_bounded_and_an_audience_array_is_accepted() {
    let app = TestApp::new().await;
    let mut c = subject_claims("mhlw");
    c.aud = Audience::Many(vec!["someone-else".into(), renkei_tests::AUDIENCE.into()]);
    assert_eq!(viewer(&app, &sign(&c)).await.ok()["viewer"]["role"], "NATIONAL");
    c.aud = Audience::Many(vec!["someone-else".into()]);
    assert_refused(&viewer(&app, &sign(&c)).await, "audience");
    let mut c = subject_claims("mhlw");
    c.exp = 1 << 62;
    assert_refused(&viewer(&app, &sign(&c)).await, "lifetime longer than the 86400 s allowed");
    let mut c = subject_claims("mhlw");
    c.iat -= 3600;
    c.nbf -= 3600;
    c.exp = c.iat + 86_400 + 1;
    assert_refused(&viewer(&app, &sign(&c)).await, "lifetime longer");
}
