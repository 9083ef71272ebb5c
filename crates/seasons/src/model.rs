use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use fkapi_db::schema::{kits, seasons};
use fkapi_db::PgConn;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

/// FKApi's `SeasonJsonSchema`: the full season, as nested in a kit.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize, ToSchema)]
#[diesel(table_name = seasons)]
pub struct Season {
    #[schema(example = 1)]
    pub id: i32,
    #[schema(example = "2024-25")]
    pub year: String,
    #[schema(example = "2024")]
    pub first_year: String,
    #[schema(example = "2025")]
    pub second_year: Option<String>,
}

/// FKApi's `SeasonSerializer`: what lists and search return.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize, ToSchema)]
#[diesel(table_name = seasons)]
pub struct SeasonSummary {
    #[schema(example = 1)]
    pub id: i32,
    #[schema(example = "2024-25")]
    pub year: String,
}

impl Season {
    pub async fn find(conn: &mut PgConn, id: i32) -> QueryResult<Option<Season>> {
        seasons::table.find(id).select(Season::as_select()).first(conn).await.optional()
    }

    pub async fn insert(conn: &mut PgConn, row: &SeasonRow) -> QueryResult<Season> {
        diesel::insert_into(seasons::table).values(row).returning(Season::as_returning()).get_result(conn).await
    }

    pub async fn update(conn: &mut PgConn, id: i32, row: &SeasonRow) -> QueryResult<Option<Season>> {
        diesel::update(seasons::table.find(id))
            .set(row)
            .returning(Season::as_returning())
            .get_result(conn)
            .await
            .optional()
    }

    /// False when no such season; a kit still pointing at it is a
    /// foreign-key violation, which the caller answers with 409.
    pub async fn delete(conn: &mut PgConn, id: i32) -> QueryResult<bool> {
        Ok(diesel::delete(seasons::table.find(id)).execute(conn).await? > 0)
    }
}

impl SeasonSummary {
    /// The seasons club `club_id` has at least one kit in, newest first
    /// (first_year, then the year text, descending). A semi-join (EXISTS)
    /// rather than JOIN + DISTINCT: each season comes out once without
    /// de-duplicating the club's kits.
    pub async fn of_club(conn: &mut PgConn, club_id: i32) -> QueryResult<Vec<SeasonSummary>> {
        seasons::table
            .filter(diesel::dsl::exists(
                kits::table.filter(kits::season_id.eq(seasons::id)).filter(kits::team_id.eq(club_id)),
            ))
            .order((seasons::first_year.desc(), seasons::year.desc(), seasons::id.desc()))
            .select(SeasonSummary::as_select())
            .load(conn)
            .await
    }
}

/// Body of POST and PUT /api/seasons: `first_year` and `second_year` are
/// derived from `year` when absent, and must agree with it when given.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeasonInput {
    /// `YYYY`, `YYYY-YY` or `YYYY-YYYY` (a two-part season spans consecutive years); unique.
    #[validate(custom(function = "validate_year"))]
    #[schema(example = "2024-25", pattern = r"^\d{4}(-\d{2}|-\d{4})?$")]
    pub year: String,
    /// Defaults to the first four digits of `year`.
    #[validate(custom(function = "validate_four_digits"))]
    #[schema(example = "2024", pattern = r"^\d{4}$")]
    pub first_year: Option<String>,
    /// Defaults to `first_year + 1` for a two-part `year`, null for a single year.
    #[validate(custom(function = "validate_four_digits"))]
    #[schema(example = "2025", pattern = r"^\d{4}$")]
    pub second_year: Option<String>,
}

/// Body of PATCH /api/seasons/{id}. Since `first_year` and `second_year`
/// follow from `year`, a patch that changes `year` re-derives them (unless
/// given, in which case they must agree with the new year).
#[derive(Debug, Clone, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeasonPatch {
    #[validate(custom(function = "validate_year"))]
    #[schema(example = "2024-25", pattern = r"^\d{4}(-\d{2}|-\d{4})?$")]
    pub year: Option<String>,
    #[validate(custom(function = "validate_four_digits"))]
    #[schema(example = "2024", pattern = r"^\d{4}$")]
    pub first_year: Option<String>,
    #[validate(custom(function = "validate_four_digits"))]
    #[schema(example = "2025", pattern = r"^\d{4}$")]
    pub second_year: Option<String>,
}

impl SeasonPatch {
    /// The whole season after the patch, to check and store as one.
    pub fn apply_to(self, season: Season) -> SeasonInput {
        SeasonInput {
            year: self.year.unwrap_or(season.year),
            first_year: self.first_year,
            second_year: self.second_year,
        }
    }
}

/// A season as stored: the three columns, consistent with each other and
/// with the table's CHECK constraints.
#[derive(Debug, Clone, PartialEq, Eq, Insertable, AsChangeset)]
#[diesel(table_name = seasons, treat_none_as_null = true)]
pub struct SeasonRow {
    pub year: String,
    pub first_year: String,
    pub second_year: Option<String>,
}

