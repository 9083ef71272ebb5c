//! The cache core: cache-aside reads checked against generation counters,
//! single-flight loads, O(1) invalidation, and fail-open when Redis is away.
//! The connection itself is [`crate::connection`]; the extras built on it
//! (rate limiting, popularity, claims, statistics) have files of their own.

use crate::coherence::Coherence;
use crate::config::CacheConfig;
use crate::connection::{Conn, Guard, RedisLink};
use crate::entry::{self, Entry, Meta};
use crate::flight::{Flights, Outcome};
use crate::key::Namespace;
use crate::local::{LocalEntry, LocalTier, Stamp, TargetAnswer};
use crate::metrics::CacheMetrics;
use crate::popular::PendingCounts;
use crate::registry::{CacheKey, CacheType};
use crate::scope::{Scope, EPOCH};
use bytes::Bytes;
use futures::future::BoxFuture;
use rand::Rng;
use redis::Value;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Reads an entry and, in the same round trip, compares the generations it
/// was built from with the current ones. Returns 0 (absent), 1 (a scope
/// moved: stale) or the whole stored value.
const HIT_SCRIPT: &str = r"
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local nl = string.find(v, '\n', 1, true)
if not nl then return 0 end
local names, gens = {}, {}
for name, gen in string.gmatch(string.sub(v, 1, nl - 1), '([^ =]+)=([^ ]+)') do
  names[#names + 1] = ARGV[1] .. name
  gens[#gens + 1] = gen
end
if #names > 0 then
  local current = redis.call('MGET', unpack(names))
  for i = 1, #names do
    if current[i] ~= gens[i] then return 1 end
  end
end
return v
";

/// Reads generation counters, creating missing ones with a fresh random
/// value. An entry never records "missing", so a counter lost to eviction
/// or expiry can only turn entries into misses, never revive old ones.
const GENERATIONS_SCRIPT: &str = r"
local out = {}
for i = 1, #KEYS do
  local g = redis.call('GET', KEYS[i])
  if not g then
    g = ARGV[i + 1]
    redis.call('SET', KEYS[i], g, 'EX', ARGV[1])
  end
  out[i] = g
end
return out
";

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("invalid redis configuration: {0}")]
    Config(String),
    #[error("a cache load failed unexpectedly")]
    LoadPanicked,
}

/// How a response was produced, sent as `X-Cache`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheStatus {
    Hit,
    Miss,
    Stale,
    Bypass,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::Miss => "MISS",
            CacheStatus::Stale => "STALE",
            CacheStatus::Bypass => "BYPASS",
        }
    }
}

/// A cached query as a domain crate declares it: its key (which carries
/// its cache type, and so its TTL class and whether it may be served stale)
/// and the scopes known before the load.
#[derive(Clone, Debug)]
pub struct CachedQuery {
    pub cache_type: &'static CacheType,
    /// From [`CacheType::key`].
    pub key: String,
    /// Scopes known before the load; more can be added inside the loader
    /// with [`LoadCtx::depend_on`].
    pub scopes: Vec<Scope>,
}

impl CachedQuery {
    pub fn new(key: CacheKey) -> Self {
        CachedQuery { cache_type: key.cache_type, key: key.key, scopes: Vec::new() }
    }

    pub fn depends_on(mut self, scopes: impl IntoIterator<Item = Scope>) -> Self {
        self.scopes.extend(scopes);
        self
    }

    fn label(&self) -> &'static str {
        self.cache_type.name
    }
}

/// A response body ready to send: the stored bytes, untouched.
#[derive(Clone, Debug)]
pub struct Cached {
    pub status: CacheStatus,
    /// gzip when `compressed`, else the JSON itself.
    pub body: Bytes,
    pub compressed: bool,
    pub etag: Arc<str>,
    /// The L1 entry this answer came from, when the next request for the
    /// same target may be answered from it directly
    /// ([`Cache::remember_target`]).
    pub local: Option<LocalAnswer>,
}

/// An L1 entry an answer came from, with its cache type; opaque outside
/// the cache.
#[derive(Clone)]
pub struct LocalAnswer {
    entry: LocalEntry,
    cache_type: &'static CacheType,
}

impl std::fmt::Debug for LocalAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalAnswer").field("cache_type", &self.cache_type.name).finish_non_exhaustive()
    }
}

impl LocalAnswer {
    /// Only types whose key is a function of the request target qualify.
    fn of(entry: Option<LocalEntry>, cache_type: &'static CacheType) -> Option<LocalAnswer> {
        entry.filter(|_| cache_type.fixed_by_target).map(|entry| LocalAnswer { entry, cache_type })
    }
}

/// A request answered by its target ([`Cache::answer_for_target`]).
pub struct TargetHit {
    pub cached: Cached,
    /// The route label the answer was first routed to.
    pub route: Arc<str>,
}

impl Cached {
    fn from_entry(entry: Entry, status: CacheStatus) -> Self {
        Cached { status, body: entry.body, compressed: entry.meta.compressed, etag: entry.meta.etag, local: None }
    }

