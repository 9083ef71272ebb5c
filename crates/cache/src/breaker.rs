//! A small circuit breaker for Redis: after a few consecutive failures stop
//! calling it for a cool-down, then let traffic probe it again.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct Breaker {
    started: Instant,
    threshold: u32,
    cooldown: Duration,
    consecutive_failures: AtomicU32,
    open_until_ms: AtomicU64,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Breaker {
            started: Instant::now(),
            threshold: threshold.max(1),
            cooldown,
            consecutive_failures: AtomicU32::new(0),
            open_until_ms: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// False while the breaker is open: callers skip Redis entirely.
    pub fn allows(&self) -> bool {
        self.now_ms() >= self.open_until_ms.load(Ordering::Relaxed)
    }

    pub fn record_success(&self) {
        if self.consecutive_failures.load(Ordering::Relaxed) != 0 {
            self.consecutive_failures.store(0, Ordering::Relaxed);
        }
    }

    /// Returns true when this failure opened the breaker.
    pub fn record_failure(&self) -> bool {
        let failures = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures >= self.threshold {
            let cooldown = u64::try_from(self.cooldown.as_millis()).unwrap_or(u64::MAX);
            self.open_until_ms.store(self.now_ms().saturating_add(cooldown), Ordering::Relaxed);
            return failures == self.threshold;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_closes_after_cooldown() {
        let breaker = Breaker::new(3, Duration::from_millis(50));
        assert!(breaker.allows());
        assert!(!breaker.record_failure());
        assert!(!breaker.record_failure());
        assert!(breaker.allows());
        assert!(breaker.record_failure());
        assert!(!breaker.allows());
        std::thread::sleep(Duration::from_millis(60));
        assert!(breaker.allows(), "half-open after the cool-down");
        breaker.record_success();
        assert!(!breaker.record_failure(), "a success resets the count");
    }
}
