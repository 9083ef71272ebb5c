//! `GET /api/random-clubs/`: FKApi's random clubs (those with a real logo),
//! paged through one seeded shuffle (see [`fkapi_web::ShuffleQuery`]) so
//! that pages of one shuffle never repeat a club and each can be cached.

use crate::scopes::{club_kits, CLUBS};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use fkapi_cache::{generate_cache_key, LoadCtx};
use fkapi_db::schema::{clubs, kits};
use fkapi_db::PgConn;
use fkapi_web::{shuffled_order, PageLinks};
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;

/// FKApi's stand-in logo for a club without one: such a club is left out.
pub const PLACEHOLDER_LOGO: &str = "https://www.footballkitarchive.com/static/logos/not_found.png";

/// One club of the random listing, in FKApi's shape.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RandomClub {
    #[schema(example = 1)]
    pub id: i32,
    #[schema(example = "Arsenal")]
    pub name: String,
    #[schema(example = "arsenal")]
    pub slug: String,
    pub logo: String,
    /// ISO 3166 alpha-2.
    #[schema(example = "GB")]
    pub country: Option<String>,
    /// Kits of the club in the catalogue.
    #[schema(example = 150)]
    pub kit_count: i64,
}

/// `GET /api/random-clubs/`: one page of one shuffle.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RandomClubsPage {
    pub clubs: Vec<RandomClub>,
    pub pagination: PageLinks,
    /// The shuffle these pages come from; send it back as `seed` to keep
    /// paging through the same order.
    #[schema(example = 5_893_021)]
    pub seed: i64,
}

/// FKApi's key shape for one page of one shuffle.
pub fn random_clubs_key(seed: i64, page: i64, page_size: i64) -> String {
    generate_cache_key("random_clubs", &[&"seed", &seed, &"page", &page, &"page_size", &page_size], &[])
}

type ClubRow = (i32, String, String, Option<String>, Option<String>);

impl RandomClubsPage {
    /// Three phases, for the reason the kit detail has two: the entry must
    /// record each row's generation before reading it. `clubs` (recorded by
    /// the cache before this runs) covers which clubs have a logo, their
    /// order and their columns; the kit counts are the clubs' sets of kits,
    /// `club_kits:<id>`, known only once the page's clubs are, so they are
    /// recorded after the clubs are picked and before the kits are counted.
    pub async fn load(
        conn: &mut PgConn,
        load: &LoadCtx,
        seed: i64,
        page: i64,
        page_size: i64,
    ) -> QueryResult<RandomClubsPage> {
        let with_logo = || {
            clubs::table
                .filter(clubs::logo.is_not_null())
                .filter(clubs::logo.ne(""))
                .filter(clubs::logo.ne(PLACEHOLDER_LOGO))
        };
        let total: i64 = with_logo().count().get_result(conn).await?;
        let pagination = PageLinks::new(page, page_size, total);
        let rows: Vec<ClubRow> = with_logo()
            .order(shuffled_order("clubs.id", seed))
            .limit(page_size)
            .offset(pagination.offset(page_size))
            .select((clubs::id, clubs::name, clubs::slug, clubs::logo, clubs::country))
            .load(conn)
            .await?;
        let ids: Vec<i32> = rows.iter().map(|row| row.0).collect();
        load.depend_on(ids.iter().map(|id| club_kits(*id))).await;
        let counts: HashMap<i32, i64> = kits::table
            .filter(kits::team_id.eq_any(&ids))
            .group_by(kits::team_id)
            .select((kits::team_id, diesel::dsl::count_star()))
            .load::<(i32, i64)>(conn)
            .await?
            .into_iter()
            .collect();
        let clubs = rows
            .into_iter()
            .map(|(id, name, slug, logo, country)| RandomClub {
                id,
                name,
                slug,
                logo: logo.unwrap_or_default(),
                country,
                kit_count: counts.get(&id).copied().unwrap_or(0),
            })
            .collect();
        Ok(RandomClubsPage { clubs, pagination, seed })
    }
}

/// What a page depends on before its clubs are known.
pub const RANDOM_CLUBS_SCOPES: [fkapi_cache::Scope; 1] = [CLUBS];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_the_shuffle_and_the_page() {
        assert_eq!(random_clubs_key(42, 1, 20), "random_clubs_seed_42_page_1_page_size_20");
    }
}