    fn from_loaded(loaded: &Loaded, status: CacheStatus) -> Self {
        Cached {
            status,
            body: loaded.body.clone(),
            compressed: loaded.compressed,
            etag: Arc::clone(&loaded.etag),
            local: None,
        }
    }

    /// The body to send and whether it is gzip: stored gzip goes out as it is
    /// to clients that accept it and is inflated for the others.
    pub fn body_for(&self, accepts_gzip: bool) -> (Bytes, bool) {
        if !self.compressed || accepts_gzip {
            return (self.body.clone(), self.compressed);
        }
        match entry::gunzip(&self.body) {
            Ok(plain) => (Bytes::from(plain), false),
            Err(_) => (self.body.clone(), true),
        }
    }
}

/// Result of one load, shared with the requests that waited for it.
#[derive(Clone)]
struct Loaded {
    body: Bytes,
    compressed: bool,
    etag: Arc<str>,
    deps: Arc<Vec<(String, String)>>,
    /// Whether the generations were read from Redis (so followers can verify them).
    tracked: bool,
}

/// Called right after a load's database read, before the cache fill; lets
/// tests hold a reader exactly where the classic cache-aside race happens.
pub type FillHook = Arc<dyn Fn(String) -> BoxFuture<'static, ()> + Send + Sync>;

enum Fetch {
    Valid(Entry),
    Absent,
    Invalidated,
    Unavailable,
}

struct Inner {
    cfg: CacheConfig,
    ns: Namespace,
    /// `None` when Redis is not configured or the cache is disabled.
    link: Option<RedisLink>,
    /// The in-process tier; `None` when off (FKAPI_L1_MAX_MB=0) or without Redis.
    local: Option<LocalTier>,
    /// Present whenever Redis is: a write announces its invalidations to
    /// the other instances' L1 even when this one has none.
    coherence: Option<Coherence>,
    metrics: CacheMetrics,
    flights: Arc<Flights>,
    /// Bumped by every invalidation this instance performs or hears of.
    local_seq: AtomicU64,
    /// Invalidations that could not reach Redis, and how many of them an
    /// epoch bump has since covered. While they differ nothing is served
    /// from Redis.
    failed_invalidations: AtomicU64,
    covered_invalidations: AtomicU64,
    /// Cluster topology changes (failovers) already covered by an epoch bump.
    covered_topology_changes: AtomicU64,
    hit_script: redis::Script,
    generations_script: redis::Script,
    fill_hook: RwLock<Option<FillHook>>,
    popular: PendingCounts,
    /// Cluster only: per entry key, the scopes its last entry depended on
    /// beyond those its query declares (found by the loader), so the next
    /// hit reads their generations in its first round too.
    dep_hints: RwLock<HashMap<String, Arc<[String]>>>,
}

/// Entry keys whose discovered scopes are remembered (cluster hit path);
/// past this the table is cleared (the hints are only an optimisation).
const MAX_DEP_HINTS: usize = 100_000;

/// Cheap to clone; one per app.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

/// Handed to a loader: lets it declare scopes it discovers while loading.
#[derive(Clone)]
pub struct LoadCtx {
    inner: Arc<LoadCtxInner>,
}

struct LoadCtxInner {
    cache: Option<Cache>,
    /// The entry being built: on a cluster its epoch copy depends on it.
    entry_key: String,
    deps: Mutex<Vec<(String, String)>>,
    tracked: AtomicBool,
}

impl LoadCtx {
    fn new(cache: Option<Cache>, entry_key: String) -> Self {
        let tracked = cache.is_some();
        LoadCtx {
            inner: Arc::new(LoadCtxInner {
                cache,
                entry_key,
                deps: Mutex::new(Vec::new()),
                tracked: AtomicBool::new(tracked),
            }),
        }
    }

    /// Records the current generations of `scopes`. Call it *before* the
    /// query that reads those rows: a write that lands after this call bumps
    /// a generation and so turns the entry being built into a miss.
    pub async fn depend_on(&self, scopes: impl IntoIterator<Item = Scope>) {
        let Some(cache) = &self.inner.cache else { return };
        if !self.inner.tracked.load(Ordering::Relaxed) {
            return;
        }
        let scopes: Vec<Scope> = scopes.into_iter().collect();
        if scopes.is_empty() {
            return;
        }
        match cache.read_generations(&scopes, &self.inner.entry_key).await {
            Some(generations) => {
                let mut deps = self.inner.deps.lock().unwrap_or_else(PoisonError::into_inner);
                for (scope, generation) in scopes.iter().zip(generations) {
                    if !deps.iter().any(|(s, _)| s == scope.as_str()) {
                        deps.push((scope.to_string(), generation));
                    }
                }
            }
            None => self.inner.tracked.store(false, Ordering::Relaxed),
        }
    }

    fn finish(&self) -> (Vec<(String, String)>, bool) {
        let deps = std::mem::take(&mut *self.inner.deps.lock().unwrap_or_else(PoisonError::into_inner));
        (deps, self.inner.tracked.load(Ordering::Relaxed))
    }
}

