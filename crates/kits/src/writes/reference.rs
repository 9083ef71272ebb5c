//! Admin writes for brands and competitions. The two tables differ only in
//! competitions' `country`, so one macro writes both: the bodies (whole and
//! patch), the row values with the default slug, and the [`AdminResource`]
//! implementation.

use crate::reference::{Brand, Competition};
use crate::scopes;
use diesel::prelude::*;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, RunQueryDsl};
use fkapi_cache::Scope;
use fkapi_db::schema::{brands, competitions};
use fkapi_db::PgConn;
use fkapi_web::admin::{deleted, slug_or_default, validate_merged, validate_name, AdminResource, Written};
use fkapi_web::{double_option, validate_country, validate_slug, ApiError};
use serde::Deserialize;
use utoipa::ToSchema;
use validator::Validate;

/// Appended to the slug derived from a name, as FKApi does ("adidas-kits").
const SLUG_SUFFIX: &str = "-kits";
const SLUG_MAX: usize = 200;

macro_rules! reference_writes {
    (
        $record:ident in $table:ident, stale $stale:path,
        $(#[$input_doc:meta])* input $input:ident,
        $(#[$patch_doc:meta])* patch $patch:ident,
        values $values:ident,
        extra { $( $(#[$extra_attr:meta])* $extra:ident: $extra_ty:ty ),* $(,)? } $(,)?
    ) => {
        $(#[$input_doc])*
        #[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $input {
            #[validate(length(min = 1, max = 200), custom(function = "validate_name"))]
            #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
            pub name: String,
            /// Lowercase words joined by dashes, unique. Defaults to the
            /// name's slug plus `-kits` ("Adidas" → "adidas-kits").
            #[validate(length(min = 1, max = 200), custom(function = "validate_slug"))]
            #[schema(min_length = 1, max_length = 200, pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$")]
            pub slug: Option<String>,
            /// An absolute URL.
            #[validate(length(max = 500), url)]
            #[schema(max_length = 500, format = "uri")]
            pub logo: Option<String>,
            /// An absolute URL.
            #[validate(length(max = 500), url)]
            #[schema(max_length = 500, format = "uri")]
            pub logo_dark: Option<String>,
            $( $(#[$extra_attr])* pub $extra: Option<$extra_ty>, )*
        }

        $(#[$patch_doc])*
        #[derive(Debug, Clone, Default, Deserialize, ToSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $patch {
            #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
            pub name: Option<String>,
            #[schema(min_length = 1, max_length = 200, pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$")]
            pub slug: Option<String>,
            #[serde(default, deserialize_with = "double_option")]
            #[schema(value_type = Option<String>, max_length = 500, format = "uri")]
            pub logo: Option<Option<String>>,
            #[serde(default, deserialize_with = "double_option")]
            #[schema(value_type = Option<String>, max_length = 500, format = "uri")]
            pub logo_dark: Option<Option<String>>,
            $(
                #[serde(default, deserialize_with = "double_option")]
                #[schema(value_type = Option<$extra_ty>)]
                pub $extra: Option<Option<$extra_ty>>,
            )*
        }

        impl $patch {
            /// The whole row after the patch, to validate and store as one.
            fn apply_to(self, current: $record) -> $input {
                $input {
                    name: self.name.unwrap_or(current.name),
                    slug: Some(self.slug.unwrap_or(current.slug)),
                    logo: self.logo.unwrap_or(current.logo),
                    logo_dark: self.logo_dark.unwrap_or(current.logo_dark),
                    $( $extra: self.$extra.unwrap_or(current.$extra), )*
                }
            }
        }

        /// The stored columns, with the slug resolved.
        #[derive(Insertable, AsChangeset)]
        #[diesel(table_name = $table, treat_none_as_null = true)]
        struct $values {
            name: String,
            slug: String,
            logo: Option<String>,
            logo_dark: Option<String>,
            $( $extra: Option<$extra_ty>, )*
        }

        impl TryFrom<$input> for $values {
            type Error = ApiError;

            fn try_from(input: $input) -> Result<Self, ApiError> {
                Ok($values {
                    slug: slug_or_default(input.slug, &input.name, SLUG_SUFFIX, SLUG_MAX)?,
                    name: input.name,
                    logo: input.logo,
                    logo_dark: input.logo_dark,
                    $( $extra: input.$extra, )*
                })
            }
        }

        impl AdminResource for $record {
            const NOUN: &'static str = stringify!($record);
            type Input = $input;
            type Patch = $patch;

            async fn create(conn: &mut PgConn, input: $input) -> Result<Written<Self>, ApiError> {
                let record = diesel::insert_into($table::table)
                    .values($values::try_from(input)?)
                    .returning(Self::as_returning())
                    .get_result(conn)
                    .await?;
                Ok(Written { stale: $stale(record.id), record })
            }

            async fn replace(conn: &mut PgConn, id: i32, input: $input) -> Result<Written<Self>, ApiError> {
                let record = diesel::update($table::table.find(id))
                    .set($values::try_from(input)?)
                    .returning(Self::as_returning())
                    .get_result(conn)
                    .await
                    .optional()?
                    .ok_or_else(|| Self::not_found(id))?;
                Ok(Written { stale: $stale(id), record })
            }

            async fn patch(conn: &mut PgConn, id: i32, patch: $patch) -> Result<Written<Self>, ApiError> {
                conn.transaction(|conn| {
                    async move {
                        let current = $table::table
                            .find(id)
                            .select(Self::as_select())
                            .for_no_key_update()
                            .first(conn)
                            .await
                            .optional()?
                            .ok_or_else(|| Self::not_found(id))?;
                        let input = patch.apply_to(current);
                        validate_merged(&input)?;
                        Self::replace(conn, id, input).await
                    }
                    .scope_boxed()
                })
                .await
            }

            async fn delete(conn: &mut PgConn, id: i32) -> Result<Vec<Scope>, ApiError> {
                deleted::<Self>(id, diesel::delete($table::table.find(id)).execute(conn).await)?;
                Ok($stale(id))
            }
        }
    };
}

reference_writes! {
    Brand in brands, stale scopes::on_brand_change,
    /// Body of POST and PUT /api/brands: the whole brand.
    input BrandInput,
    /// Body of PATCH /api/brands/{brand_id}: only the fields to change;
    /// `null` clears an optional field.
    patch BrandPatch,
    values BrandValues,
    extra {},
}

reference_writes! {
    Competition in competitions, stale scopes::on_competition_change,
    /// Body of POST and PUT /api/competitions: the whole competition.
    input CompetitionInput,
    /// Body of PATCH /api/competitions/{competition_id}: only the fields to
    /// change; `null` clears an optional field.
    patch CompetitionPatch,
    values CompetitionValues,
    extra {
        /// ISO 3166 alpha-2, upper case.
        #[validate(custom(function = "validate_country"))]
        #[schema(example = "GB", pattern = r"^[A-Z]{2}$")]
        country: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_keeps_absent_fields_and_clears_nulls() {
        let current = Competition {
            id: 1,
            name: "Premier League".into(),
            slug: "premier-league-kits".into(),
            logo: Some("https://example.com/pl.png".into()),
            logo_dark: None,
            country: Some("GB".into()),
        };
        let patch: CompetitionPatch = serde_json::from_str(r#"{"name": "EPL", "logo": null}"#).unwrap();
        let merged = patch.apply_to(current);
        assert_eq!(merged.name, "EPL");
        assert_eq!(merged.slug.as_deref(), Some("premier-league-kits"));
        assert_eq!(merged.logo, None);
        assert_eq!(merged.country.as_deref(), Some("GB"));
        assert!(merged.validate().is_ok());
    }

    #[test]
    fn brand_bodies_reject_competition_fields() {
        assert!(serde_json::from_str::<BrandInput>(r#"{"name": "Nike", "country": "US"}"#).is_err());
        let nike: BrandInput = serde_json::from_str(r#"{"name": "Nike"}"#).unwrap();
        assert_eq!(BrandValues::try_from(nike).unwrap().slug, "nike-kits");
    }
}
