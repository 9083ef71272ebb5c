//! An operator's `invalidate <scope> [id]`, resolved through the domains'
//! registry, so a manual invalidation of kit 7 bumps exactly what an API
//! write of kit 7 would. (Changes made outside the API arrive through the
//! change feed, `feed.rs`, which uses the same registry.)

use crate::domains::registry;
use fkapi_cache::OperatorScopeError;
use fkapi_web::AppContext;

/// What an operator's invalidation did.
#[derive(Debug)]
pub struct Invalidated {
    /// The scopes bumped (`epoch` for `all`).
    pub scopes: Vec<String>,
    /// False when Redis could not be reached (the epoch is bumped when it returns).
    pub reached_redis: bool,
}

/// Bumps what `invalidate <name> [id]` names.
pub async fn by_operator(ctx: &AppContext, name: &str, id: Option<i32>) -> Result<Invalidated, OperatorScopeError> {
    let scopes = registry().operator_scopes(ctx, name, id).await?;
    let reached_redis = ctx.cache.invalidate(&scopes).await;
    Ok(Invalidated { scopes: scopes.iter().map(ToString::to_string).collect(), reached_redis })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cache_type_has_a_distinct_name_and_prefix() {
        let types: Vec<_> = registry().cache_types().collect();
        for (i, a) in types.iter().enumerate() {
            for b in &types[i + 1..] {
                assert_ne!(a.name, b.name);
                assert_ne!(a.prefix, b.prefix);
            }
        }
        assert_eq!(registry().type_of_key("season_club_3").map(|t| t.name), Some("seasons"));
    }

    #[test]
    fn operator_names_are_unique() {
        let names = registry().operator_scope_names();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "{names:?}");
    }
}
