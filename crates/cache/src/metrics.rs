//! The cache's Prometheus metrics, registered in the registry the app serves
//! at /metrics (one registry per app, so tests can run many apps at once).

use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

#[derive(Clone)]
pub struct CacheMetrics {
    /// Labels cache_type and tier (`local` = L1, `redis`).
    pub hits: IntCounterVec,
    pub misses: IntCounterVec,
    pub loads: IntCounterVec,
    pub load_duration: HistogramVec,
    pub stale: IntCounterVec,
    pub bypass: IntCounterVec,
    pub invalidations: IntCounterVec,
    pub errors: IntCounterVec,
    pub entries: IntGaugeVec,
    pub redis_up: IntGauge,
    pub redis_used_memory: IntGauge,
    pub redis_maxmemory: IntGauge,
    pub l1_entries: IntGauge,
    pub l1_bytes: IntGauge,
    /// 1 while this instance may serve from L1.
    pub l1_lease_valid: IntGauge,
    pub l1_applied: IntCounter,
    pub l1_flushes: IntCounter,
    /// L1 hits answered by request target, before routing (also counted
    /// in `hits` under their cache type).
    pub target_hits: IntCounter,
    /// How long writes waited for every L1 to acknowledge, by outcome.
    pub ack_duration: HistogramVec,
}

impl CacheMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let counter = |name: &str, help: &str, label: &str| -> prometheus::Result<IntCounterVec> {
            let metric = IntCounterVec::new(Opts::new(name, help), &[label])?;
            registry.register(Box::new(metric.clone()))?;
            Ok(metric)
        };
        let load_duration = HistogramVec::new(
            HistogramOpts::new("fkapi_cache_load_duration_seconds", "Time to build an entry from the database")
                .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]),
            &["cache_type"],
        )?;
        registry.register(Box::new(load_duration.clone()))?;
        let entries = IntGaugeVec::new(
            Opts::new("fkapi_cache_entries", "Cached entries in Redis per cache type (sampled in the background)"),
            &["cache_type"],
        )?;
        registry.register(Box::new(entries.clone()))?;
        let ack_duration = HistogramVec::new(
            HistogramOpts::new(
                "fkapi_cache_invalidation_ack_seconds",
                "Time a write waited until every instance's L1 acknowledged its invalidation or lost its lease",
            )
            .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
            &["outcome"],
        )?;
        registry.register(Box::new(ack_duration.clone()))?;
        for outcome in ["acked", "redis_unreachable"] {
            ack_duration.with_label_values(&[outcome]);
        }
        let hits = IntCounterVec::new(
            Opts::new("fkapi_cache_hits_total", "Requests answered from the cache, by tier (local = L1, redis)"),
            &["cache_type", "tier"],
        )?;
        registry.register(Box::new(hits.clone()))?;
        let plain_counter = |name: &str, help: &str| -> prometheus::Result<IntCounter> {
            let metric = IntCounter::new(name, help)?;
            registry.register(Box::new(metric.clone()))?;
            Ok(metric)
        };
        let gauge = |name: &str, help: &str| -> prometheus::Result<IntGauge> {
            let metric = IntGauge::new(name, help)?;
            registry.register(Box::new(metric.clone()))?;
            Ok(metric)
        };
        Ok(CacheMetrics {
            redis_up: gauge("fkapi_redis_up", "1 while Redis answers, 0 while requests bypass it")?,
            redis_used_memory: gauge("fkapi_redis_used_memory_bytes", "Redis used_memory (sampled in the background)")?,
            redis_maxmemory: gauge("fkapi_redis_maxmemory_bytes", "Redis maxmemory, 0 when unlimited (sampled)")?,
            hits,
            l1_entries: gauge("fkapi_cache_l1_entries", "Entries held in this instance's L1 (sampled every second)")?,
            l1_bytes: gauge(
                "fkapi_cache_l1_bytes",
                "Bytes held in this instance's L1, as weighed against FKAPI_L1_MAX_MB",
            )?,
            l1_lease_valid: gauge(
                "fkapi_cache_l1_lease_valid",
                "1 while this instance holds an L1 lease and may serve from L1",
            )?,
            l1_applied: plain_counter(
                "fkapi_cache_l1_invalidations_applied_total",
                "Invalidation stream messages this instance applied to its L1",
            )?,
            l1_flushes: plain_counter(
                "fkapi_cache_l1_flushes_total",
                "Times this instance emptied its L1 (stream gap, lapsed lease, epoch)",
            )?,
            target_hits: plain_counter(
                "fkapi_cache_l1_target_hits_total",
                "L1 hits answered by request target before routing (also in fkapi_cache_hits_total{tier=\"local\"})",
            )?,
            ack_duration,
            misses: counter("fkapi_cache_misses_total", "Requests that found no valid entry", "cache_type")?,
            loads: counter("fkapi_cache_loads_total", "Origin (database) loads that built an entry", "cache_type")?,
            load_duration,
            stale: counter("fkapi_cache_stale_total", "Expired entries served while being refreshed", "cache_type")?,
            bypass: counter(
                "fkapi_cache_bypass_total",
                "Requests served without the cache (Redis down or disabled)",
                "cache_type",
            )?,
            invalidations: counter("fkapi_cache_invalidations_total", "Scopes invalidated, by scope kind", "scope")?,
            errors: counter("fkapi_cache_errors_total", "Failed or timed-out Redis operations", "op")?,
            entries,
        })
    }
}
