//! The query parameters of the kit lists, checked into a [`KitFilter`]
//! before anything touches the cache, and the cache key and scopes of each
//! list.
//!
//! FKApi's checks, kept: an unknown colour or design is a 400 listing the
//! options; `secondary_color` may be repeated and keeps the kits that have
//! *all* the named colours. Loosened: names match in any case and blank
//! values count as absent. Tightened: out-of-range years and malformed
//! countries are 400s (FKApi treats `year=0` as absent and any other
//! country text as "no kits").

use crate::cache::{CLUB_KITS, KIT_LIST};
use crate::scopes::{COLORS, KITS, KIT_TYPES};
use fkapi_cache::{CacheKey, PyOpt, Scope};
use fkapi_clubs::scopes::{club, club_kits, CLUBS};
use fkapi_seasons::scopes::SEASONS;
use fkapi_web::ApiError;
use serde::Deserialize;
use std::fmt;

/// The repeatable `secondary_color` parameter. Serde's one-struct view of a
/// query cannot take a repeated key, so the handler reads it from
/// [`fkapi_web::QueryPairs`] and the route documents it beside
/// [`KitListQuery`].
pub const SECONDARY_COLOR: &str = "secondary_color";

pub use crate::vocabulary::{COLOR_NAMES, DESIGNS};

/// Bounds of the year filters.
const MIN_YEAR: i32 = 1800;
const MAX_YEAR: i32 = 2100;

/// Filters of `GET /api/kits` (pagination is a separate [`fkapi_web::Pagination`]).
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KitListQuery {
    /// Club ID (alias `club`).
    #[serde(alias = "club")]
    #[param(example = 1)]
    pub club_id: Option<i32>,
    /// Season ID (alias `season`).
    #[serde(alias = "season")]
    #[param(example = 12)]
    pub season_id: Option<i32>,
    /// The club's country, ISO 3166 alpha-2 (any case).
    #[param(example = "GB", pattern = r"^\s*([A-Za-z]{2})?\s*$")]
    pub country: Option<String>,
    /// Primary colour name (any case): White, Red, Blue, Black, Yellow,
    /// Green, Sky blue, Navy, Orange, Gray, Claret, Purple, Pink, Brown,
    /// Gold, Silver or Off-white.
    #[param(example = "Red")]
    pub primary_color: Option<String>,
    /// Design (any case): Plain, Stripes, Graphic, Chest band, Contrasting
    /// sleeves, Pinstripes, Hoops, Single stripe, Half-and-half, Sash,
    /// Chevron, Checkers, Gradient, Diagonal, Cross or Quarters.
    #[param(example = "Stripes")]
    pub design: Option<String>,
    /// Kits of seasons that include this year (as first or second year), 1800 to 2100.
    #[param(minimum = 1800, maximum = 2100, example = 2005)]
    pub year: Option<i32>,
    /// Kits of seasons starting in this year, 1800 to 2100.
    #[param(minimum = 1800, maximum = 2100, example = 2005)]
    pub first_year: Option<i32>,
    /// Kits of seasons ending in this year, 1800 to 2100.
    #[param(minimum = 1800, maximum = 2100, example = 2006)]
    pub second_year: Option<i32>,
    /// Brand ID.
    #[param(example = 3)]
    pub brand: Option<i32>,
}

/// Query of `GET /api/clubs/{club_id}/kits` (plus pagination).
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClubKitsQuery {
    /// Season ID (alias `season_id`).
    #[serde(alias = "season_id")]
    #[param(example = 12)]
    pub season: Option<i32>,
}

/// A checked kit-list filter: names canonical, values in range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KitFilter {
    pub club: Option<i32>,
    pub season: Option<i32>,
    /// Upper case.
    pub country: Option<String>,
    pub primary_color: Option<&'static str>,
    /// Each once, in [`COLOR_NAMES`] order: the kit must have all of them.
    pub secondary_colors: Vec<&'static str>,
    pub design: Option<&'static str>,
    pub year: Option<i32>,
    pub first_year: Option<i32>,
    pub second_year: Option<i32>,
    pub brand: Option<i32>,
}

