//! The cache client: cache-aside reads checked against generation counters,
//! single-flight loads, O(1) invalidation, and fail-open when Redis is away.

use crate::breaker::Breaker;
use crate::entry::{self, Entry, Meta};
use crate::flight::{Flights, Outcome};
use crate::key::Namespace;
use crate::metrics::CacheMetrics;
use crate::registry::{CacheKey, CacheType, Registry};
use crate::scope::{Scope, EPOCH};
use crate::ttl::TtlConfig;
use bytes::Bytes;
use futures::future::BoxFuture;
use rand::Rng;
use redis::Value;
use std::collections::BTreeMap;
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

#[derive(Clone, Debug)]
pub struct CacheConfig {
    /// Namespace name; keys are `{<namespace>:v1}:…`.
    pub namespace: String,
    /// False serves every request from the database (X-Cache: BYPASS).
    pub enabled: bool,
    /// Upper bound on any single Redis operation.
    pub op_timeout: Duration,
    pub pool_size: usize,
    pub breaker_threshold: u32,
    pub breaker_cooldown: Duration,
    /// Bodies at least this long are stored gzip-compressed (0 = never).
    pub compress_min_bytes: usize,
    /// XFetch β: larger refreshes earlier; 0 disables early refresh.
    pub xfetch_beta: f64,
    /// How long past its TTL an entry may still be served as STALE by routes
    /// that allow it, while it is refreshed.
    pub stale_grace: Duration,
    /// Lifetime of a generation counter; it must outlive the longest entry.
    pub generation_ttl: Duration,
    pub ttl: TtlConfig,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            namespace: "fkapi".into(),
            enabled: true,
            op_timeout: Duration::from_millis(250),
            pool_size: 16,
            breaker_threshold: 3,
            breaker_cooldown: Duration::from_secs(2),
            compress_min_bytes: 1024,
            xfetch_beta: 1.0,
            stale_grace: Duration::from_secs(60),
            generation_ttl: Duration::from_secs(3 * 86400),
            ttl: TtlConfig::default(),
        }
    }
}

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
}

impl Cached {
    fn from_entry(entry: Entry, status: CacheStatus) -> Self {
        Cached { status, body: entry.body, compressed: entry.meta.compressed, etag: entry.meta.etag }
    }

