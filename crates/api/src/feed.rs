//! The change feed of a serving instance: the consumer of crates/feed,
//! given the domain's rule for what a recorded change makes stale.

use crate::app::AppState;
use crate::config::Settings;
use crate::invalidation;
use fkapi_cache::Scope;
use fkapi_feed::{Change, Feed, FeedHandle, FeedMetrics};
use std::sync::Arc;

/// What a recorded change makes stale. The one place the feed meets the
/// domain crates' table rules.
fn scopes_of(change: &Change) -> Result<Option<Vec<Scope>>, String> {
    invalidation::scopes_for_notification(&as_notification(change))
}

/// A change in the `<table>|<ids>|<related ids>` form of the table rules.
fn as_notification(change: &Change) -> String {
    let join = |ids: &[i32]| ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
    match &change.ids {
        None => format!("{}|*|", change.table),
        Some(ids) => format!("{}|{}|{}", change.table, join(ids), join(&change.related_ids)),
    }
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

    #[test]
    fn records_reach_the_table_rules_in_their_form() {
        assert_eq!(as_notification(&change("kits", Some(vec![5, 6]), vec![1, 2])), "kits|5,6|1,2");
        assert_eq!(as_notification(&change("clubs", Some(vec![3]), vec![])), "clubs|3|");
        assert_eq!(as_notification(&change("kit_secondary_colors", None, vec![])), "kit_secondary_colors|*|");
        let scopes = scopes_of(&change("kits", Some(vec![5]), vec![1, 2])).ok().flatten().unwrap_or_default();
        let names: Vec<String> = scopes.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["club_kits:1", "club_kits:2", "kit:5", "kits"]);
        assert!(scopes_of(&change("kits", None, vec![])).is_ok_and(|s| s.is_none()));
    }
}
