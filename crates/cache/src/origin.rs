//! Origin accounting: how many origin operations (database statements) a
//! request caused, the loads it led included.
//!
//! The caller wraps a request in [`counted`]; whatever reaches the origin
//! calls [`record`] (fkapi's database instrumentation does, per statement).
//! A load runs in a task of its own (see `flight`), where the request's
//! task-local is not visible, so the flight hands the leader's account to
//! that task with [`carry`]: the load's statements count for the request
//! that started it. A follower that shares a load, a hit and a background
//! refresh count nothing, since they caused no origin work.

use std::cell::{Cell, OnceCell};
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

tokio::task_local! {
    static ACCOUNT: Account;
}

/// A request's tally. Operations in the request's own task are counted in
/// place; the shared counter exists only once a load was handed to another
/// task, so a request that leads no load allocates nothing.
pub(crate) struct Account {
    here: Cell<u32>,
    elsewhere: OnceCell<Arc<AtomicU32>>,
    /// True in a load task: everything counts into `elsewhere`.
    carried: bool,
}

impl Account {
    fn fresh() -> Account {
        Account { here: Cell::new(0), elsewhere: OnceCell::new(), carried: false }
    }

    fn total(&self) -> u32 {
        let elsewhere = self.elsewhere.get().map_or(0, |shared| shared.load(Ordering::Relaxed));
        self.here.get().saturating_add(elsewhere)
    }
}

/// Runs `fut` with a fresh account and returns its output with the number
/// of origin operations recorded for it (in its task and in the loads it
/// led, as far as those had run when `fut` finished).
pub async fn counted<F: Future>(fut: F) -> (F::Output, u32) {
    let mut scoped = std::pin::pin!(ACCOUNT.scope(Account::fresh(), fut));
    let output = scoped.as_mut().await;
    let operations = scoped.take_value().map_or(0, |account| account.total());
    (output, operations)
}

/// Counts one origin operation for the current request, if any.
pub fn record() {
    let _ = ACCOUNT.try_with(|account| {
        if account.carried {
            if let Some(shared) = account.elsewhere.get() {
                shared.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            account.here.set(account.here.get().saturating_add(1));
        }
    });
}

/// Makes `fut` (about to run in another task) count for the current
/// request. Outside a counted request it changes nothing but the type.
pub(crate) fn carry<F: Future>(fut: F) -> tokio::task::futures::TaskLocalFuture<Account, F> {
    let shared = ACCOUNT.try_with(|account| Arc::clone(account.elsewhere.get_or_init(Arc::default))).ok();
    let account = match shared {
        Some(shared) => Account { here: Cell::new(0), elsewhere: OnceCell::from(shared), carried: true },
        None => Account { here: Cell::new(0), elsewhere: OnceCell::new(), carried: true },
    };
    ACCOUNT.scope(account, fut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_load_handed_to_another_task_counts_for_the_request() {
        let ((), n) = counted(async {
            record();
            let load = tokio::spawn(carry(async {
                record();
                record();
            }));
            let _ = load.await;
        })
        .await;
        assert_eq!(n, 3);
    }

    #[tokio::test]
    async fn uncarried_tasks_and_uncounted_code_count_nothing() {
        record();
        let ((), n) = counted(async {
            let _ = tokio::spawn(async { record() }).await;
        })
        .await;
        assert_eq!(n, 0);
        let _ = tokio::spawn(carry(async { record() })).await;
    }
}
