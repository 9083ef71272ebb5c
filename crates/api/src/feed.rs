//! The change feed of a serving instance: the consumer of crates/feed,
//! given the domain's rule for what a recorded change makes stale.

use crate::config::Settings;
use crate::domains::registry;
use crate::state::AppState;
use fkapi_cache::{RowChange, Scope};
use fkapi_feed::{Change, Feed, FeedHandle, FeedMetrics};
use std::sync::Arc;

/// What a recorded change makes stale: the domains' table rules, through
/// the registry; `None` for "every row of the table" (TRUNCATE, bulk
/// loads), which bumps the epoch. The one place the feed meets the domains.
fn scopes_of(change: &Change) -> Result<Option<Vec<Scope>>, String> {
    Ok(change.ids.as_ref().map(|ids| {
        registry().scopes_for_change(&RowChange { table: &change.table, ids, related: &change.related_ids })
    }))
}

/// How this instance names itself as a consumer (address, pid, a random
/// tag so two runs of one pid differ).
fn owner(settings: &Settings) -> String {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    format!("{} pid {} {}", settings.bind, std::process::id(), &tag[..8])
}

/// Starts consuming (or watching) the change feed of this namespace.
pub fn spawn(state: &AppState, settings: &Settings) -> anyhow::Result<FeedHandle> {
    let metrics = FeedMetrics::register(&state.registry)?;
    Ok(fkapi_feed::spawn(Feed {
        database_url: settings.database_url.0.clone(),
        cache: state.cache().clone(),
        config: settings.feed.clone(),
        scopes_of: Arc::new(scopes_of),
        metrics,
        owner: owner(settings),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(table: &str, ids: Option<Vec<i32>>, related_ids: Vec<i32>) -> Change {
        Change { table: table.into(), ids, related_ids }
    }

    fn names(table: &str, ids: &[i32], related: &[i32]) -> Vec<String> {
        let scopes = scopes_of(&change(table, Some(ids.to_vec()), related.to_vec())).ok().flatten().unwrap_or_default();
        scopes.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_moved_kit_touches_both_clubs() {
        assert_eq!(names("kits", &[5], &[1, 2]), ["club_kits:1", "club_kits:2", "kit:5", "kits"]);
    }

    #[test]
    fn rows_map_to_their_domain_rules() {
        assert_eq!(names("clubs", &[3], &[]), ["club:3", "clubs"]);
        assert_eq!(names("brands", &[1, 2], &[]), ["brand:1", "brand:2", "brands"]);
        assert_eq!(names("colors", &[4], &[]), ["colors"]);
        assert!(names("users", &[1], &[]).is_empty());
        assert_eq!(names("collection_entries", &[4, 2], &[]), ["user_collection:2", "user_collection:4"]);
    }

    #[test]
    fn every_row_of_a_table_means_everything() {
        assert!(scopes_of(&change("kits", None, vec![])).is_ok_and(|s| s.is_none()));
    }
}
