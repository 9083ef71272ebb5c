//! Admin writes for kits: the kit row and its competition and secondary
//! colour rows are written in one transaction, and the write reports the
//! kit's club before and after it, so a kit moved to another club makes
//! both clubs' kit lists stale.

use crate::scopes;
use crate::vocabulary::{design_schema, DESIGNS};
use bigdecimal::{BigDecimal, RoundingMode, ToPrimitive};
use chrono::{DateTime, Utc};
use diesel::dsl::now;
use diesel::prelude::*;
use diesel::sql_types::{Array, Integer};
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, RunQueryDsl};
use fkapi_cache::Scope;
use fkapi_db::schema::{kit_competitions, kit_secondary_colors, kits};
use fkapi_db::PgConn;
use fkapi_web::admin::{slug_or_default, validate_distinct, validate_merged, validate_name, AdminResource, Written};
use fkapi_web::{double_option, validate_slug, ApiError};
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

const SLUG_MAX: usize = 300;

fn validate_design(design: &str) -> Result<(), ValidationError> {
    if DESIGNS.contains(&design) {
        Ok(())
    } else {
        Err(ValidationError::new("design").with_message(format!("must be one of: {}", DESIGNS.join(", ")).into()))
    }
}

/// Body of POST and PUT /api/kits: the whole kit, with the ids of the rows
/// it points at (each must exist).
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KitInput {
    #[validate(length(min = 1, max = 300), custom(function = "validate_name"))]
    #[schema(example = "Arsenal 2024-25 Home", min_length = 1, max_length = 300, pattern = r"\S")]
    pub name: String,
    /// Lowercase words joined by dashes, unique; defaults to the name's slug.
    #[validate(length(min = 1, max = 300), custom(function = "validate_slug"))]
    #[schema(
        example = "arsenal-2024-25-home",
        min_length = 1,
        max_length = 300,
        pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$"
    )]
    pub slug: Option<String>,
    /// Club ID.
    #[schema(example = 1)]
    pub team_id: i32,
    #[schema(example = 1)]
    pub season_id: i32,
    /// Kit type ID (Home, Away, …).
    #[schema(example = 1)]
    pub type_id: i32,
    #[schema(example = 1)]
    pub brand_id: i32,
    // One of DESIGNS (`design_schema` documents it).
    #[validate(custom(function = "validate_design"))]
    #[schema(schema_with = design_schema)]
    pub design: Option<String>,
    /// An absolute URL.
    #[validate(length(max = 500), url)]
    #[schema(example = "https://example.com/kits/arsenal-2024-25-home.jpg", max_length = 500, format = "uri")]
    pub main_img_url: String,
    /// 0 to 5, stored with two decimals.
    #[validate(range(min = 0.0, max = 5.0))]
    #[schema(example = 4.25, minimum = 0, maximum = 5)]
    pub rating: Option<f64>,
    pub primary_color_id: Option<i32>,
    /// At most 10, distinct.
    #[serde(default)]
    #[validate(length(max = 10), custom(function = "validate_distinct"))]
    #[schema(max_items = 10)]
    pub secondary_color_ids: Vec<i32>,
    /// At most 20, distinct.
    #[serde(default)]
    #[validate(length(max = 20), custom(function = "validate_distinct"))]
    #[schema(max_items = 20)]
    pub competition_ids: Vec<i32>,
}

/// Body of PATCH /api/kits/{kit_id}: only the fields to change; `null`
/// clears `design`, `rating` or `primary_color_id`; a list replaces the
/// whole list.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KitPatch {
    #[schema(min_length = 1, max_length = 300, pattern = r"\S")]
    pub name: Option<String>,
    #[schema(min_length = 1, max_length = 300, pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$")]
    pub slug: Option<String>,
    pub team_id: Option<i32>,
    pub season_id: Option<i32>,
    pub type_id: Option<i32>,
    pub brand_id: Option<i32>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = design_schema)]
    pub design: Option<Option<String>>,
    #[schema(max_length = 500, format = "uri")]
    pub main_img_url: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 5)]
    pub rating: Option<Option<f64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i32>)]
    pub primary_color_id: Option<Option<i32>>,
    #[schema(max_items = 10)]
    pub secondary_color_ids: Option<Vec<i32>>,
    #[schema(max_items = 20)]
    pub competition_ids: Option<Vec<i32>>,
}

