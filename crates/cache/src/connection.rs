//! The Redis connection: one node or a Redis Cluster, one shared
//! multiplexed connection, every operation under a timeout, and the
//! fail-open bookkeeping (errors counted, `fkapi_redis_up`, one warning per
//! outage).
//!
//! The rest of the crate reaches Redis only through [`RedisLink::run`] (and
//! [`RedisLink::set_durably`] for generation bumps, [`RedisLink::masters`]
//! for per-master work such as SCAN, [`RedisLink::reader_connection`] for
//! the blocking stream reader). Whether one node or a cluster stands behind
//! it is this file's business; the one thing it tells the others is
//! [`Conn::is_cluster`], because a cluster cannot run a script over keys of
//! different slots, so the hit check reads them concurrently instead.
//!
//! * One node: a deadpool pool hands out one multiplexed connection shared
//!   by every operation, under a circuit breaker for the whole node.
//! * A cluster: redis-rs' `ClusterConnection` (slot map, MOVED/ASK,
//!   reconnects, refreshes after a failover), also shared. There is no
//!   circuit breaker: one for the whole cluster would turn one dead shard
//!   into a cache-wide bypass; each operation is bounded by the timeout
//!   instead, so requests for the dead shard's slots fail open within it and
//!   the other shards keep serving. Generation bumps go over a second
//!   connection and are followed by `WAIT` for the master's replicas (see
//!   [`RedisLink::set_durably`]), because a `WAIT` blocks the connection it
//!   runs on.

use crate::breaker::Breaker;
use crate::config::{CacheConfig, RedisMode};
use crate::metrics::CacheMetrics;
use crate::CacheError;
use redis::aio::ConnectionLike;
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, IntoConnectionInfo, RedisFuture, RedisResult, Value};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

/// The connection handed to an operation; cheap to clone, and commands sent
/// concurrently over it are pipelined.
#[derive(Clone)]
pub(crate) enum Conn {
    Single(redis::aio::MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(conn) => conn.req_packed_command(cmd),
            Conn::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(conn) => conn.req_packed_commands(cmd, offset, count),
            Conn::Cluster(conn) => conn.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(conn) => conn.get_db(),
            Conn::Cluster(conn) => conn.get_db(),
        }
    }
}

impl Conn {
    /// True on a Redis Cluster: keys of different slots cannot meet in one
    /// script or pipeline.
    pub fn is_cluster(&self) -> bool {
        matches!(self, Conn::Cluster(_))
    }

    /// Runs independent commands: one pipeline on a single node, all at
    /// once (each routed to its slot's master) on a cluster, where a
    /// pipeline may not cross slots. Either way one round trip of latency.
    pub async fn each<T: redis::FromRedisValue>(&self, cmds: Vec<Cmd>) -> RedisResult<Vec<T>> {
        match self {
            Conn::Single(conn) => {
                if cmds.is_empty() {
                    return Ok(Vec::new());
                }
                let mut pipe = redis::pipe();
                for cmd in cmds {
                    pipe.add_command(cmd);
                }
                pipe.query_async(&mut conn.clone()).await
            }
            Conn::Cluster(conn) => {
                let calls = cmds.into_iter().map(|cmd| {
                    let mut conn = conn.clone();
                    async move { cmd.query_async::<T>(&mut conn).await }
                });
                futures::future::join_all(calls).await.into_iter().collect()
            }
        }
    }
}

/// How an operation meets the circuit breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Guard {
    /// Skipped while the breaker is open (requests fail open to the
    /// database at once); runs on the shared connection.
    Breaker,
    /// Tried even while the breaker is open, bounded by the timeout, on a
    /// connection checked with a PING first (on one node the pool's; a
    /// cluster's connection heals itself), never on a shared connection
    /// that may have died since the last operation.
    VerifiedConnection,
}

/// One master of a cluster as `CLUSTER NODES` shows it.
#[derive(Clone, Debug, Default)]
struct Master {
    id: String,
    /// `host:port`
    addr: String,
    slots: Vec<(u16, u16)>,
    /// Replicas not flagged as failed: the ones a failover may promote.
    replicas: usize,
}

