//! The contracts that must not drift: the committed SDL, and migrations that apply, revert and
//! apply again to the same schema.

use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use renkei_tests::TestDb;

#[test]
fn committed_sdl_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../graphql/schema.graphql");
    let committed = std::fs::read_to_string(&path).expect("graphql/schema.graphql");
    let current = renkei_graphql::sdl();
    assert!(committed == current, "graphql/schema.graphql is out of date: run `make schema` and commit the result");
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

/// Tables, columns, constraints, policies, triggers and functions, one line each, sorted.
async fn snapshot(url: &str) -> Vec<String> {
    let mut conn = AsyncPgConnection::establish(url).await.expect("connect");
    let sql = "
        SELECT format('column %s.%s %s %s %s', table_name, column_name, data_type, is_nullable, coalesce(column_default, '')) AS line
          FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'
        UNION ALL
        SELECT format('constraint %s %s', conname, pg_get_constraintdef(oid)) FROM pg_constraint
         WHERE connamespace = 'public'::regnamespace AND conname <> '__diesel_schema_migrations_pkey'
        UNION ALL
        SELECT format('policy %s.%s %s %s %s', tablename, policyname, cmd, coalesce(qual, ''), coalesce(with_check, ''))
          FROM pg_policies WHERE schemaname = 'public'
        UNION ALL
        SELECT format('rls %s %s %s', relname, relrowsecurity, relforcerowsecurity) FROM pg_class
         WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' AND relname <> '__diesel_schema_migrations'
        UNION ALL
        SELECT format('trigger %s %s', tgname, pg_get_triggerdef(oid)) FROM pg_trigger WHERE NOT tgisinternal
        UNION ALL
        SELECT format('function %s %s', proname, md5(prosrc)) FROM pg_proc WHERE pronamespace = 'public'::regnamespace
        UNION ALL
        SELECT format('index %s', indexdef) FROM pg_indexes WHERE schemaname = 'public' AND tablename <> '__diesel_schema_migrations'
        UNION ALL
        SELECT format('grant %s %s %s', table_name, grantee, privilege_type) FROM information_schema.role_table_grants
         WHERE table_schema = 'public' AND grantee = 'renkei_app'
        ORDER BY 1";
    let mut lines: Vec<String> =
        diesel::sql_query(sql).load::<Line>(&mut conn).await.expect("snapshot").into_iter().map(|l| l.line).collect();
    lines.sort();
    lines
}

#[tokio::test]
async fn migrations_apply_revert_and_apply_again() {
    let db = TestDb::empty().await;
    let applied = renkei_migrations::run(&db.owner_url).await.expect("up");
    assert_eq!(applied, renkei_migrations::versions().expect("versions"));
    let first = snapshot(&db.owner_url).await;
    assert!(first.iter().any(|l| l == "rls organisations t t"), "organisations has forced RLS");
    renkei_migrations::revert_all(&db.owner_url).await.expect("down");
    let empty = snapshot(&db.owner_url).await;
    assert!(empty.iter().all(|l| !l.starts_with("column ")), "down removes every table: {empty:?}");
    renkei_migrations::run(&db.owner_url).await.expect("up again");
    assert_eq!(snapshot(&db.owner_url).await, first, "up → down → up gives the same schema");
    // That every tenant table forces row-level security is checked from the catalog, table by
    // table, in rls_catalog.rs.
}

/// Each migration on its own: applied on top of the ones before it, reverted, the schema is as
/// it was; applied again, as it was after the first time. A down.sql that forgets a policy, a
/// grant or a function shows here even when a later migration's down.sql would hide it.
#[tokio::test]
async fn each_migration_applies_reverts_and_applies_again_on_its_own() {
    let db = TestDb::empty().await;
    let mut checked = Vec::new();
    loop {
        let before = snapshot(&db.owner_url).await;
        let Some(version) = renkei_migrations::run_next(&db.owner_url).await.expect("up") else { break };
        let after = snapshot(&db.owner_url).await;
        renkei_migrations::revert_last(&db.owner_url).await.expect("down");
        let reverted = snapshot(&db.owner_url).await;
        let left: Vec<_> = reverted.iter().filter(|l| !before.contains(l)).collect();
        let lost: Vec<_> = before.iter().filter(|l| !reverted.contains(l)).collect();
        assert!(left.is_empty() && lost.is_empty(), "{version} down: left behind {left:?}, took away {lost:?}");
        assert_eq!(renkei_migrations::run_next(&db.owner_url).await.expect("up again"), Some(version.clone()));
        assert_eq!(snapshot(&db.owner_url).await, after, "{version} up again");
        checked.push(version);
    }
    assert_eq!(checked, renkei_migrations::versions().expect("versions"), "every migration, in order");
}

