//! The cache's settings, filled by the api crate from the environment.

use crate::ttl::TtlConfig;
use std::time::Duration;

/// FKAPI_REDIS_MODE: how `REDIS_URL` is used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RedisMode {
    /// A list of seeds is a cluster; one URL is asked (`INFO cluster`).
    #[default]
    Auto,
    Single,
    Cluster,
}

impl std::str::FromStr for RedisMode {
    type Err = String;

    fn from_str(value: &str) -> Result<RedisMode, String> {
        match value.to_ascii_lowercase().as_str() {
            "auto" => Ok(RedisMode::Auto),
            "single" => Ok(RedisMode::Single),
            "cluster" => Ok(RedisMode::Cluster),
            _ => Err("expected auto, single or cluster".into()),
        }
    }
}

#[derive(Clone, Debug)]
pub struct CacheConfig {
    /// Namespace name; keys are `<namespace>:v2:…`.
    pub namespace: String,
    /// False serves every request from the database (X-Cache: BYPASS).
    pub enabled: bool,
    /// Upper bound on any single Redis operation.
    pub op_timeout: Duration,
    /// One node, a cluster, or ask the server.
    pub redis_mode: RedisMode,
    /// Cluster only: how long a generation bump waits (`WAIT`) for the
    /// master's replicas to have it; zero sends no `WAIT` (a failover may
    /// then lose acknowledged bumps).
    pub replica_wait: Duration,
    /// Cluster only: how long a write whose bump failed keeps trying to
    /// bump the epoch (every entry) before it answers.
    pub failover_wait: Duration,
    /// Cluster only: bump the epoch (every entry) whenever the set of
    /// masters changes, in case a promoted replica lacks bumps its old
    /// master acknowledged.
    pub failover_epoch: bool,
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
    /// Upper bound of the in-process tier (L1) in bytes; 0 turns it off.
    pub l1_max_bytes: u64,
    /// How long an instance may serve from L1 after a renewal of its lease
    /// (less a margin); also the longest a write waits for an instance that
    /// stopped answering.
    pub lease_term: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            namespace: "fkapi".into(),
            enabled: true,
            op_timeout: Duration::from_millis(250),
            redis_mode: RedisMode::Auto,
            replica_wait: Duration::from_millis(100),
            failover_wait: Duration::from_secs(5),
            failover_epoch: true,
            pool_size: 16,
            breaker_threshold: 3,
            breaker_cooldown: Duration::from_secs(2),
            compress_min_bytes: 1024,
            xfetch_beta: 1.0,
            stale_grace: Duration::from_secs(60),
            generation_ttl: Duration::from_secs(3 * 86400),
            ttl: TtlConfig::default(),
            l1_max_bytes: 64 * 1024 * 1024,
            lease_term: Duration::from_secs(2),
        }
    }
}