/// An empty or blank text parameter counts as absent (`?design=`).
fn present(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// The canonical spelling of `value` in `options` (case-insensitive), or a
/// 400 listing the options.
fn one_of(param: &str, value: &str, options: &'static [&'static str]) -> Result<&'static str, ApiError> {
    options
        .iter()
        .find(|option| option.eq_ignore_ascii_case(value))
        .copied()
        .ok_or_else(|| ApiError::BadRequest(format!("{param} must be one of: {}", options.join(", "))))
}

fn year_param(param: &str, value: Option<i32>) -> Result<Option<i32>, ApiError> {
    match value {
        Some(year) if !(MIN_YEAR..=MAX_YEAR).contains(&year) => {
            Err(ApiError::BadRequest(format!("{param} must be between {MIN_YEAR} and {MAX_YEAR}")))
        }
        other => Ok(other),
    }
}

impl KitListQuery {
    /// Checks every filter (400 on the first bad one); `secondary_colors`
    /// are the values of every `secondary_color` sent.
    pub fn into_filter<'a>(self, secondary_colors: impl IntoIterator<Item = &'a str>) -> Result<KitFilter, ApiError> {
        let country = match present(self.country) {
            Some(country) if country.len() == 2 && country.bytes().all(|b| b.is_ascii_alphabetic()) => {
                Some(country.to_ascii_uppercase())
            }
            Some(_) => return Err(ApiError::BadRequest("country must be an ISO 3166 alpha-2 code such as GB".into())),
            None => None,
        };
        let primary_color =
            present(self.primary_color).map(|c| one_of("primary_color", &c, &COLOR_NAMES)).transpose()?;
        let design = present(self.design).map(|d| one_of("design", &d, &DESIGNS)).transpose()?;
        let mut secondary: Vec<&'static str> = Vec::new();
        for value in secondary_colors.into_iter().map(str::trim).filter(|v| !v.is_empty()) {
            let color = one_of(SECONDARY_COLOR, value, &COLOR_NAMES)?;
            if !secondary.contains(&color) {
                secondary.push(color);
            }
        }
        secondary.sort_by_key(|color| COLOR_NAMES.iter().position(|known| known == color));
        Ok(KitFilter {
            club: self.club_id,
            season: self.season_id,
            country,
            primary_color,
            secondary_colors: secondary,
            design,
            year: year_param("year", self.year)?,
            first_year: year_param("first_year", self.first_year)?,
            second_year: year_param("second_year", self.second_year)?,
            brand: self.brand,
        })
    }
}

impl KitFilter {
    /// FKApi's key of `GET /api/kits`: every parameter in a fixed order,
    /// absent ones as `None`.
    pub fn list_key(&self, page: i64, page_size: i64) -> CacheKey {
        KIT_LIST.key(
            &[
                &"club",
                &PyOpt(&self.club),
                &"season",
                &PyOpt(&self.season),
                &"country",
                &PyOpt(&self.country),
                &"primary_color",
                &PyOpt(&self.primary_color),
                &"secondary_color",
                &PyList(&self.secondary_colors),
                &"design",
                &PyOpt(&self.design),
                &"year",
                &PyOpt(&self.year),
                &"first_year",
                &PyOpt(&self.first_year),
                &"second_year",
                &PyOpt(&self.second_year),
                &"brand",
                &PyOpt(&self.brand),
                &"page",
                &page,
                &"page_size",
                &page_size,
            ],
            &[],
        )
    }

