//! `seed demo` builds the realistic registry that `make run` shows, once.

use std::collections::BTreeMap;

use renkei_core::Principal;
use renkei_core::registry::organisations::{self, BedBand, OrganisationFilter, OrganisationKind};
use renkei_core::seed::{self, DEMO_SUBJECTS};
use renkei_tests::TestDb;

#[tokio::test]
async fn the_demo_has_every_prefecture_a_realistic_bed_spread_and_a_user_per_role() {
    let test_db = TestDb::migrated().await;
    let db = test_db.db();
    let summary = seed::demo(&db).await.expect("seed");
    assert!(!summary.already_present);
    assert_eq!(summary.incidents, 3);
    // Most hospitals answered their forms: the KPIs have something to show.
    assert!(summary.submissions > 400, "{} forms submitted", summary.submissions);

    let national = Principal::system();
    let all = db
        .run(&national, |c| {
            Box::pin(async move {
                let (rows, more) =
                    organisations::list(c, &Principal::system(), &OrganisationFilter::default(), 10_000, None).await?;
                assert!(!more);
                Ok(rows)
            })
        })
        .await
        .expect("list");
    let count = |k: OrganisationKind| all.iter().filter(|o| o.kind == k).count();
    assert_eq!(count(OrganisationKind::Ministry), 1);
    assert_eq!(count(OrganisationKind::PrefectureOffice), 47);
    assert!(count(OrganisationKind::HealthCentre) >= 141, "at least three health centres per prefecture");
    assert!((200..=400).contains(&count(OrganisationKind::Hospital)), "a few hundred hospitals");
    assert!(count(OrganisationKind::Vendor) >= 5);
    let prefectures: std::collections::BTreeSet<i16> =
        all.iter().filter(|o| o.kind == OrganisationKind::Hospital).map(|o| o.prefecture_code).collect();
    assert_eq!(prefectures.len(), 47, "hospitals in every prefecture");

    let mut bands: BTreeMap<&str, usize> = BTreeMap::new();
    for o in all.iter().filter(|o| o.kind == OrganisationKind::Hospital) {
        let beds = o.licensed_beds.expect("hospitals have beds");
        *bands.entry(BedBand::of(beds).label()).or_default() += 1;
        assert!(o.jurisdiction_id.is_some(), "every hospital has a health centre");
    }
    for band in ["20-99", "100-199", "200-299", "300-399", "400-499", "500+"] {
        assert!(bands.get(band).copied().unwrap_or(0) > 0, "band {band} is represented: {bands:?}");
    }
    // Smaller hospitals are the majority, as in the national survey.
    assert!(bands["20-99"] + bands["100-199"] > bands["200-299"] + bands["300-399"] + bands["400-499"] + bands["500+"]);

    for (subject, role) in DEMO_SUBJECTS {
        let subject = subject.to_string();
        let user = db
            .run(&national, move |c| {
                Box::pin(async move {
                    use diesel::prelude::*;
                    use diesel_async::RunQueryDsl;
                    use renkei_core::schema::users;
                    Ok(users::table
                        .filter(users::subject.eq(subject))
                        .select(renkei_core::registry::users::User::as_select())
                        .first(c)
                        .await
                        .optional()?)
                })
            })
            .await
            .expect("lookup")
            .unwrap_or_else(|| panic!("a demo user for {role}"));
        assert_eq!(user.role, *role);
    }

    let before = row_counts(&test_db.owner_url).await;
    let again = seed::demo(&db).await.expect("seed again");
    assert!(again.already_present, "the second run says so");
    assert_eq!(row_counts(&test_db.owner_url).await, before, "a second run changes nothing, in any table");
}

/// Rows per table of the public schema, as the ministry sees them (every table, from the catalog).
async fn row_counts(owner_url: &str) -> BTreeMap<String, i64> {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
    #[derive(diesel::QueryableByName)]
    struct Table {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut c = AsyncPgConnection::establish(owner_url).await.expect("owner");
    c.batch_execute("SELECT set_config('renkei.role', 'national', false)").await.expect("as the ministry");
    let tables: Vec<Table> = diesel::sql_query(
        "SELECT relname::text AS name FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p')",
    )
    .load(&mut c)
    .await
    .expect("tables");
    let mut counts = BTreeMap::new();
    for t in tables {
        let n: Count = diesel::sql_query(format!("SELECT count(*) AS n FROM public.\"{}\"", t.name))
            .get_result(&mut c)
            .await
            .expect("count");
        counts.insert(t.name, n.n);
    }
    assert!(counts.get("organisations").is_some_and(|n| *n > 0), "the counts see the rows: {counts:?}");
    counts
}