impl KitPatch {
    /// The whole kit after the patch, to validate and store as one.
    fn apply_to(self, kit: KitRecord) -> KitInput {
        KitInput {
            name: self.name.unwrap_or(kit.name),
            slug: Some(self.slug.unwrap_or(kit.slug)),
            team_id: self.team_id.unwrap_or(kit.team_id),
            season_id: self.season_id.unwrap_or(kit.season_id),
            type_id: self.type_id.unwrap_or(kit.type_id),
            brand_id: self.brand_id.unwrap_or(kit.brand_id),
            design: self.design.unwrap_or(kit.design),
            main_img_url: self.main_img_url.unwrap_or(kit.main_img_url),
            rating: self.rating.unwrap_or(kit.rating),
            primary_color_id: self.primary_color_id.unwrap_or(kit.primary_color_id),
            secondary_color_ids: self.secondary_color_ids.unwrap_or(kit.secondary_color_ids),
            competition_ids: self.competition_ids.unwrap_or(kit.competition_ids),
        }
    }
}

/// A kit as stored, with the ids it points at: what the kit writes answer.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct KitRecord {
    #[schema(example = 1)]
    pub id: i32,
    #[schema(example = "Arsenal 2024-25 Home")]
    pub name: String,
    #[schema(example = "arsenal-2024-25-home")]
    pub slug: String,
    pub team_id: i32,
    pub season_id: i32,
    pub type_id: i32,
    pub brand_id: i32,
    pub design: Option<String>,
    pub main_img_url: String,
    /// 0.00 to 5.00.
    #[schema(example = 4.25)]
    pub rating: Option<f64>,
    pub primary_color_id: Option<i32>,
    /// Ascending.
    pub secondary_color_ids: Vec<i32>,
    /// Ascending.
    pub competition_ids: Vec<i32>,
    pub last_updated: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = kits)]
struct KitRow {
    id: i32,
    name: String,
    slug: String,
    team_id: i32,
    season_id: i32,
    type_id: i32,
    brand_id: i32,
    design: Option<String>,
    main_img_url: String,
    rating: Option<BigDecimal>,
    primary_color_id: Option<i32>,
    last_updated: DateTime<Utc>,
}

impl KitRecord {
    /// Kit `id` with its links, locking the kit row until the transaction
    /// ends (call it inside one). FOR NO KEY UPDATE, not FOR UPDATE: the id
    /// never changes, and the weaker lock does not block (or deadlock with)
    /// the foreign-key checks of a concurrent delete of a club, brand, …
    async fn load_locked(conn: &mut PgConn, id: i32) -> QueryResult<Option<KitRecord>> {
        let Some(row) =
            kits::table.find(id).select(KitRow::as_select()).for_no_key_update().first(conn).await.optional()?
        else {
            return Ok(None);
        };
        let competition_ids = kit_competitions::table
            .filter(kit_competitions::kit_id.eq(id))
            .select(kit_competitions::competition_id)
            .order(kit_competitions::competition_id)
            .load(conn)
            .await?;
        let secondary_color_ids = kit_secondary_colors::table
            .filter(kit_secondary_colors::kit_id.eq(id))
            .select(kit_secondary_colors::color_id)
            .order(kit_secondary_colors::color_id)
            .load(conn)
            .await?;
        Ok(Some(KitRecord {
            id: row.id,
            name: row.name,
            slug: row.slug,
            team_id: row.team_id,
            season_id: row.season_id,
            type_id: row.type_id,
            brand_id: row.brand_id,
            design: row.design,
            main_img_url: row.main_img_url,
            rating: row.rating.and_then(|r| r.to_f64()),
            primary_color_id: row.primary_color_id,
            secondary_color_ids,
            competition_ids,
            last_updated: row.last_updated,
        }))
    }
}

/// The kit columns of a body, with the slug and rating resolved.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = kits, treat_none_as_null = true)]
struct KitValues {
    name: String,
    slug: String,
    team_id: i32,
    season_id: i32,
    type_id: i32,
    brand_id: i32,
    design: Option<String>,
    main_img_url: String,
    rating: Option<BigDecimal>,
    primary_color_id: Option<i32>,
}

/// The many-to-many rows of a body.
struct KitLinks {
    competition_ids: Vec<i32>,
    secondary_color_ids: Vec<i32>,
}