    /// What a kit list built from this filter depends on.
    ///
    /// The rule: a list depends on every row it shows or filters or sorts
    /// by.
    /// - The kits themselves, their season/design/brand/colour ids: with a
    ///   club, `club_kits:<c>` (every kit write bumps it for the kit's old
    ///   and new club); without one, `kits` (any kit row). The brand filter
    ///   and `brand_id` only read kit columns, so brand rows need no scope.
    /// - Club name (shown) and country (filter): `club:<c>`, else `clubs`.
    /// - Season year (shown; the year filters read it): `seasons`.
    /// - Ordering reads kit types' category_order and order_priority:
    ///   `kit_types`.
    /// - The colour filters match colour names: `colors` when used. Which
    ///   secondary colours a kit has are kit rows (`kits`, `club_kits:<c>`).
    pub fn scopes(&self) -> Vec<Scope> {
        let mut out = match self.club {
            Some(id) => vec![club(id), club_kits(id), SEASONS],
            None => vec![KITS, CLUBS, SEASONS],
        };
        out.push(KIT_TYPES);
        if self.primary_color.is_some() || !self.secondary_colors.is_empty() {
            out.push(COLORS);
        }
        out
    }
}

/// Python's `str()` of a list of strings (`['White', 'Blue']`), or `None`
/// when empty (FKApi keys an absent list as `None`).
struct PyList<'a>(&'a [&'a str]);

impl fmt::Display for PyList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("None");
        }
        f.write_str("[")?;
        for (i, item) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "'{item}'")?;
        }
        f.write_str("]")
    }
}