/// Runs one step of a write's invalidation (the bump, the announcement):
/// as any operation first, and when that fails or the breaker skips it,
/// once more past the breaker on a connection checked with a PING. A
/// connection that Redis, a proxy or a restart closed since the last
/// request, or a breaker opened by failures on it, must not lose the
/// write's invalidation while the other instances still read Redis.
async fn for_write<T, Fut>(step: impl Fn(Guard) -> Fut) -> Option<T>
where
    Fut: Future<Output = Option<T>>,
{
    match step(Guard::Breaker).await {
        Some(done) => Some(done),
        None => step(Guard::VerifiedConnection).await,
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).unwrap_or(0)
}

fn fresh_token() -> String {
    format!("{:016x}", rand::rng().random::<u64>())
}

pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl Cache {
    /// Builds the client. `redis_url = None` (or `cfg.enabled = false`) gives
    /// a cache that bypasses Redis for every request.
    pub fn new(
        cfg: CacheConfig,
        redis_url: Option<&str>,
        registry: &prometheus::Registry,
    ) -> Result<Cache, CacheError> {
        let metrics = CacheMetrics::register(registry).map_err(|e| CacheError::Config(e.to_string()))?;
        let link = match redis_url {
            Some(url) if cfg.enabled => Some(RedisLink::new(url, &cfg, metrics.clone())?),
            _ => None,
        };
        // Assume up until an operation says otherwise; a cache without Redis
        // is not "down", it is off, and reports 0 (the README says so).
        metrics.redis_up.set(i64::from(link.is_some()));
        let ns = Namespace::new(&cfg.namespace);
        let local = (link.is_some() && cfg.l1_max_bytes > 0).then(|| LocalTier::new(cfg.l1_max_bytes));
        let coherence = link.is_some().then(|| Coherence::new(&ns, cfg.lease_term));
        Ok(Cache {
            inner: Arc::new(Inner {
                ns,
                cfg,
                link,
                local,
                coherence,
                metrics,
                flights: Arc::new(Flights::default()),
                local_seq: AtomicU64::new(0),
                failed_invalidations: AtomicU64::new(0),
                covered_invalidations: AtomicU64::new(0),
                covered_topology_changes: AtomicU64::new(0),
                hit_script: redis::Script::new(HIT_SCRIPT),
                generations_script: redis::Script::new(GENERATIONS_SCRIPT),
                fill_hook: RwLock::new(None),
                popular: PendingCounts::default(),
                dep_hints: RwLock::new(HashMap::new()),
            }),
        })
    }

    pub fn namespace(&self) -> &Namespace {
        &self.inner.ns
    }

    pub fn config(&self) -> &CacheConfig {
        &self.inner.cfg
    }

    pub fn metrics(&self) -> &CacheMetrics {
        &self.inner.metrics
    }

    /// True when Redis is configured and enabled.
    pub fn is_enabled(&self) -> bool {
        self.inner.link.is_some()
    }

    /// True when requests are currently served without Redis.
    pub fn is_bypassed(&self) -> bool {
        self.inner.link.as_ref().is_none_or(RedisLink::is_open) || self.has_uncovered_invalidations()
    }

    /// Test-only: run `hook` right after every load's database read.
    pub fn set_fill_hook(&self, hook: Option<FillHook>) {
        *self.inner.fill_hook.write().unwrap_or_else(PoisonError::into_inner) = hook;
    }

    /// The Redis connection, when Redis is configured and enabled.
    pub(crate) fn link(&self) -> Option<&RedisLink> {
        self.inner.link.as_ref()
    }

    pub(crate) fn local(&self) -> Option<&LocalTier> {
        self.inner.local.as_ref()
    }

    pub(crate) fn coherence(&self) -> Option<&Coherence> {
        self.inner.coherence.as_ref()
    }

    /// True when the in-process tier (L1) is configured.
    pub fn has_local_tier(&self) -> bool {
        self.inner.local.is_some()
    }

    /// L1 state for `cache-stats` and the admin stats route.
    pub async fn local_stats(&self) -> Option<crate::LocalStats> {
        let local = self.inner.local.as_ref()?;
        let (entries, bytes) = local.usage();
        Some(crate::LocalStats {
            entries,
            bytes,
            max_bytes: self.inner.cfg.l1_max_bytes,
            lease_valid: local.lease_valid(),
            lease_remaining_ms: millis(local.lease_remaining()),
        })
    }

    /// The Redis key of the L1 leases (tests mark a brand-new namespace with it).
    pub fn leases_key(&self) -> Option<&str> {
        self.inner.coherence.as_ref().map(Coherence::leases_key)
    }

    /// An invalidation from another instance was applied to L1: loads that
    /// began before it are not shared with requests that arrive after it.
    pub(crate) fn note_remote_invalidation(&self) {
        self.inner.local_seq.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn pending_counts(&self) -> &PendingCounts {
        &self.inner.popular
    }

    /// Runs one Redis operation under the timeout and the circuit breaker;
    /// `None` when Redis is off, down or slow.
    pub(crate) async fn redis<T, F, Fut>(&self, op: &'static str, call: F) -> Option<T>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        self.inner.link.as_ref()?.run(op, call).await
    }

    /// [`redis`](Self::redis) for a background task (see
    /// `RedisLink::run_in_background`).
    pub(crate) async fn background_redis<T, F, Fut>(&self, op: &'static str, call: F) -> Option<T>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        self.inner.link.as_ref()?.run_in_background(op, call).await
    }

    fn has_uncovered_invalidations(&self) -> bool {
        self.inner.failed_invalidations.load(Ordering::SeqCst)
            != self.inner.covered_invalidations.load(Ordering::SeqCst)
    }

    /// Whether Redis may be used now. After invalidations that could not
    /// reach Redis, bumps the epoch first (invalidating everything), so no
    /// entry older than those writes is served once Redis is back.
    async fn redis_usable(&self) -> bool {
        let Some(link) = self.inner.link.as_ref().filter(|link| link.allows()) else { return false };
        let changes = link.topology_changes();
        if changes != self.inner.covered_topology_changes.load(Ordering::SeqCst) && self.inner.cfg.failover_epoch {
            // A replica was promoted: replication is asynchronous, so it may
            // lack bumps its old master acknowledged. Start every entry afresh.
            if !self.bump(std::slice::from_ref(&EPOCH), "epoch").await {
                return false;
            }
            self.announce(std::slice::from_ref(&EPOCH)).await;
            self.inner.covered_topology_changes.fetch_max(changes, Ordering::SeqCst);
            tracing::info!("redis cluster masters changed; epoch bumped, every older entry is now a miss");
        }
        let failed = self.inner.failed_invalidations.load(Ordering::SeqCst);
        if failed == self.inner.covered_invalidations.load(Ordering::SeqCst) {
            return true;
        }
        let bumped = self.bump(std::slice::from_ref(&EPOCH), "epoch").await;
        if bumped {
            // Other instances' L1 missed those invalidations too. The writes
            // that failed have answered long ago, so there is nothing to wait for.
            self.announce(std::slice::from_ref(&EPOCH)).await;
            self.inner.covered_invalidations.fetch_max(failed, Ordering::SeqCst);
            tracing::info!("epoch bumped after invalidations Redis missed; every older entry is now a miss");
        }
        bumped
    }

    /// Sets a fresh generation for every scope (every copy of the epoch on
    /// a cluster). On a cluster the bump counts only once the masters'
    /// replicas have it (see `RedisLink::set_durably`).
    async fn bump(&self, scopes: &[Scope], op: &'static str) -> bool {
        self.bump_guarded(scopes, op, Guard::Breaker).await
    }

    async fn bump_guarded(&self, scopes: &[Scope], op: &'static str, guard: Guard) -> bool {
        let Some(link) = self.inner.link.as_ref() else { return false };
        let ttl = self.inner.cfg.generation_ttl.as_secs().max(1);
        let ns = &self.inner.ns;
        let cluster = link.is_cluster_now().await.unwrap_or(false);
        let mut sets = Vec::with_capacity(scopes.len());
        for scope in scopes {
            if cluster && *scope == EPOCH {
                sets.extend(ns.epoch_copies().iter().map(|copy| (copy.clone(), fresh_token())));
            } else {
                sets.push((ns.generation_key(scope.as_str()), fresh_token()));
            }
        }
        link.set_durably(op, sets, ttl, guard).await
    }

    /// The generation key an entry's dependency `scope` is checked against:
    /// on a cluster the epoch is the copy chosen by the entry's key.
    fn dep_key(&self, scope: &str, entry_key: &str, cluster: bool) -> String {
        if cluster && scope == EPOCH.as_str() {
            self.inner.ns.epoch_copy_for(entry_key).to_string()
        } else {
            self.inner.ns.generation_key(scope)
        }
    }

    /// Marks every entry built from `scopes` stale: one SET per scope,
    /// whatever the number of cached keys. Call it after the write commits
    /// and before the response is sent. Returns false when Redis could not
    /// be reached; the epoch is then bumped before Redis is used again.
    pub async fn invalidate(&self, scopes: &[Scope]) -> bool {
        self.inner.local_seq.fetch_add(1, Ordering::SeqCst);
        for scope in scopes {
            self.inner.metrics.invalidations.with_label_values(&[scope.kind()]).inc();
        }
        if self.inner.link.is_none() || scopes.is_empty() {
            return true;
        }
        // Generations first: an instance that applies the announcement and
        // refills its L1 from Redis must find the entries already stale.
        let bumped =
            for_write(|guard| async move { self.bump_guarded(scopes, "invalidate", guard).await.then_some(()) })
                .await
                .is_some();
        let announced = for_write(|guard| self.announce_guarded(scopes, guard)).await;
        if announced.is_none() {
            if let Some(local) = &self.inner.local {
                local.apply(scopes.iter().map(Scope::as_str));
            }
        }
        self.await_acks(announced).await;
        if bumped || self.epoch_before_answer().await {
            return true;
        }
        self.inner.failed_invalidations.fetch_add(1, Ordering::SeqCst);
        tracing::warn!(
            scopes = scopes.len(),
            "invalidation could not reach redis; the epoch will be bumped when it returns"
        );
        false
    }

    /// Cluster only: a bump that failed (its master died, or its replicas
    /// did not acknowledge it) may be lost by a failover, and other
    /// instances would then serve the old entries. So the write does not
    /// answer before the epoch (every entry) is bumped durably, retried
    /// until `failover_wait` has passed (a promotion takes about the
    /// cluster's node timeout). False when that did not succeed in time;
    /// the caller then falls back as on one node.
    async fn epoch_before_answer(&self) -> bool {
        let Some(link) = self.inner.link.as_ref() else { return false };
        if !link.is_cluster() {
            return false;
        }
        let deadline = Instant::now() + self.inner.cfg.failover_wait;
        loop {
            if self.bump(std::slice::from_ref(&EPOCH), "epoch").await {
                self.announce(std::slice::from_ref(&EPOCH)).await;
                tracing::info!("a bump failed on the cluster; epoch bumped before the write answered");
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Invalidates every entry at once.
    pub async fn invalidate_all(&self) -> bool {
        self.invalidate(std::slice::from_ref(&EPOCH)).await
    }

    async fn read_generations(&self, scopes: &[Scope], entry_key: &str) -> Option<Vec<String>> {
        let ttl = self.inner.cfg.generation_ttl.as_secs().max(1);
        let script = &self.inner.generations_script;
        self.redis("generations", |mut conn| async move {
            if !conn.is_cluster() {
                let mut invocation = script.prepare_invoke();
                invocation.arg(ttl);
                for scope in scopes {
                    invocation.key(self.inner.ns.generation_key(scope.as_str())).arg(fresh_token());
                }
                return invocation.invoke_async::<Vec<String>>(&mut conn).await;
            }
            // Counters on different slots: one script call per counter, all at once.
            let calls = scopes.iter().map(|scope| {
                let mut conn = conn.clone();
                let key = self.dep_key(scope.as_str(), entry_key, true);
                async move {
                    let mut invocation = script.prepare_invoke();
                    invocation.arg(ttl).key(key).arg(fresh_token());
                    let mut one = invocation.invoke_async::<Vec<String>>(&mut conn).await?;
                    Ok(one.pop().unwrap_or_default())
                }
            });
            futures::future::join_all(calls).await.into_iter().collect()
        })
        .await
        .filter(|generations| generations.len() == scopes.len())
    }

    /// On one node the hit-check script; on a cluster the entry and the
    /// generations of the query's declared scopes (and the entry's epoch
    /// copy) are read concurrently, one round trip of latency, and compared
    /// here. Dependencies the loader discovered while loading (not declared
    /// up front) are read in a second round when the entry has any.
    async fn fetch(&self, entry_key: &str, declared: &[Scope]) -> Fetch {
        let prefix = self.inner.ns.generation_prefix();
        let script = &self.inner.hit_script;
        self.redis("get", |mut conn| async move {
            if !conn.is_cluster() {
                let value = script.key(entry_key).arg(prefix).invoke_async::<Value>(&mut conn).await?;
                return Ok(match value {
                    Value::BulkString(raw) => entry::decode(&Bytes::from(raw)).map_or(Fetch::Absent, Fetch::Valid),
                    Value::Int(1) => Fetch::Invalidated,
                    _ => Fetch::Absent,
                });
            }
            self.fetch_concurrently(conn, entry_key, declared).await
        })
        .await
        .unwrap_or(Fetch::Unavailable)
    }

    fn remember_deps(&self, entry_key: &str, found: Arc<[String]>) {
        let mut hints = self.inner.dep_hints.write().unwrap_or_else(PoisonError::into_inner);
        if hints.len() >= MAX_DEP_HINTS {
            hints.clear();
        }
        hints.insert(entry_key.to_string(), found);
    }

    /// The cluster's hit check: what `HIT_SCRIPT` decides on one node.
    async fn fetch_concurrently(&self, conn: Conn, entry_key: &str, declared: &[Scope]) -> redis::RedisResult<Fetch> {
        let hint = self.inner.dep_hints.read().unwrap_or_else(PoisonError::into_inner).get(entry_key).cloned();
        let mut names: Vec<&str> = Vec::with_capacity(declared.len() + 1);
        names.push(EPOCH.as_str());
        names.extend(declared.iter().map(Scope::as_str).filter(|name| *name != EPOCH.as_str()));
        let declared_count = names.len();
        if let Some(hint) = &hint {
            for name in hint.iter().map(String::as_str) {
                if !names[..declared_count].contains(&name) {
                    names.push(name);
                }
            }
        }
        let keys: Vec<String> = names.iter().map(|name| self.dep_key(name, entry_key, true)).collect();
        let mut entry_conn = conn.clone();
        let entry_read =
            async move { redis::cmd("GET").arg(entry_key).query_async::<Option<Vec<u8>>>(&mut entry_conn).await };
        let gets = keys.iter().map(|key| redis::cmd("GET").arg(key).clone()).collect::<Vec<_>>();
        let (raw, current) = futures::future::join(entry_read, conn.each::<Option<String>>(gets)).await;
        let (Some(raw), current) = (raw?, current?) else { return Ok(Fetch::Absent) };
        let Some(entry) = entry::decode(&Bytes::from(raw)) else { return Ok(Fetch::Absent) };
        let Some(deps) = entry.deps() else { return Ok(Fetch::Absent) };
        let mut undeclared = Vec::new();
        for (scope, generation) in &deps {
            match names.iter().position(|name| name == scope) {
                Some(i) if current.get(i).and_then(Option::as_deref) == Some(generation.as_str()) => {}
                Some(_) => return Ok(Fetch::Invalidated),
                None => undeclared.push((self.dep_key(scope, entry_key, true), generation)),
            }
        }
        if !undeclared.is_empty() {
            // Remember them, so the next hit on this key reads them in its first round.
            let found: Arc<[String]> = deps
                .iter()
                .map(|(scope, _)| scope)
                .filter(|s| !names[..declared_count].contains(&s.as_str()))
                .cloned()
                .collect();
            self.remember_deps(entry_key, found);
            let gets = undeclared.iter().map(|(key, _)| redis::cmd("GET").arg(key).clone()).collect();
            let now = conn.each::<Option<String>>(gets).await?;
            if now.iter().zip(&undeclared).any(|(now, (_, then))| now.as_deref() != Some(then.as_str())) {
                return Ok(Fetch::Invalidated);
            }
        }
        Ok(Fetch::Valid(entry))
    }

    /// True when every recorded generation is still current.
    async fn deps_current(&self, deps: &[(String, String)], entry_key: &str) -> bool {
        if deps.is_empty() {
            return true;
        }
        let current = self
            .redis("verify", |conn| async move {
                let cluster = conn.is_cluster();
                let gets = deps
                    .iter()
                    .map(|(scope, _)| redis::cmd("GET").arg(self.dep_key(scope, entry_key, cluster)).clone())
                    .collect();
                conn.each::<Option<String>>(gets).await
            })
            .await;
        current.is_some_and(|current| {
            current.iter().zip(deps).all(|(now, (_, then))| now.as_deref() == Some(then.as_str()))
        })
    }

    fn xfetch_due(&self, delta_ms: u64, expires_at_ms: u64, now: u64) -> bool {
        let beta = self.inner.cfg.xfetch_beta;
        if beta <= 0.0 || delta_ms == 0 {
            return false;
        }
        // XFetch: refresh when now − δ·β·ln(rand) ≥ expiry (ln(rand) ≤ 0).
        // −ln(rand) < 709 for every draw (rand ≥ f64::MIN_POSITIVE), so far
        // from expiry no draw can be due and a hit skips the RNG.
        if now as f64 + delta_ms as f64 * beta * 709.0 < expires_at_ms as f64 {
            return false;
        }
        let r: f64 = rand::rng().random_range(f64::MIN_POSITIVE..1.0);
        let head_start = -(delta_ms as f64) * beta * r.ln();
        now as f64 + head_start >= expires_at_ms as f64
    }

    /// Copies an entry into L1, unless an invalidation of its scopes was
    /// applied since `stamp` (taken before the read that produced it);
    /// returns the stored entry.
    fn fill_local(
        &self,
        entry_key: &str,
        stamp: Option<Stamp>,
        deps: &[(String, String)],
        body: &Bytes,
        meta: &Meta,
    ) -> Option<LocalEntry> {
        let (Some(local), Some(stamp)) = (&self.inner.local, stamp) else { return None };
        let scopes = deps.iter().map(|(scope, _)| scope.as_str());
        let (etag, compressed) = (Arc::clone(&meta.etag), meta.compressed);
        local.insert(
            entry_key.to_string(),
            stamp,
            scopes,
            body.clone(),
            compressed,
            etag,
            meta.expires_at_ms,
            meta.delta_ms,
        )
    }

    /// Answers a request by its target (path and query) alone, before any
    /// routing or parsing, when an earlier request for the same target was
    /// answered from an L1 entry that is still servable (the checks of an
    /// L1 hit, on that entry). An entry due for its early refresh is not
    /// answered here, so the routed request refreshes it.
    pub fn answer_for_target(&self, target: &str) -> Option<TargetHit> {
        let local = self.inner.local.as_ref()?;
        let answer = local.get_target(target)?;
        let entry = &answer.entry;
        if self.xfetch_due(entry.delta_ms, entry.expires_at_ms, now_ms()) {
            return None;
        }
        answer.hits.inc();
        self.inner.metrics.target_hits.inc();
        if let Some((list, member)) = &answer.popular {
            self.count_popular(list, member);
        }
        let cached = Cached {
            status: CacheStatus::Hit,
            body: entry.body.clone(),
            compressed: entry.compressed,
            etag: Arc::clone(&entry.etag),
            local: None,
        };
        Some(TargetHit { cached, route: Arc::clone(&answer.route) })
    }

    /// Remembers that a request for `target`, routed to `route`, was
    /// answered from `answer`, so the next one is answered by
    /// [`Self::answer_for_target`]. `popular` is the popularity count the
    /// routed request made, which an answer by target makes too.
    ///
    /// Only for targets whose answer is a function of the target itself:
    /// the same path and query always map to the same cache key (types
    /// chosen by the clock opt out, see [`CacheType::chosen_by_clock`]),
    /// and the route does nothing on a hit but answer.
    pub fn remember_target(
        &self,
        target: &str,
        answer: LocalAnswer,
        route: Arc<str>,
        popular: Option<(&'static str, Arc<str>)>,
    ) {
        let Some(local) = &self.inner.local else { return };
        let hits = self.inner.metrics.hits.with_label_values(&[answer.cache_type.name, "local"]);
        local.insert_target(target.to_string(), TargetAnswer { entry: answer.entry, route, popular, hits });
    }

    /// The one call a domain crate makes: answer from the cache when a
    /// current entry exists, otherwise run `loader` (once per key across
    /// concurrent requests) and store its body.
    ///
    /// `loader` must return the exact response bytes; errors (including not
    /// found) are returned to the caller and never cached.
    pub async fn get_or_load<E, F, Fut>(&self, query: CachedQuery, loader: F) -> Result<Cached, E>
    where
        E: From<CacheError> + Clone + Send + Sync + 'static,
        F: FnOnce(LoadCtx) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<u8>, E>> + Send + 'static,
    {
        let cache_type = query.label();
        let metrics = &self.inner.metrics;
        if self.inner.link.is_none() {
            metrics.bypass.with_label_values(&[cache_type]).inc();
            let body = loader(LoadCtx::new(None, String::new())).await?;
            let etag: Arc<str> = entry::etag_of(&body).into();
            return Ok(Cached {
                status: CacheStatus::Bypass,
                body: Bytes::from(body),
                compressed: false,
                etag,
                local: None,
            });
        }
        let entry_key = self.inner.ns.entry_key(&query.key);
        let seq = self.inner.local_seq.load(Ordering::SeqCst);
        if let Some(local) = &self.inner.local {
            if let Some(hit) = local.get(&entry_key) {
                metrics.hits.with_label_values(&[cache_type, "local"]).inc();
                let hit_type = query.cache_type;
                if self.xfetch_due(hit.delta_ms, hit.expires_at_ms, now_ms()) {
                    self.spawn_refresh(query, entry_key, seq, loader);
                }
                return Ok(Cached {
                    status: CacheStatus::Hit,
                    body: hit.body.clone(),
                    compressed: hit.compressed,
                    etag: Arc::clone(&hit.etag),
                    local: LocalAnswer::of(Some(hit), hit_type),
                });
            }
        }
        // Taken before the Redis read, so an entry read here is stored in L1
        // only if no invalidation of its scopes was applied meanwhile.
        let stamp = self.inner.local.as_ref().map(LocalTier::stamp);
        if !self.redis_usable().await {
            metrics.bypass.with_label_values(&[cache_type]).inc();
            return self.load_shared(query, entry_key, seq, loader, false, CacheStatus::Bypass).await;
        }
        match self.fetch(&entry_key, &query.scopes).await {
            Fetch::Valid(entry) => {
                let now = now_ms();
                if now < entry.meta.expires_at_ms {
                    metrics.hits.with_label_values(&[cache_type, "redis"]).inc();
                    let mut stored = None;
                    if let (Some(_), Some(deps)) = (stamp, entry.deps()) {
                        stored = self.fill_local(&entry_key, stamp, &deps, &entry.body, &entry.meta);
                    }
                    let local = LocalAnswer::of(stored, query.cache_type);
                    if self.xfetch_due(entry.meta.delta_ms, entry.meta.expires_at_ms, now) {
                        self.spawn_refresh(query, entry_key, seq, loader);
                    }
                    return Ok(Cached { local, ..Cached::from_entry(entry, CacheStatus::Hit) });
                }
                if query.cache_type.serves_stale {
                    metrics.stale.with_label_values(&[cache_type]).inc();
                    self.spawn_refresh(query, entry_key, seq, loader);
                    return Ok(Cached::from_entry(entry, CacheStatus::Stale));
                }
            }
            Fetch::Absent | Fetch::Invalidated => {}
            Fetch::Unavailable => {
                metrics.bypass.with_label_values(&[cache_type]).inc();
                return self.load_shared(query, entry_key, seq, loader, false, CacheStatus::Bypass).await;
            }
        }
        metrics.misses.with_label_values(&[cache_type]).inc();
        self.load_shared(query, entry_key, seq, loader, true, CacheStatus::Miss).await
    }

    /// Loads through the single-flight table. A follower takes the leader's
    /// body only once it has checked that the generations it was built from
    /// are still current (or, without Redis, that this instance saw no
    /// invalidation since the load began); otherwise it loads again itself.
    async fn load_shared<E, F, Fut>(
        &self,
        query: CachedQuery,
        entry_key: String,
        seq: u64,
        loader: F,
        use_redis: bool,
        status: CacheStatus,
    ) -> Result<Cached, E>
    where
        E: From<CacheError> + Clone + Send + Sync + 'static,
        F: FnOnce(LoadCtx) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<u8>, E>> + Send + 'static,
    {
        let flight_key = entry_key.clone();
        let cache = self.clone();
        let leader_query = query.clone();
        let outcome = self
            .inner
            .flights
            .run(&flight_key, seq, move || {
                let query = leader_query;
                async move { cache.load_and_fill(query, entry_key, loader, use_redis, true).await }
            })
            .await;
        match outcome {
            Outcome::Led(Some(result)) => result.map(|loaded| Cached::from_loaded(&loaded, status)),
            Outcome::Led(None) => Err(CacheError::LoadPanicked.into()),
            Outcome::Followed(shared, unused) => {
                let Some(closure) = unused else { return Err(CacheError::LoadPanicked.into()) };
                match shared {
                    Some(Ok(loaded)) if !loaded.tracked || self.deps_current(&loaded.deps, &flight_key).await => {
                        Ok(Cached::from_loaded(&loaded, status))
                    }
                    Some(Err(err)) => Err(err),
                    _ => closure().await.map(|loaded| Cached::from_loaded(&loaded, status)),
                }
            }
        }
    }

    fn spawn_refresh<E, F, Fut>(&self, query: CachedQuery, entry_key: String, seq: u64, loader: F)
    where
        E: From<CacheError> + Clone + Send + Sync + 'static,
        F: FnOnce(LoadCtx) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<u8>, E>> + Send + 'static,
    {
        if self.inner.flights.in_flight(&entry_key) {
            return;
        }
        let cache = self.clone();
        tokio::spawn(async move {
            let flight_key = entry_key.clone();
            let leader = cache.clone();
            let _ = cache
                .inner
                .flights
                .run(&flight_key, seq, move || async move {
                    leader.load_and_fill(query, entry_key, loader, true, false).await
                })
                .await;
        });
    }

    /// One origin load: record generations (epoch and the declared scopes)
    /// first, run the loader, then store the entry with those generations.
    async fn load_and_fill<E, F, Fut>(
        &self,
        query: CachedQuery,
        entry_key: String,
        loader: F,
        use_redis: bool,
        recheck: bool,
    ) -> Result<Loaded, E>
    where
        E: From<CacheError> + Clone + Send + Sync + 'static,
        F: FnOnce(LoadCtx) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<u8>, E>> + Send + 'static,
    {
        // Before any read whose result may go into L1 (see `fill_local`).
        let stamp = self.inner.local.as_ref().filter(|_| use_redis).map(LocalTier::stamp);
        if use_redis && recheck {
            // Another flight may have filled the entry since this request missed.
            if let Fetch::Valid(entry) = self.fetch(&entry_key, &query.scopes).await {
                if let (true, Some(deps)) = (now_ms() < entry.meta.expires_at_ms, entry.deps()) {
                    self.fill_local(&entry_key, stamp, &deps, &entry.body, &entry.meta);
                    return Ok(Loaded {
                        etag: entry.meta.etag,
                        compressed: entry.meta.compressed,
                        deps: Arc::new(deps),
                        body: entry.body,
                        tracked: true,
                    });
                }
            }
        }
        let ctx = LoadCtx::new(use_redis.then(|| self.clone()), entry_key.clone());
        let mut scopes = Vec::with_capacity(query.scopes.len() + 1);
        scopes.push(EPOCH);
        scopes.extend(query.scopes.iter().cloned());
        ctx.depend_on(scopes).await;

        let started = Instant::now();
        let body = loader(ctx.clone()).await?;
        let took = started.elapsed();
        // Test hook: right after the database read, where a slow reader of
        // the classic cache-aside race stalls while a writer commits.
        let hook = self.inner.fill_hook.read().unwrap_or_else(PoisonError::into_inner).clone();
        if let Some(hook) = hook {
            hook(entry_key.clone()).await;
        }
        let metrics = &self.inner.metrics;
        metrics.loads.with_label_values(&[query.label()]).inc();
        metrics.load_duration.with_label_values(&[query.label()]).observe(took.as_secs_f64());

        let (deps, tracked) = ctx.finish();
        let etag = entry::etag_of(&body);
        let (stored, compressed) = entry::maybe_compress(body, self.inner.cfg.compress_min_bytes);
        let loaded = Loaded { body: Bytes::from(stored), compressed, etag: etag.into(), deps: Arc::new(deps), tracked };
        if tracked {
            let ttl = self.inner.cfg.ttl.jittered(query.cache_type.ttl);
            let now = now_ms();
            let meta = Meta {
                compressed,
                etag: Arc::clone(&loaded.etag),
                stored_at_ms: now,
                expires_at_ms: now + millis(ttl),
                delta_ms: millis(took).max(1),
            };
            let raw = entry::encode(&loaded.deps, &meta, &loaded.body);
            let expire_ms = millis(ttl + self.inner.cfg.stale_grace);
            let key = &entry_key;
            let stored = self
                .redis("fill", |mut conn| async move {
                    redis::cmd("SET").arg(key).arg(raw).arg("PX").arg(expire_ms).query_async::<()>(&mut conn).await
                })
                .await;
            if stored.is_some() {
                self.fill_local(&entry_key, stamp, &loaded.deps, &loaded.body, &meta);
            }
        }
        Ok(loaded)
    }

    /// PING, for the health check.
    pub async fn ping(&self) -> bool {
        self.redis("ping", |mut conn| async move { redis::cmd("PING").query_async::<String>(&mut conn).await })
            .await
            .is_some()
    }
}
