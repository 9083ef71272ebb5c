//! The five searches: what each looks through, the rows it reads, the JSON
//! it returns and the scopes its cached answers depend on.

use crate::query::{Key, SeasonUse, Target};
use diesel::pg::Pg;
use diesel::sql_types::{Integer, Nullable, Text};
use diesel::QueryableByName;
use fkapi_cache::{CacheType, Scope, TtlClass};
use fkapi_clubs::scopes::CLUBS;
use fkapi_kits::scopes::{BRANDS, COMPETITIONS, KITS};
use fkapi_kits::{Brand, Competition};
use fkapi_seasons::scopes::SEASONS;
use fkapi_seasons::SeasonSummary;
use serde::Serialize;
use utoipa::ToSchema;

/// One search, declared once; the routes and the query are generic over it.
pub trait Search {
    /// Cache type; its name also labels the search's popularity counts.
    const CACHE_TYPE: &'static CacheType;
    /// What `warm-cache --search` warms before anybody has searched.
    const DEFAULT_KEYWORDS: &'static [&'static str];
    const TARGET: Target;
    /// What the query reads.
    type Row: QueryableByName<Pg> + Send + 'static;
    /// What the endpoint returns for each row.
    type Item: Serialize + From<Self::Row>;
    /// The tables whose changes make a cached answer stale.
    fn scopes() -> Vec<Scope>;
}

/// A club in search results (FKApi's `ClubSerializer`, plus `country`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ClubSearchResult {
    #[schema(example = 1)]
    pub id: i32,
    #[schema(example = "Arsenal")]
    pub name: String,
    #[schema(example = "arsenal")]
    pub slug: String,
    pub logo: Option<String>,
    /// ISO 3166 alpha-2.
    #[schema(example = "GB")]
    pub country: Option<String>,
}

/// A kit in search results.
#[derive(Debug, Clone, PartialEq, Serialize, QueryableByName, ToSchema)]
pub struct KitSearchResult {
    #[diesel(sql_type = Integer)]
    #[schema(example = 1)]
    pub id: i32,
    #[diesel(sql_type = Text)]
    #[schema(example = "Arsenal 2005-06 Home")]
    pub name: String,
    #[diesel(sql_type = Text)]
    #[schema(example = "arsenal-2005-06-home-kit")]
    pub slug: String,
    #[diesel(sql_type = Text)]
    pub main_img_url: String,
    /// The club's name.
    #[diesel(sql_type = Text)]
    #[schema(example = "Arsenal")]
    pub team_name: String,
    /// The season's year.
    #[diesel(sql_type = Text)]
    #[schema(example = "2005-06")]
    pub season_year: String,
}

/// A row of a table with a name, a slug and logos: clubs, brands and
/// competitions (brands select a NULL country).
#[derive(QueryableByName)]
pub struct NamedRow {
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    slug: String,
    #[diesel(sql_type = Nullable<Text>)]
    logo: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    logo_dark: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    country: Option<String>,
}

impl From<NamedRow> for ClubSearchResult {
    fn from(row: NamedRow) -> Self {
        ClubSearchResult { id: row.id, name: row.name, slug: row.slug, logo: row.logo, country: row.country }
    }
}

impl From<NamedRow> for Brand {
    fn from(row: NamedRow) -> Self {
        Brand { id: row.id, name: row.name, slug: row.slug, logo: row.logo, logo_dark: row.logo_dark }
    }
}

impl From<NamedRow> for Competition {
    fn from(row: NamedRow) -> Self {
        Competition {
            id: row.id,
            name: row.name,
            slug: row.slug,
            logo: row.logo,
            logo_dark: row.logo_dark,
            country: row.country,
        }
    }
}

#[derive(QueryableByName)]
pub struct SeasonRow {
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Text)]
    year: String,
}

impl From<SeasonRow> for SeasonSummary {
    fn from(row: SeasonRow) -> Self {
        SeasonSummary { id: row.id, year: row.year }
    }
}

const BY_NAME_LENGTH: &[Key] = &[Key::asc("length(t.name)"), Key::asc("t.id")];
const NEWEST_FIRST: &[Key] = &[Key::desc("s.first_year"), Key::asc("length(s.year)"), Key::asc("s.id")];

/// A table with a name and a unique slug, aliased `t`, searched by folded
/// name; shorter names first among equals.
const fn named(table: &'static str, select: &'static str) -> Target {
    Target {
        table,
        id: "t.id",
        rank_joins: "",
        select,
        output_joins: "",
        name: "lower(f_unaccent(t.name))",
        slug: Some("t.slug"),
        fuzzy: true,
        season: SeasonUse::Ignore,
        tiebreak: BY_NAME_LENGTH,
        season_only_order: BY_NAME_LENGTH,
    }
}

