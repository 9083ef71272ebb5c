//! The in-process tier (L1): a bounded moka cache of stored entries, and
//! the local state that says whether one may still be served.
//!
//! An entry is served only while three things hold: this instance's lease
//! is valid (see [`crate::coherence`]), the local epoch has not moved, and
//! none of its scopes has been touched by an invalidation applied since the
//! entry's data was read. Scopes are tracked in a fixed table of counters
//! indexed by a hash of the scope name: bounded memory, and a collision
//! only costs an extra miss.
//!
//! The same moka cache also holds *target answers*: the entry a request
//! target (path and query) was last answered from, so the next request for
//! it is answered before routing (see [`crate::Cache::answer_for_target`]).
//! A target answer is served under exactly the checks above, on the entry it
//! points to, so it can never be newer-looking than the entry itself. Entry
//! keys start with the namespace and targets with `/`, so they never meet.
//!
//! The counters hold the *tick* (a local count of applied invalidations) of
//! the last invalidation that touched them. A fill takes the tick before its
//! Redis read (or before its generation read, for an origin load); when it
//! stores, any of its counters above that tick means an invalidation was
//! applied in between, and the entry is not stored. See "In-process tier
//! (L1)" in docs/ARCHITECTURE.md for why that makes a raced fill unservable.

use crate::scope::EPOCH;
use bytes::Bytes;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Counters in the scope table (32 KiB of atomics).
const SLOTS: usize = 4096;

/// Bytes an entry costs besides its body and key (moka's node, our header).
const ENTRY_OVERHEAD: usize = 160;

/// A stored entry as L1 keeps it: the body bytes exactly as Redis stores
/// them (gzip passed through), with what is needed to check it.
#[derive(Clone)]
pub(crate) struct LocalEntry(Arc<LocalEntryInner>);

pub(crate) struct LocalEntryInner {
    pub body: Bytes,
    pub compressed: bool,
    pub etag: Arc<str>,
    pub expires_at_ms: u64,
    pub delta_ms: u64,
    /// (slot, counter value when the entry's data was read), deduplicated.
    stamps: Box<[(u16, u64)]>,
    /// The local epoch when the entry's data was read.
    epoch: u64,
    weight: u32,
}

impl std::ops::Deref for LocalEntry {
    type Target = LocalEntryInner;
    fn deref(&self) -> &LocalEntryInner {
        &self.0
    }
}

/// What the moka cache holds under a key.
#[derive(Clone)]
enum Held {
    /// An entry, under its cache key.
    Entry(LocalEntry),
    /// The entry a request target was answered from, under the target.
    Target(Arc<TargetAnswer>),
}

impl Held {
    fn entry(&self) -> &LocalEntry {
        match self {
            Held::Entry(entry) => entry,
            Held::Target(answer) => &answer.entry,
        }
    }
}

/// A request target's answer: its entry and what a request answered from
/// it must still do or report (its route label, a popularity count, the
/// resolved hit counter).
pub(crate) struct TargetAnswer {
    pub entry: LocalEntry,
    pub route: Arc<str>,
    pub popular: Option<(&'static str, Arc<str>)>,
    pub hits: prometheus::IntCounter,
}

/// The tick taken before a fill's read; see the module comment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stamp(u64);

/// Whether this instance may serve from L1 now, and until when.
struct Lease {
    base: Instant,
    /// Nanoseconds after `base` until which L1 may serve; 0 = no lease.
    until_ns: AtomicU64,
}

impl Lease {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn at_ns(&self, instant: Instant) -> u64 {
        u64::try_from(instant.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }
}

/// The L1 tier of one instance.
pub(crate) struct LocalTier {
    entries: moka::sync::Cache<String, Held>,
    slots: Box<[AtomicU64]>,
    /// Tick of the last flush (gap, epoch invalidation, lapsed lease).
    epoch: AtomicU64,
    /// Invalidations applied locally so far.
    tick: AtomicU64,
    lease: Lease,
    hasher: std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher>,
}

struct EntryExpiry;

impl moka::Expiry<String, Held> for EntryExpiry {
    fn expire_after_create(&self, _key: &String, value: &Held, _created_at: Instant) -> Option<Duration> {
        Some(Duration::from_millis(value.entry().expires_at_ms.saturating_sub(crate::client::now_ms())))
    }
}

impl LocalTier {
    /// A tier holding at most `max_bytes` of entries (bodies, keys and a
    /// fixed overhead each). A target answer weighs as much as its entry
    /// again, since it may keep a replaced entry's body alive: the bound
    /// over-counts rather than under-counts.
    pub fn new(max_bytes: u64) -> LocalTier {
        let entries = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &String, value: &Held| {
                let extra = match value {
                    Held::Entry(_) => key.len(),
                    Held::Target(answer) => key.len() + answer.route.len(),
                };
                value.entry().weight.saturating_add(u32::try_from(extra).unwrap_or(u32::MAX))
            })
            .expire_after(EntryExpiry)
            .build();
        LocalTier {
            entries,
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            epoch: AtomicU64::new(0),
            tick: AtomicU64::new(0),
            lease: Lease { base: Instant::now(), until_ns: AtomicU64::new(0) },
            hasher: Default::default(),
        }
    }

