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
         WHERE connamespace = 'public'::regnamespace
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
    // Every tenant table forces RLS.
    for table in ["organisations", "users", "vendor_links", "critical_designations"] {
        assert!(first.contains(&format!("rls {table} t t")), "{table} must ENABLE and FORCE row-level security");
    }
}
