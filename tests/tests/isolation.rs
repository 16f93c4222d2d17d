//! Tenant isolation, through GraphQL and straight at PostgreSQL as the application role.

use std::collections::BTreeSet;

use diesel::QueryableByName;
use diesel::sql_types::{Bool, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use renkei_core::Principal;
use renkei_tests::TestApp;
use serde_json::{Value, json};
use uuid::Uuid;

const LIST: &str = "{ organisations(first: 100) { totalCount edges { node { id kind } } } }";

fn ids(reply: &Value) -> BTreeSet<String> {
    reply["organisations"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["id"].as_str().expect("id").to_owned())
        .collect()
}

fn set(ids: &[Uuid]) -> BTreeSet<String> {
    ids.iter().map(Uuid::to_string).collect()
}

async fn visible(app: &TestApp, p: &Principal) -> BTreeSet<String> {
    let reply = app.gql(p, LIST, json!({})).await;
    let data = reply.ok();
    let seen = ids(data);
    assert_eq!(
        data["organisations"]["totalCount"].as_u64(),
        Some(seen.len() as u64),
        "totalCount agrees with the page"
    );
    seen
}

#[tokio::test]
async fn each_role_lists_only_its_tenant() {
    let app = TestApp::new().await;
    let fx = &app.fx;
    let (t, o) = (&fx.tokyo, &fx.osaka);

    let tokyo_official = visible(&app, &fx.prefecture(t)).await;
    let expected =
        set(&[t.office, t.centre, t.hospital, t.clinic, t.vendor, fx.tokyo_centre2, fx.tokyo_hospital2, o.vendor]);
    assert_eq!(
        tokyo_official, expected,
        "Tokyo sees Tokyo's registry and the vendor directory, not the ministry (which sits in Tokyo)"
    );
    assert!(!tokyo_official.contains(&o.hospital.to_string()));
    assert!(!tokyo_official.contains(&o.office.to_string()));
    assert!(!tokyo_official.contains(&fx.ministry.to_string()));

    assert_eq!(
        visible(&app, &fx.health_centre(t)).await,
        set(&[t.centre, t.hospital, t.clinic]),
        "a health centre sees its jurisdiction"
    );
    assert_eq!(visible(&app, &fx.hospital_staff(t)).await, set(&[t.hospital]), "staff see their hospital");
    assert_eq!(
        visible(&app, &fx.hospital_admin(t)).await,
        set(&[t.hospital, t.vendor, o.vendor]),
        "an admin also sees the vendor directory"
    );
    assert_eq!(
        visible(&app, &fx.vendor(t)).await,
        set(&[t.vendor, t.hospital]),
        "a vendor sees the hospitals that linked it"
    );
    assert!(visible(&app, &fx.dashboard()).await.is_empty(), "dashboards read aggregates only");
    assert_eq!(visible(&app, &fx.national()).await.len(), 13, "the ministry sees all 13 organisations");
}

#[tokio::test]
async fn foreign_objects_are_invisible_by_id() {
    let app = TestApp::new().await;
    let fx = &app.fx;
    let q = "query($id: ID!) { organisation(id: $id) { id name users(first: 10) { edges { node { email } } } } }";
    for (who, foreign) in [
        (fx.prefecture(&fx.tokyo), fx.osaka.hospital),
        (fx.prefecture(&fx.tokyo), fx.osaka.office),
        (fx.health_centre(&fx.tokyo), fx.tokyo_hospital2),
        (fx.hospital_admin(&fx.tokyo), fx.tokyo_hospital2),
        (fx.hospital_staff(&fx.tokyo), fx.tokyo.clinic),
        (fx.vendor(&fx.tokyo), fx.osaka.hospital),
        (fx.vendor(&fx.tokyo), fx.tokyo_hospital2),
    ] {
        let reply = app.gql(&who, q, json!({ "id": foreign })).await;
        assert_eq!(reply.ok()["organisation"], Value::Null, "{:?} must not see {foreign}", who.role);
    }
    // Their own tenant's object, with its users, is visible to the official.
    let reply = app.gql(&fx.prefecture(&fx.tokyo), q, json!({ "id": fx.tokyo.hospital })).await;
    let users = reply.ok()["organisation"]["users"]["edges"].as_array().expect("users").len();
    assert_eq!(users, 2, "the Tokyo official sees the Tokyo hospital's admin and staff");
}

#[tokio::test]
async fn prefecture_cannot_change_another_prefecture() {
    let app = TestApp::new().await;
    let fx = &app.fx;
    let tokyo = fx.prefecture(&fx.tokyo);
    let update = "mutation($id: ID!) { updateOrganisation(id: $id, input: { name: \"乗っ取り\" }) { id } }";
    let reply = app.gql(&tokyo, update, json!({ "id": fx.osaka.hospital })).await;
    assert_eq!(reply.code(), Some("NOT_FOUND"));
    let deactivate = "mutation($id: ID!) { deactivateUser(id: $id) { id } }";
    let reply = app.gql(&tokyo, deactivate, json!({ "id": fx.osaka.hospital_admin_user })).await;
    assert_eq!(reply.code(), Some("NOT_FOUND"));
    let invite = "mutation($org: ID!) { inviteUser(input: { organisationId: $org, email: \"x@evil.example\", displayName: \"x\", role: HOSPITAL_ADMIN }) { id } }";
    let reply = app.gql(&tokyo, invite, json!({ "org": fx.osaka.hospital })).await;
    assert_eq!(reply.code(), Some("NOT_FOUND"));

    // Nothing changed in Osaka.
    let check =
        "query($id: ID!) { organisation(id: $id) { name users(first: 10) { edges { node { email active } } } } }";
    let reply = app.gql(&fx.national(), check, json!({ "id": fx.osaka.hospital })).await;
    let org = &reply.ok()["organisation"];
    assert_eq!(org["name"], "大阪市民病院");
    let users = org["users"]["edges"].as_array().expect("users");
    assert_eq!(users.len(), 2);
    assert!(users.iter().all(|u| u["node"]["active"] == true));
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = Text)]
    id: String,
}