    fn slot(&self, scope: &str) -> usize {
        let mut hasher = self.hasher.build_hasher();
        hasher.write(scope.as_bytes());
        // SLOTS is a power of two far below u64::MAX; the cast cannot truncate meaningfully.
        (hasher.finish() % SLOTS as u64) as usize
    }

    pub fn lease_valid(&self) -> bool {
        self.lease.now_ns() < self.lease.until_ns.load(Ordering::SeqCst)
    }

    /// Extends the lease to `sent + term - margin`; `sent` is taken before
    /// the renewal was sent, so the local lease ends before Redis' record of it.
    pub fn extend_lease(&self, sent: Instant, serve_for: Duration) {
        let until = self.lease.at_ns(sent).saturating_add(u64::try_from(serve_for.as_nanos()).unwrap_or(u64::MAX));
        self.lease.until_ns.fetch_max(until, Ordering::SeqCst);
    }

    #[cfg(test)]
    pub fn drop_lease(&self) {
        self.lease.until_ns.store(0, Ordering::SeqCst);
    }

    /// Remaining lease, zero when none.
    pub fn lease_remaining(&self) -> Duration {
        Duration::from_nanos(self.lease.until_ns.load(Ordering::SeqCst).saturating_sub(self.lease.now_ns()))
    }

    /// Takes the stamp a fill must carry: call it *before* the read whose
    /// result will be stored.
    pub fn stamp(&self) -> Stamp {
        Stamp(self.tick.load(Ordering::SeqCst))
    }

    /// Applies one invalidation: every entry built from one of `scopes` (or
    /// everything, for the epoch) stops being servable.
    pub fn apply<'a>(&self, scopes: impl IntoIterator<Item = &'a str>) {
        let tick = self.tick.fetch_add(1, Ordering::SeqCst) + 1;
        for scope in scopes {
            if scope == EPOCH.as_str() {
                self.epoch.store(tick, Ordering::SeqCst);
                self.entries.invalidate_all();
            } else {
                self.slots[self.slot(scope)].store(tick, Ordering::SeqCst);
            }
        }
    }

    /// Makes every entry unservable and frees them.
    pub fn flush(&self) {
        self.apply([EPOCH.as_str()]);
    }

    /// Whether `entry` may be served now, given a valid lease (each caller
    /// checks it first, once, before the lookup): no flush and no
    /// invalidation of its scopes was applied since its data was read, and
    /// it has not expired.
    fn servable(&self, entry: &LocalEntry) -> bool {
        entry.epoch == self.epoch.load(Ordering::SeqCst)
            && entry.stamps.iter().all(|(slot, seen)| self.slots[usize::from(*slot)].load(Ordering::SeqCst) == *seen)
            && crate::client::now_ms() < entry.expires_at_ms
    }

    /// A servable entry for `key`, if any.
    pub fn get(&self, key: &str) -> Option<LocalEntry> {
        if !self.lease_valid() {
            return None;
        }
        match self.entries.get(key)? {
            Held::Entry(entry) if self.servable(&entry) => Some(entry),
            _ => None,
        }
    }

    /// The servable answer remembered for a request target, if any.
    pub fn get_target(&self, target: &str) -> Option<Arc<TargetAnswer>> {
        if !self.lease_valid() {
            return None;
        }
        match self.entries.get(target)? {
            Held::Target(answer) if self.servable(&answer.entry) => Some(answer),
            _ => None,
        }
    }

    /// Remembers the entry a request target was answered from (only while
    /// that entry is still servable; [`Self::get_target`] checks again).
    pub fn insert_target(&self, target: String, answer: TargetAnswer) {
        if self.lease_valid() && self.servable(&answer.entry) {
            self.entries.insert(target, Held::Target(Arc::new(answer)));
        }
    }

