//! Popularity counts (e.g. searched keywords, for `warm-cache --search`):
//! counted in memory on the request path, added to Redis sorted sets in the
//! background, so a request pays no extra round trip.

use crate::client::Cache;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};

/// Distinct members counted between two flushes; more are dropped, so a
/// flood of unique keywords cannot grow memory.
const MAX_PENDING_POPULAR: usize = 10_000;
/// Members kept per popularity list in Redis.
const POPULAR_KEPT: isize = 1000;

/// Counts not yet added to Redis, per (list, member).
#[derive(Default)]
pub(crate) struct PendingCounts(Mutex<HashMap<(&'static str, String), u64>>);

fn list_key(cache: &Cache, list: &str) -> String {
    cache.namespace().aux_key(&format!("popular:{list}"))
}

impl Cache {
    /// Counts one use of `member` in the popularity list `list` (e.g. search
    /// keywords), in memory; [`Cache::flush_popular`] adds the counts to
    /// Redis in the background, so requests pay no extra round trip.
    pub fn count_popular(&self, list: &'static str, member: &str) {
        if !self.is_enabled() {
            return;
        }
        let mut pending = self.pending_counts().0.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (list, member.to_string());
        if let Some(count) = pending.get_mut(&key) {
            *count += 1;
        } else if pending.len() < MAX_PENDING_POPULAR {
            pending.insert(key, 1);
        }
    }

    /// Adds the counted uses to Redis sorted sets, keeping the top members.
    pub async fn flush_popular(&self) -> bool {
        let pending = std::mem::take(&mut *self.pending_counts().0.lock().unwrap_or_else(PoisonError::into_inner));
        if pending.is_empty() {
            return true;
        }
        let lists: BTreeSet<&'static str> = pending.keys().map(|(list, _)| *list).collect();
        self.redis("popular", |conn| async move {
            // Lists may sit on different slots of a cluster: `each` sends
            // them as one pipeline on one node, concurrently on a cluster.
            let increments = pending
                .iter()
                .map(|((list, member), count)| {
                    let mut cmd = redis::cmd("ZINCRBY");
                    cmd.arg(list_key(self, list)).arg(*count).arg(member);
                    cmd
                })
                .collect();
            conn.each::<redis::Value>(increments).await?;
            let trims = lists
                .into_iter()
                .map(|list| {
                    let mut cmd = redis::cmd("ZREMRANGEBYRANK");
                    cmd.arg(list_key(self, list)).arg(0).arg(-POPULAR_KEPT - 1);
                    cmd
                })
                .collect();
            conn.each::<redis::Value>(trims).await.map(|_| ())
        })
        .await
        .is_some()
    }

    /// The `n` most counted members of `list`, most counted first.
    pub async fn top_popular(&self, list: &str, n: usize) -> Vec<String> {
        let key = list_key(self, list);
        let last = isize::try_from(n).unwrap_or(isize::MAX).saturating_sub(1);
        self.redis("popular", |mut conn| async move {
            redis::cmd("ZREVRANGE").arg(&key).arg(0).arg(last).query_async::<Vec<String>>(&mut conn).await
        })
        .await
        .unwrap_or_default()
    }
}
