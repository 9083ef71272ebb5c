//! Single-flight: concurrent misses on one key share one origin load.
//!
//! A flight remembers the instance's invalidation sequence number at its
//! start. A request only joins a flight started at the current number, so a
//! load that began before a write this instance acknowledged is never shared
//! with a request that arrived after it.

use futures::future::{BoxFuture, FutureExt, Shared};
use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

type Erased = Arc<dyn Any + Send + Sync>;

struct Flight {
    id: u64,
    seq: u64,
    result: Shared<BoxFuture<'static, Option<Erased>>>,
}

#[derive(Default)]
pub struct Flights {
    map: Mutex<HashMap<String, Flight>>,
    next_id: std::sync::atomic::AtomicU64,
}

/// What [`Flights::run`] did: led the load, or waited for another one (and
/// hands the unused load back, so the caller can still run it itself).
pub enum Outcome<T, L> {
    Led(Option<T>),
    Followed(Option<T>, Option<L>),
}

impl Flights {
    /// Runs `load` unless a flight for `key` started at `seq` is already in
    /// the air, in which case it waits for that one. The load runs as its own
    /// task, so a client that disconnects does not cancel it for the others.
    /// The value is `None` when the load task panicked.
    pub async fn run<T, Fut, L>(self: &Arc<Self>, key: &str, seq: u64, load: L) -> Outcome<T, L>
    where
        T: Clone + Send + Sync + 'static,
        Fut: Future<Output = T> + Send + 'static,
        L: FnOnce() -> Fut,
    {
        let (shared, unused) = {
            let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
            match map.get(key) {
                Some(flight) if flight.seq == seq => (flight.result.clone(), Some(load)),
                _ => {
                    let id = self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let flights = Arc::clone(self);
                    let owned_key = key.to_string();
                    // The leader's request keeps the account of what its load costs.
                    let task = tokio::spawn(crate::origin::carry(load()));
                    let result = async move {
                        let out = task.await.ok().map(|value| Arc::new(value) as Erased);
                        flights.finish(&owned_key, id);
                        out
                    }
                    .boxed()
                    .shared();
                    map.insert(key.to_string(), Flight { id, seq, result: result.clone() });
                    (result, None)
                }
            }
        };
        let value = shared.await.and_then(|erased| erased.downcast_ref::<T>().cloned());
        match unused {
            None => Outcome::Led(value),
            some => Outcome::Followed(value, some),
        }
    }

    fn finish(&self, key: &str, id: u64) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if map.get(key).is_some_and(|flight| flight.id == id) {
            map.remove(key);
        }
    }

    pub fn in_flight(&self, key: &str) -> bool {
        self.map.lock().unwrap_or_else(PoisonError::into_inner).contains_key(key)
    }
}

#[cfg(test)]
impl<T, L> Outcome<T, L> {
    fn value(self) -> Option<T> {
        match self {
            Outcome::Led(value) | Outcome::Followed(value, _) => value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn concurrent_callers_share_one_load() {
        let flights = Arc::new(Flights::default());
        let loads = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for _ in 0..50 {
            let flights = Arc::clone(&flights);
            let loads = Arc::clone(&loads);
            handles.push(tokio::spawn(async move {
                flights
                    .run("k", 0, move || async move {
                        loads.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        42u32
                    })
                    .await
                    .value()
            }));
        }
        for handle in handles {
            assert_eq!(handle.await.ok().flatten(), Some(42));
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert!(!flights.in_flight("k"), "finished flights are removed");
    }

    #[tokio::test]
    async fn a_newer_sequence_starts_its_own_flight() {
        let flights = Arc::new(Flights::default());
        let slow = {
            let flights = Arc::clone(&flights);
            tokio::spawn(async move {
                flights
                    .run("k", 1, || async {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        "old"
                    })
                    .await
                    .value()
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let fresh = flights.run("k", 2, || async { "new" }).await.value();
        assert_eq!(fresh, Some("new"));
        assert_eq!(slow.await.ok().flatten(), Some("old"));
    }
}
