use diesel::prelude::*;
use fkapi_db::schema::seasons;
use serde::Serialize;
use utoipa::ToSchema;

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