#[derive(QueryableByName)]
struct DbColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Text)]
    is_nullable: String,
}

/// Tables and views the code reaches only through SQL of its own (functions, `sql_query`), so diesel's
/// `table!` does not describe them.
const SQL_ONLY: &[&str] = &[
    "audit_head",
    "kpi_cells",
    "kpi_facts",
    "kpi_facts_source",
    "kpi_generation",
    "kpi_noise_key",
    "kpi_open_targets",
];

/// `core/src/schema.rs` against the migrated database, as `diesel print-schema` would compare
/// them: every `table!` names a table that exists, with exactly its columns, each of the type and
/// nullability PostgreSQL has; every other table is one the code reaches by SQL alone.
#[tokio::test]
async fn core_schema_rs_matches_the_migrated_database() {
    let db = TestDb::migrated().await;
    let mut conn = AsyncPgConnection::establish(&db.owner_url).await.expect("connect");
    let columns: Vec<DbColumn> = diesel::sql_query(
        "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'",
    )
    .load(&mut conn)
    .await
    .expect("columns");
    let in_db: std::collections::BTreeMap<(String, String), String> = columns
        .into_iter()
        .map(|c| {
            let ty = match (c.data_type.as_str(), c.is_nullable.as_str()) {
                (t, "YES") => format!("Nullable<{}>", diesel_type(t)),
                (t, _) => diesel_type(t).to_owned(),
            };
            ((c.table_name, c.column_name), ty)
        })
        .collect();

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/src/schema.rs");
    let source = std::fs::read_to_string(path).expect("core/src/schema.rs");
    let mut in_code = std::collections::BTreeMap::new();
    let mut table = None;
    for line in source.lines().map(str::trim) {
        if let Some(name) = line.strip_suffix('{').and_then(|l| l.split_once(" (")).map(|(name, _)| name.trim()) {
            table = Some(name.to_owned());
        } else if line == "}" {
            table = None;
        } else if let (Some(t), Some((column, ty))) = (&table, line.trim_end_matches(',').split_once(" -> ")) {
            in_code.insert((t.clone(), column.trim().to_owned()), ty.trim().to_owned());
        }
    }
    let tables_in_code: std::collections::BTreeSet<&String> = in_code.keys().map(|(t, _)| t).collect();
    let described: std::collections::BTreeMap<_, _> =
        in_db.iter().filter(|((t, _), _)| tables_in_code.contains(t)).map(|(k, v)| (k.clone(), v.clone())).collect();
    let only_in_code: Vec<_> = in_code.iter().filter(|(k, v)| described.get(*k) != Some(v)).collect();
    let only_in_db: Vec<_> = described.iter().filter(|(k, v)| in_code.get(*k) != Some(v)).collect();
    assert!(
        only_in_code.is_empty() && only_in_db.is_empty(),
        "core/src/schema.rs says {only_in_code:?}, the database {only_in_db:?}"
    );
    assert!(in_code.len() > 150, "the parser still reads core/src/schema.rs ({} columns)", in_code.len());
    let undescribed: std::collections::BTreeSet<&String> =
        in_db.keys().map(|(t, _)| t).filter(|t| !tables_in_code.contains(t)).collect();
    let expected: std::collections::BTreeSet<String> = SQL_ONLY.iter().map(|t| (*t).to_owned()).collect();
    assert_eq!(undescribed, expected.iter().collect(), "tables neither in core/src/schema.rs nor named SQL-only");
}

/// The diesel type `print-schema` gives a PostgreSQL type.
fn diesel_type(pg: &str) -> &str {
    match pg {
        "uuid" => "Uuid",
        "text" => "Text",
        "smallint" => "Int2",
        "integer" => "Int4",
        "bigint" => "Int8",
        "boolean" => "Bool",
        "bytea" => "Bytea",
        "date" => "Date",
        "jsonb" => "Jsonb",
        "timestamp with time zone" => "Timestamptz",
        "ARRAY" => "Array<Text>",
        other => other,
    }
}
