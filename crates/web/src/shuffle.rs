//! The shuffle behind the random listings (FKApi's `random-kits` and
//! `random-clubs`).
//!
//! FKApi orders by `?` (a new random order per request), so its pages
//! overlap and nothing can be cached. Here a listing is one pseudo-random
//! permutation chosen by a *seed*: rows are ordered by a seeded hash of their
//! id, so every page of one seed is a slice of the same order and no two
//! pages of it share a row. Each seed's pages are cached like any list (and
//! invalidated by the same writes); the default seed is the current time
//! window, so the order a client sees changes every window, and a client
//! that sends back the `seed` of an earlier answer keeps paging through the
//! same order.

use crate::{param_names, ApiError, AppContext, Pagination, QueryPairs};
use actix_web::dev::Payload;
use actix_web::error::QueryPayloadError;
use actix_web::{web, FromRequest, HttpRequest};
use diesel::expression::SqlLiteral;
use diesel::sql_types::BigInt;
use fkapi_cache::{generate_cache_key, TtlClass};
use serde::Deserialize;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Largest seed a client may send.
pub const MAX_SEED: i64 = i32::MAX as i64;

/// The `seed` parameter of the random listings.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ShuffleQuery {
    /// Which shuffle to page through, 0 to 2147483647. Without it, the
    /// current one, which changes every SHORT TTL (`FKAPI_CACHE_TTL_SHORT`,
    /// 300 s by default); send the `seed` of an earlier answer to keep
    /// paging through the same order.
    #[param(minimum = 0, maximum = 2147483647, example = 5_893_021)]
    pub seed: Option<i64>,
}

impl ShuffleQuery {
    /// The seed asked for, or the number of the current `window` since the
    /// Unix epoch.
    pub fn resolve(self, window: Duration) -> Result<i64, ApiError> {
        match self.seed {
            Some(seed) if !(0..=MAX_SEED).contains(&seed) => {
                Err(ApiError::BadRequest(format!("seed must be between 0 and {MAX_SEED}")))
            }
            Some(seed) => Ok(seed),
            None => {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
                let window = window.as_secs().max(1);
                Ok(i64::try_from(now / window).unwrap_or(0) % (MAX_SEED + 1))
            }
        }
    }
}

/// One page of one shuffle, as a random listing's request asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShufflePage {
    pub seed: i64,
    pub page: i64,
    pub page_size: i64,
}

impl ShufflePage {
    /// Checks a random listing's parameters (`page`, `page_size`, `seed`;
    /// any other is a 400); the default seed's window is the SHORT TTL.
    pub fn parse(ctx: &AppContext, query_string: &str) -> Result<ShufflePage, ApiError> {
        let query = QueryPairs::parse(query_string)?;
        query.refuse_unknown(&[param_names::<Pagination>(), param_names::<ShuffleQuery>()])?;
        let invalid = |e: QueryPayloadError| ApiError::BadRequest(format!("invalid query parameter: {e}"));
        let paging = web::Query::<Pagination>::from_query(query_string).map_err(invalid)?.into_inner();
        let shuffle = web::Query::<ShuffleQuery>::from_query(query_string).map_err(invalid)?.into_inner();
        let (page, page_size) = paging.resolve()?;
        let seed = shuffle.resolve(ctx.cache.config().ttl.base(TtlClass::Short))?;
        Ok(ShufflePage { seed, page, page_size })
    }

    /// FKApi's key shape: `<prefix>_seed_<seed>_page_<page>_page_size_<n>`.
    pub fn cache_key(&self, prefix: &str) -> String {
        generate_cache_key(prefix, &[&"seed", &self.seed, &"page", &self.page, &"page_size", &self.page_size], &[])
    }
}

/// The random listings' handlers take their page as an extractor.
impl FromRequest for ShufflePage {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let page = match req.app_data::<web::Data<AppContext>>() {
            Some(ctx) => ShufflePage::parse(ctx, req.query_string()),
            None => Err(ApiError::Internal("application context missing".into())),
        };
        std::future::ready(page.map_err(Into::into))
    }
}

/// The SQL that orders rows of `id_column` (an `integer`) by the shuffle of
/// `seed`: PostgreSQL's seeded hash of the id, the id breaking ties, so the
/// order is total and the same for every page.
pub fn shuffled_order(id_column: &'static str, seed: i64) -> SqlLiteral<BigInt> {
    diesel::dsl::sql::<BigInt>(&format!("hashint4extended({id_column}, {seed}), {id_column}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_the_shuffle_and_the_page() {
        let at = ShufflePage { seed: 42, page: 2, page_size: 20 };
        assert_eq!(at.cache_key("random_kits"), "random_kits_seed_42_page_2_page_size_20");
    }

    #[test]
    fn seeds_are_bounded_and_default_to_the_window() {
        assert_eq!(ShuffleQuery { seed: Some(7) }.resolve(Duration::from_secs(300)).ok(), Some(7));
        assert!(ShuffleQuery { seed: Some(-1) }.resolve(Duration::from_secs(300)).is_err());
        assert!(ShuffleQuery { seed: Some(MAX_SEED + 1) }.resolve(Duration::from_secs(300)).is_err());
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let seed = ShuffleQuery::default().resolve(Duration::from_secs(300)).unwrap_or(-1);
        let expected = i64::try_from(now / 300).unwrap_or(0);
        assert!(seed == expected || seed == expected + 1, "{seed} {expected}");
    }
}