/// The cluster's shape, refreshed in the background (every
/// [`TOPOLOGY_EVERY`]) from `CLUSTER NODES`.
#[derive(Clone, Debug, Default)]
struct Topology {
    masters: Vec<Master>,
}

/// Each master's id and slot ranges.
type Signature = Vec<(String, Vec<(u16, u16)>)>;

const TOPOLOGY_EVERY: Duration = Duration::from_millis(250);

impl Topology {
    fn parse(text: &str) -> Topology {
        let mut masters = Vec::new();
        let mut replicas_of: Vec<String> = Vec::new();
        for line in text.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(id), Some(addr), Some(flags), Some(master_id)) =
                (fields.first(), fields.get(1), fields.get(2), fields.get(3))
            else {
                continue;
            };
            let failed = flags.split(',').any(|f| f == "fail" || f == "fail?" || f == "handshake" || f == "noaddr");
            let addr = addr.split('@').next().unwrap_or(addr).to_string();
            if flags.split(',').any(|f| f == "master") {
                if failed {
                    continue;
                }
                let slots = fields
                    .iter()
                    .skip(8)
                    .filter(|range| !range.starts_with('['))
                    .filter_map(|range| match range.split_once('-') {
                        Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                        None => range.parse().ok().map(|s| (s, s)),
                    })
                    .collect::<Vec<(u16, u16)>>();
                if !slots.is_empty() {
                    masters.push(Master { id: id.to_string(), addr, slots, replicas: 0 });
                }
            } else if flags.split(',').any(|f| f == "slave" || f == "replica") && !failed {
                replicas_of.push(master_id.to_string());
            }
        }
        for master in &mut masters {
            master.replicas = replicas_of.iter().filter(|id| **id == master.id).count();
        }
        masters.sort_by(|a, b| a.addr.cmp(&b.addr));
        Topology { masters }
    }

    fn master_of(&self, slot: u16) -> Option<&Master> {
        self.masters.iter().find(|m| m.slots.iter().any(|(a, b)| (*a..=*b).contains(&slot)))
    }

    /// The masters' ids and slots: changes when a replica is promoted.
    fn signature(&self) -> Signature {
        self.masters.iter().map(|m| (m.id.clone(), m.slots.clone())).collect()
    }
}

struct ClusterBackend {
    client: ClusterClient,
    /// For the blocking stream reader: a longer response timeout.
    reader_client: ClusterClient,
    /// Bumps and their `WAIT`s (a `WAIT` blocks its connection).
    writer: Arc<RwLock<Option<ClusterConnection>>>,
    topology: Arc<RwLock<Option<Topology>>>,
    /// Counts changes of the master set seen by the watcher.
    topology_changes: Arc<AtomicU64>,
    watching: AtomicBool,
}

enum Backend {
    Single(deadpool_redis::Pool),
    Cluster(Box<ClusterBackend>),
}

pub(crate) struct RedisLink {
    /// The seed node(s) of `REDIS_URL`.
    urls: Vec<String>,
    mode: RedisMode,
    op_timeout: Duration,
    pool_size: usize,
    /// `WAIT` timeout after a bump on a cluster; zero sends no `WAIT`.
    replica_wait: Duration,
    /// Known once a connection was made (auto mode asks the server).
    backend: tokio::sync::OnceCell<Backend>,
    /// One multiplexed connection shared by every operation (redis-rs
    /// pipelines concurrent commands over it), so a hit is one round trip:
    /// a pool checkout per operation adds deadpool's UNWATCH+PING recycle
    /// check, a second round trip. Made on first use and dropped on any
    /// error or timeout on one node, so a broken one is replaced.
    /// Shared with the cluster's topology watcher, which replaces it.
    shared: Arc<RwLock<Option<Conn>>>,
    /// One node only; a cluster has none (see the module documentation).
    breaker: Breaker,
    metrics: CacheMetrics,
    warned_down: AtomicBool,
}

/// The seed URLs of `REDIS_URL`: one URL or a comma-separated list.
fn split_urls(url: &str) -> Vec<String> {
    url.split(',').map(str::trim).filter(|u| !u.is_empty()).map(str::to_string).collect()
}

