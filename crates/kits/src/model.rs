//! Kit read models in FKApi's JSON shapes, and the queries that build them.
//!
//! The detail and bulk reads come in two phases (see `routes.rs`): a small
//! query resolving the rows a kit points at, so the caller can record those
//! rows' cache generations, then the queries that build the response.

use crate::reference::{Brand, Color, Competition, KitType};
use crate::scopes;
use bigdecimal::{BigDecimal, RoundingMode, ToPrimitive};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use fkapi_cache::Scope;
use fkapi_clubs::Club;
use fkapi_db::schema::{
    brands, clubs, colors, competitions, kit_competitions, kit_secondary_colors, kit_types, kits, seasons,
};
use fkapi_db::PgConn;
use fkapi_seasons::Season;
use futures::FutureExt;
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;

use crate::filters::KitFilter;

/// FKApi's `KitJsonSchema`: one kit with everything it points at.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct KitDetail {
    #[schema(example = 1)]
    pub id: i32,
    #[schema(example = "Arsenal 2005-06 Home")]
    pub name: String,
    #[schema(example = "arsenal-2005-06-home-kit")]
    pub slug: String,
    pub team: Club,
    pub season: Season,
    /// The competitions the kit was worn in.
    pub competition: Vec<Competition>,
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub kit_type: KitType,
    pub brand: Brand,
    #[schema(example = "Plain")]
    pub design: Option<String>,
    pub primary_color: Option<Color>,
    pub secondary_color: Vec<Color>,
    #[schema(example = "https://cdn.footballkitarchive.com/2005/06/arsenal-home.jpg")]
    pub main_img_url: String,
    /// 0 to 5, two decimals.
    #[schema(example = 4.35)]
    pub rating: Option<f64>,
    pub last_updated: DateTime<Utc>,
}

/// One kit in a list (`GET /api/kits`, `GET /api/clubs/{id}/kits`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct KitListItem {
    #[schema(example = 1)]
    pub id: i32,
    #[schema(example = "Arsenal 2005-06 Home")]
    pub name: String,
    #[schema(example = "arsenal-2005-06-home-kit")]
    pub slug: String,
    #[schema(example = "https://cdn.footballkitarchive.com/2005/06/arsenal-home.jpg")]
    pub main_img_url: String,
    #[schema(example = 1)]
    pub team_id: i32,
    #[schema(example = "Arsenal")]
    pub team_name: String,
    #[schema(example = 12)]
    pub season_id: i32,
    #[schema(example = "2005-06")]
    pub season_year: String,
    #[schema(example = 3)]
    pub brand_id: i32,
    #[schema(example = 4.35)]
    pub rating: Option<f64>,
}

/// FKApi's `KitBulkSchema`: what `GET /api/kits/bulk` returns per kit.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct KitBulkItem {
    #[schema(example = "arsenal-2005-06-home-kit")]
    pub slug: String,
    #[schema(example = "Arsenal 2005-06 Home")]
    pub name: String,
    pub team: BulkTeam,
    pub season: BulkSeason,
    pub brand: BulkBrand,
    #[schema(example = "https://cdn.footballkitarchive.com/2005/06/arsenal-home.jpg")]
    pub main_img_url: String,
}

/// The club part of [`KitBulkItem`].
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BulkTeam {
    #[schema(example = "Arsenal")]
    pub name: String,
    pub logo: Option<String>,
    pub logo_dark: Option<String>,
    #[schema(example = "GB")]
    pub country: Option<String>,
}

/// The season part of [`KitBulkItem`].
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BulkSeason {
    #[schema(example = "2005-06")]
    pub year: String,
}

/// The brand part of [`KitBulkItem`].
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BulkBrand {
    #[schema(example = "Nike")]
    pub name: String,
    pub logo: Option<String>,
    pub logo_dark: Option<String>,
}

/// A stored rating (numeric(3,2)) as the JSON number FKApi sends.
pub(crate) fn rating_number(rating: Option<BigDecimal>) -> Option<f64> {
    rating.and_then(|r| r.with_scale_round(2, RoundingMode::HalfEven).to_f64())
}