    /// Stores an entry whose data was read after `stamp` was taken, unless
    /// an invalidation of one of its scopes was applied since; returns it
    /// when stored.
    #[allow(clippy::too_many_arguments)]
    pub fn insert<'a>(
        &self,
        key: String,
        stamp: Stamp,
        scopes: impl IntoIterator<Item = &'a str>,
        body: Bytes,
        compressed: bool,
        etag: Arc<str>,
        expires_at_ms: u64,
        delta_ms: u64,
    ) -> Option<LocalEntry> {
        let epoch = self.epoch.load(Ordering::SeqCst);
        if epoch > stamp.0 {
            return None;
        }
        let mut stamps: Vec<(u16, u64)> = Vec::new();
        for scope in scopes {
            if scope == EPOCH.as_str() {
                continue;
            }
            let slot = self.slot(scope);
            let seen = self.slots[slot].load(Ordering::SeqCst);
            if seen > stamp.0 {
                return None;
            }
            let slot = u16::try_from(slot).unwrap_or(u16::MAX);
            if !stamps.iter().any(|(s, _)| *s == slot) {
                stamps.push((slot, seen));
            }
        }
        let weight = u32::try_from(body.len() + etag.len() + ENTRY_OVERHEAD + stamps.len() * 16).unwrap_or(u32::MAX);
        let entry = LocalEntry(Arc::new(LocalEntryInner {
            body,
            compressed,
            etag,
            expires_at_ms,
            delta_ms,
            stamps: stamps.into_boxed_slice(),
            epoch,
            weight,
        }));
        self.entries.insert(key, Held::Entry(entry.clone()));
        Some(entry)
    }

    /// Entries held and their weighed size in bytes (moka's counts, which
    /// lag inserts and evictions slightly).
    pub fn usage(&self) -> (u64, u64) {
        self.entries.run_pending_tasks();
        (self.entries.entry_count(), self.entries.weighted_size())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn far_future() -> u64 {
        crate::client::now_ms() + 60_000
    }

    async fn fill(tier: &LocalTier, key: &str, stamp: Stamp, scopes: &[&str]) -> bool {
        tier.insert(
            key.to_string(),
            stamp,
            scopes.iter().copied(),
            Bytes::from_static(b"{}"),
            false,
            Arc::from("W/\"x\""),
            far_future(),
            1,
        )
        .is_some()
    }

    fn leased() -> LocalTier {
        let tier = LocalTier::new(1 << 20);
        tier.extend_lease(Instant::now(), Duration::from_secs(60));
        tier
    }

    #[tokio::test]
    async fn an_invalidation_makes_entries_of_its_scope_unservable() {
        let tier = leased();
        assert!(fill(&tier, "a", tier.stamp(), &["club:1", "clubs"]).await);
        assert!(fill(&tier, "b", tier.stamp(), &["club:2"]).await);
        assert!(tier.get("a").is_some());
        tier.apply(["club:1"]);
        assert!(tier.get("a").is_none(), "club:1 moved");
        assert!(tier.get("b").is_some(), "club:2 did not");
        tier.flush();
        assert!(tier.get("b").is_none(), "the epoch moved");
    }

    #[tokio::test]
    async fn a_fill_that_raced_an_invalidation_is_refused() {
        let tier = leased();
        let stamp = tier.stamp();
        tier.apply(["kit:7"]);
        assert!(!fill(&tier, "k", stamp, &["kit:7"]).await, "invalidated after the read began");
        assert!(fill(&tier, "other", stamp, &["kit:8"]).await, "another scope is unaffected");
        let stamp = tier.stamp();
        tier.flush();
        assert!(!fill(&tier, "late", stamp, &["kit:9"]).await, "a flush refuses every older fill");
    }

    #[tokio::test]
    async fn no_lease_no_hit() {
        let tier = LocalTier::new(1 << 20);
        assert!(fill(&tier, "a", tier.stamp(), &["clubs"]).await);
        assert!(tier.get("a").is_none());
        tier.extend_lease(Instant::now(), Duration::from_secs(60));
        assert!(tier.get("a").is_some());
        tier.drop_lease();
        assert!(tier.get("a").is_none());
    }

    #[tokio::test]
    async fn memory_stays_bounded() {
        let tier = leased();
        let body = Bytes::from(vec![b'x'; 10_000]);
        for i in 0..500 {
            let stamp = tier.stamp();
            tier.insert(format!("k{i}"), stamp, ["s"], body.clone(), false, Arc::from("e"), far_future(), 1);
        }
        let (entries, bytes) = tier.usage();
        assert!(bytes <= 1 << 20, "{bytes} bytes in {entries} entries");
        assert!(entries < 500 && entries > 10, "{entries}");
    }
}
