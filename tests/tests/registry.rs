//! Registry mutations: what each role may do, what bad input gets, and that a refused write
//! leaves the data as it was.

use renkei_core::{Principal, Role};
use renkei_tests::TestApp;
use serde_json::{Value, json};

const CREATE: &str = "mutation($input: CreateOrganisationInput!) { createOrganisation(input: $input) { id kind name prefecture { code } healthCentre { id } licensedBeds bedBand functions } }";

fn hospital(prefecture: i32, name: &str) -> Value {
    json!({ "kind": "HOSPITAL", "name": name, "prefecture": prefecture, "licensedBeds": 120 })
}

#[tokio::test]
async fn a_prefecture_registers_a_hospital_in_its_jurisdiction() {
    let app = TestApp::new().await;
    let fx = &app.fx;
    let mut input = hospital(13, "  東京湾岸病院  ");
    input["healthCentreId"] = json!(fx.tokyo.centre);
    input["medicalInstitutionCode"] = json!("1310009999");
    input["functions"] = json!(["DISASTER_BASE", "SECONDARY_EMERGENCY", "DISASTER_BASE"]);
    let reply = app.gql(&fx.prefecture(&fx.tokyo), CREATE, json!({ "input": input })).await;
    let org = &reply.ok()["createOrganisation"];
    assert_eq!(org["name"], "東京湾岸病院", "names are trimmed");
    assert_eq!(org["prefecture"]["code"], 13);
    assert_eq!(org["healthCentre"]["id"], json!(fx.tokyo.centre));
    assert_eq!(org["bedBand"], "BEDS_100_199");
    assert_eq!(org["functions"], json!(["DISASTER_BASE", "SECONDARY_EMERGENCY"]), "duplicates removed");

    // The health centre now sees it; Osaka does not.
    let id = org["id"].clone();
    let q = "query($id: ID!) { organisation(id: $id) { name } }";
    assert_eq!(
        app.gql(&fx.health_centre(&fx.tokyo), q, json!({ "id": id })).await.ok()["organisation"]["name"],
        "東京湾岸病院"
    );
    assert_eq!(app.gql(&fx.prefecture(&fx.osaka), q, json!({ "id": id })).await.ok()["organisation"], Value::Null);
}

