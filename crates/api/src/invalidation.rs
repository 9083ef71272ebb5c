//! Invalidation from outside a write: an operator's `invalidate <scope>
//! [id]` and the database's change notifications, both resolved through the
//! domains' registry, so a manual invalidation of kit 7 bumps exactly what
//! an API write of kit 7 would.

use crate::domains::registry;
use fkapi_cache::{OperatorScopeError, RowChange, Scope};
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

/// The scopes made stale by a change notified by the database triggers
/// (`<table>|<ids>|<club ids>`, see the change_notifications migration).
/// `None` means "everything in that table" (TRUNCATE): bump the epoch.
pub fn scopes_for_notification(payload: &str) -> Result<Option<Vec<Scope>>, String> {
    let mut parts = payload.splitn(3, '|');
    let table = parts.next().unwrap_or_default();
    let ids_text = parts.next().ok_or_else(|| format!("malformed change notification {payload:?}"))?;
    if ids_text == "*" {
        return Ok(None);
    }
    let numbers = |text: &str| -> Result<Vec<i32>, String> {
        text.split(',').filter(|t| !t.is_empty()).map(|t| t.parse::<i32>().map_err(|e| format!("{t:?}: {e}"))).collect()
    };
    let ids = numbers(ids_text)?;
    let related = numbers(parts.next().unwrap_or_default())?;
    Ok(Some(registry().scopes_for_change(&RowChange { table, ids: &ids, related: &related })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(payload: &str) -> Vec<String> {
        scopes_for_notification(payload).ok().flatten().unwrap_or_default().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_moved_kit_touches_both_clubs() {
        assert_eq!(names("kits|5|1,2"), ["club_kits:1", "club_kits:2", "kit:5", "kits"]);
    }

    #[test]
    fn rows_map_to_their_domain_rules() {
        assert_eq!(names("clubs|3|"), ["club:3", "clubs"]);
        assert_eq!(names("brands|1,2|"), ["brand:1", "brand:2", "brands"]);
        assert_eq!(names("colors|4|"), ["colors"]);
        assert!(names("users|1|").is_empty());
        assert_eq!(names("collection_entries|4,2|"), ["user_collection:2", "user_collection:4"]);
    }

    #[test]
    fn truncate_means_everything_and_garbage_is_refused() {
        assert!(scopes_for_notification("kits|*|").is_ok_and(|s| s.is_none()));
        assert!(scopes_for_notification("kits").is_err());
        assert!(scopes_for_notification("kits|1,x|").is_err());
    }

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