/// Runs `sql` in a transaction carrying `p`'s settings, exactly as the service does, and returns
/// the `id` column.
async fn as_tenant(conn: &mut AsyncPgConnection, p: &Principal, sql: &str) -> Vec<String> {
    renkei_tests::begin_as(conn, p).await;
    let rows: Vec<IdRow> = diesel::sql_query(sql).load(conn).await.expect("tenant query");
    conn.batch_execute("ROLLBACK").await.expect("rollback");
    rows.into_iter().map(|r| r.id).collect()
}

#[derive(QueryableByName)]
struct RoleRow {
    #[diesel(sql_type = Bool)]
    rolsuper: bool,
    #[diesel(sql_type = Bool)]
    rolbypassrls: bool,
    #[diesel(sql_type = Bool)]
    owns_tables: bool,
}

/// Raw SQL with no tenant filter, under each role's settings: RLS alone decides what comes back.
#[tokio::test]
async fn rls_filters_unfiltered_sql_for_every_role() {
    let app = TestApp::new().await;
    let fx = &app.fx;
    let (t, o) = (&fx.tokyo, &fx.osaka);
    let mut conn = app.db.app_conn().await;

    let role: RoleRow = diesel::sql_query(
        "SELECT rolsuper, rolbypassrls, EXISTS (SELECT 1 FROM pg_tables WHERE tableowner = current_user AND schemaname = 'public') AS owns_tables \
         FROM pg_roles WHERE rolname = current_user",
    )
    .get_result(&mut conn)
    .await
    .expect("role");
    assert!(
        !role.rolsuper && !role.rolbypassrls && !role.owns_tables,
        "the test must run as the real application role"
    );

    let all_orgs = "SELECT id::text AS id FROM organisations";
    let no_settings: Vec<IdRow> = diesel::sql_query(all_orgs).load(&mut conn).await.expect("select");
    assert!(no_settings.is_empty(), "without settings a query sees nothing");

    let cases: Vec<(Principal, BTreeSet<String>, usize)> = vec![
        (fx.national(), BTreeSet::new(), 13),
        (
            fx.prefecture(t),
            set(&[t.office, t.centre, t.hospital, t.clinic, t.vendor, fx.tokyo_centre2, fx.tokyo_hospital2, o.vendor]),
            0,
        ),
        (fx.prefecture(o), set(&[o.office, o.centre, o.hospital, o.clinic, o.vendor, t.vendor]), 0),
        (fx.health_centre(t), set(&[t.centre, t.hospital, t.clinic]), 0),
        (fx.hospital_admin(t), set(&[t.hospital, t.vendor, o.vendor]), 0),
        (fx.hospital_staff(t), set(&[t.hospital]), 0),
        (fx.vendor(o), set(&[o.vendor, o.hospital]), 0),
        (fx.dashboard(), BTreeSet::new(), 0),
    ];
    for (p, expected, expected_len) in cases {
        let got: BTreeSet<String> = as_tenant(&mut conn, &p, all_orgs).await.into_iter().collect();
        if expected.is_empty() && expected_len > 0 {
            assert_eq!(got.len(), expected_len, "{:?}", p.role);
        } else {
            assert_eq!(got, expected, "{:?} through RLS alone", p.role);
        }
    }

    // Users: a Tokyo official's unfiltered SELECT returns only Tokyo users.
    let emails: BTreeSet<String> =
        as_tenant(&mut conn, &fx.prefecture(t), "SELECT email AS id FROM users").await.into_iter().collect();
    let expected: BTreeSet<String> = [
        "東京-official",
        "東京-inspector",
        "東京-hospital-admin",
        "東京-hospital-staff",
        "東京-vendor",
        "inspector-north",
    ]
    .iter()
    .map(|s| format!("{s}@test.renkei.example"))
    .collect();
    assert_eq!(emails, expected);
    // A hospital's staff member sees only their own user row; the vendor only its own users.
    let mine = as_tenant(&mut conn, &fx.vendor(t), "SELECT email AS id FROM users").await;
    assert_eq!(mine, vec!["東京-vendor@test.renkei.example".to_owned()]);

    // A write outside the tenant is refused by PostgreSQL itself.
    conn.batch_execute(
        "BEGIN; SELECT set_config('renkei.role', 'prefecture', true), set_config('renkei.prefecture', '13', true);",
    )
    .await
    .expect("begin");
    let err = conn
        .batch_execute(
            "INSERT INTO organisations (kind, name, prefecture_code, licensed_beds) VALUES ('hospital', 'x', 27, 50)",
        )
        .await
        .expect_err("RLS must refuse");
    assert!(err.to_string().contains("row-level security"), "{err}");
    conn.batch_execute("ROLLBACK").await.expect("rollback");
    // As a Tokyo official, for real (the settings set in the transaction, not in a CTE that
    // PostgreSQL never runs): an Osaka row is not even visible to update, a Tokyo row is.
    let update_as_tokyo = |id: Uuid| {
        format!("UPDATE organisations SET name = name || ' (更新)' WHERE id = '{id}' RETURNING id::text AS id")
    };
    conn.batch_execute(
        "BEGIN; SELECT set_config('renkei.role', 'prefecture', true), set_config('renkei.prefecture', '13', true);",
    )
    .await
    .expect("begin as Tokyo");
    let osaka_row = diesel::sql_query(update_as_tokyo(o.hospital)).load::<IdRow>(&mut conn).await.expect("update");
    let tokyo_row = diesel::sql_query(update_as_tokyo(t.hospital)).load::<IdRow>(&mut conn).await.expect("update");
    conn.batch_execute("ROLLBACK").await.expect("rollback");
    assert!(osaka_row.is_empty(), "an Osaka row is not even visible to update");
    assert_eq!(tokyo_row.len(), 1, "the positive control: Tokyo updates its own hospital the same way");

    // The database itself keeps a hospital in a health centre of its own prefecture, whatever
    // the caller may see (here the ministry, who sees both).
    conn.batch_execute("BEGIN; SELECT set_config('renkei.role', 'national', true);").await.expect("begin");
    let err = conn
        .batch_execute(&format!(
            "INSERT INTO organisations (kind, name, prefecture_code, jurisdiction_id, licensed_beds) \
             VALUES ('hospital', 'x', 13, '{}', 50)",
            o.centre
        ))
        .await
        .expect_err("a Tokyo hospital under an Osaka health centre");
    assert!(err.to_string().contains("another prefecture"), "{err}");
    conn.batch_execute("ROLLBACK").await.expect("rollback");
}