#[tokio::test]
async fn bad_input_gets_a_code_and_writes_nothing() {
    let app = TestApp::new().await;
    let fx = &app.fx;
    let official = fx.prefecture(&fx.tokyo);
    let long = "病".repeat(201);
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        ("unknown prefecture", hospital(48, "x"), "BAD_USER_INPUT", "prefecture"),
        ("prefecture zero", hospital(0, "x"), "BAD_USER_INPUT", "prefecture"),
        (
            "negative beds",
            json!({ "kind": "CLINIC", "name": "x", "prefecture": 13, "licensedBeds": -1 }),
            "BAD_USER_INPUT",
            "licensedBeds",
        ),
        (
            "hospital with 5 beds",
            json!({ "kind": "HOSPITAL", "name": "x", "prefecture": 13, "licensedBeds": 5 }),
            "BAD_USER_INPUT",
            "licensedBeds",
        ),
        (
            "hospital without beds",
            json!({ "kind": "HOSPITAL", "name": "x", "prefecture": 13 }),
            "BAD_USER_INPUT",
            "licensedBeds",
        ),
        ("over-long name", hospital(13, &long), "BAD_USER_INPUT", "name"),
        ("empty name", hospital(13, "   "), "BAD_USER_INPUT", "name"),
        ("control characters", hospital(13, "病院\u{0}"), "BAD_USER_INPUT", "name"),
        (
            "malformed health centre id",
            json!({ "kind": "HOSPITAL", "name": "x", "prefecture": 13, "licensedBeds": 50, "healthCentreId": "not-a-uuid" }),
            "BAD_USER_INPUT",
            "healthCentreId",
        ),
        (
            "health centre of Osaka",
            json!({ "kind": "HOSPITAL", "name": "x", "prefecture": 13, "licensedBeds": 50, "healthCentreId": fx.osaka.centre }),
            "BAD_USER_INPUT",
            "healthCentreId",
        ),
        (
            "a hospital as health centre",
            json!({ "kind": "HOSPITAL", "name": "x", "prefecture": 13, "licensedBeds": 50, "healthCentreId": fx.tokyo.hospital }),
            "BAD_USER_INPUT",
            "healthCentreId",
        ),
        (
            "malformed institution code",
            json!({ "kind": "HOSPITAL", "name": "x", "prefecture": 13, "licensedBeds": 50, "medicalInstitutionCode": "13-1" }),
            "BAD_USER_INPUT",
            "medicalInstitutionCode",
        ),
        (
            "duplicate institution code",
            json!({ "kind": "HOSPITAL", "name": "x", "prefecture": 13, "licensedBeds": 50, "medicalInstitutionCode": "1310000001" }),
            "CONFLICT",
            "medicalInstitutionCode",
        ),
        (
            "beds on a vendor",
            json!({ "kind": "VENDOR", "name": "x", "prefecture": 13, "licensedBeds": 50 }),
            "BAD_USER_INPUT",
            "licensedBeds",
        ),
    ];
    let before = app.count_organisations().await;
    for (what, input, code, field) in cases {
        let reply = app.gql(&official, CREATE, json!({ "input": input })).await;
        assert_eq!(reply.code(), Some(code), "{what}: {}", reply.body);
        let message = reply.body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "{what}: the message names {field}: {message}");
        assert!(
            !message.to_lowercase().contains("violates") && !message.contains("SQL"),
            "{what}: no database text: {message}"
        );
    }
    assert_eq!(app.count_organisations().await, before, "nothing was written");

    // Malformed ids anywhere answer BAD_USER_INPUT.
    let reply = app.gql(&official, "{ organisation(id: \"42\") { id } }", json!({})).await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"));
    let reply = app.gql(&official, "{ organisations(first: 5, after: \"!!\") { totalCount } }", json!({})).await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"));
    let reply = app.gql(&official, "{ organisations(first: 101) { totalCount } }", json!({})).await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"));

    // Duplicate e-mail on invitation.
    let invite = "mutation($org: ID!, $email: String!) { inviteUser(input: { organisationId: $org, email: $email, displayName: \"x\", role: HOSPITAL_STAFF }) { id } }";
    let reply = app
        .gql(&official, invite, json!({ "org": fx.tokyo.hospital, "email": "東京-hospital-staff@TEST.renkei.example" }))
        .await;
    assert_eq!(reply.code(), Some("CONFLICT"), "{}", reply.body);
    let reply = app.gql(&official, invite, json!({ "org": fx.tokyo.hospital, "email": "no-at-sign" })).await;
    assert_eq!(reply.code(), Some("BAD_USER_INPUT"));
}