/// The five search cache types (FKApi's keys `search_<kind>_<keyword>`).
pub static SEARCH_CLUBS: CacheType = CacheType::new("search_clubs", "search_clubs", TtlClass::Short).serving_stale();
pub static SEARCH_BRANDS: CacheType = CacheType::new("search_brands", "search_brands", TtlClass::Short).serving_stale();
pub static SEARCH_COMPETITIONS: CacheType =
    CacheType::new("search_competitions", "search_competitions", TtlClass::Short).serving_stale();
pub static SEARCH_SEASONS: CacheType =
    CacheType::new("search_seasons", "search_seasons", TtlClass::Short).serving_stale();
pub static SEARCH_KITS: CacheType = CacheType::new("search_kits", "search_kits", TtlClass::Short).serving_stale();

pub struct Clubs;
pub struct Brands;
pub struct Competitions;
pub struct Seasons;
pub struct Kits;

impl Search for Clubs {
    const CACHE_TYPE: &'static CacheType = &SEARCH_CLUBS;
    const DEFAULT_KEYWORDS: &'static [&'static str] =
        &["arsenal", "manchester", "real", "barcelona", "bayern", "juventus", "liverpool", "milan"];
    const TARGET: Target = named("clubs t", "t.id, t.name, t.slug, t.logo, t.logo_dark, t.country");
    type Row = NamedRow;
    type Item = ClubSearchResult;
    fn scopes() -> Vec<Scope> {
        vec![CLUBS]
    }
}

impl Search for Brands {
    const CACHE_TYPE: &'static CacheType = &SEARCH_BRANDS;
    const DEFAULT_KEYWORDS: &'static [&'static str] = &["adidas", "nike", "puma", "umbro", "kappa"];
    const TARGET: Target = named("brands t", "t.id, t.name, t.slug, t.logo, t.logo_dark, NULL::text AS country");
    type Row = NamedRow;
    type Item = Brand;
    fn scopes() -> Vec<Scope> {
        vec![BRANDS]
    }
}

impl Search for Competitions {
    const CACHE_TYPE: &'static CacheType = &SEARCH_COMPETITIONS;
    const DEFAULT_KEYWORDS: &'static [&'static str] =
        &["premier league", "champions league", "la liga", "serie a", "bundesliga"];
    const TARGET: Target = named("competitions t", "t.id, t.name, t.slug, t.logo, t.logo_dark, t.country");
    type Row = NamedRow;
    type Item = Competition;
    fn scopes() -> Vec<Scope> {
        vec![COMPETITIONS]
    }
}

impl Search for Seasons {
    const CACHE_TYPE: &'static CacheType = &SEARCH_SEASONS;
    const DEFAULT_KEYWORDS: &'static [&'static str] = &["2025", "2024", "2023", "2022"];
    /// Years are digits and dashes: no folding, and no trigram matching
    /// ("2025" is not a typo of "2026"). Newest first after exact.
    const TARGET: Target = Target {
        table: "seasons s",
        id: "s.id",
        rank_joins: "",
        select: "s.id, s.year",
        output_joins: "",
        name: "s.year",
        slug: None,
        fuzzy: false,
        season: SeasonUse::Tier { first_year: "s.first_year", second_year: "s.second_year" },
        tiebreak: NEWEST_FIRST,
        season_only_order: NEWEST_FIRST,
    };
    type Row = SeasonRow;
    type Item = SeasonSummary;
    fn scopes() -> Vec<Scope> {
        vec![SEASONS]
    }
}

impl Search for Kits {
    const CACHE_TYPE: &'static CacheType = &SEARCH_KITS;
    const DEFAULT_KEYWORDS: &'static [&'static str] = &["arsenal 2005", "home", "away", "barcelona", "real madrid"];
    const TARGET: Target = Target {
        table: "kits k",
        id: "k.id",
        rank_joins: " JOIN seasons s ON s.id = k.season_id",
        select: "k.id, k.name, k.slug, k.main_img_url, c.name AS team_name, s.year AS season_year",
        output_joins: " JOIN clubs c ON c.id = k.team_id JOIN seasons s ON s.id = k.season_id",
        name: "lower(f_unaccent(k.name))",
        slug: Some("k.slug"),
        fuzzy: true,
        season: SeasonUse::Filter { first_year: "s.first_year", second_year: "s.second_year" },
        tiebreak: &[Key::asc("length(k.name)"), Key::asc("k.id")],
        season_only_order: &[Key::asc("k.name"), Key::asc("k.id")],
    };
    type Row = KitSearchResult;
    type Item = KitSearchResult;
    /// Kit results show club names and season years.
    fn scopes() -> Vec<Scope> {
        vec![KITS, CLUBS, SEASONS]
    }
}