impl SeasonInput {
    /// Derives the missing years and checks the given ones against `year`.
    /// Errors are messages for a 422.
    pub fn resolve(&self) -> Result<SeasonRow, String> {
        let (first, second) = years_of(&self.year)?;
        let first_year = format!("{first:04}");
        let second_year = second.map(|second| format!("{second:04}"));
        if let Some(given) = &self.first_year {
            if *given != first_year {
                return Err(format!("first_year: must be {first_year} for year {}", self.year));
            }
        }
        if let Some(given) = &self.second_year {
            match &second_year {
                Some(expected) if given != expected => {
                    return Err(format!("second_year: must be {expected} for year {}", self.year));
                }
                None => {
                    return Err(format!("second_year: must be null for the single-year season {}", self.year));
                }
                Some(_) => {}
            }
        }
        Ok(SeasonRow { year: self.year.clone(), first_year, second_year })
    }
}

/// `"2024-25"` → (2024, Some(2025)), `"2024-2025"` → (2024, Some(2025)),
/// `"2024"` → (2024, None). A two-part year must span consecutive years
/// (the table's CHECK: second_year = first_year + 1).
pub fn years_of(year: &str) -> Result<(u32, Option<u32>), String> {
    let bad_format = || format!("year: {year:?} must look like 2024, 2024-25 or 2024-2025");
    if !is_season_year(year) {
        return Err(bad_format());
    }
    let first: u32 = year[..4].parse().map_err(|_| bad_format())?;
    let Some(suffix) = year.get(5..) else { return Ok((first, None)) };
    let next = first + 1;
    if next > 9999 {
        return Err(format!("year: {year} has no following year of four digits"));
    }
    let matches = match suffix.len() {
        2 => suffix.parse::<u32>().ok() == Some(next % 100),
        _ => suffix.parse::<u32>().ok() == Some(next),
    };
    if !matches {
        return Err(format!("year: {year} must span consecutive years ({first}-{:02} or {first}-{next})", next % 100));
    }
    Ok((first, Some(next)))
}

/// `^\d{4}(-\d{2}|-\d{4})?$`, the table's CHECK on `year`.
fn is_season_year(year: &str) -> bool {
    let bytes = year.as_bytes();
    let digits = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);
    match bytes.len() {
        4 => digits(0..4),
        7 | 9 => digits(0..4) && bytes[4] == b'-' && digits(5..bytes.len()),
        _ => false,
    }
}

fn validate_year(year: &str) -> Result<(), ValidationError> {
    if is_season_year(year) {
        Ok(())
    } else {
        Err(ValidationError::new("year").with_message("must look like 2024, 2024-25 or 2024-2025".into()))
    }
}

fn validate_four_digits(value: &str) -> Result<(), ValidationError> {
    if value.len() == 4 && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(ValidationError::new("four_digits").with_message("must be a four-digit year".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(year: &str, first: Option<&str>, second: Option<&str>) -> SeasonInput {
        SeasonInput { year: year.into(), first_year: first.map(Into::into), second_year: second.map(Into::into) }
    }

    fn row(year: &str, first: &str, second: Option<&str>) -> SeasonRow {
        SeasonRow { year: year.into(), first_year: first.into(), second_year: second.map(Into::into) }
    }

    #[test]
    fn derives_years_when_absent() {
        assert_eq!(input("2024-25", None, None).resolve(), Ok(row("2024-25", "2024", Some("2025"))));
        assert_eq!(input("2024-2025", None, None).resolve(), Ok(row("2024-2025", "2024", Some("2025"))));
        assert_eq!(input("2024", None, None).resolve(), Ok(row("2024", "2024", None)));
        assert_eq!(input("1999-00", None, None).resolve(), Ok(row("1999-00", "1999", Some("2000"))));
    }

    #[test]
    fn accepts_given_years_that_agree() {
        assert_eq!(input("2024-25", Some("2024"), Some("2025")).resolve(), Ok(row("2024-25", "2024", Some("2025"))));
        assert_eq!(input("2024", Some("2024"), None).resolve(), Ok(row("2024", "2024", None)));
    }

    #[test]
    fn refuses_inconsistent_years() {
        for (year, first, second) in [
            ("2024-25", Some("2023"), None),
            ("2024-25", None, Some("2026")),
            ("2024", None, Some("2025")),
            ("2024-26", None, None),
            ("2024-2026", None, None),
            ("9999-00", None, None),
        ] {
            assert!(input(year, first, second).resolve().is_err(), "{year} {first:?} {second:?}");
        }
    }

    #[test]
    fn year_format_matches_the_table_check() {
        for good in ["2024", "2024-25", "2024-2025"] {
            assert!(is_season_year(good), "{good}");
        }
        for bad in ["", "24", "2024-5", "2024-202", "2024/25", "２０２４", "2024-25 ", "abcd", "2024-20255"] {
            assert!(!is_season_year(bad), "{bad}");
            assert!(years_of(bad).is_err());
        }
    }

    #[test]
    fn patch_changing_year_rederives() {
        let current =
            Season { id: 1, year: "2023-24".into(), first_year: "2023".into(), second_year: Some("2024".into()) };
        let patch = SeasonPatch { year: Some("2024".into()), ..SeasonPatch::default() };
        assert_eq!(patch.apply_to(current.clone()).resolve(), Ok(row("2024", "2024", None)));
        assert_eq!(SeasonPatch::default().apply_to(current).resolve(), Ok(row("2023-24", "2023", Some("2024"))));
    }
}
