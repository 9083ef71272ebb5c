use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use fkapi_db::schema::{clubs, kits};
use fkapi_db::PgConn;
use fkapi_web::admin::slug_or_default;
use fkapi_web::{double_option, validate_country, validate_slug, ApiError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

/// A club as FKApi's `ClubJsonSchema` has it.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize, ToSchema)]
#[diesel(table_name = clubs)]
pub struct Club {
    #[schema(example = 1)]
    pub id: i32,
    pub id_fka: Option<i32>,
    #[schema(example = "Arsenal")]
    pub name: String,
    #[schema(example = "arsenal")]
    pub slug: String,
    pub logo: Option<String>,
    pub logo_dark: Option<String>,
    /// ISO 3166 alpha-2.
    #[schema(example = "GB")]
    pub country: Option<String>,
}

impl Club {
    pub async fn find(conn: &mut PgConn, id: i32) -> QueryResult<Option<Club>> {
        clubs::table.find(id).select(Club::as_select()).first(conn).await.optional()
    }

    pub async fn exists(conn: &mut PgConn, id: i32) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(clubs::table.find(id))).get_result(conn).await
    }

    pub async fn insert(conn: &mut PgConn, row: &ClubRow) -> QueryResult<Club> {
        diesel::insert_into(clubs::table).values(row).returning(Club::as_returning()).get_result(conn).await
    }

    pub async fn update(conn: &mut PgConn, id: i32, row: &ClubRow) -> QueryResult<Option<Club>> {
        diesel::update(clubs::table.find(id)).set(row).returning(Club::as_returning()).get_result(conn).await.optional()
    }

    pub async fn delete(conn: &mut PgConn, id: i32) -> QueryResult<bool> {
        Ok(diesel::delete(clubs::table.find(id)).execute(conn).await? > 0)
    }

    /// The ids of the `limit` clubs with most kits, busiest first: what
    /// every domain warms for `warm-cache --clubs N`.
    pub async fn busiest(conn: &mut PgConn, limit: i64) -> QueryResult<Vec<i32>> {
        kits::table
            .group_by(kits::team_id)
            .select(kits::team_id)
            .order((diesel::dsl::count_star().desc(), kits::team_id))
            .limit(limit)
            .load(conn)
            .await
    }
}

/// The longest club slug (the column's length).
const SLUG_MAX: usize = 200;

/// Body of POST and PUT /api/clubs: the whole club.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClubInput {
    #[validate(length(min = 1, max = 200))]
    #[schema(example = "Arsenal", min_length = 1, max_length = 200)]
    pub name: String,
    /// Lowercase words joined by dashes, unique; defaults to the name's slug.
    #[validate(length(min = 1, max = 200), custom(function = "validate_slug"))]
    #[schema(example = "arsenal", min_length = 1, max_length = 200, pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$")]
    pub slug: Option<String>,
    #[validate(range(min = 1))]
    #[schema(minimum = 1)]
    pub id_fka: Option<i32>,
    /// An absolute URL.
    #[validate(length(max = 500), url)]
    #[schema(max_length = 500, format = "uri")]
    pub logo: Option<String>,
    /// An absolute URL.
    #[validate(length(max = 500), url)]
    #[schema(max_length = 500, format = "uri")]
    pub logo_dark: Option<String>,
    #[validate(custom(function = "validate_country"))]
    #[schema(example = "GB", pattern = r"^[A-Z]{2}$")]
    pub country: Option<String>,
}

/// A club as stored: [`ClubInput`] with its slug settled.
#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = clubs, treat_none_as_null = true)]
pub struct ClubRow {
    pub name: String,
    pub slug: String,
    pub id_fka: Option<i32>,
    pub logo: Option<String>,
    pub logo_dark: Option<String>,
    pub country: Option<String>,
}

impl ClubInput {
    /// The row to store: the slug the body names, or the one slug rule's
    /// slug of the name (the seeder's too); 422 when the name gives none.
    pub fn into_row(self) -> Result<ClubRow, ApiError> {
        Ok(ClubRow {
            slug: slug_or_default(self.slug, &self.name, "", SLUG_MAX)?,
            name: self.name,
            id_fka: self.id_fka,
            logo: self.logo,
            logo_dark: self.logo_dark,
            country: self.country,
        })
    }
}

/// Body of PATCH /api/clubs/{id}: only the fields to change; `null` clears
/// an optional field.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClubPatch {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[schema(min_length = 1, max_length = 200, pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$")]
    pub slug: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i32>, minimum = 1)]
    pub id_fka: Option<Option<i32>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 500, format = "uri")]
    pub logo: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 500, format = "uri")]
    pub logo_dark: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, pattern = r"^[A-Z]{2}$")]
    pub country: Option<Option<String>>,
}

impl ClubPatch {
    /// The whole club after the patch, to validate and store as one.
    pub fn apply_to(self, club: Club) -> ClubInput {
        ClubInput {
            name: self.name.unwrap_or(club.name),
            slug: Some(self.slug.unwrap_or(club.slug)),
            id_fka: self.id_fka.unwrap_or(club.id_fka),
            logo: self.logo.unwrap_or(club.logo),
            logo_dark: self.logo_dark.unwrap_or(club.logo_dark),
            country: self.country.unwrap_or(club.country),
        }
    }
}