impl KitInput {
    fn split(self) -> Result<(KitValues, KitLinks), ApiError> {
        let values = KitValues {
            slug: slug_or_default(self.slug, &self.name, "", SLUG_MAX)?,
            name: self.name,
            team_id: self.team_id,
            season_id: self.season_id,
            type_id: self.type_id,
            brand_id: self.brand_id,
            design: self.design,
            main_img_url: self.main_img_url,
            rating: self.rating.map(numeric_rating).transpose()?,
            primary_color_id: self.primary_color_id,
        };
        let links = KitLinks { competition_ids: self.competition_ids, secondary_color_ids: self.secondary_color_ids };
        Ok((values, links))
    }
}

/// A rating as numeric(3,2): its shortest decimal form rounded half up to
/// two places (4.125 → 4.13, 4.005 → 4.01).
fn numeric_rating(rating: f64) -> Result<BigDecimal, ApiError> {
    BigDecimal::from_str(&rating.to_string())
        .map(|r| r.with_scale_round(2, RoundingMode::HalfUp))
        .map_err(|_| ApiError::Unprocessable(format!("invalid body: rating: {rating} is not a number from 0 to 5")))
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = Integer)]
    id: i32,
}

/// 422 naming every field that points at a row that does not exist. The rows
/// that do exist are locked (FOR KEY SHARE) until the transaction ends, so
/// they cannot be deleted between this check and the write.
async fn check_references(conn: &mut PgConn, values: &KitValues, links: &KitLinks) -> Result<(), ApiError> {
    // Table names come from this fixed list, never from the request.
    let references: [(&str, &str, &[i32]); 7] = [
        ("team_id", "clubs", std::slice::from_ref(&values.team_id)),
        ("season_id", "seasons", std::slice::from_ref(&values.season_id)),
        ("type_id", "kit_types", std::slice::from_ref(&values.type_id)),
        ("brand_id", "brands", std::slice::from_ref(&values.brand_id)),
        ("primary_color_id", "colors", values.primary_color_id.as_slice()),
        ("secondary_color_ids", "colors", &links.secondary_color_ids),
        ("competition_ids", "competitions", &links.competition_ids),
    ];
    let mut problems = Vec::new();
    for (field, table, ids) in references {
        if ids.is_empty() {
            continue;
        }
        let found: Vec<IdRow> = diesel::sql_query(format!("SELECT id FROM {table} WHERE id = ANY($1) FOR KEY SHARE"))
            .bind::<Array<Integer>, _>(ids)
            .load(conn)
            .await?;
        let missing: Vec<String> =
            ids.iter().filter(|id| !found.iter().any(|row| row.id == **id)).map(ToString::to_string).collect();
        match missing.as_slice() {
            [] => {}
            [one] => problems.push(format!("{field} {one} does not exist")),
            many => problems.push(format!("{field} {} do not exist", many.join(", "))),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Unprocessable(format!("invalid body: {}", problems.join("; "))))
    }
}

/// Replaces the kit's competition and secondary colour rows.
async fn store_links(conn: &mut PgConn, kit_id: i32, links: &KitLinks) -> QueryResult<()> {
    diesel::delete(kit_competitions::table.filter(kit_competitions::kit_id.eq(kit_id))).execute(conn).await?;
    let competitions: Vec<_> = links
        .competition_ids
        .iter()
        .map(|id| (kit_competitions::kit_id.eq(kit_id), kit_competitions::competition_id.eq(*id)))
        .collect();
    if !competitions.is_empty() {
        diesel::insert_into(kit_competitions::table).values(&competitions).execute(conn).await?;
    }
    diesel::delete(kit_secondary_colors::table.filter(kit_secondary_colors::kit_id.eq(kit_id))).execute(conn).await?;
    let colors: Vec<_> = links
        .secondary_color_ids
        .iter()
        .map(|id| (kit_secondary_colors::kit_id.eq(kit_id), kit_secondary_colors::color_id.eq(*id)))
        .collect();
    if !colors.is_empty() {
        diesel::insert_into(kit_secondary_colors::table).values(&colors).execute(conn).await?;
    }
    Ok(())
}

/// Which kit row a write goes to.
#[derive(Clone, Copy)]
enum Target {
    New,
    /// An existing kit, locked, and the club it belonged to before the write.
    Existing {
        id: i32,
        old_team: i32,
    },
}

