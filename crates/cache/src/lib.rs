//! The cache mechanism of fkapi, with no football in it.
//!
//! Entries live in Redis under `{fkapi:v1}:` and record the generation of
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

mod breaker;
mod client;
pub mod entry;
mod flight;
pub mod key;
mod lease;
pub mod metrics;
pub mod registry;
pub mod scan;
pub mod scope;
pub mod ttl;

pub use client::{
    Cache, CacheConfig, CacheError, CacheStatus, Cached, CachedQuery, FillHook, LoadCtx, RateDecision, RedisStats,
    TypeStats,
};
pub use key::{generate_cache_key, Namespace, PyOpt, FORMAT_VERSION};
pub use lease::LeasedRecord;
pub use registry::{
    CacheKey, CacheType, Domain, OperatorScope, OperatorScopeError, OperatorTarget, Registry, RowChange, WarmSource,
    WarmTarget,
};
pub use scan::{scan_each, scan_keys};
pub use scope::{InvalidScope, Scope, EPOCH};
pub use ttl::{TtlClass, TtlConfig};