/// Checks `REDIS_URL` (one URL or a comma-separated list of seed nodes)
/// against the mode; the reason when it cannot work.
pub fn check_redis_urls(url: &str, mode: RedisMode) -> Result<Vec<String>, String> {
    let urls = split_urls(url);
    if urls.is_empty() {
        return Err("names no node".into());
    }
    for (i, one) in urls.iter().enumerate() {
        // Not the URL itself in the message: it may hold a password.
        one.as_str()
            .into_connection_info()
            .map_err(|e| format!("node {} of {} did not parse: {e}", i + 1, urls.len()))?;
    }
    if urls.len() > 1 && mode == RedisMode::Single {
        return Err("several seed nodes, but FKAPI_REDIS_MODE=single".into());
    }
    Ok(urls)
}

impl RedisLink {
    /// Checks the URL(s); no connection is opened yet. Errors on a URL that
    /// does not parse, or a list of seeds with `FKAPI_REDIS_MODE=single`.
    pub fn new(url: &str, cfg: &CacheConfig, metrics: CacheMetrics) -> Result<RedisLink, CacheError> {
        let urls = check_redis_urls(url, cfg.redis_mode).map_err(CacheError::Config)?;
        Ok(RedisLink {
            urls,
            mode: cfg.redis_mode,
            op_timeout: cfg.op_timeout,
            pool_size: cfg.pool_size.max(1),
            replica_wait: cfg.replica_wait,
            backend: tokio::sync::OnceCell::new(),
            shared: Arc::new(RwLock::new(None)),
            breaker: Breaker::new(cfg.breaker_threshold, cfg.breaker_cooldown),
            metrics,
            warned_down: AtomicBool::new(false),
        })
    }

    fn single_pool(&self) -> Result<deadpool_redis::Pool, String> {
        let mut pool_cfg = deadpool_redis::Config::from_url(self.urls[0].as_str());
        let mut limits = deadpool_redis::PoolConfig::new(self.pool_size);
        limits.timeouts = deadpool_redis::Timeouts {
            wait: Some(self.op_timeout),
            create: Some(self.op_timeout),
            recycle: Some(self.op_timeout),
        };
        pool_cfg.pool = Some(limits);
        pool_cfg.create_pool(Some(deadpool_redis::Runtime::Tokio1)).map_err(|e| e.to_string())
    }

    fn cluster_backend(&self) -> Result<ClusterBackend, String> {
        let build = |response: Duration| {
            redis::cluster::ClusterClientBuilder::new(self.urls.clone())
                .connection_timeout(self.op_timeout * 4)
                .response_timeout(response)
                .retries(3)
                .min_retry_wait(10)
                .max_retry_wait(100)
                .build()
                .map_err(|e| e.to_string())
        };
        Ok(ClusterBackend {
            client: build(self.op_timeout)?,
            reader_client: build(Duration::from_secs(10))?,
            writer: Arc::new(RwLock::new(None)),
            topology: Arc::new(RwLock::new(None)),
            topology_changes: Arc::new(AtomicU64::new(0)),
            watching: AtomicBool::new(false),
        })
    }

    /// Whether the one node of `REDIS_URL` runs in cluster mode (`INFO cluster`).
    async fn probe_cluster(&self) -> Result<bool, String> {
        let client = redis::Client::open(self.urls[0].as_str()).map_err(|e| e.to_string())?;
        let config = redis::AsyncConnectionConfig::new().set_connection_timeout(self.op_timeout);
        let mut conn = client.get_multiplexed_async_connection_with_config(&config).await.map_err(|e| e.to_string())?;
        let info: String = redis::cmd("INFO").arg("cluster").query_async(&mut conn).await.map_err(|e| e.to_string())?;
        Ok(info.lines().any(|line| line.trim() == "cluster_enabled:1"))
    }

    async fn backend(&self) -> Result<&Backend, String> {
        self.backend
            .get_or_try_init(|| async {
                let cluster = match self.mode {
                    RedisMode::Single => false,
                    RedisMode::Cluster => true,
                    RedisMode::Auto => self.urls.len() > 1 || self.probe_cluster().await?,
                };
                if cluster {
                    tracing::info!(seeds = self.urls.len(), "redis cluster mode");
                    Ok(Backend::Cluster(Box::new(self.cluster_backend()?)))
                } else {
                    Ok(Backend::Single(self.single_pool()?))
                }
            })
            .await
    }

