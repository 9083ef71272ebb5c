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

use crate::ApiError;
use diesel::expression::SqlLiteral;
use diesel::sql_types::BigInt;
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
