//! TTL classes (FKApi's four), each with random jitter so entries filled
//! together do not all expire in the same second.

use rand::Rng;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TtlClass {
    /// 300 s by default: search results.
    Short,
    /// 1800 s: lists.
    Medium,
    /// 3600 s: seasons lists.
    Long,
    /// 86400 s: details and per-user collections.
    VeryLong,
}

#[derive(Clone, Debug)]
pub struct TtlConfig {
    pub short: Duration,
    pub medium: Duration,
    pub long: Duration,
    pub very_long: Duration,
    /// Each TTL is stretched by a random fraction in `[0, jitter)`.
    pub jitter: f64,
}

impl Default for TtlConfig {
    fn default() -> Self {
        TtlConfig {
            short: Duration::from_secs(300),
            medium: Duration::from_secs(1800),
            long: Duration::from_secs(3600),
            very_long: Duration::from_secs(86400),
            jitter: 0.1,
        }
    }
}

impl TtlConfig {
    pub fn base(&self, class: TtlClass) -> Duration {
        match class {
            TtlClass::Short => self.short,
            TtlClass::Medium => self.medium,
            TtlClass::Long => self.long,
            TtlClass::VeryLong => self.very_long,
        }
    }

    /// The base TTL of `class` plus jitter.
    pub fn jittered(&self, class: TtlClass) -> Duration {
        let base = self.base(class);
        if self.jitter <= 0.0 {
            return base;
        }
        let stretch = rand::rng().random_range(0.0..self.jitter);
        base.mul_f64(1.0 + stretch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_bounds_and_varies() {
        let cfg = TtlConfig::default();
        let samples: Vec<Duration> = (0..200).map(|_| cfg.jittered(TtlClass::Medium)).collect();
        assert!(samples.iter().all(|d| *d >= Duration::from_secs(1800) && *d < Duration::from_secs(1980)));
        let distinct: std::collections::HashSet<_> = samples.iter().map(|d| d.as_millis()).collect();
        assert!(distinct.len() > 50, "jitter must spread expiries");
    }
}