/// Writes the kit row and its links (call it inside a transaction) and
/// names what went stale: the kit, the kits table, and the kit lists of the
/// club it belonged to before and after.
async fn store(conn: &mut PgConn, target: Target, input: KitInput) -> Result<Written<KitRecord>, ApiError> {
    let (values, links) = input.split()?;
    check_references(conn, &values, &links).await?;
    let id = match target {
        Target::New => {
            diesel::insert_into(kits::table)
                .values((values, kits::last_updated.eq(now)))
                .returning(kits::id)
                .get_result(conn)
                .await?
        }
        Target::Existing { id, .. } => {
            diesel::update(kits::table.find(id)).set((values, kits::last_updated.eq(now))).execute(conn).await?;
            id
        }
    };
    store_links(conn, id, &links).await?;
    let record = KitRecord::load_locked(conn, id).await?.ok_or_else(|| KitRecord::not_found(id))?;
    let old_team = match target {
        Target::New => record.team_id,
        Target::Existing { old_team, .. } => old_team,
    };
    Ok(Written { stale: scopes::on_kit_change(id, &[old_team, record.team_id]), record })
}

impl AdminResource for KitRecord {
    const NOUN: &'static str = "Kit";
    type Input = KitInput;
    type Patch = KitPatch;

    async fn create(conn: &mut PgConn, input: KitInput) -> Result<Written<Self>, ApiError> {
        conn.transaction(|conn| store(conn, Target::New, input).scope_boxed()).await
    }

    async fn replace(conn: &mut PgConn, id: i32, input: KitInput) -> Result<Written<Self>, ApiError> {
        conn.transaction(|conn| {
            async move {
                let old_team = kits::table
                    .find(id)
                    .select(kits::team_id)
                    .for_no_key_update()
                    .first(conn)
                    .await
                    .optional()?
                    .ok_or_else(|| Self::not_found(id))?;
                store(conn, Target::Existing { id, old_team }, input).await
            }
            .scope_boxed()
        })
        .await
    }

    async fn patch(conn: &mut PgConn, id: i32, patch: KitPatch) -> Result<Written<Self>, ApiError> {
        conn.transaction(|conn| {
            async move {
                let current = KitRecord::load_locked(conn, id).await?.ok_or_else(|| Self::not_found(id))?;
                let old_team = current.team_id;
                let input = patch.apply_to(current);
                validate_merged(&input)?;
                store(conn, Target::Existing { id, old_team }, input).await
            }
            .scope_boxed()
        })
        .await
    }

    async fn delete(conn: &mut PgConn, id: i32) -> Result<Vec<Scope>, ApiError> {
        // One statement: the links go with it (ON DELETE CASCADE), and the
        // club it belonged to comes back with it.
        let team_id = diesel::delete(kits::table.find(id))
            .returning(kits::team_id)
            .get_result(conn)
            .await
            .optional()?
            .ok_or_else(|| Self::not_found(id))?;
        Ok(scopes::on_kit_change(id, &[team_id]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> KitInput {
        serde_json::from_str(json).unwrap()
    }

    const MINIMAL: &str = r#"{"name": "Arsenal 2024-25 Home", "team_id": 1, "season_id": 1, "type_id": 1,
        "brand_id": 1, "main_img_url": "https://example.com/a.jpg"}"#;

    #[test]
    fn ratings_round_half_up_to_two_places() {
        assert_eq!(numeric_rating(4.125).unwrap().to_string(), "4.13");
        assert_eq!(numeric_rating(4.005).unwrap().to_string(), "4.01");
        assert_eq!(numeric_rating(5.0).unwrap().to_string(), "5.00");
        assert_eq!(numeric_rating(0.0).unwrap(), BigDecimal::from(0));
    }

    #[test]
    fn a_minimal_body_gets_defaults() {
        let input = body(MINIMAL);
        assert!(input.validate().is_ok());
        let (values, links) = input.split().unwrap();
        assert_eq!(values.slug, "arsenal-2024-25-home");
        assert!(links.competition_ids.is_empty() && links.secondary_color_ids.is_empty());
    }

    #[test]
    fn bad_bodies_are_rejected() {
        let mut input = body(MINIMAL);
        input.design = Some("Polka dots".into());
        input.rating = Some(5.5);
        input.competition_ids = vec![1, 1];
        input.secondary_color_ids = (1..=11).collect();
        let errors = input.validate().unwrap_err();
        let fields = errors.field_errors();
        for field in ["design", "rating", "competition_ids", "secondary_color_ids"] {
            assert!(fields.contains_key(field), "{field} must be rejected");
        }
        assert!(serde_json::from_str::<KitInput>(&MINIMAL.replace("\"name\"", "\"colour\": 1, \"name\"")).is_err());
        assert!(validate_design("Hoops").is_ok());
    }
}