    fn from_loaded(loaded: &Loaded, status: CacheStatus) -> Self {
        Cached { status, body: loaded.body.clone(), compressed: loaded.compressed, etag: Arc::clone(&loaded.etag) }
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
    pool: Option<deadpool_redis::Pool>,
    /// One multiplexed connection shared by every operation (redis-rs
    /// pipelines concurrent commands over it), so a hit is one round trip:
    /// a pool checkout per operation adds deadpool's UNWATCH+PING recycle
    /// check, a second round trip. Taken from the pool on first use and
    /// dropped on any error or timeout, so a broken one is replaced.
    shared: RwLock<Option<redis::aio::MultiplexedConnection>>,
    metrics: CacheMetrics,
    breaker: Breaker,
    flights: Arc<Flights>,
    /// Bumped by every invalidation this instance performs or hears of.
    local_seq: AtomicU64,
    /// Invalidations that could not reach Redis, and how many of them an
    /// epoch bump has since covered. While they differ nothing is served
    /// from Redis.
    failed_invalidations: AtomicU64,
    covered_invalidations: AtomicU64,
    warned_down: AtomicBool,
    hit_script: redis::Script,
    generations_script: redis::Script,
    fill_hook: RwLock<Option<FillHook>>,
    /// Counts not yet added to Redis, per (list, member).
    popular: Mutex<std::collections::HashMap<(&'static str, String), u64>>,
}

/// Distinct members counted between two flushes; more are dropped, so a
/// flood of unique keywords cannot grow memory.
const MAX_PENDING_POPULAR: usize = 10_000;
/// Members kept per popularity list in Redis.
const POPULAR_KEPT: isize = 1000;

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
    deps: Mutex<Vec<(String, String)>>,
    tracked: AtomicBool,
}

impl LoadCtx {
    fn new(cache: Option<Cache>) -> Self {
        let tracked = cache.is_some();
        LoadCtx {
            inner: Arc::new(LoadCtxInner { cache, deps: Mutex::new(Vec::new()), tracked: AtomicBool::new(tracked) }),
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
        match cache.read_generations(&scopes).await {
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

/// Per-cache-type counters for `cache-stats` and the admin stats route.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct TypeStats {
    pub hits: u64,
    pub misses: u64,
    pub stale: u64,
    pub bypass: u64,
    pub loads: u64,
    pub hit_rate: f64,
}

#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct RedisStats {
    pub used_memory_bytes: u64,
    pub maxmemory_bytes: u64,
    pub maxmemory_policy: String,
    pub db_keys: u64,
    pub evicted_keys: u64,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).unwrap_or(0)
}

fn fresh_token() -> String {
    format!("{:016x}", rand::rng().random::<u64>())
}

fn millis(duration: Duration) -> u64 {
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
        let pool = match redis_url {
            Some(url) if cfg.enabled => {
                let mut pool_cfg = deadpool_redis::Config::from_url(url);
                let mut limits = deadpool_redis::PoolConfig::new(cfg.pool_size.max(1));
                limits.timeouts = deadpool_redis::Timeouts {
                    wait: Some(cfg.op_timeout),
                    create: Some(cfg.op_timeout),
                    recycle: Some(cfg.op_timeout),
                };
                pool_cfg.pool = Some(limits);
                Some(
                    pool_cfg
                        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
                        .map_err(|e| CacheError::Config(e.to_string()))?,
                )
            }
            _ => None,
        };
        // Assume up until an operation says otherwise; a cache without Redis
        // is not "down", it is off, and reports 0 (the README says so).
        metrics.redis_up.set(i64::from(pool.is_some()));
        Ok(Cache {
            inner: Arc::new(Inner {
                ns: Namespace::new(&cfg.namespace),
                breaker: Breaker::new(cfg.breaker_threshold, cfg.breaker_cooldown),
                cfg,
                pool,
                shared: RwLock::new(None),
                metrics,
                flights: Arc::new(Flights::default()),
                local_seq: AtomicU64::new(0),
                failed_invalidations: AtomicU64::new(0),
                covered_invalidations: AtomicU64::new(0),
                warned_down: AtomicBool::new(false),
                hit_script: redis::Script::new(HIT_SCRIPT),
                generations_script: redis::Script::new(GENERATIONS_SCRIPT),
                fill_hook: RwLock::new(None),
                popular: Mutex::new(std::collections::HashMap::new()),
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
        self.inner.pool.is_some()
    }

    /// True when requests are currently served without Redis.
    pub fn is_bypassed(&self) -> bool {
        self.inner.pool.is_none() || self.inner.breaker.is_open() || self.has_uncovered_invalidations()
    }

    /// Test-only: run `hook` right after every load's database read.
    pub fn set_fill_hook(&self, hook: Option<FillHook>) {
        *self.inner.fill_hook.write().unwrap_or_else(PoisonError::into_inner) = hook;
    }

    /// The shared connection, taken from the pool when there is none.
    async fn connection(&self, pool: &deadpool_redis::Pool) -> Result<redis::aio::MultiplexedConnection, String> {
        if let Some(conn) = self.inner.shared.read().unwrap_or_else(PoisonError::into_inner).as_ref() {
            return Ok(conn.clone());
        }
        let pooled = pool.get().await.map_err(|e| e.to_string())?;
        let conn = redis::aio::MultiplexedConnection::clone(&pooled);
        *self.inner.shared.write().unwrap_or_else(PoisonError::into_inner) = Some(conn.clone());
        Ok(conn)
    }

    /// Runs one Redis operation under the timeout and the circuit breaker.
    pub(crate) async fn redis<T, F, Fut>(&self, op: &'static str, call: F) -> Option<T>
    where
        F: FnOnce(redis::aio::MultiplexedConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let pool = self.inner.pool.as_ref()?;
        if !self.inner.breaker.allows() {
            return None;
        }
        let attempt = async {
            let conn = self.connection(pool).await?;
            call(conn).await.map_err(|e| e.to_string())
        };
        match tokio::time::timeout(self.inner.cfg.op_timeout, attempt).await {
            Ok(Ok(value)) => {
                self.inner.breaker.record_success();
                self.inner.metrics.redis_up.set(1);
                if self.inner.warned_down.swap(false, Ordering::Relaxed) {
                    tracing::info!("redis reachable again; cache back in use");
                }
                Some(value)
            }
            outcome => {
                // Possibly broken: the next operation takes a fresh one (the
                // pool checks it with a PING before handing it out).
                *self.inner.shared.write().unwrap_or_else(PoisonError::into_inner) = None;
                let reason = match outcome {
                    Ok(Err(e)) => e,
                    _ => "timed out".to_string(),
                };
                self.inner.metrics.errors.with_label_values(&[op]).inc();
                self.inner.metrics.redis_up.set(0);
                if self.inner.breaker.record_failure() && !self.inner.warned_down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(op, %reason, "redis unavailable; serving from the database until it returns");
                } else {
                    tracing::debug!(op, %reason, "redis operation failed");
                }
                None
            }
        }
    }

    fn has_uncovered_invalidations(&self) -> bool {
        self.inner.failed_invalidations.load(Ordering::SeqCst)
            != self.inner.covered_invalidations.load(Ordering::SeqCst)
    }

    /// Whether Redis may be used now. After invalidations that could not
    /// reach Redis, bumps the epoch first (invalidating everything), so no
    /// entry older than those writes is served once Redis is back.
    async fn redis_usable(&self) -> bool {
        if self.inner.pool.is_none() || !self.inner.breaker.allows() {
            return false;
        }
        let failed = self.inner.failed_invalidations.load(Ordering::SeqCst);
        if failed == self.inner.covered_invalidations.load(Ordering::SeqCst) {
            return true;
        }
        let bumped = self.bump(std::slice::from_ref(&EPOCH), "epoch").await;
        if bumped {
            self.inner.covered_invalidations.fetch_max(failed, Ordering::SeqCst);
            tracing::info!("epoch bumped after invalidations Redis missed; every older entry is now a miss");
        }
        bumped
    }

    async fn bump(&self, scopes: &[Scope], op: &'static str) -> bool {
        let ttl = self.inner.cfg.generation_ttl.as_secs().max(1);
        let ns = &self.inner.ns;
        self.redis(op, |mut conn| async move {
            let mut pipe = redis::pipe();
            for scope in scopes {
                pipe.cmd("SET").arg(ns.generation_key(scope.as_str())).arg(fresh_token()).arg("EX").arg(ttl).ignore();
            }
            pipe.query_async::<()>(&mut conn).await
        })
        .await
        .is_some()
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
        if self.inner.pool.is_none() || scopes.is_empty() {
            return true;
        }
        if self.bump(scopes, "invalidate").await {
            return true;
        }
        self.inner.failed_invalidations.fetch_add(1, Ordering::SeqCst);
        tracing::warn!(
            scopes = scopes.len(),
            "invalidation could not reach redis; the epoch will be bumped when it returns"
        );
        false
    }

    /// Invalidates every entry at once.
    pub async fn invalidate_all(&self) -> bool {
        self.invalidate(std::slice::from_ref(&EPOCH)).await
    }

    async fn read_generations(&self, scopes: &[Scope]) -> Option<Vec<String>> {
        let ns = &self.inner.ns;
        let ttl = self.inner.cfg.generation_ttl.as_secs().max(1);
        let script = &self.inner.generations_script;
        self.redis("generations", |mut conn| async move {
            let mut invocation = script.prepare_invoke();
            invocation.arg(ttl);
            for scope in scopes {
                invocation.key(ns.generation_key(scope.as_str())).arg(fresh_token());
            }
            invocation.invoke_async::<Vec<String>>(&mut conn).await
        })
        .await
        .filter(|generations| generations.len() == scopes.len())
    }

    async fn fetch(&self, entry_key: &str) -> Fetch {
        let prefix = self.inner.ns.generation_prefix();
        let script = &self.inner.hit_script;
        let value =
            self.redis("get", |mut conn| async move {
                script.key(entry_key).arg(prefix).invoke_async::<Value>(&mut conn).await
            })
            .await;
        match value {
            None => Fetch::Unavailable,
            Some(Value::BulkString(raw)) => entry::decode(&Bytes::from(raw)).map_or(Fetch::Absent, Fetch::Valid),
            Some(Value::Int(1)) => Fetch::Invalidated,
            Some(_) => Fetch::Absent,
        }
    }

    /// True when every recorded generation is still current.
    async fn deps_current(&self, deps: &[(String, String)]) -> bool {
        if deps.is_empty() {
            return true;
        }
        let keys: Vec<String> = deps.iter().map(|(scope, _)| self.inner.ns.generation_key(scope)).collect();
        let current = self
            .redis("verify", |mut conn| async move {
                redis::cmd("MGET").arg(&keys).query_async::<Vec<Option<String>>>(&mut conn).await
            })
            .await;
        current.is_some_and(|current| {
            current.iter().zip(deps).all(|(now, (_, then))| now.as_deref() == Some(then.as_str()))
        })
    }

    fn xfetch_due(&self, meta: &Meta, now: u64) -> bool {
        let beta = self.inner.cfg.xfetch_beta;
        if beta <= 0.0 || meta.delta_ms == 0 {
            return false;
        }
        // XFetch: refresh when now − δ·β·ln(rand) ≥ expiry (ln(rand) ≤ 0).
        let r: f64 = rand::rng().random_range(f64::MIN_POSITIVE..1.0);
        let head_start = -(meta.delta_ms as f64) * beta * r.ln();
        now as f64 + head_start >= meta.expires_at_ms as f64
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
        if self.inner.pool.is_none() {
            metrics.bypass.with_label_values(&[cache_type]).inc();
            let body = loader(LoadCtx::new(None)).await?;
            let etag: Arc<str> = entry::etag_of(&body).into();
            return Ok(Cached { status: CacheStatus::Bypass, body: Bytes::from(body), compressed: false, etag });
        }
        let entry_key = self.inner.ns.entry_key(&query.key);
        let seq = self.inner.local_seq.load(Ordering::SeqCst);
        if !self.redis_usable().await {
            metrics.bypass.with_label_values(&[cache_type]).inc();
            return self.load_shared(query, entry_key, seq, loader, false, CacheStatus::Bypass).await;
        }
        match self.fetch(&entry_key).await {
            Fetch::Valid(entry) => {
                let now = now_ms();
                if now < entry.meta.expires_at_ms {
                    metrics.hits.with_label_values(&[cache_type]).inc();
                    if self.xfetch_due(&entry.meta, now) {
                        self.spawn_refresh(query, entry_key, seq, loader);
                    }
                    return Ok(Cached::from_entry(entry, CacheStatus::Hit));
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
                    Some(Ok(loaded)) if !loaded.tracked || self.deps_current(&loaded.deps).await => {
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
        if use_redis && recheck {
            // Another flight may have filled the entry since this request missed.
            if let Fetch::Valid(entry) = self.fetch(&entry_key).await {
                if let (true, Some(deps)) = (now_ms() < entry.meta.expires_at_ms, entry.deps()) {
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
        let ctx = LoadCtx::new(use_redis.then(|| self.clone()));
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
            self.redis("fill", |mut conn| async move {
                redis::cmd("SET").arg(&entry_key).arg(raw).arg("PX").arg(expire_ms).query_async::<()>(&mut conn).await
            })
            .await;
        }
        Ok(loaded)
    }

    /// Counts one use of `member` in the popularity list `list` (e.g. search
    /// keywords), in memory; [`Cache::flush_popular`] adds the counts to
    /// Redis in the background, so requests pay no extra round trip.
    pub fn count_popular(&self, list: &'static str, member: &str) {
        if self.inner.pool.is_none() {
            return;
        }
        let mut pending = self.inner.popular.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (list, member.to_string());
        if let Some(count) = pending.get_mut(&key) {
            *count += 1;
        } else if pending.len() < MAX_PENDING_POPULAR {
            pending.insert(key, 1);
        }
    }

    /// Adds the counted uses to Redis sorted sets, keeping the top members.
    pub async fn flush_popular(&self) -> bool {
        let pending = std::mem::take(&mut *self.inner.popular.lock().unwrap_or_else(PoisonError::into_inner));
        if pending.is_empty() {
            return true;
        }
        let ns = &self.inner.ns;
        let lists: std::collections::BTreeSet<&'static str> = pending.keys().map(|(list, _)| *list).collect();
        self.redis("popular", |mut conn| async move {
            let mut pipe = redis::pipe();
            for ((list, member), count) in &pending {
                pipe.cmd("ZINCRBY").arg(ns.aux_key(&format!("popular:{list}"))).arg(*count).arg(member).ignore();
            }
            for list in lists {
                pipe.cmd("ZREMRANGEBYRANK")
                    .arg(ns.aux_key(&format!("popular:{list}")))
                    .arg(0)
                    .arg(-POPULAR_KEPT - 1)
                    .ignore();
            }
            pipe.query_async::<()>(&mut conn).await
        })
        .await
        .is_some()
    }

    /// The `n` most counted members of `list`, most counted first.
    pub async fn top_popular(&self, list: &str, n: usize) -> Vec<String> {
        let key = self.inner.ns.aux_key(&format!("popular:{list}"));
        let last = isize::try_from(n).unwrap_or(isize::MAX).saturating_sub(1);
        self.redis("popular", |mut conn| async move {
            redis::cmd("ZREVRANGE").arg(&key).arg(0).arg(last).query_async::<Vec<String>>(&mut conn).await
        })
        .await
        .unwrap_or_default()
    }

    /// Claims `name` for `ttl` across every instance sharing this Redis
    /// (SET NX): true for exactly one claimant.
    pub async fn try_claim(&self, name: &str, ttl: Duration) -> bool {
        let key = self.inner.ns.aux_key(name);
        let seconds = ttl.as_secs().max(1);
        self.redis("claim", |mut conn| async move {
            redis::cmd("SET")
                .arg(&key)
                .arg("1")
                .arg("NX")
                .arg("EX")
                .arg(seconds)
                .query_async::<Option<String>>(&mut conn)
                .await
        })
        .await
        .flatten()
        .is_some()
    }

    /// PING, for the health check.
    pub async fn ping(&self) -> bool {
        self.redis("ping", |mut conn| async move { redis::cmd("PING").query_async::<String>(&mut conn).await })
            .await
            .is_some()
    }

    /// Hit/miss counters per cache type, from this instance's metrics.
    pub fn type_stats(&self) -> BTreeMap<String, TypeStats> {
        let mut stats: BTreeMap<String, TypeStats> = BTreeMap::new();
        let metrics = &self.inner.metrics;
        type Field = fn(&mut TypeStats) -> &mut u64;
        let counters: [(&prometheus::IntCounterVec, Field); 5] = [
            (&metrics.hits, |s| &mut s.hits),
            (&metrics.misses, |s| &mut s.misses),
            (&metrics.stale, |s| &mut s.stale),
            (&metrics.bypass, |s| &mut s.bypass),
            (&metrics.loads, |s| &mut s.loads),
        ];
        for (counter, field) in counters {
            for family in prometheus::core::Collector::collect(counter) {
                for metric in family.get_metric() {
                    let Some(label) = metric.get_label().first() else { continue };
                    let entry = stats.entry(label.value().to_string()).or_default();
                    // Counter values are whole numbers stored as f64.
                    *field(entry) = metric.get_counter().get_value() as u64;
                }
            }
        }
        for entry in stats.values_mut() {
            let served = entry.hits + entry.stale + entry.misses;
            entry.hit_rate = if served == 0 { 0.0 } else { (entry.hits + entry.stale) as f64 / served as f64 };
        }
        stats
    }

    /// Memory, policy and key count of the Redis server.
    pub async fn redis_stats(&self) -> Option<RedisStats> {
        let (info, keys) = self
            .redis("stats", |mut conn| async move {
                let info: String = redis::cmd("INFO").arg("memory").query_async(&mut conn).await?;
                let stats: String = redis::cmd("INFO").arg("stats").query_async(&mut conn).await?;
                let keys: u64 = redis::cmd("DBSIZE").query_async(&mut conn).await?;
                Ok((format!("{info}\n{stats}"), keys))
            })
            .await?;
        let field = |name: &str| {
            info.lines().find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(':'))).map(str::trim)
        };
        let number = |name: &str| field(name).and_then(|v| v.parse().ok()).unwrap_or(0);
        let metrics = &self.inner.metrics;
        metrics.redis_used_memory.set(i64::try_from(number("used_memory")).unwrap_or(i64::MAX));
        metrics.redis_maxmemory.set(i64::try_from(number("maxmemory")).unwrap_or(i64::MAX));
        Some(RedisStats {
            used_memory_bytes: number("used_memory"),
            maxmemory_bytes: number("maxmemory"),
            maxmemory_policy: field("maxmemory_policy").unwrap_or("unknown").to_string(),
            db_keys: keys,
            evicted_keys: number("evicted_keys"),
        })
    }

    /// Counts our entries per cache type with SCAN, for the
    /// `fkapi_cache_entries` gauge. Runs in a background task, never on a
    /// request path; cost grows with the keyspace, so it is sampled rarely.
    pub async fn count_entries<C>(&self, registry: &Registry<C>) -> Option<BTreeMap<&'static str, i64>> {
        let pool = self.inner.pool.as_ref()?;
        let mut conn = pool.get().await.ok()?;
        let pattern = format!("{}*", redis_glob_escape(self.inner.ns.prefix()));
        let generation_prefix = self.inner.ns.generation_prefix().to_string();
        let prefix_len = self.inner.ns.prefix().len();
        let mut counts: BTreeMap<&'static str, i64> = registry.cache_types().map(|t| (t.name, 0)).collect();
        crate::scan::scan_each(&mut conn, &pattern, 1000, |keys: Vec<String>| {
            for key in keys.iter().filter(|k| !k.starts_with(&generation_prefix)) {
                let rest = &key[prefix_len.min(key.len())..];
                if let Some(cache_type) = registry.type_of_key(rest) {
                    *counts.entry(cache_type.name).or_default() += 1;
                }
            }
        })
        .await
        .ok()?;
        for (cache_type, count) in &counts {
            self.inner.metrics.entries.with_label_values(&[cache_type]).set(*count);
        }
        Some(counts)
    }
}

/// Escapes glob metacharacters so a namespace can never widen a SCAN match.
fn redis_glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// GCRA (the generic cell rate algorithm) in one script, so concurrent
/// requests on any number of instances see one consistent bucket: the key
/// holds the "theoretical arrival time" (TAT, ms) of the next request. A
/// request is allowed while TAT − now stays within `limit` emission
/// intervals; each allowed request pushes TAT one interval further. Redis'
/// own clock (TIME) is used so instances with skewed clocks still agree.
/// ARGV: emission interval (ms), limit. Returns {allowed, remaining,
/// retry_after_ms, reset_ms}.
const RATE_LIMIT_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local emission = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tat < now then tat = now end
local new_tat = tat + emission
local allow_at = new_tat - emission * limit
if now < allow_at then
  return {0, 0, allow_at - now, tat - now}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', new_tat - now)
return {1, math.floor((now - allow_at) / emission), 0, new_tat - now}
";

/// The answer of [`Cache::rate_limit`] for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    /// Requests the bucket holds when full.
    pub limit: u32,
    /// Requests still allowed right now.
    pub remaining: u32,
    /// When denied: how long until one request is allowed again.
    pub retry_after: Duration,
    /// How long until the bucket is full again.
    pub reset: Duration,
}

impl Cache {
    /// Counts one request against the bucket `key` (e.g. `ip:1.2.3.4`):
    /// at most `limit` requests per `period`, all of them usable at once
    /// (burst = limit), refilling evenly. Shared by every instance on this
    /// Redis and namespace; atomic (one Lua script).
    ///
    /// `None` when Redis is off, down or slow (the same timeout and circuit
    /// breaker as every cache operation): the caller decides whether to fail
    /// open.
    pub async fn rate_limit(&self, key: &str, limit: u32, period: Duration) -> Option<RateDecision> {
        if limit == 0 {
            return None;
        }
        let redis_key = self.inner.ns.aux_key(&format!("rl:{key}"));
        let emission_ms = (millis(period) / u64::from(limit)).max(1);
        // Hashed once; EVALSHA afterwards (the script is loaded on NOSCRIPT).
        static SCRIPT: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
        let script = SCRIPT.get_or_init(|| redis::Script::new(RATE_LIMIT_SCRIPT));
        let reply = self
            .redis("rate_limit", |mut conn| async move {
                script.key(&redis_key).arg(emission_ms).arg(limit).invoke_async::<Vec<i64>>(&mut conn).await
            })
            .await?;
        let [allowed, remaining, retry_after_ms, reset_ms] = reply.as_slice() else { return None };
        let duration = |ms: i64| Duration::from_millis(u64::try_from(ms).unwrap_or(0));
        Some(RateDecision {
            allowed: *allowed == 1,
            limit,
            remaining: u32::try_from(*remaining).unwrap_or(0).min(limit),
            retry_after: duration(*retry_after_ms),
            reset: duration(*reset_ms),
        })
    }
}