#[tokio::test]
async fn roles_without_the_right_are_forbidden_and_nothing_is_written() {
    let app = TestApp::new().await;
    let fx = &app.fx;
    let t = &fx.tokyo;
    let before = app.count_organisations().await;
    let create = json!({ "input": hospital(13, "無断病院") });
    for who in [fx.hospital_staff(t), fx.hospital_admin(t), fx.health_centre(t), fx.vendor(t), fx.dashboard()] {
        let reply = app.gql(&who, CREATE, create.clone()).await;
        assert_eq!(reply.code(), Some("FORBIDDEN"), "{:?}: {}", who.role, reply.body);
    }
    // A prefecture official may not register outside its prefecture, nor a ministry office.
    let reply = app.gql(&fx.prefecture(t), CREATE, json!({ "input": hospital(27, "越境病院") })).await;
    assert_eq!(reply.code(), Some("FORBIDDEN"));
    let reply = app
        .gql(&fx.prefecture(t), CREATE, json!({ "input": { "kind": "MINISTRY", "name": "偽省", "prefecture": 13 } }))
        .await;
    assert_eq!(reply.code(), Some("FORBIDDEN"));
    assert_eq!(app.count_organisations().await, before);

    let designate =
        "mutation($id: ID!) { designateCriticalInfrastructure(hospitalId: $id, designatedOn: \"2026-04-01\") { id } }";
    for who in [fx.prefecture(t), fx.hospital_admin(t), fx.health_centre(t)] {
        assert_eq!(app.gql(&who, designate, json!({ "id": t.hospital })).await.code(), Some("FORBIDDEN"));
    }
    // A hospital admin may not rename the hospital, nor promote anyone beyond hospital roles.
    let rename =
        "mutation($id: ID!) { updateOrganisation(id: $id, input: { name: \"改名\", licensedBeds: 999 }) { id } }";
    assert_eq!(app.gql(&fx.hospital_admin(t), rename, json!({ "id": t.hospital })).await.code(), Some("FORBIDDEN"));
    let invite = "mutation($org: ID!) { inviteUser(input: { organisationId: $org, email: \"boss@evil.example\", displayName: \"boss\", role: NATIONAL }) { id } }";
    assert_eq!(app.gql(&fx.hospital_admin(t), invite, json!({ "org": t.hospital })).await.code(), Some("FORBIDDEN"));
    // Even the ministry cannot put a national user into a hospital.
    assert_eq!(app.gql(&fx.national(), invite, json!({ "org": t.hospital })).await.code(), Some("BAD_USER_INPUT"));

    let check = "query($id: ID!) { organisation(id: $id) { name licensedBeds designated users(first: 10) { edges { node { email } } } } }";
    let org = app.gql(&fx.national(), check, json!({ "id": t.hospital })).await;
    let org = &org.ok()["organisation"];
    assert_eq!(org["name"], "東京市民病院");
    assert_eq!(org["licensedBeds"], 150);
    assert_eq!(org["designated"], false);
    assert_eq!(org["users"]["edges"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn a_hospital_admin_keeps_its_ehr_details_and_users() {
    let app = TestApp::new().await;
    let fx = &app.fx;
    let admin = fx.hospital_admin(&fx.tokyo);
    let update = "mutation($id: ID!) { updateOrganisation(id: $id, input: { ehrInUse: true, ehrProduct: \"MiraiKarte 5\" }) { ehrInUse ehrProduct } }";
    let reply = app.gql(&admin, update, json!({ "id": fx.tokyo.hospital })).await;
    assert_eq!(reply.ok()["updateOrganisation"]["ehrProduct"], "MiraiKarte 5");
    // Not another hospital's.
    let reply = app.gql(&admin, update, json!({ "id": fx.tokyo_hospital2 })).await;
    assert_eq!(reply.code(), Some("FORBIDDEN"));

    let invite = "mutation($org: ID!) { inviteUser(input: { organisationId: $org, email: \"nurse@tokyo.example\", displayName: \"看護師\", role: HOSPITAL_STAFF }) { id role organisation { id } } }";
    let reply = app.gql(&admin, invite, json!({ "org": fx.tokyo.hospital })).await;
    let user = &reply.ok()["inviteUser"];
    assert_eq!(user["role"], "HOSPITAL_STAFF");
    assert_eq!(user["organisation"]["id"], json!(fx.tokyo.hospital));
    let reply = app
        .gql(
            &admin,
            "mutation($id: ID!) { deactivateUser(id: $id) { active deactivatedAt } }",
            json!({ "id": user["id"] }),
        )
        .await;
    assert_eq!(reply.ok()["deactivateUser"]["active"], false);
}

#[tokio::test]
async fn the_ministry_designates_and_revokes() {
    let app = TestApp::new().await;
    let fx = &app.fx;
    let national = fx.national();
    let designate = "mutation($id: ID!, $on: LocalDate!) { designateCriticalInfrastructure(hospitalId: $id, designatedOn: $on, note: \"関東ブロック\") { id designatedOn inForce } }";
    let reply = app.gql(&national, designate, json!({ "id": fx.tokyo.hospital, "on": "2026-04-01" })).await;
    assert_eq!(reply.ok()["designateCriticalInfrastructure"]["inForce"], true);
    // Twice is a conflict; a clinic cannot be designated.
    assert_eq!(
        app.gql(&national, designate, json!({ "id": fx.tokyo.hospital, "on": "2026-05-01" })).await.code(),
        Some("CONFLICT")
    );
    assert_eq!(
        app.gql(&national, designate, json!({ "id": fx.tokyo.clinic, "on": "2026-05-01" })).await.code(),
        Some("BAD_USER_INPUT")
    );

    let list = "{ organisations(first: 50, filter: { designated: true }) { edges { node { id } } } }";
    let reply = app.gql(&fx.prefecture(&fx.tokyo), list, json!({})).await;
    assert_eq!(reply.ok()["organisations"]["edges"], json!([{ "node": { "id": fx.tokyo.hospital } }]));
    assert_eq!(app.gql(&fx.prefecture(&fx.osaka), list, json!({})).await.ok()["organisations"]["edges"], json!([]));

    let revoke = "mutation($id: ID!, $on: LocalDate!) { revokeCriticalInfrastructure(hospitalId: $id, revokedOn: $on) { revokedOn inForce } }";
    assert_eq!(
        app.gql(&national, revoke, json!({ "id": fx.tokyo.hospital, "on": "2026-03-01" })).await.code(),
        Some("BAD_USER_INPUT"),
        "before the designation"
    );
    let reply = app.gql(&national, revoke, json!({ "id": fx.tokyo.hospital, "on": "2026-06-30" })).await;
    assert_eq!(reply.ok()["revokeCriticalInfrastructure"]["revokedOn"], "2026-06-30");
    let history = app
        .gql(
            &national,
            "query($id: ID!) { organisation(id: $id) { designated designations { designatedOn revokedOn } } }",
            json!({ "id": fx.tokyo.hospital }),
        )
        .await;
    assert_eq!(history.ok()["organisation"]["designations"].as_array().map(Vec::len), Some(1));
    assert_eq!(history.ok()["organisation"]["designated"], false);
}

#[tokio::test]
async fn health_centres_and_vendor_links() {
    let app = TestApp::new().await;
    let fx = &app.fx;
    let official = fx.prefecture(&fx.tokyo);
    let move_it = "mutation($h: ID!, $c: ID) { setHospitalHealthCentre(hospitalId: $h, healthCentreId: $c) { healthCentre { id } } }";
    let reply = app.gql(&official, move_it, json!({ "h": fx.tokyo.hospital, "c": fx.tokyo_centre2 })).await;
    assert_eq!(reply.ok()["setHospitalHealthCentre"]["healthCentre"]["id"], json!(fx.tokyo_centre2));
    assert_eq!(
        app.gql(&official, move_it, json!({ "h": fx.tokyo.hospital, "c": fx.osaka.centre })).await.code(),
        Some("BAD_USER_INPUT")
    );
    assert_eq!(
        app.gql(&fx.prefecture(&fx.osaka), move_it, json!({ "h": fx.tokyo.hospital, "c": null })).await.code(),
        Some("NOT_FOUND")
    );
    // The first health centre no longer sees the hospital; the second does.
    let q = "query($id: ID!) { organisation(id: $id) { id } }";
    assert_eq!(
        app.gql(&fx.health_centre(&fx.tokyo), q, json!({ "id": fx.tokyo.hospital })).await.ok()["organisation"],
        Value::Null
    );
    let centre2 =
        Principal::new("inspector-north".into(), Role::HealthCentre, Some(fx.tokyo_centre2), None).expect("p");
    assert_eq!(
        app.gql(&centre2, q, json!({ "id": fx.tokyo.hospital })).await.ok()["organisation"]["id"],
        json!(fx.tokyo.hospital)
    );

    // Linking the Osaka vendor lets it see the Tokyo hospital; unlinking hides it again.
    let admin = fx.hospital_admin(&fx.tokyo);
    let link = "mutation($h: ID!, $v: ID!) { linkVendor(hospitalId: $h, vendorId: $v) { vendors { id } } }";
    let reply = app.gql(&admin, link, json!({ "h": fx.tokyo.hospital, "v": fx.osaka.vendor })).await;
    assert_eq!(reply.ok()["linkVendor"]["vendors"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        app.gql(&admin, link, json!({ "h": fx.tokyo.hospital, "v": fx.osaka.vendor })).await.code(),
        Some("CONFLICT")
    );
    assert_eq!(
        app.gql(&admin, link, json!({ "h": fx.tokyo.hospital, "v": fx.tokyo.clinic })).await.code(),
        Some("NOT_FOUND")
    );
    let osaka_vendor = fx.vendor(&fx.osaka);
    assert_eq!(
        app.gql(&osaka_vendor, q, json!({ "id": fx.tokyo.hospital })).await.ok()["organisation"]["id"],
        json!(fx.tokyo.hospital)
    );
    let unlink = "mutation($h: ID!, $v: ID!) { unlinkVendor(hospitalId: $h, vendorId: $v) { id } }";
    app.gql(&admin, unlink, json!({ "h": fx.tokyo.hospital, "v": fx.osaka.vendor })).await.ok();
    assert_eq!(app.gql(&osaka_vendor, q, json!({ "id": fx.tokyo.hospital })).await.ok()["organisation"], Value::Null);
    // Another hospital's admin may not touch these links.
    let reply =
        app.gql(&fx.hospital_admin(&fx.osaka), link, json!({ "h": fx.tokyo.hospital, "v": fx.osaka.vendor })).await;
    assert_eq!(reply.code(), Some("FORBIDDEN"));
}

#[tokio::test]
async fn organisations_page_through_a_filtered_list() {
    let app = TestApp::new().await;
    let national = app.fx.national();
    let q = "query($after: String) { organisations(first: 2, after: $after, filter: { kinds: [HOSPITAL, CLINIC] }) { totalCount edges { node { name } } pageInfo { hasNextPage endCursor } } }";
    let mut names = Vec::new();
    let mut after = Value::Null;
    loop {
        let reply = app.gql(&national, q, json!({ "after": after })).await;
        let page = &reply.ok()["organisations"];
        assert_eq!(page["totalCount"], 5);
        names.extend(
            page["edges"]
                .as_array()
                .expect("edges")
                .iter()
                .map(|e| e["node"]["name"].as_str().unwrap_or_default().to_owned()),
        );
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "ordered by name");
    assert_eq!(names.len(), 5, "every hospital and clinic once: {names:?}");

    let band = "{ organisations(first: 10, filter: { bedBand: BEDS_400_499, prefecture: 13 }) { edges { node { licensedBeds } } } }";
    assert_eq!(
        app.gql(&national, band, json!({})).await.ok()["organisations"]["edges"],
        json!([{ "node": { "licensedBeds": 420 } }])
    );
    let search = "{ organisations(first: 10, filter: { nameContains: \"%\" }) { totalCount } }";
    assert_eq!(
        app.gql(&national, search, json!({})).await.ok()["organisations"]["totalCount"],
        0,
        "% is matched literally"
    );
    let search = "{ organisations(first: 10, filter: { nameContains: \"市民\" }) { totalCount } }";
    assert_eq!(app.gql(&national, search, json!({})).await.ok()["organisations"]["totalCount"], 2);
}
