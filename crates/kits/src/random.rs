//! `GET /api/random-kits/`: FKApi's random kits, paged through one seeded
//! shuffle (see [`fkapi_web::ShuffleQuery`]) so that pages of one shuffle
//! never repeat a kit and each page can be cached like any list.

use crate::model::rating_number;
use crate::scopes::{BRANDS, COLORS, KITS, KIT_TYPES};
use bigdecimal::BigDecimal;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use fkapi_cache::{generate_cache_key, Scope};
use fkapi_clubs::scopes::CLUBS;
use fkapi_db::schema::{brands, clubs, colors, kit_secondary_colors, kit_types, kits, seasons};
use fkapi_db::PgConn;
use fkapi_seasons::scopes::SEASONS;
use fkapi_web::{shuffled_order, PageLinks};
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;

/// One kit of the random listing, in FKApi's shape.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RandomKit {
    #[schema(example = 1)]
    pub id: i32,
    #[schema(example = "Arsenal 2005-06 Home Kit")]
    pub name: String,
    #[schema(example = "arsenal-2005-06-home-kit")]
    pub slug: String,
    pub main_img_url: String,
    #[schema(example = "Arsenal")]
    pub team_name: String,
    #[schema(example = "2005-06")]
    pub season_year: String,
    #[schema(example = "Home")]
    pub type_name: String,
    #[schema(example = "Nike")]
    pub brand_name: String,
    /// 0 to 5, two decimals.
    #[schema(example = 4.85)]
    pub rating: Option<f64>,
    /// FKApi's summary: the primary colour and the first secondary colour
    /// (the one listed first in the kit's detail) as "Claret / White", the
    /// primary alone when there is no secondary, `null` without a primary.
    #[schema(example = "Claret / White")]
    pub colors: Option<String>,
    #[schema(example = "Plain")]
    pub design: Option<String>,
}

/// `GET /api/random-kits/`: one page of one shuffle.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RandomKitsPage {
    pub kits: Vec<RandomKit>,
    pub pagination: PageLinks,
    /// The shuffle these pages come from; send it back as `seed` to keep
    /// paging through the same order.
    #[schema(example = 5_893_021)]
    pub seed: i64,
}

/// FKApi's key shape for one page of one shuffle.
pub fn random_kits_key(seed: i64, page: i64, page_size: i64) -> String {
    generate_cache_key("random_kits", &[&"seed", &seed, &"page", &page, &"page_size", &page_size], &[])
}

/// What a page depends on: which kits have an image and their shown
/// columns (`kits`, which every kit write and every change to a kit's
/// secondary colours bumps), and the names shown from clubs, seasons, kit
/// types, brands and colours. Every scope is a whole table, so they are all
/// known before the query.
pub fn random_kits_scopes() -> Vec<Scope> {
    vec![KITS, CLUBS, SEASONS, KIT_TYPES, BRANDS, COLORS]
}

type RandomRow =
    (i32, String, String, String, String, String, String, String, Option<BigDecimal>, Option<String>, Option<String>);

/// The colours summary of one kit, as FKApi builds it.
fn colors_summary(primary: Option<String>, first_secondary: Option<&String>) -> Option<String> {
    match (primary, first_secondary) {
        (Some(primary), Some(secondary)) => Some(format!("{primary} / {secondary}")),
        (primary, _) => primary,
    }
}

impl RandomKitsPage {
    /// Kits with an image (FKApi skips those without), counted, then the
    /// page's slice of the shuffle, then each kit's first secondary colour.
    pub async fn load(conn: &mut PgConn, seed: i64, page: i64, page_size: i64) -> QueryResult<RandomKitsPage> {
        let total: i64 = kits::table.filter(kits::main_img_url.ne("")).count().get_result(conn).await?;
        let pagination = PageLinks::new(page, page_size, total);
        let rows: Vec<RandomRow> = kits::table
            .inner_join(clubs::table)
            .inner_join(seasons::table)
            .inner_join(kit_types::table)
            .inner_join(brands::table)
            .left_join(colors::table)
            .filter(kits::main_img_url.ne(""))
            .order(shuffled_order("kits.id", seed))
            .limit(page_size)
            .offset(pagination.offset(page_size))
            .select((
                kits::id,
                kits::name,
                kits::slug,
                kits::main_img_url,
                clubs::name,
                seasons::year,
                kit_types::name,
                brands::name,
                kits::rating,
                colors::name.nullable(),
                kits::design,
            ))
            .load(conn)
            .await?;
        let ids: Vec<i32> = rows.iter().map(|row| row.0).collect();
        // Lowest colour id first: the order the kit detail lists them in.
        let secondary: Vec<(i32, String)> = kit_secondary_colors::table
            .inner_join(colors::table)
            .filter(kit_secondary_colors::kit_id.eq_any(&ids))
            .order((kit_secondary_colors::kit_id, colors::id))
            .select((kit_secondary_colors::kit_id, colors::name))
            .load(conn)
            .await?;
        let mut first_secondary: HashMap<i32, String> = HashMap::with_capacity(secondary.len());
        for (kit_id, name) in secondary {
            first_secondary.entry(kit_id).or_insert(name);
        }
        let kits = rows
            .into_iter()
            .map(
                |(
                    id,
                    name,
                    slug,
                    main_img_url,
                    team_name,
                    season_year,
                    type_name,
                    brand_name,
                    rating,
                    primary,
                    design,
                )| {
                    RandomKit {
                        id,
                        name,
                        slug,
                        main_img_url,
                        team_name,
                        season_year,
                        type_name,
                        brand_name,
                        rating: rating_number(rating),
                        colors: colors_summary(primary, first_secondary.get(&id)),
                        design,
                    }
                },
            )
            .collect();
        Ok(RandomKitsPage { kits, pagination, seed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colors_summary_is_fkapis() {
        let white = "White".to_string();
        assert_eq!(colors_summary(Some("Claret".into()), Some(&white)).as_deref(), Some("Claret / White"));
        assert_eq!(colors_summary(Some("Claret".into()), None).as_deref(), Some("Claret"));
        assert_eq!(colors_summary(None, Some(&white)), None);
    }

    #[test]
    fn key_names_the_shuffle_and_the_page() {
        assert_eq!(random_kits_key(42, 2, 20), "random_kits_seed_42_page_2_page_size_20");
    }
}