/// The rows kit `id` points at, resolved before the response is built so
/// their cache generations can be recorded first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KitRefs {
    pub team_id: i32,
    pub season_id: i32,
    pub brand_id: i32,
    pub type_id: i32,
    pub competition_ids: Vec<i32>,
}

impl KitRefs {
    /// One small query (the kit left-joined to its competition links);
    /// `None` when there is no such kit.
    pub async fn of_kit(conn: &mut PgConn, id: i32) -> QueryResult<Option<KitRefs>> {
        let rows: Vec<(i32, i32, i32, i32, Option<i32>)> = kits::table
            .left_join(kit_competitions::table)
            .filter(kits::id.eq(id))
            .select((
                kits::team_id,
                kits::season_id,
                kits::brand_id,
                kits::type_id,
                kit_competitions::competition_id.nullable(),
            ))
            .load(conn)
            .await?;
        let Some(&(team_id, season_id, brand_id, type_id, _)) = <[_]>::first(&rows) else { return Ok(None) };
        let competition_ids = rows.iter().filter_map(|row| row.4).collect();
        Ok(Some(KitRefs { team_id, season_id, brand_id, type_id, competition_ids }))
    }

    /// The scopes a detail built from these rows depends on. Kit types and
    /// colours have table-wide scopes only.
    pub fn scopes(&self) -> Vec<Scope> {
        let mut out = vec![
            fkapi_clubs::scopes::club(self.team_id),
            fkapi_seasons::scopes::season(self.season_id),
            scopes::brand(self.brand_id),
        ];
        out.extend(self.competition_ids.iter().map(|id| scopes::competition(*id)));
        out.push(scopes::KIT_TYPES);
        out.push(scopes::COLORS);
        out
    }
}

/// The kit's own columns of [`KitDetail`].
#[derive(Queryable, Selectable)]
#[diesel(table_name = kits)]
struct KitColumns {
    id: i32,
    name: String,
    slug: String,
    design: Option<String>,
    main_img_url: String,
    rating: Option<BigDecimal>,
    last_updated: DateTime<Utc>,
}

type DetailRow = (KitColumns, Club, Season, KitType, Brand, Option<Color>);

impl KitDetail {
    /// The ids of the `limit` most recently updated kits, newest first.
    pub async fn newest_ids(conn: &mut PgConn, limit: i64) -> QueryResult<Vec<i32>> {
        kits::table.select(kits::id).order((kits::last_updated.desc(), kits::id.desc())).limit(limit).load(conn).await
    }

    /// Three queries, pipelined on one connection: the kit joined to its
    /// club, season, type, brand and primary colour; its competitions; its
    /// secondary colours. `None` when there is no such kit.
    pub async fn load(conn: &mut PgConn, id: i32) -> QueryResult<Option<KitDetail>> {
        // Boxed: joining the unboxed diesel futures trips rustc's
        // higher-ranked `Send` inference once the loader must be `Send`.
        let main = kits::table
            .inner_join(clubs::table)
            .inner_join(seasons::table)
            .inner_join(kit_types::table)
            .inner_join(brands::table)
            .left_join(colors::table)
            .filter(kits::id.eq(id))
            .select((
                KitColumns::as_select(),
                Club::as_select(),
                Season::as_select(),
                KitType::as_select(),
                Brand::as_select(),
                Option::<Color>::as_select(),
            ))
            .load::<DetailRow>(conn)
            .boxed();
        let competition = competitions::table
            .inner_join(kit_competitions::table)
            .filter(kit_competitions::kit_id.eq(id))
            .order(competitions::id)
            .select(Competition::as_select())
            .load::<Competition>(conn)
            .boxed();
        let secondary_color = colors::table
            .inner_join(kit_secondary_colors::table)
            .filter(kit_secondary_colors::kit_id.eq(id))
            .order(colors::id)
            .select(Color::as_select())
            .load::<Color>(conn)
            .boxed();
        let (main, competition, secondary_color) = futures::try_join!(main, competition, secondary_color)?;
        // Filtered by primary key: zero or one row.
        let Some((kit, team, season, kit_type, brand, primary_color)) = main.into_iter().next() else {
            return Ok(None);
        };
        Ok(Some(KitDetail {
            id: kit.id,
            name: kit.name,
            slug: kit.slug,
            team,
            season,
            competition,
            kit_type,
            brand,
            design: kit.design,
            primary_color,
            secondary_color,
            main_img_url: kit.main_img_url,
            rating: rating_number(kit.rating),
            last_updated: kit.last_updated,
        }))
    }
}

