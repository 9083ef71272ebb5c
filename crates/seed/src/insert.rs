//! Inserting a catalogue: one transaction, a handful of bulk
//! `INSERT ... SELECT FROM unnest(...)` statements, skipping rows that
//! already exist, so seeding is idempotent and never burns identity values
//! on rows it skips.

use crate::generate::{
    generate, BrandRow, Catalogue, ClubRow, ColorRow, CompetitionRow, KitRow, KitTypeRow, SeasonRow,
};
use crate::{Scale, SeedError, SeedReport};
use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Numeric, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, RunQueryDsl};
use fkapi_db::{DbError, PgConn};
use std::time::Instant;

/// Rows per statement for the big tables (kits and the link tables).
const CHUNK: usize = 50_000;

/// Generates the catalogue for `scale` and inserts whatever of it is missing,
/// in one transaction, then runs ANALYZE. Idempotent: a second run inserts
/// nothing; seeding a smaller scale then a larger one yields the larger
/// catalogue with the same ids a fresh seed would give.
pub async fn seed(conn: &mut PgConn, scale: Scale) -> Result<SeedReport, SeedError> {
    let started = Instant::now();
    let catalogue = generate(scale)?;
    tracing::info!(
        scale = %scale,
        clubs = catalogue.clubs.len(),
        kits = catalogue.kits.len(),
        generate_ms = started.elapsed().as_millis() as u64,
        "generated demo catalogue"
    );
    let mut report = insert_catalogue(conn, &catalogue).await?;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Bulk loading is dominated by foreign-key checks and the change-notify
/// triggers. The seeder's rows satisfy every foreign key by construction
/// (they are joined on natural keys), so a superuser may skip both for the
/// transaction (`session_replication_role = replica`); CHECK and UNIQUE
/// constraints still apply. Other roles seed with triggers on.
async fn skip_triggers_if_allowed(conn: &mut PgConn) -> Result<bool, DbError> {
    #[derive(QueryableByName)]
    struct Superuser {
        #[diesel(sql_type = Bool)]
        superuser: bool,
    }
    let role: Superuser = diesel::sql_query("SELECT rolsuper AS superuser FROM pg_roles WHERE rolname = current_user")
        .get_result(conn)
        .await?;
    if role.superuser {
        diesel::sql_query("SET LOCAL session_replication_role = replica").execute(conn).await?;
    }
    Ok(role.superuser)
}

/// True when the kits table has at least one row (for `seed --if-empty`).
pub async fn has_kits(conn: &mut PgConn) -> Result<bool, DbError> {
    #[derive(QueryableByName)]
    struct Present {
        #[diesel(sql_type = Bool)]
        present: bool,
    }
    let row: Present = diesel::sql_query("SELECT EXISTS (SELECT 1 FROM kits) AS present").get_result(conn).await?;
    Ok(row.present)
}

/// Inserts the missing rows of `catalogue` in one transaction (rows are
/// matched on their natural keys: slug, or name for colours and kit types,
/// year for seasons), then runs ANALYZE on every catalogue table. Rows are
/// inserted in catalogue order, so on an empty database ids follow it.
pub async fn insert_catalogue(conn: &mut PgConn, catalogue: &Catalogue) -> Result<SeedReport, DbError> {
    let started = Instant::now();
    let inserted_kits = conn
        .transaction::<usize, DbError, _>(|conn| {
            async move {
                let skipped_triggers = skip_triggers_if_allowed(conn).await?;
                insert_colors(conn, &catalogue.colors).await?;
                insert_kit_types(conn, &catalogue.kit_types).await?;
                insert_brands(conn, &catalogue.brands).await?;
                insert_competitions(conn, &catalogue.competitions).await?;
                insert_seasons(conn, &catalogue.seasons).await?;
                let clubs = insert_clubs(conn, &catalogue.clubs).await?;
                tracing::debug!(clubs, ms = started.elapsed().as_millis() as u64, "seeded reference tables and clubs");
                let kits = insert_kits(conn, &catalogue.kits).await?;
                tracing::debug!(kits, ms = started.elapsed().as_millis() as u64, "seeded kits");
                insert_kit_links(conn, &catalogue.kits).await?;
                tracing::debug!(ms = started.elapsed().as_millis() as u64, "seeded kit competitions and colours");
                if skipped_triggers && kits > 0 {
                    // The change triggers did not fire: record in the change
                    // feed that everything may have changed (seen at commit).
                    diesel::sql_query(
                        "SELECT fkapi_record_change(t, NULL, NULL) FROM unnest(ARRAY['clubs', 'kits']) AS t",
                    )
                    .execute(conn)
                    .await?;
                }
                Ok(kits)
            }
            .scope_boxed()
        })
        .await?;
    diesel::sql_query(
        "ANALYZE colors, kit_types, brands, competitions, seasons, clubs, kits, kit_competitions, \
         kit_secondary_colors",
    )
    .execute(conn)
    .await?;
    let totals: Totals = diesel::sql_query(
        "SELECT (SELECT count(*) FROM clubs) AS clubs, (SELECT count(*) FROM seasons) AS seasons, \
         (SELECT count(*) FROM brands) AS brands, (SELECT count(*) FROM competitions) AS competitions, \
         (SELECT count(*) FROM kit_types) AS kit_types, (SELECT count(*) FROM colors) AS colors, \
         (SELECT count(*) FROM kits) AS kits",
    )
    .get_result(conn)
    .await?;
    let report = SeedReport {
        clubs: totals.clubs as usize,
        seasons: totals.seasons as usize,
        brands: totals.brands as usize,
        competitions: totals.competitions as usize,
        kit_types: totals.kit_types as usize,
        colors: totals.colors as usize,
        kits: totals.kits as usize,
        inserted_kits,
        elapsed: started.elapsed(),
    };
    tracing::info!(?report, "seeded demo catalogue");
    Ok(report)
}

#[derive(QueryableByName)]
struct Totals {
    #[diesel(sql_type = BigInt)]
    clubs: i64,
    #[diesel(sql_type = BigInt)]
    seasons: i64,
    #[diesel(sql_type = BigInt)]
    brands: i64,
    #[diesel(sql_type = BigInt)]
    competitions: i64,
    #[diesel(sql_type = BigInt)]
    kit_types: i64,
    #[diesel(sql_type = BigInt)]
    colors: i64,
    #[diesel(sql_type = BigInt)]
    kits: i64,
}

/// `0..len` in `CHUNK`-sized ranges.
fn chunks(len: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    (0..len).step_by(CHUNK).map(move |start| start..(start + CHUNK).min(len))
}

fn strs<T>(rows: &[T], f: impl Fn(&T) -> &String) -> Vec<&str> {
    rows.iter().map(|r| f(r).as_str()).collect()
}

fn opt_strs<T>(rows: &[T], f: impl Fn(&T) -> &Option<String>) -> Vec<Option<&str>> {
    rows.iter().map(|r| f(r).as_deref()).collect()
}

// Every statement below skips rows whose natural key already exists with
// NOT EXISTS *before* the insert (so no identity values are burnt on them:
// ON CONFLICT alone would still call nextval for every skipped row, and ids
// would then differ from a fresh seed), keeps ON CONFLICT DO NOTHING for
// concurrent seeders, and ORDER BY the array position so ids follow the
// catalogue.

async fn insert_colors(conn: &mut PgConn, rows: &[ColorRow]) -> Result<usize, DbError> {
    Ok(diesel::sql_query(
        "INSERT INTO colors (name, color) \
         SELECT t.name, t.color FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(name, color, ord) \
         WHERE NOT EXISTS (SELECT 1 FROM colors x WHERE x.name = t.name) \
         ORDER BY t.ord ON CONFLICT (name) DO NOTHING",
    )
    .bind::<Array<Text>, _>(strs(rows, |r| &r.name))
    .bind::<Array<Text>, _>(strs(rows, |r| &r.color))
    .execute(conn)
    .await?)
}

async fn insert_kit_types(conn: &mut PgConn, rows: &[KitTypeRow]) -> Result<usize, DbError> {
    Ok(diesel::sql_query(
        "INSERT INTO kit_types (name, category, category_order, order_priority, is_goalkeeper) \
         SELECT t.name, t.category, t.category_order, t.order_priority, t.is_goalkeeper \
         FROM unnest($1::text[], $2::text[], $3::int4[], $4::int4[], $5::bool[]) \
              WITH ORDINALITY AS t(name, category, category_order, order_priority, is_goalkeeper, ord) \
         WHERE NOT EXISTS (SELECT 1 FROM kit_types x WHERE x.name = t.name) \
         ORDER BY t.ord ON CONFLICT (name) DO NOTHING",
    )
    .bind::<Array<Text>, _>(strs(rows, |r| &r.name))
    .bind::<Array<Text>, _>(strs(rows, |r| &r.category))
    .bind::<Array<Integer>, _>(rows.iter().map(|r| r.category_order).collect::<Vec<_>>())
    .bind::<Array<Integer>, _>(rows.iter().map(|r| r.order_priority).collect::<Vec<_>>())
    .bind::<Array<Bool>, _>(rows.iter().map(|r| r.is_goalkeeper).collect::<Vec<_>>())
    .execute(conn)
    .await?)
}

async fn insert_brands(conn: &mut PgConn, rows: &[BrandRow]) -> Result<usize, DbError> {
    Ok(diesel::sql_query(
        "INSERT INTO brands (name, slug, logo, logo_dark) \
         SELECT t.name, t.slug, t.logo, t.logo_dark \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) \
              WITH ORDINALITY AS t(name, slug, logo, logo_dark, ord) \
         WHERE NOT EXISTS (SELECT 1 FROM brands x WHERE x.slug = t.slug) \
         ORDER BY t.ord ON CONFLICT (slug) DO NOTHING",
    )
    .bind::<Array<Text>, _>(strs(rows, |r| &r.name))
    .bind::<Array<Text>, _>(strs(rows, |r| &r.slug))
    .bind::<Array<Nullable<Text>>, _>(opt_strs(rows, |r| &r.logo))
    .bind::<Array<Nullable<Text>>, _>(opt_strs(rows, |r| &r.logo_dark))
    .execute(conn)
    .await?)
}

async fn insert_competitions(conn: &mut PgConn, rows: &[CompetitionRow]) -> Result<usize, DbError> {
    Ok(diesel::sql_query(
        "INSERT INTO competitions (name, slug, logo, logo_dark, country) \
         SELECT t.name, t.slug, t.logo, t.logo_dark, t.country \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) \
              WITH ORDINALITY AS t(name, slug, logo, logo_dark, country, ord) \
         WHERE NOT EXISTS (SELECT 1 FROM competitions x WHERE x.slug = t.slug) \
         ORDER BY t.ord ON CONFLICT (slug) DO NOTHING",
    )
    .bind::<Array<Text>, _>(strs(rows, |r| &r.name))
    .bind::<Array<Text>, _>(strs(rows, |r| &r.slug))
    .bind::<Array<Nullable<Text>>, _>(opt_strs(rows, |r| &r.logo))
    .bind::<Array<Nullable<Text>>, _>(opt_strs(rows, |r| &r.logo_dark))
    .bind::<Array<Nullable<Text>>, _>(opt_strs(rows, |r| &r.country))
    .execute(conn)
    .await?)
}

async fn insert_seasons(conn: &mut PgConn, rows: &[SeasonRow]) -> Result<usize, DbError> {
    Ok(diesel::sql_query(
        "INSERT INTO seasons (year, first_year, second_year) \
         SELECT t.year, t.first_year, t.second_year \
         FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS t(year, first_year, second_year, ord) \
         WHERE NOT EXISTS (SELECT 1 FROM seasons x WHERE x.year = t.year) \
         ORDER BY t.ord ON CONFLICT (year) DO NOTHING",
    )
    .bind::<Array<Text>, _>(strs(rows, |r| &r.year))
    .bind::<Array<Text>, _>(strs(rows, |r| &r.first_year))
    .bind::<Array<Nullable<Text>>, _>(opt_strs(rows, |r| &r.second_year))
    .execute(conn)
    .await?)
}

async fn insert_clubs(conn: &mut PgConn, rows: &[ClubRow]) -> Result<usize, DbError> {
    let mut inserted = 0;
    for range in chunks(rows.len()) {
        let rows = &rows[range];
        // Untargeted ON CONFLICT: clubs has two unique keys (slug, id_fka).
        inserted += diesel::sql_query(
            "INSERT INTO clubs (id_fka, name, slug, logo, logo_dark, country) \
             SELECT t.id_fka, t.name, t.slug, t.logo, t.logo_dark, t.country \
             FROM unnest($1::int4[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) \
                  WITH ORDINALITY AS t(id_fka, name, slug, logo, logo_dark, country, ord) \
             WHERE NOT EXISTS (SELECT 1 FROM clubs x WHERE x.slug = t.slug) \
             ORDER BY t.ord ON CONFLICT DO NOTHING",
        )
        .bind::<Array<Integer>, _>(rows.iter().map(|r| r.id_fka).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(strs(rows, |r| &r.name))
        .bind::<Array<Text>, _>(strs(rows, |r| &r.slug))
        .bind::<Array<Nullable<Text>>, _>(opt_strs(rows, |r| &r.logo))
        .bind::<Array<Nullable<Text>>, _>(opt_strs(rows, |r| &r.logo_dark))
        .bind::<Array<Nullable<Text>>, _>(opt_strs(rows, |r| &r.country))
        .execute(&mut *conn)
        .await?;
    }
    Ok(inserted)
}

/// Inserts the kits, resolving club, season, type, brand and primary colour
/// by natural key; returns how many were inserted.
async fn insert_kits(conn: &mut PgConn, rows: &[KitRow]) -> Result<usize, DbError> {
    let mut inserted = 0;
    for range in chunks(rows.len()) {
        let rows = &rows[range];
        inserted += diesel::sql_query(
            "INSERT INTO kits (name, slug, team_id, season_id, type_id, brand_id, design, main_img_url, rating, \
                               primary_color_id, last_updated) \
             SELECT t.name, t.slug, c.id, s.id, kt.id, b.id, t.design, t.main_img_url, t.rating, col.id, \
                    t.last_updated \
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
                         $8::text[], $9::numeric[], $10::text[], $11::timestamptz[]) \
                  WITH ORDINALITY AS t(name, slug, club_slug, season_year, type_name, brand_slug, design, \
                                       main_img_url, rating, primary_color, last_updated, ord) \
             JOIN clubs c ON c.slug = t.club_slug \
             JOIN seasons s ON s.year = t.season_year \
             JOIN kit_types kt ON kt.name = t.type_name \
             JOIN brands b ON b.slug = t.brand_slug \
             LEFT JOIN colors col ON col.name = t.primary_color \
             WHERE NOT EXISTS (SELECT 1 FROM kits x WHERE x.slug = t.slug) \
             ORDER BY t.ord ON CONFLICT (slug) DO NOTHING",
        )
        .bind::<Array<Text>, _>(strs(rows, |r| &r.name))
        .bind::<Array<Text>, _>(strs(rows, |r| &r.slug))
        .bind::<Array<Text>, _>(strs(rows, |r| &r.club_slug))
        .bind::<Array<Text>, _>(strs(rows, |r| &r.season_year))
        .bind::<Array<Text>, _>(strs(rows, |r| &r.type_name))
        .bind::<Array<Text>, _>(strs(rows, |r| &r.brand_slug))
        .bind::<Array<Nullable<Text>>, _>(opt_strs(rows, |r| &r.design))
        .bind::<Array<Text>, _>(strs(rows, |r| &r.main_img_url))
        .bind::<Array<Nullable<Numeric>>, _>(rows.iter().map(|r| r.rating.as_ref()).collect::<Vec<_>>())
        .bind::<Array<Nullable<Text>>, _>(opt_strs(rows, |r| &r.primary_color))
        .bind::<Array<Timestamptz>, _>(rows.iter().map(|r| r.last_updated).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await?;
    }
    Ok(inserted)
}

/// Inserts kit_competitions and kit_secondary_colors by (kit slug,
/// competition slug) and (kit slug, colour name).
async fn insert_kit_links(conn: &mut PgConn, kits: &[KitRow]) -> Result<(), DbError> {
    insert_links(conn, kits, |k| &k.competitions, "kit_competitions", "competition_id", "competitions", "slug").await?;
    insert_links(conn, kits, |k| &k.secondary_colors, "kit_secondary_colors", "color_id", "colors", "name").await
}

/// Inserts the (kit, other row) pairs of one link table, joining both sides
/// on their natural keys. Table and column names are constants of ours,
/// never input.
async fn insert_links(
    conn: &mut PgConn,
    kits: &[KitRow],
    linked: impl Fn(&KitRow) -> &Vec<String>,
    link_table: &str,
    link_column: &str,
    other_table: &str,
    other_key: &str,
) -> Result<(), DbError> {
    let pairs: Vec<(&str, &str)> =
        kits.iter().flat_map(|k| linked(k).iter().map(move |o| (k.slug.as_str(), o.as_str()))).collect();
    let statement = format!(
        "INSERT INTO {link_table} (kit_id, {link_column}) \
         SELECT k.id, o.id \
         FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(kit_slug, other_key, ord) \
         JOIN kits k ON k.slug = t.kit_slug \
         JOIN {other_table} o ON o.{other_key} = t.other_key \
         ORDER BY t.ord ON CONFLICT DO NOTHING"
    );
    for range in chunks(pairs.len()) {
        let (kit_slugs, others): (Vec<&str>, Vec<&str>) = pairs[range].iter().copied().unzip();
        diesel::sql_query(&statement)
            .bind::<Array<Text>, _>(kit_slugs)
            .bind::<Array<Text>, _>(others)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