/// FKApi's key of `GET /api/clubs/{club_id}/kits`.
pub fn club_kits_key(club_id: i32, season: Option<i32>, page: i64, page_size: i64) -> CacheKey {
    CLUB_KITS.key(&[&club_id, &"season", &PyOpt(&season), &"page", &page, &"page_size", &page_size], &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad_request(result: Result<KitFilter, ApiError>) -> String {
        match result {
            Err(ApiError::BadRequest(detail)) => detail,
            other => panic!("expected 400, got {other:?}"),
        }
    }

    #[test]
    fn names_are_canonicalised_case_insensitively() {
        let query = KitListQuery {
            country: Some("gb".into()),
            primary_color: Some("sky BLUE".into()),
            design: Some(" half-AND-half ".into()),
            ..KitListQuery::default()
        };
        let filter = query.into_filter([]).ok();
        assert_eq!(filter.as_ref().and_then(|f| f.country.as_deref()), Some("GB"));
        assert_eq!(filter.as_ref().and_then(|f| f.primary_color), Some("Sky blue"));
        assert_eq!(filter.as_ref().and_then(|f| f.design), Some("Half-and-half"));
    }

    #[test]
    fn blank_text_filters_are_absent() {
        let query = KitListQuery { country: Some(" ".into()), design: Some(String::new()), ..KitListQuery::default() };
        assert_eq!(query.into_filter([]).ok(), Some(KitFilter::default()));
    }

    #[test]
    fn unknown_names_list_the_options() {
        let detail = bad_request(
            KitListQuery { primary_color: Some("Mauve".into()), ..KitListQuery::default() }.into_filter([]),
        );
        assert!(detail.starts_with("primary_color must be one of: White, Red,"), "{detail}");
        assert!(detail.ends_with("Off-white"), "{detail}");
        let detail =
            bad_request(KitListQuery { design: Some("Polka dots".into()), ..KitListQuery::default() }.into_filter([]));
        assert!(detail.contains("Chest band") && detail.contains("Quarters"), "{detail}");
    }

    #[test]
    fn bad_country_and_years_are_refused() {
        for country in ["GBR", "G", "1A", "g-"] {
            bad_request(KitListQuery { country: Some(country.into()), ..KitListQuery::default() }.into_filter([]));
        }
        for year in [1799, 2101, -1, 0] {
            bad_request(KitListQuery { year: Some(year), ..KitListQuery::default() }.into_filter([]));
            bad_request(KitListQuery { first_year: Some(year), ..KitListQuery::default() }.into_filter([]));
            bad_request(KitListQuery { second_year: Some(year), ..KitListQuery::default() }.into_filter([]));
        }
        assert!(KitListQuery { year: Some(1800), second_year: Some(2100), ..KitListQuery::default() }
            .into_filter([])
            .is_ok());
    }

    #[test]
    fn list_key_spells_every_parameter_like_fkapi() {
        assert_eq!(
            KitFilter::default().list_key(1, 20).key,
            "kits_club_None_season_None_country_None_primary_color_None_secondary_color_None_design_None_year_None_first_year_None_second_year_None_brand_None_page_1_page_size_20"
        );
        let filter = KitFilter { club: Some(3), season: Some(7), primary_color: Some("Red"), ..KitFilter::default() };
        assert!(filter.list_key(2, 50).key.starts_with("kits_club_3_season_7_country_None_primary_color_Red_"));
        assert_ne!(filter.list_key(2, 50).key, filter.list_key(3, 50).key);
    }

    #[test]
    fn secondary_colours_are_canonical_once_each_and_all_checked() {
        let filter = KitListQuery::default().into_filter(["blue", " White ", "", "BLUE"]).ok();
        assert_eq!(filter.map(|f| f.secondary_colors), Some(vec!["White", "Blue"]));
        let detail = bad_request(KitListQuery::default().into_filter(["White", "Mauve"]));
        assert!(detail.starts_with("secondary_color must be one of: White, Red,"), "{detail}");
        assert_eq!(KitListQuery::default().into_filter([" "]).ok(), Some(KitFilter::default()));
    }

    #[test]
    fn secondary_colours_are_keyed_like_a_python_list() {
        let filter = KitFilter { secondary_colors: vec!["White", "Sky blue"], ..KitFilter::default() };
        assert!(
            filter
                .list_key(1, 20)
                .key
                .contains("_primary_color_None_secondary_color_['White', 'Sky blue']_design_None_"),
            "{}",
            filter.list_key(1, 20).key
        );
        assert!(KitFilter::default().list_key(1, 20).key.contains("_secondary_color_None_"));
        let names = |f: &KitFilter| f.scopes().iter().map(ToString::to_string).collect::<Vec<_>>();
        assert!(names(&filter).contains(&"colors".to_string()));
    }

    #[test]
    fn widest_list_key_is_hashed_like_fkapi() {
        // Every parameter at its longest passes FKApi's 200 characters, so
        // the key becomes `kits_<md5>`, distinct per filter.
        let widest = KitFilter {
            club: Some(i32::MIN),
            season: Some(i32::MIN),
            country: Some("GB".into()),
            primary_color: Some("Off-white"),
            secondary_colors: COLOR_NAMES.to_vec(),
            design: Some("Contrasting sleeves"),
            year: Some(2005),
            first_year: Some(2005),
            second_year: Some(2006),
            brand: Some(i32::MIN),
        };
        let key = widest.list_key(1_000_000, 100).key;
        assert_eq!(key.len(), "kits_".len() + 32, "{key}");
        assert_ne!(key, widest.list_key(999_999, 100).key);
    }

    #[test]
    fn club_kits_key_matches_fkapi() {
        assert_eq!(club_kits_key(3, None, 1, 20).key, "club_kits_3_season_None_page_1_page_size_20");
        assert_eq!(club_kits_key(3, Some(7), 2, 10).key, "club_kits_3_season_7_page_2_page_size_10");
    }

    #[test]
    fn scopes_follow_the_rule() {
        let names = |f: &KitFilter| f.scopes().iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(names(&KitFilter::default()), ["kits", "clubs", "seasons", "kit_types"]);
        let by_club = KitFilter { club: Some(3), primary_color: Some("Red"), ..KitFilter::default() };
        assert_eq!(names(&by_club), ["club:3", "club_kits:3", "seasons", "kit_types", "colors"]);
    }
}