    fn cluster(&self) -> Option<&ClusterBackend> {
        match self.backend.get() {
            Some(Backend::Cluster(cluster)) => Some(cluster),
            _ => None,
        }
    }

    /// True once a connection showed that Redis is a cluster.
    pub fn is_cluster(&self) -> bool {
        self.cluster().is_some()
    }

    /// Whether Redis is a cluster, connecting first if needed (auto mode
    /// asks the server once); `None` when that could not be found out.
    pub async fn is_cluster_now(&self) -> Option<bool> {
        self.backend().await.ok().map(|backend| matches!(backend, Backend::Cluster(_)))
    }

    /// False while the (single-node) breaker is open: callers skip Redis.
    pub fn allows(&self) -> bool {
        self.is_cluster() || self.breaker.allows()
    }

    pub fn is_open(&self) -> bool {
        !self.allows()
    }

    /// How many times the cluster's master set changed (a failover, a
    /// resharding) since start; always 0 on one node.
    pub fn topology_changes(&self) -> u64 {
        self.cluster().map_or(0, |c| c.topology_changes.load(Ordering::SeqCst))
    }

    /// The shared connection, made when there is none.
    async fn connection(&self) -> Result<Conn, String> {
        if let Some(conn) = self.shared.read().unwrap_or_else(PoisonError::into_inner).as_ref() {
            return Ok(conn.clone());
        }
        let conn = match self.backend().await? {
            Backend::Single(pool) => {
                let pooled = pool.get().await.map_err(|e| e.to_string())?;
                Conn::Single(redis::aio::MultiplexedConnection::clone(&pooled))
            }
            Backend::Cluster(cluster) => {
                let conn = cluster.client.get_async_connection().await.map_err(|e| e.to_string())?;
                self.watch_topology(cluster, conn.clone());
                Conn::Cluster(conn)
            }
        };
        *self.shared.write().unwrap_or_else(PoisonError::into_inner) = Some(conn.clone());
        Ok(conn)
    }

    /// The connection an operation runs on: the shared one, or for
    /// [`Guard::VerifiedConnection`] on one node one the pool has checked
    /// with a PING (it then becomes the shared one).
    async fn connection_for(&self, guard: Guard) -> Result<Conn, String> {
        if guard == Guard::Breaker {
            return self.connection().await;
        }
        match self.backend().await? {
            Backend::Single(pool) => {
                let pooled = pool.get().await.map_err(|e| e.to_string())?;
                let conn = Conn::Single(redis::aio::MultiplexedConnection::clone(&pooled));
                *self.shared.write().unwrap_or_else(PoisonError::into_inner) = Some(conn.clone());
                Ok(conn)
            }
            Backend::Cluster(_) => self.connection().await,
        }
    }

    /// Starts the background task that keeps the topology (masters, their
    /// slots and replicas) current, once; it ends when the link is dropped.
    ///
    /// After the masters change it also replaces the shared and the writer
    /// connection with new ones: redis-rs refreshes its slot map on a MOVED
    /// or a refused connection, but a master that hangs (frozen, or
    /// partitioned so that packets are dropped) and is failed over only
    /// times out, and every operation on its slots would keep timing out
    /// on it. A new connection reads the slots afresh. It is made here, in
    /// the background, because with a hung seed node it takes the
    /// connection timeout, longer than any one operation may wait.
    fn watch_topology(&self, cluster: &ClusterBackend, conn: ClusterConnection) {
        if cluster.watching.swap(true, Ordering::SeqCst) {
            return;
        }
        let topology: Weak<RwLock<Option<Topology>>> = Arc::downgrade(&cluster.topology);
        let changes = Arc::clone(&cluster.topology_changes);
        let (shared_slot, writer_slot) = (Arc::clone(&self.shared), Arc::clone(&cluster.writer));
        let client = cluster.client.clone();
        let timeout = self.op_timeout * 4;
        tokio::spawn(async move {
            let mut conn = conn;
            let mut last: Option<Signature> = None;
            let mut reconnect = false;
            loop {
                let mut nodes = redis::cmd("CLUSTER");
                nodes.arg("NODES");
                let reply = tokio::time::timeout(timeout, nodes.query_async::<String>(&mut conn)).await;
                let Some(slot) = topology.upgrade() else { return };
                if let Ok(Ok(text)) = reply {
                    let parsed = Topology::parse(&text);
                    let signature = parsed.signature();
                    if last.as_ref().is_some_and(|before| *before != signature) {
                        changes.fetch_add(1, Ordering::SeqCst);
                        tracing::info!(masters = parsed.masters.len(), "redis cluster topology changed");
                        reconnect = true;
                    }
                    last = Some(signature);
                    *slot.write().unwrap_or_else(PoisonError::into_inner) = Some(parsed);
                }
                drop(slot);
                if reconnect {
                    let made = tokio::time::timeout(Duration::from_secs(10), async {
                        let shared = client.get_async_connection().await?;
                        let writer = client.get_async_connection().await?;
                        Ok::<_, redis::RedisError>((shared, writer))
                    })
                    .await;
                    if let Ok(Ok((shared, writer))) = made {
                        conn = shared.clone();
                        *shared_slot.write().unwrap_or_else(PoisonError::into_inner) = Some(Conn::Cluster(shared));
                        *writer_slot.write().unwrap_or_else(PoisonError::into_inner) = Some(writer);
                        reconnect = false;
                        tracing::info!("redis cluster connections replaced after the masters changed");
                    }
                }
                tokio::time::sleep(TOPOLOGY_EVERY).await;
            }
        });
    }