/// What [`list_columns`] loads: one [`KitListItem`] before conversion.
pub type ListRow = (i32, String, String, String, i32, String, i32, String, i32, Option<BigDecimal>);

/// The columns of a [`KitListItem`], for any query that joins kits with
/// their club and season (the kit lists, a user's collection); select them
/// with [`list_columns`], load them as a [`ListRow`] and build the item with
/// [`KitListItem::from_row`].
pub type ListColumns = (
    kits::id,
    kits::name,
    kits::slug,
    kits::main_img_url,
    kits::team_id,
    clubs::name,
    kits::season_id,
    seasons::year,
    kits::brand_id,
    kits::rating,
);

/// The [`ListColumns`] to pass to `select` (columns are unit values).
pub fn list_columns() -> ListColumns {
    ListColumns::default()
}

impl KitListItem {
    /// The item of a row loaded with [`list_columns`].
    pub fn from_row(row: ListRow) -> KitListItem {
        let (id, name, slug, main_img_url, team_id, team_name, season_id, season_year, brand_id, rating) = row;
        KitListItem {
            id,
            name,
            slug,
            main_img_url,
            team_id,
            team_name,
            season_id,
            season_year,
            brand_id,
            rating: rating_number(rating),
        }
    }

    /// One page of the kits matching `filter`: newest season first, then
    /// the kit type's category and priority (home before away…), then id.
    pub async fn list(
        conn: &mut PgConn,
        filter: &KitFilter,
        page: i64,
        page_size: i64,
    ) -> QueryResult<Vec<KitListItem>> {
        let mut query =
            kits::table.inner_join(clubs::table).inner_join(seasons::table).inner_join(kit_types::table).into_boxed();
        if let Some(club) = filter.club {
            query = query.filter(kits::team_id.eq(club));
        }
        if let Some(season) = filter.season {
            query = query.filter(kits::season_id.eq(season));
        }
        if let Some(country) = &filter.country {
            query = query.filter(clubs::country.eq(country.clone()));
        }
        if let Some(color) = filter.primary_color {
            let color_ids = colors::table.filter(colors::name.eq(color)).select(colors::id.nullable());
            query = query.filter(kits::primary_color_id.eq_any(color_ids));
        }
        for color in &filter.secondary_colors {
            let has_color = kit_secondary_colors::table
                .inner_join(colors::table)
                .filter(kit_secondary_colors::kit_id.eq(kits::id))
                .filter(colors::name.eq(*color));
            query = query.filter(diesel::dsl::exists(has_color));
        }
        if let Some(design) = filter.design {
            query = query.filter(kits::design.eq(design));
        }
        if let Some(year) = filter.year {
            let year = format!("{year:04}");
            query = query.filter(seasons::first_year.eq(year.clone()).nullable().or(seasons::second_year.eq(year)));
        }
        if let Some(first_year) = filter.first_year {
            query = query.filter(seasons::first_year.eq(format!("{first_year:04}")));
        }
        if let Some(second_year) = filter.second_year {
            query = query.filter(seasons::second_year.eq(format!("{second_year:04}")));
        }
        if let Some(brand) = filter.brand {
            query = query.filter(kits::brand_id.eq(brand));
        }
        let rows: Vec<ListRow> = query
            .order((
                seasons::first_year.desc(),
                kit_types::category_order.asc(),
                kit_types::order_priority.asc(),
                kits::id.asc(),
            ))
            .limit(page_size)
            .offset((page - 1) * page_size)
            .select(list_columns())
            .load(conn)
            .await?;
        Ok(rows.into_iter().map(KitListItem::from_row).collect())
    }
}

