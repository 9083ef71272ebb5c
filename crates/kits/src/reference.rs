//! Reference data a kit points at: brands, competitions, kit types and
//! colours, in FKApi's JSON shapes.

use diesel::prelude::*;
use fkapi_db::schema::{brands, colors, competitions, kit_types};
use serde::Serialize;
use utoipa::ToSchema;

/// FKApi's `BrandJsonSchema`.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize, ToSchema)]
#[diesel(table_name = brands)]
pub struct Brand {
    #[schema(example = 1)]
    pub id: i32,
    #[schema(example = "Adidas")]
    pub name: String,
    #[schema(example = "adidas-kits")]
    pub slug: String,
    pub logo: Option<String>,
    pub logo_dark: Option<String>,
}

/// FKApi's `CompetitionJsonSchema`.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize, ToSchema)]
#[diesel(table_name = competitions)]
pub struct Competition {
    #[schema(example = 1)]
    pub id: i32,
    #[schema(example = "Premier League")]
    pub name: String,
    #[schema(example = "premier-league-kits")]
    pub slug: String,
    pub logo: Option<String>,
    pub logo_dark: Option<String>,
    #[schema(example = "GB")]
    pub country: Option<String>,
}

/// FKApi's `TypeJsonSchema`.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize, ToSchema)]
#[diesel(table_name = kit_types)]
pub struct KitType {
    pub id: i32,
    #[schema(example = "Home")]
    pub name: String,
    /// match, prematch, preseason, training, travel or jacket.
    #[schema(example = "match")]
    pub category: String,
    pub category_order: i32,
    pub order_priority: i32,
    pub is_goalkeeper: bool,
}

/// FKApi's `ColorJsonSchema`.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize, ToSchema)]
#[diesel(table_name = colors)]
pub struct Color {
    #[serde(skip)]
    pub id: i32,
    #[schema(example = "Red")]
    pub name: String,
    #[schema(example = "#FF0000")]
    pub color: String,
}
