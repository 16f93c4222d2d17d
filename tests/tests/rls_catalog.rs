//! Row-level security, enumerated from PostgreSQL's catalog so that a new table or function is
//! covered the day it is created: every table of the public schema forces row-level security and
//! has policies, or is a non-tenant reference table named below; and, as the application login
//! with no `renkei.*` settings, after the fixture has loaded data, every table reads as empty and
//! every SECURITY DEFINER function the login may execute refuses or returns nothing.

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use renkei_core::{Principal, audit};
use renkei_tests::TestApp;

/// Tables without tenant data: readable by anyone, so without policies.
/// The sign-in itself (migration 000015) resolves whichever subject it is given — that is how a
/// request's caller is established, from a verified token, before any settings exist — and
/// answers with that subject's membership only. It is checked on its own below, not with the
/// functions that must refuse a caller without settings.
const SIGN_IN: &[&str] = &["renkei_sign_in"];

const REFERENCE_TABLES: &[&str] = &[
    // Geography: the eight regions and the 47 prefectures (JIS X 0401).
    "regions",
    "prefectures",
    // The MHLW incident-response flowchart and the eleven ransomware consideration points.
    "flowchart_steps",
    "ransomware_points",
    // Which migrations ran (readiness compares them with the binary's).
    "__diesel_schema_migrations",
    // One number that moves whenever KPI data changes, telling nothing of what or whose.
    "kpi_generation",
];

/// The tables issue #14 found readable: the test must see them hold rows, or proves nothing.
const MUST_HOLD_ROWS: &[&str] = &["jobs", "email_deliveries", "kpi_cells", "kpi_open_targets", "audit_log"];

#[derive(QueryableByName)]
struct Relation {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Bool)]
    enabled: bool,
    #[diesel(sql_type = Bool)]
    forced: bool,
    #[diesel(sql_type = BigInt)]
    policies: i64,
    #[diesel(sql_type = Bool)]
    readable: bool,
    #[diesel(sql_type = Bool)]
    deletable: bool,
    /// A column the application login may update, if any.
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    updatable: Option<String>,
}

#[derive(QueryableByName)]
struct Function {
    #[diesel(sql_type = Text)]
    signature: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Array<Text>)]
    args: Vec<String>,
    #[diesel(sql_type = Bool)]
    returns_void: bool,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Answer {
    #[diesel(sql_type = Text)]
    value: String,
}

async fn count(c: &mut AsyncPgConnection, table: &str) -> Result<i64, String> {
    diesel::sql_query(format!("SELECT count(*) AS n FROM public.\"{table}\""))
        .get_result::<Count>(c)
        .await
        .map(|r| r.n)
        .map_err(|e| e.to_string())
}

async fn values(c: &mut AsyncPgConnection, sql: &str) -> Vec<String> {
    diesel::sql_query(sql).load::<Answer>(c).await.expect(sql).into_iter().map(|v| v.value).collect()
}

fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Arguments worth trying for a parameter of `type_name`: the widest scope (NULL is "every" for
/// the engine's filters) and every identifier the fixture holds, so that a function answering for
/// any of them is caught.
fn candidates(type_name: &str, ids: &[String], words: &[String]) -> Vec<String> {
    let typed = |values: &[String]| values.iter().map(|v| format!("{}::{type_name}", literal(v))).collect::<Vec<_>>();
    let null = format!("NULL::{type_name}");
    match type_name {
        "smallint[]" => vec!["ARRAY(SELECT generate_series(2000, 2100))::smallint[]".into()],
        "smallint" => vec![null, "13::smallint".into(), "27::smallint".into()],
        "integer" => vec![null, "1000".into()],
        "boolean" => vec!["true".into(), "false".into()],
        "date" => vec!["current_date".into()],
        "uuid" => [vec![null], typed(ids)].concat(),
        "text" => [vec![null], typed(words)].concat(),
        _ => vec![null],
    }
}

/// Every combination of the candidates, one argument list each.
fn combinations(per_argument: &[Vec<String>]) -> Vec<Vec<String>> {
    per_argument.iter().fold(vec![Vec::new()], |lists, options| {
        lists.iter().flat_map(|list| options.iter().map(move |o| [list.clone(), vec![o.clone()]].concat())).collect()
    })
}

/// A row that tells nothing: every value NULL or false.
fn empty_row(row: &serde_json::Value) -> bool {
    match row {
        serde_json::Value::Object(fields) => fields.values().all(empty_row),
        serde_json::Value::Null | serde_json::Value::Bool(false) => true,
        _ => false,
    }
}

#[tokio::test]
async fn without_settings_the_application_sees_no_tenant_row_and_no_definer_function_answers() {
    let app = TestApp::new().await;
    let fx = &app.fx;
    let mut owner = app.db.owner_conn().await;
    // Data where the fixture leaves none: a recorded action, a sent mail, an open target, a
    // designation to count, and a deactivated account for the account check to tell about.
    let action = audit::Action {
        operation: "createOrganisation".into(),
        targets: vec![fx.tokyo.hospital.to_string()],
        outcome: "ok".into(),
        request_id: "rls-catalog".into(),
    };
    audit::record(&app.state.db, &fx.national(), vec![action]).await.expect("audit");
    owner
        .batch_execute(&format!(
            "INSERT INTO email_deliveries (key, job_id, recipient, subject) \
               VALUES ('rls-catalog', 1, 'admin-27@test.renkei.example', '【Renkei】'); \
             INSERT INTO kpi_open_targets (fiscal_year, prefecture_code, bed_band, designated, target_on, answers) \
               VALUES (2024, 27, '100-199', false, '2024-09-30', 1); \
             INSERT INTO critical_designations (hospital_id, designated_on) VALUES ('{}', '2020-04-01');",
            fx.osaka.hospital
        ))
        .await
        .expect("more data");
    let deactivated = diesel::sql_query(
        "UPDATE users SET active = false, deactivated_at = now() WHERE subject = '大阪-hospital-staff'",
    )
    .execute(&mut owner)
    .await
    .expect("deactivate");
    assert_eq!(deactivated, 1, "the fixture's Osaka staff member is deactivated");

    // The catalog as the application login sees it: what it may read is what it will be asked to.
    let mut app_conn = app.db.app_conn().await;
    let relations: Vec<Relation> = diesel::sql_query(
        "SELECT c.relname::text AS name, c.relkind::text AS kind, c.relrowsecurity AS enabled, \
                c.relforcerowsecurity AS forced, \
                (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies, \
                has_table_privilege(c.oid, 'SELECT') AS readable, \
                c.relkind IN ('r', 'p') AND has_table_privilege(c.oid, 'DELETE') AS deletable, \
                (SELECT a.attname::text FROM pg_attribute a \
                  WHERE c.relkind IN ('r', 'p') AND a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
                    AND a.attidentity = '' AND a.attgenerated = '' \
                    AND has_column_privilege(c.oid, a.attnum, 'UPDATE') \
                  ORDER BY a.attnum LIMIT 1) AS updatable \
           FROM pg_class c \
          WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
          ORDER BY 1",
    )
    .load(&mut app_conn)
    .await
    .expect("tables");
    let names: Vec<&str> = relations.iter().map(|r| r.name.as_str()).collect();
    for reference in REFERENCE_TABLES {
        assert!(names.contains(reference), "the allow-list names {reference}, which no longer exists");
    }

    let mut wrong = Vec::new();
    let mut tenant_tables_with_rows = Vec::new();
    let mut writes = 0;
    for r in &relations {
        let reference = REFERENCE_TABLES.contains(&r.name.as_str());
        if matches!(r.kind.as_str(), "r" | "p") && !reference && !(r.enabled && r.forced && r.policies > 0) {
            wrong.push(format!(
                "table {} holds tenant data without forced row-level security and policies \
                 (enabled {}, forced {}, {} policies): add them, or name it in REFERENCE_TABLES if it holds none",
                r.name, r.enabled, r.forced, r.policies
            ));
        }
        let rows = count(&mut owner, &r.name).await.unwrap_or_else(|e| panic!("{} as the ministry: {e}", r.name));
        if !reference && rows > 0 {
            tenant_tables_with_rows.push(r.name.clone());
        }
        // Without SELECT the table cannot be read at all; with it, the policies must hide every row.
        if r.readable && !reference {
            match count(&mut app_conn, &r.name).await {
                Ok(0) => {}
                Ok(n) => wrong.push(format!("{} shows {n} of its {rows} rows to a caller without settings", r.name)),
                Err(e) => wrong.push(format!("reading {} without settings: {e}", r.name)),
            }
        }
        // Nor may it remove or change a row (rolled back whatever happens).
        let deletion = r.deletable.then(|| format!("DELETE FROM public.\"{}\" RETURNING 1", r.name));
        let update =
            r.updatable.as_ref().map(|c| format!("UPDATE public.\"{}\" SET \"{c}\" = \"{c}\" RETURNING 1", r.name));
        for write in deletion.into_iter().chain(update) {
            writes += 1;
            app_conn.batch_execute("BEGIN").await.expect("begin");
            let touched = diesel::sql_query(format!("WITH w AS ({write}) SELECT count(*) AS n FROM w"))
                .get_result::<Count>(&mut app_conn)
                .await;
            app_conn.batch_execute("ROLLBACK").await.expect("rollback");
            match touched {
                Ok(Count { n: 0 }) => {}
                Ok(Count { n }) => wrong.push(format!("{write}: {n} of {rows} rows, without settings")),
                Err(e) if e.to_string().contains("row-level security") => {}
                Err(e) => wrong.push(format!("{write} without settings: {e}")),
            }
        }
    }
    for table in MUST_HOLD_ROWS {
        assert!(tenant_tables_with_rows.iter().any(|t| t == table), "{table} holds no row: the test proves nothing");
    }

    let ids = values(&mut owner, "SELECT id::text AS value FROM organisations ORDER BY 1").await;
    let words = values(
        &mut owner,
        "SELECT subject AS value FROM users UNION SELECT code FROM regions UNION SELECT kind FROM organisations \
         ORDER BY 1",
    )
    .await;
    let functions: Vec<Function> = diesel::sql_query(
        "SELECT p.oid::regprocedure::text AS signature, p.proname::text AS name, \
                ARRAY(SELECT format_type(t, NULL) FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS a (t, i) \
                      ORDER BY i) AS args, \
                p.prorettype = 'void'::regtype AS returns_void \
           FROM pg_proc p \
          WHERE p.pronamespace = 'public'::regnamespace AND p.prosecdef \
            AND has_function_privilege(p.oid, 'EXECUTE') \
          ORDER BY 1",
    )
    .load(&mut app_conn)
    .await
    .expect("functions");
    assert!(
        functions.iter().any(|f| f.name == "kpi_fine_cells"),
        "the KPI engine's definer function is among those the application may execute"
    );
    let mut calls = 0;
    for f in functions.iter().filter(|f| !SIGN_IN.contains(&f.name.as_str())) {
        let per_argument: Vec<Vec<String>> = f.args.iter().map(|t| candidates(t, &ids, &words)).collect();
        for args in combinations(&per_argument) {
            calls += 1;
            let call = format!("{}({})", f.name, args.join(", "));
            app_conn.batch_execute("BEGIN").await.expect("begin");
            let answer = diesel::sql_query(format!(
                "SELECT coalesce(jsonb_agg(to_jsonb(r)), '[]')::text AS value FROM (SELECT * FROM public.{call}) r"
            ))
            .get_result::<Answer>(&mut app_conn)
            .await;
            app_conn.batch_execute("ROLLBACK").await.expect("rollback");
            match answer {
                Err(e) => {
                    let refusal = e.to_string();
                    if !(refusal.contains("row-level security") || refusal.contains("permission denied")) {
                        wrong.push(format!("{call} failed without refusing: {refusal}"));
                    }
                }
                // Nothing to return says nothing about what it did: it must refuse.
                Ok(_) if f.returns_void => wrong.push(format!("{} runs for a caller without settings", f.signature)),
                Ok(rows) => {
                    let rows: serde_json::Value = serde_json::from_str(&rows.value).expect("json");
                    let told = rows.as_array().map(|a| a.iter().filter(|r| !empty_row(r)).count()).unwrap_or(0);
                    if told > 0 {
                        let mut shown = rows.to_string();
                        shown.truncate(300);
                        wrong.push(format!("{call} answers a caller without settings with {told} rows: {shown}"));
                    }
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{} problems:\n{}", wrong.len(), wrong.join("\n"));
    // What was looked at, for the record when the test is run with --nocapture.
    println!(
        "{} relations, {} tenant tables holding rows ({}), {writes} writes, {} definer functions, {calls} calls",
        relations.len(),
        tenant_tables_with_rows.len(),
        tenant_tables_with_rows.join(", "),
        functions.len()
    );
}

/// Runs `sql` (its rows a text column `value`) in a transaction carrying `p`'s settings, as the
/// service does, and rolls it back; an error comes back as its message.
async fn attempt(c: &mut AsyncPgConnection, p: &Principal, sql: &str) -> Result<Vec<String>, String> {
    renkei_tests::begin_as(c, p).await;
    let rows = diesel::sql_query(sql).load::<Answer>(c).await.map_err(|e| e.to_string());
    c.batch_execute("ROLLBACK").await.expect("rollback");
    rows.map(|rows| rows.into_iter().map(|r| r.value).collect())
}

fn refused(outcome: Result<Vec<String>, String>, what: &str) {
    match outcome {
        Err(e) => assert!(e.contains("row-level security") || e.contains("permission denied"), "{what}: {e}"),
        Ok(rows) => panic!("{what} was allowed: {rows:?}"),
    }
}

#[tokio::test]
async fn with_settings_the_queue_the_kpi_sums_and_the_definer_functions_answer_only_their_roles() {
    let app = TestApp::new().await;
    let fx = &app.fx;
    let (t, o) = (&fx.tokyo, &fx.osaka);
    app.db
        .owner_conn()
        .await
        .batch_execute(
            "INSERT INTO email_deliveries (key, job_id, recipient, subject) \
             VALUES ('rls-catalog', 1, 'admin-27@test.renkei.example', '【Renkei】')",
        )
        .await
        .expect("a delivery");
    let mut c = app.db.app_conn().await;

    // The queue: a prefecture official sees the jobs naming its prefecture, no one else's.
    let payloads = "SELECT payload::text AS value FROM jobs";
    let osaka_job = |rows: &[String]| rows.iter().any(|p| p.contains(&fx.osaka_dead_job_marker));
    assert!(osaka_job(&attempt(&mut c, &fx.prefecture(o), payloads).await.expect("Osaka's jobs")));
    assert!(!osaka_job(&attempt(&mut c, &fx.prefecture(t), payloads).await.expect("Tokyo's jobs")));
    for p in [fx.hospital_admin(o), fx.health_centre(o), fx.vendor(o), fx.dashboard()] {
        assert_eq!(attempt(&mut c, &p, payloads).await, Ok(vec![]), "{:?} reads no job", p.role);
    }
    let deliveries = "SELECT recipient AS value FROM email_deliveries";
    assert_eq!(attempt(&mut c, &fx.prefecture(o), deliveries).await, Ok(vec![]), "deliveries are the worker's");
    assert_eq!(attempt(&mut c, &fx.national(), deliveries).await.map(|r| r.len()), Ok(1));
    // Even as the ministry (the worker), a queued job is never deleted and what it is never changes.
    let delete = format!(
        "WITH d AS (DELETE FROM jobs WHERE id = {} RETURNING id) SELECT count(*)::text AS value FROM d",
        fx.osaka_dead_job
    );
    assert_eq!(attempt(&mut c, &fx.national(), &delete).await, Ok(vec!["0".to_owned()]));
    refused(
        attempt(&mut c, &fx.national(), "UPDATE jobs SET payload = '{}' RETURNING id::text AS value").await,
        "changing a job's payload",
    );

    // The KPI sums: the roles the engine answers, not vendors.
    let cells = "SELECT count(*)::text AS value FROM kpi_cells";
    assert_eq!(attempt(&mut c, &fx.vendor(t), cells).await, Ok(vec!["0".to_owned()]));
    assert_ne!(attempt(&mut c, &fx.hospital_staff(t), cells).await, Ok(vec!["0".to_owned()]));
    let fine = |jurisdiction: Option<uuid::Uuid>| {
        format!(
            "SELECT count(*)::text AS value FROM kpi_fine_cells('{{2023,2024}}', {}, NULL, NULL, false, current_date)",
            jurisdiction.map(|j| format!("'{j}'")).unwrap_or_else(|| "NULL".into())
        )
    };
    refused(attempt(&mut c, &fx.vendor(t), &fine(None)).await, "a vendor's fine cells");
    refused(attempt(&mut c, &fx.health_centre(t), &fine(Some(o.centre))).await, "another centre's jurisdiction");
    refused(attempt(&mut c, &fx.prefecture(t), &fine(Some(o.centre))).await, "another prefecture's jurisdiction");
    refused(attempt(&mut c, &fx.hospital_admin(t), &fine(Some(t.centre))).await, "a hospital asking a jurisdiction");
    for (p, centre) in [(fx.health_centre(t), t.centre), (fx.prefecture(t), t.centre), (fx.national(), o.centre)] {
        assert!(attempt(&mut c, &p, &fine(Some(centre))).await.is_ok(), "{:?} reads its jurisdiction", p.role);
    }
    let coverage = "SELECT hospitals::text AS value FROM kpi_designated_by_prefecture(current_date)";
    refused(attempt(&mut c, &fx.hospital_admin(t), coverage).await, "a hospital following designation coverage");
    assert!(attempt(&mut c, &fx.prefecture(t), coverage).await.is_ok());

    // The other definer functions: one's own memberships only; the KPI upkeep not at all.
    let memberships = "SELECT organisation_id::text AS value FROM renkei_memberships()";
    assert_eq!(attempt(&mut c, &fx.hospital_admin(t), memberships).await, Ok(vec![t.hospital.to_string()]));
    // The sign-in names the subject it resolves; a stranger's gets a refusal, not a membership.
    let stranger = "SELECT coalesce(organisation_id::text, problem) AS value \
                    FROM renkei_sign_in('renkei-test', 'nobody', NULL, NULL, '5000')";
    assert_eq!(attempt(&mut c, &fx.hospital_admin(t), stranger).await, Ok(vec!["unregistered".to_owned()]));
    refused(
        attempt(&mut c, &fx.national(), &format!("SELECT kpi_refresh('{}', NULL)::text AS value", o.hospital)).await,
        "refreshing KPI facts by hand",
    );

    // The audit log: a caller records what it did itself, as itself.
    refused(
        attempt(
            &mut c,
            &fx.hospital_admin(t),
            "INSERT INTO audit_log (id, actor, role, operation, outcome, request_id, prev_hash, hash) \
             VALUES (0, 'mhlw', 'national', 'designateCriticalInfrastructure', 'ok', 'forged', '', '') \
             RETURNING operation AS value",
        )
        .await,
        "recording an action in someone else's name",
    );
}