/// A kit found by slug in the first phase of a bulk read.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct BulkRef {
    pub id: i32,
    pub team_id: i32,
    pub season_id: i32,
    pub brand_id: i32,
}

impl BulkRef {
    /// The kits with these slugs (unknown slugs simply have no row).
    pub async fn of_slugs(conn: &mut PgConn, slugs: &[String]) -> QueryResult<Vec<BulkRef>> {
        kits::table
            .filter(kits::slug.eq_any(slugs))
            .select((kits::id, kits::team_id, kits::season_id, kits::brand_id))
            .load(conn)
            .await
    }

    /// The club, season and brand rows bulk items built from `refs` show.
    pub fn scopes(refs: &[BulkRef]) -> Vec<Scope> {
        let mut out: Vec<Scope> = Vec::with_capacity(refs.len() * 3);
        for r in refs {
            for scope in [
                fkapi_clubs::scopes::club(r.team_id),
                fkapi_seasons::scopes::season(r.season_id),
                scopes::brand(r.brand_id),
            ] {
                if !out.contains(&scope) {
                    out.push(scope);
                }
            }
        }
        out
    }
}

type BulkRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    String,
    Option<String>,
    Option<String>,
);

impl KitBulkItem {
    /// The kits with ids `ids` in one join query, returned in the order of
    /// `slugs` (each once; slugs without a kit skipped).
    pub async fn load(conn: &mut PgConn, ids: &[i32], slugs: &[String]) -> QueryResult<Vec<KitBulkItem>> {
        let rows: Vec<BulkRow> = kits::table
            .inner_join(clubs::table)
            .inner_join(seasons::table)
            .inner_join(brands::table)
            .filter(kits::id.eq_any(ids))
            .select((
                kits::slug,
                kits::name,
                kits::main_img_url,
                clubs::name,
                clubs::logo,
                clubs::logo_dark,
                clubs::country,
                seasons::year,
                brands::name,
                brands::logo,
                brands::logo_dark,
            ))
            .load(conn)
            .await?;
        let mut by_slug: HashMap<String, KitBulkItem> = rows
            .into_iter()
            .map(
                |(
                    slug,
                    name,
                    main_img_url,
                    team_name,
                    team_logo,
                    team_logo_dark,
                    country,
                    year,
                    brand_name,
                    brand_logo,
                    brand_logo_dark,
                )| {
                    let item = KitBulkItem {
                        slug: slug.clone(),
                        name,
                        team: BulkTeam { name: team_name, logo: team_logo, logo_dark: team_logo_dark, country },
                        season: BulkSeason { year },
                        brand: BulkBrand { name: brand_name, logo: brand_logo, logo_dark: brand_logo_dark },
                        main_img_url,
                    };
                    (slug, item)
                },
            )
            .collect();
        Ok(slugs.iter().filter_map(|slug| by_slug.remove(slug)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn ratings_become_numbers_with_two_decimals() {
        let parse = |s: &str| BigDecimal::from_str(s).ok();
        assert_eq!(rating_number(parse("4.35")), Some(4.35));
        assert_eq!(rating_number(parse("4.50")), Some(4.5));
        assert_eq!(rating_number(parse("5")), Some(5.0));
        assert_eq!(rating_number(None), None);
    }

    #[test]
    fn detail_scopes_cover_every_row_shown() {
        let refs = KitRefs { team_id: 3, season_id: 7, brand_id: 2, type_id: 1, competition_ids: vec![4, 9] };
        let names: Vec<String> = refs.scopes().iter().map(ToString::to_string).collect();
        assert_eq!(names, ["club:3", "season:7", "brand:2", "competition:4", "competition:9", "kit_types", "colors"]);
    }

    #[test]
    fn bulk_scopes_are_deduplicated() {
        let refs = [
            BulkRef { id: 1, team_id: 3, season_id: 7, brand_id: 2 },
            BulkRef { id: 2, team_id: 3, season_id: 8, brand_id: 2 },
        ];
        let names: Vec<String> = BulkRef::scopes(&refs).iter().map(ToString::to_string).collect();
        assert_eq!(names, ["club:3", "season:7", "brand:2", "season:8"]);
    }
}
