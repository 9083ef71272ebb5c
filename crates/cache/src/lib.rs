//! The cache mechanism of fkapi, with no football in it.
//!
//! Entries live in Redis under `fkapi:v2:` and record the generation of
//! every dependency scope they were built from, read *before* the database
//! query. A write bumps the generations of the scopes it touched *after* its
//! commit, so a hit is only served when no scope has moved since the entry
//! was built: invalidation is one SET per scope whatever the keyspace size,
//! and a slow reader can never put old rows back.
//!
//! Around that core: FKApi-compatible keys and TTL classes, single-flight
//! loads, XFetch early refresh, stale-while-revalidate, gzip-compressed
//! stored bodies, a circuit breaker that fails open to the database,
//! leased records (one owner at a time across instances) and Prometheus
//! metrics.
//!
//! An optional in-process tier (L1, `local`) answers hits with no network
//! round trip; `coherence` keeps every instance's L1 fresh after a write
//! with an invalidation stream and leases.
//!
//! Files by job: `client` (the core: get_or_load, fills, invalidation,
//! generations), `connection` (the Redis connection, one node or a Redis
//! Cluster, its timeouts, circuit breaker and fail-open bookkeeping), and the extras built on that
//! connection: `rate_limit`, `popular`, `claim`, `stats`, `lease`, `scan`; and
//! `registry`, the typed description of what each domain contributes.

mod breaker;
mod claim;
mod client;
mod coherence;
mod config;
mod connection;
pub mod entry;
mod flight;
pub mod key;
mod lease;
mod local;
pub mod metrics;
pub mod origin;
mod popular;
mod rate_limit;
pub mod registry;
pub mod scan;
pub mod scope;
mod stats;
pub mod ttl;

pub use client::{Cache, CacheError, CacheStatus, Cached, CachedQuery, FillHook, LoadCtx, LocalAnswer, TargetHit};
pub use coherence::{lease_margin, SINCE_FIELD};
pub use config::{CacheConfig, RedisMode};
pub use connection::check_redis_urls;
pub use key::{generate_cache_key, Namespace, PyOpt, FORMAT_VERSION};
pub use lease::LeasedRecord;
pub use rate_limit::RateDecision;
pub use registry::{
    CacheKey, CacheType, Domain, OperatorScope, OperatorScopeError, OperatorTarget, Registry, RowChange, WarmSource,
    WarmTarget,
};
pub use scan::{scan_each, scan_keys};
pub use scope::{InvalidScope, Scope, EPOCH};
pub use stats::{LocalStats, NodeStats, RedisStats, TypeStats};
pub use ttl::{TtlClass, TtlConfig};
