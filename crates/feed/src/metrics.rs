//! Prometheus metrics of the change feed.

use crate::LostPosition;
use prometheus::{Gauge, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// Operations whose failures are counted.
pub(crate) const OPS: [&str; 5] = ["connect", "read", "apply", "save", "prune"];

#[derive(Clone)]
pub struct FeedMetrics {
    /// Age of the oldest committed record not yet applied, at the last look.
    pub lag_seconds: Gauge,
    /// Committed records not yet applied, at the last look.
    pub lag_records: IntGauge,
    pub applied: IntCounter,
    /// Times a consumer took up a saved position (start, takeover, reconnect).
    pub resumes: IntCounter,
    /// Epoch bumps because a position could not be resumed, by reason.
    pub epoch_bumps: IntCounterVec,
    /// 1 while this instance is its namespace's consumer.
    pub consumer: IntGauge,
    pub pruned: IntCounter,
    pub errors: IntCounterVec,
}

impl FeedMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<FeedMetrics> {
        let metrics = FeedMetrics {
            lag_seconds: Gauge::new(
                "fkapi_feed_lag_seconds",
                "Age of the oldest committed change not yet applied to the cache",
            )?,
            lag_records: IntGauge::new("fkapi_feed_lag_records", "Committed changes not yet applied to the cache")?,
            applied: IntCounter::new("fkapi_feed_records_applied_total", "Change records applied to the cache")?,
            resumes: IntCounter::new(
                "fkapi_feed_resumes_total",
                "Times a consumer resumed the change feed from its saved position",
            )?,
            epoch_bumps: IntCounterVec::new(
                Opts::new("fkapi_feed_epoch_bumps_total", "Epoch bumps because the feed position could not be resumed"),
                &["reason"],
            )?,
            consumer: IntGauge::new(
                "fkapi_feed_consumer",
                "1 while this instance consumes its namespace's change feed",
            )?,
            pruned: IntCounter::new("fkapi_feed_pruned_total", "Change records pruned by this instance")?,
            errors: IntCounterVec::new(Opts::new("fkapi_feed_errors_total", "Failed change-feed operations"), &["op"])?,
        };
        registry.register(Box::new(metrics.lag_seconds.clone()))?;
        registry.register(Box::new(metrics.lag_records.clone()))?;
        registry.register(Box::new(metrics.applied.clone()))?;
        registry.register(Box::new(metrics.resumes.clone()))?;
        registry.register(Box::new(metrics.epoch_bumps.clone()))?;
        registry.register(Box::new(metrics.consumer.clone()))?;
        registry.register(Box::new(metrics.pruned.clone()))?;
        registry.register(Box::new(metrics.errors.clone()))?;
        // Every series exists from the start, so alerts and `increase()` see 0.
        for reason in LostPosition::ALL {
            metrics.epoch_bumps.with_label_values(&[reason.as_str()]);
        }
        for op in OPS {
            metrics.errors.with_label_values(&[op]);
        }
        Ok(metrics)
    }
}