    /// Bookkeeping after an operation: the breaker, the gauge, the warning.
    fn record(&self, op: &'static str, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => {
                self.breaker.record_success();
                self.metrics.redis_up.set(1);
                if self.warned_down.swap(false, Ordering::Relaxed) {
                    tracing::info!("redis reachable again; cache back in use");
                }
            }
            Err(reason) => {
                self.metrics.errors.with_label_values(&[op]).inc();
                self.metrics.redis_up.set(0);
                if self.is_cluster() {
                    // The cluster connection heals itself (slot refresh,
                    // reconnect); keep it, and no breaker for the whole cluster.
                    if !self.warned_down.swap(true, Ordering::Relaxed) {
                        tracing::warn!(op, %reason, "a redis cluster operation failed; its requests go to the database");
                    } else {
                        tracing::debug!(op, %reason, "redis operation failed");
                    }
                    return;
                }
                // Possibly broken: the next operation takes a fresh one (the
                // pool checks it with a PING before handing it out).
                *self.shared.write().unwrap_or_else(PoisonError::into_inner) = None;
                if self.breaker.record_failure() && !self.warned_down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(op, %reason, "redis unavailable; serving from the database until it returns");
                } else {
                    tracing::debug!(op, %reason, "redis operation failed");
                }
            }
        }
    }

    /// Runs one Redis operation under the timeout (and, on one node, the
    /// circuit breaker); `None` when the breaker is open or the operation
    /// failed or timed out (counted under `op` in `fkapi_cache_errors_total`).
    pub async fn run<T, F, Fut>(&self, op: &'static str, call: F) -> Option<T>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        self.run_within(op, call, self.op_timeout, true, Guard::Breaker).await
    }

    /// [`run`](Self::run) with a choice of [`Guard`]: the second try of a
    /// write's invalidation goes past the breaker, since losing it would let
    /// instances that still reach Redis serve old data.
    pub async fn run_guarded<T, F, Fut>(&self, op: &'static str, guard: Guard, call: F) -> Option<T>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        self.run_within(op, call, self.op_timeout, true, guard).await
    }

    /// [`run`](Self::run) for a background task's operation (the change
    /// feed's lease): four times the timeout, and a timeout is counted but
    /// neither trips the breaker nor drops the shared connection. On a
    /// machine saturated by request traffic a background task may wait its
    /// turn for a while; that says nothing about Redis, and taking the
    /// cache away from every request for a cooldown would be the wrong
    /// answer. An error Redis or the socket returned counts as in `run`.
    pub async fn run_in_background<T, F, Fut>(&self, op: &'static str, call: F) -> Option<T>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        self.run_within(op, call, self.op_timeout * 4, false, Guard::Breaker).await
    }

    async fn run_within<T, F, Fut>(
        &self,
        op: &'static str,
        call: F,
        timeout: Duration,
        timeout_is_failure: bool,
        guard: Guard,
    ) -> Option<T>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        if guard == Guard::Breaker && !self.allows() {
            return None;
        }
        let attempt = async {
            let conn = self.connection_for(guard).await?;
            call(conn).await.map_err(|e| e.to_string())
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(Ok(value)) => {
                self.record(op, Ok(()));
                Some(value)
            }
            Ok(Err(e)) => {
                self.record(op, Err(e));
                None
            }
            Err(_) if timeout_is_failure => {
                self.record(op, Err("timed out".into()));
                None
            }
            Err(_) => {
                self.metrics.errors.with_label_values(&[op]).inc();
                tracing::debug!(op, "background redis operation timed out");
                None
            }
        }
    }

    /// The replicas a failover could promote in place of the master of
    /// `key`'s slot (1 while the topology is not known yet).
    fn replicas_for(cluster: &ClusterBackend, key: &str) -> usize {
        let slot = crate::key::slot_of(key.as_bytes());
        let topology = cluster.topology.read().unwrap_or_else(PoisonError::into_inner);
        topology.as_ref().and_then(|t| t.master_of(slot)).map_or(1, |m| m.replicas)
    }

    async fn writer(&self, cluster: &ClusterBackend) -> Result<ClusterConnection, String> {
        if let Some(conn) = cluster.writer.read().unwrap_or_else(PoisonError::into_inner).as_ref() {
            return Ok(conn.clone());
        }
        let conn = cluster.client.get_async_connection().await.map_err(|e| e.to_string())?;
        *cluster.writer.write().unwrap_or_else(PoisonError::into_inner) = Some(conn.clone());
        Ok(conn)
    }

    /// Sets every `(key, value)` with an expiry of `ttl_secs`, and answers
    /// true only when all are stored where a failover cannot lose them.
    ///
    /// One node: one pipeline (there is no failover to survive). A cluster:
    /// each SET is followed on the same connection, in one pipeline to the
    /// key's master, by `WAIT <replicas> <timeout>`, where `replicas` is the
    /// number of that master's replicas not flagged as failed (those a
    /// failover may promote); a SET that fewer replicas acknowledged in
    /// time counts as failed, and the caller falls back as for any failed
    /// bump. The whole call is bounded by the operation timeout plus the
    /// `WAIT` timeout.
    pub async fn set_durably(
        &self,
        op: &'static str,
        sets: Vec<(String, String)>,
        ttl_secs: u64,
        guard: Guard,
    ) -> bool {
        if guard == Guard::Breaker && !self.allows() {
            return false;
        }
        let attempt = async {
            let backend = self.backend().await?;
            let Backend::Cluster(cluster) = backend else {
                let conn = self.connection_for(guard).await?;
                let cmds = sets.into_iter().map(|(key, value)| set_cmd(&key, &value, ttl_secs)).collect();
                return conn.each::<Value>(cmds).await.map(|_| ()).map_err(|e| e.to_string());
            };
            // The shared connection starts the topology watcher.
            self.connection().await?;
            let writer = self.writer(cluster).await?;
            let wait_ms = crate::client::millis(self.replica_wait);
            let calls = sets.into_iter().map(|(key, value)| {
                let mut conn = writer.clone();
                let replicas = if wait_ms == 0 { 0 } else { Self::replicas_for(cluster, &key) };
                async move {
                    let mut pipe = redis::pipe();
                    pipe.add_command(set_cmd(&key, &value, ttl_secs)).ignore();
                    if replicas == 0 {
                        return pipe.query_async::<()>(&mut conn).await.map_err(|e| e.to_string());
                    }
                    pipe.cmd("WAIT").arg(replicas).arg(wait_ms);
                    let (acked,): (usize,) = pipe.query_async(&mut conn).await.map_err(|e| e.to_string())?;
                    if acked < replicas {
                        return Err(format!("{acked} of {replicas} replicas acknowledged a bump in time"));
                    }
                    Ok(())
                }
            });
            futures::future::join_all(calls).await.into_iter().collect::<Result<(), String>>()
        };
        let started = Instant::now();
        let outcome = match tokio::time::timeout(self.op_timeout + self.replica_wait, attempt).await {
            Ok(outcome) => outcome,
            Err(_) => Err("timed out".into()),
        };
        let ok = outcome.is_ok();
        if let Err(reason) = &outcome {
            tracing::debug!(op, %reason, took_ms = started.elapsed().as_millis() as u64, "bump not stored durably");
        }
        self.record(op, outcome);
        ok
    }

    /// A new connection outside the shared one, for a reader that blocks
    /// (XREAD BLOCK) and must not hold up the shared one. The caller bounds
    /// each command with its own timeout.
    pub async fn reader_connection(&self) -> Option<Conn> {
        let made = match self.backend().await.ok()? {
            Backend::Single(_) => {
                let client = redis::Client::open(self.urls[0].as_str()).ok()?;
                let config = redis::AsyncConnectionConfig::new().set_connection_timeout(self.op_timeout * 4);
                client.get_multiplexed_async_connection_with_config(&config).await.map(Conn::Single)
            }
            Backend::Cluster(cluster) => cluster.reader_client.get_async_connection().await.map(Conn::Cluster),
        };
        match made {
            Ok(conn) => Some(conn),
            Err(e) => {
                tracing::debug!(error = %e, "redis reader connection failed");
                None
            }
        }
    }

    /// A connection of its own to every master (`host:port`, connection),
    /// for per-node work: SCAN loops, INFO, DBSIZE. One node: that node. A
    /// cluster: the masters `CLUSTER NODES` lists as serving slots now. No
    /// timeout or breaker beyond the connect timeout: its callers run in
    /// the background or in a command-line tool.
    pub async fn masters(&self) -> Option<Vec<(String, Conn)>> {
        let seed = self.urls[0].as_str().into_connection_info().ok()?;
        let addrs = match self.backend().await.ok()? {
            Backend::Single(_) => vec![seed.addr.to_string()],
            Backend::Cluster(_) => {
                let mut conn = self.connection().await.ok()?;
                let mut nodes = redis::cmd("CLUSTER");
                nodes.arg("NODES");
                let call = nodes.query_async::<String>(&mut conn);
                let text = tokio::time::timeout(self.op_timeout * 4, call).await.ok()?.ok()?;
                Topology::parse(&text).masters.into_iter().map(|m| m.addr).collect()
            }
        };
        let mut out = Vec::with_capacity(addrs.len());
        for addr in addrs {
            let (host, port) = addr.rsplit_once(':')?;
            let mut info = seed.clone();
            info.addr = redis::ConnectionAddr::Tcp(host.to_string(), port.parse().ok()?);
            let client = redis::Client::open(info).ok()?;
            let config = redis::AsyncConnectionConfig::new().set_connection_timeout(self.op_timeout * 4);
            let conn = client.get_multiplexed_async_connection_with_config(&config).await.ok()?;
            out.push((addr, Conn::Single(conn)));
        }
        Some(out)
    }
}

