//! The cache's Prometheus metrics, registered in the registry the app serves
//! at /metrics (one registry per app, so tests can run many apps at once).

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

#[derive(Clone)]
pub struct CacheMetrics {
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
        let gauge = |name: &str, help: &str| -> prometheus::Result<IntGauge> {
            let metric = IntGauge::new(name, help)?;
            registry.register(Box::new(metric.clone()))?;
            Ok(metric)
        };
        Ok(CacheMetrics {
            redis_up: gauge("fkapi_redis_up", "1 while Redis answers, 0 while requests bypass it")?,
            redis_used_memory: gauge("fkapi_redis_used_memory_bytes", "Redis used_memory (sampled in the background)")?,
            redis_maxmemory: gauge("fkapi_redis_maxmemory_bytes", "Redis maxmemory, 0 when unlimited (sampled)")?,
            hits: counter("fkapi_cache_hits_total", "Requests answered from the cache", "cache_type")?,
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
