//! The seeder against a real PostgreSQL: idempotent, prefix-stable (ids
//! included) and complete (the showcase kit 1), each test on an empty
//! database of its own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use diesel::sql_types::{BigInt, Integer, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection as PgConn, RunQueryDsl};
use fkapi_seed::{generate, has_kits, seed, Catalogue, Scale, SeedReport};
use fkapi_tests::EmptyDatabase;
use std::time::Instant;

async fn migrated_database(label: &str) -> EmptyDatabase {
    let db = EmptyDatabase::create(label).await;
    fkapi_db::run_migrations(&db.url).await.expect("migrations");
    db
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct IdSlug {
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Text)]
    slug: String,
}

async fn count(conn: &mut PgConn, sql: &str) -> usize {
    diesel::sql_query(sql).get_result::<Count>(conn).await.unwrap().n as usize
}

async fn id_slugs(conn: &mut PgConn, table: &str) -> Vec<(i32, String)> {
    diesel::sql_query(format!("SELECT id, slug FROM {table} ORDER BY id"))
        .load::<IdSlug>(conn)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.id, r.slug))
        .collect()
}

/// The database holds exactly `c`, with ids 1..=N in catalogue order.
async fn assert_db_holds(conn: &mut PgConn, c: &Catalogue) {
    let expect =
        |rows: &[&String]| rows.iter().enumerate().map(|(i, s)| (i as i32 + 1, (*s).clone())).collect::<Vec<_>>();
    let club_slugs: Vec<&String> = c.clubs.iter().map(|r| &r.slug).collect();
    let kit_slugs: Vec<&String> = c.kits.iter().map(|r| &r.slug).collect();
    assert!(id_slugs(conn, "clubs").await == expect(&club_slugs), "club ids do not follow the catalogue");
    assert!(id_slugs(conn, "kits").await == expect(&kit_slugs), "kit ids do not follow the catalogue");
    assert_eq!(count(conn, "SELECT count(*) AS n FROM seasons").await, c.seasons.len());
    assert_eq!(count(conn, "SELECT count(*) AS n FROM brands").await, c.brands.len());
    assert_eq!(count(conn, "SELECT count(*) AS n FROM competitions").await, c.competitions.len());
    assert_eq!(count(conn, "SELECT count(*) AS n FROM kit_types").await, c.kit_types.len());
    assert_eq!(count(conn, "SELECT count(*) AS n FROM colors").await, c.colors.len());
    let links: usize = c.kits.iter().map(|k| k.competitions.len()).sum();
    assert_eq!(count(conn, "SELECT count(*) AS n FROM kit_competitions").await, links);
    let secondary: usize = c.kits.iter().map(|k| k.secondary_colors.len()).sum();
    assert_eq!(count(conn, "SELECT count(*) AS n FROM kit_secondary_colors").await, secondary);
    let primary = c.kits.iter().filter(|k| k.primary_color.is_some()).count();
    assert_eq!(count(conn, "SELECT count(primary_color_id) AS n FROM kits").await, primary);
    let rated = c.kits.iter().filter(|k| k.rating.is_some()).count();
    assert_eq!(count(conn, "SELECT count(rating) AS n FROM kits").await, rated);

    // Kit 1 is the complete Arsenal 2005-06 home kit.
    let kit_one = "SELECT count(*) AS n FROM kits k \
         JOIN clubs c ON c.id = k.team_id JOIN seasons s ON s.id = k.season_id \
         JOIN kit_types t ON t.id = k.type_id JOIN brands b ON b.id = k.brand_id \
         JOIN colors col ON col.id = k.primary_color_id \
         WHERE k.id = 1 AND k.name = 'Arsenal 2005-06 Home Kit' AND c.slug = 'arsenal' AND s.year = '2005-06' \
           AND t.name = 'Home' AND b.slug = 'nike-kits' AND col.name = 'Claret' AND k.rating = 4.85 \
           AND (SELECT count(*) FROM kit_competitions WHERE kit_id = 1) = 3 \
           AND (SELECT count(*) FROM kit_secondary_colors WHERE kit_id = 1) = 2";
    assert_eq!(count(conn, kit_one).await, 1);
    let arsenal_2005 = "SELECT count(*) AS n FROM kits k JOIN clubs c ON c.id = k.team_id \
         JOIN seasons s ON s.id = k.season_id WHERE c.name = 'Arsenal' AND s.first_year = '2005'";
    assert!(count(conn, arsenal_2005).await >= 2);
}

fn same_totals(a: &SeedReport, b: &SeedReport) -> bool {
    (a.clubs, a.seasons, a.brands, a.competitions, a.kit_types, a.colors, a.kits)
        == (b.clubs, b.seasons, b.brands, b.competitions, b.kit_types, b.colors, b.kits)
}

#[tokio::test]
async fn seeds_small_idempotently_then_grows_to_medium() {
    let db = migrated_database("seed").await;
    {
        let mut conn = PgConn::establish(&db.url).await.unwrap();
        let small = generate(Scale::Small).unwrap();
        assert!(!has_kits(&mut conn).await.unwrap());
        let first = seed(&mut conn, Scale::Small).await.unwrap();
        assert!(has_kits(&mut conn).await.unwrap());
        assert_eq!((first.clubs, first.kits, first.inserted_kits), (200, 5_000, 5_000));
        assert_eq!((first.seasons, first.kit_types, first.colors), (153, 14, 17));
        assert_eq!((first.brands, first.competitions), (small.brands.len(), small.competitions.len()));
        assert_db_holds(&mut conn, &small).await;

        let again = seed(&mut conn, Scale::Small).await.unwrap();
        assert_eq!(again.inserted_kits, 0);
        assert!(same_totals(&first, &again), "{first:?} vs {again:?}");
        assert_db_holds(&mut conn, &small).await;

        let grown = seed(&mut conn, Scale::Medium).await.unwrap();
        assert_eq!((grown.clubs, grown.kits, grown.inserted_kits), (2_000, 50_000, 45_000));
        assert_db_holds(&mut conn, &generate(Scale::Medium).unwrap()).await;
    }
}

/// Seeds every scale into a fresh database and prints how long it took:
/// `cargo test -p fkapi-tests --release --test seed -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "slow: seeds all three scales"]
async fn seed_timings() {
    for scale in Scale::ALL {
        let db = migrated_database(scale.as_str()).await;
        {
            let started = Instant::now();
            let catalogue = generate(scale).unwrap();
            let generated = started.elapsed();
            drop(catalogue);
            let mut conn = PgConn::establish(&db.url).await.unwrap();
            let report = seed(&mut conn, scale).await.unwrap();
            assert_eq!((report.clubs, report.kits, report.inserted_kits), (scale.clubs(), scale.kits(), scale.kits()));
            let again = seed(&mut conn, scale).await.unwrap();
            assert_eq!(again.inserted_kits, 0);
            println!(
                "{scale}: generate {generated:.2?}, seed (incl. generate + ANALYZE) {:.2?}, re-seed {:.2?}: {report:?}",
                report.elapsed, again.elapsed
            );
        }
    }
}