fn set_cmd(key: &str, value: &str, ttl_secs: u64) -> Cmd {
    let mut cmd = redis::cmd("SET");
    cmd.arg(key).arg(value).arg("EX").arg(ttl_secs);
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cluster_nodes() {
        let text = "\
a1 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-5460
a2 127.0.0.1:7002@17002 master - 0 0 2 connected 5461-10922 [1-<-x]
a3 127.0.0.1:7003@17003 master,fail - 0 0 3 disconnected
a6 127.0.0.1:7006@17006 master - 0 0 7 connected 10923-16383
b1 127.0.0.1:7004@17004 slave a1 0 0 1 connected
b2 127.0.0.1:7005@17005 slave,fail a2 0 0 2 connected
";
        let topology = Topology::parse(text);
        let addrs: Vec<&str> = topology.masters.iter().map(|m| m.addr.as_str()).collect();
        assert_eq!(addrs, ["127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7006"]);
        assert_eq!(topology.master_of(0).map(|m| m.replicas), Some(1));
        assert_eq!(topology.master_of(6000).map(|m| m.replicas), Some(0), "a failed replica is not counted");
        assert_eq!(topology.master_of(16383).map(|m| m.id.as_str()), Some("a6"));
    }

    #[test]
    fn splits_seed_lists() {
        assert_eq!(split_urls("redis://a:1, redis://b:2,"), ["redis://a:1", "redis://b:2"]);
    }
}
