//! The Redis connection: one shared multiplexed connection taken from a
//! pool, every operation under a timeout and the circuit breaker, and the
//! fail-open bookkeeping (errors counted, `fkapi_redis_up`, one warning per
//! outage).
//!
//! The rest of the crate reaches Redis only through [`RedisLink::run`] (and
//! [`RedisLink::dedicated`] for the rare long operation), so what stands
//! behind it — one node today — is this file's business alone.

use crate::breaker::Breaker;
use crate::config::CacheConfig;
use crate::metrics::CacheMetrics;
use crate::CacheError;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

/// The connection handed to an operation; cheap to clone, and commands sent
/// concurrently over it are pipelined.
pub(crate) type Conn = redis::aio::MultiplexedConnection;

pub(crate) struct RedisLink {
    url: String,
    pool: deadpool_redis::Pool,
    /// One multiplexed connection shared by every operation (redis-rs
    /// pipelines concurrent commands over it), so a hit is one round trip:
    /// a pool checkout per operation adds deadpool's UNWATCH+PING recycle
    /// check, a second round trip. Taken from the pool on first use and
    /// dropped on any error or timeout, so a broken one is replaced.
    shared: RwLock<Option<Conn>>,
    op_timeout: Duration,
    breaker: Breaker,
    metrics: CacheMetrics,
    warned_down: AtomicBool,
}

impl RedisLink {
    /// Builds the pool (no connection is opened yet). Errors only on a URL
    /// that does not parse.
    pub fn new(url: &str, cfg: &CacheConfig, metrics: CacheMetrics) -> Result<RedisLink, CacheError> {
        let mut pool_cfg = deadpool_redis::Config::from_url(url);
        let mut limits = deadpool_redis::PoolConfig::new(cfg.pool_size.max(1));
        limits.timeouts = deadpool_redis::Timeouts {
            wait: Some(cfg.op_timeout),
            create: Some(cfg.op_timeout),
            recycle: Some(cfg.op_timeout),
        };
        pool_cfg.pool = Some(limits);
        let pool = pool_cfg
            .create_pool(Some(deadpool_redis::Runtime::Tokio1))
            .map_err(|e| CacheError::Config(e.to_string()))?;
        Ok(RedisLink {
            url: url.to_string(),
            pool,
            shared: RwLock::new(None),
            op_timeout: cfg.op_timeout,
            breaker: Breaker::new(cfg.breaker_threshold, cfg.breaker_cooldown),
            metrics,
            warned_down: AtomicBool::new(false),
        })
    }

    /// False while the breaker is open: callers skip Redis entirely.
    pub fn allows(&self) -> bool {
        self.breaker.allows()
    }

    pub fn is_open(&self) -> bool {
        self.breaker.is_open()
    }

    /// The shared connection, taken from the pool when there is none.
    async fn connection(&self) -> Result<Conn, String> {
        if let Some(conn) = self.shared.read().unwrap_or_else(PoisonError::into_inner).as_ref() {
            return Ok(conn.clone());
        }
        let pooled = self.pool.get().await.map_err(|e| e.to_string())?;
        let conn = Conn::clone(&pooled);
        *self.shared.write().unwrap_or_else(PoisonError::into_inner) = Some(conn.clone());
        Ok(conn)
    }

    /// Runs one Redis operation under the timeout and the circuit breaker;
    /// `None` when the breaker is open or the operation failed or timed out
    /// (counted under `op` in `fkapi_cache_errors_total`).
    pub async fn run<T, F, Fut>(&self, op: &'static str, call: F) -> Option<T>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        if !self.breaker.allows() {
            return None;
        }
        let attempt = async {
            let conn = self.connection().await?;
            call(conn).await.map_err(|e| e.to_string())
        };
        match tokio::time::timeout(self.op_timeout, attempt).await {
            Ok(Ok(value)) => {
                self.breaker.record_success();
                self.metrics.redis_up.set(1);
                if self.warned_down.swap(false, Ordering::Relaxed) {
                    tracing::info!("redis reachable again; cache back in use");
                }
                Some(value)
            }
            outcome => {
                // Possibly broken: the next operation takes a fresh one (the
                // pool checks it with a PING before handing it out).
                *self.shared.write().unwrap_or_else(PoisonError::into_inner) = None;
                let reason = match outcome {
                    Ok(Err(e)) => e,
                    _ => "timed out".to_string(),
                };
                self.metrics.errors.with_label_values(&[op]).inc();
                self.metrics.redis_up.set(0);
                if self.breaker.record_failure() && !self.warned_down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(op, %reason, "redis unavailable; serving from the database until it returns");
                } else {
                    tracing::debug!(op, %reason, "redis operation failed");
                }
                None
            }
        }
    }

    /// A new connection outside the pool, for a reader that blocks (XREAD
    /// BLOCK) and must not hold up the shared one. The caller bounds each
    /// command with its own timeout.
    pub async fn reader_connection(&self) -> Option<Conn> {
        let client = redis::Client::open(self.url.as_str()).ok()?;
        let config = redis::AsyncConnectionConfig::new().set_connection_timeout(self.op_timeout * 4);
        match client.get_multiplexed_async_connection_with_config(&config).await {
            Ok(conn) => Some(conn),
            Err(e) => {
                tracing::debug!(error = %e, "redis reader connection failed");
                None
            }
        }
    }

    /// A connection of its own from the pool, for a long operation (a SCAN
    /// loop) that must not hold up the shared one. No timeout or breaker
    /// beyond the pool's own wait: its caller runs in the background.
    pub async fn dedicated(&self) -> Option<deadpool_redis::Connection> {
        self.pool.get().await.ok()
    }
}
