//! The consumer loop of one instance: claim the namespace's position
//! record; as its holder, read and apply batches and save the position
//! after each; otherwise watch the lag. NOTIFY wakes it, polling is the
//! safety net.

use crate::metrics::FeedMetrics;
use crate::position::{Batch, Position};
use crate::store::{self, Chunk};
use crate::{Change, FeedConfig, FeedError, LostPosition, POSITION_RECORD, WAKE_CHANNEL};
use fkapi_cache::{Cache, Scope};
use futures::StreamExt;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};
use tokio_postgres::{AsyncMessage, Client};

/// Scopes bumped and announced per invalidation when a step is applied:
/// bounds the size of one invalidation message (and its script).
const SCOPES_PER_INVALIDATION: usize = 256;

/// The scopes a change makes stale: `Ok(None)` for everything (the epoch),
/// `Err` for a record the caller cannot read (everything is invalidated).
pub type ScopesOf = Arc<dyn Fn(&Change) -> Result<Option<Vec<Scope>>, String> + Send + Sync>;

/// How often a consumer tells pruning what it has applied.
const CONSUMER_ROW_EVERY: Duration = Duration::from_secs(1);

/// Everything one instance's consumer needs.
pub struct Feed {
    pub database_url: String,
    pub cache: Cache,
    pub config: FeedConfig,
    pub scopes_of: ScopesOf,
    pub metrics: FeedMetrics,
    /// Names this instance in the lease and in `fkapi feed status`.
    pub owner: String,
}

/// A running consumer loop.
pub struct FeedHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    /// Turns true after the first step (caught up, or another instance
    /// consumes, or a dependency is down and waiting is pointless).
    pub ready: watch::Receiver<bool>,
}

impl FeedHandle {
    /// Stops the loop and gives up the lease, so another instance takes
    /// over at once instead of after the lease lapses.
    pub async fn shutdown(self) {
        self.stop.send_replace(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

/// Starts the consumer loop of `feed`.
pub fn spawn(feed: Feed) -> FeedHandle {
    let (ready_sender, ready) = watch::channel(false);
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(feed.run(ready_sender, stopped));
    FeedHandle { stop, task, ready }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Consumer,
    Follower,
    /// Redis or PostgreSQL could not be reached; try again after a poll.
    Waiting,
}

/// A database connection of the loop, and whether this connection has
/// taken up the saved position yet.
struct Session {
    client: Client,
    driver: tokio::task::JoinHandle<()>,
    resumed: bool,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

#[derive(Default)]
struct LoopState {
    session: Option<Session>,
    is_consumer: bool,
    consumer_row_at: Option<Instant>,
    pruned_at: Option<Instant>,
    warned_down: bool,
}

impl Feed {
    async fn run(self, ready: watch::Sender<bool>, mut stop: watch::Receiver<bool>) {
        let wake = Arc::new(Notify::new());
        let listener = tokio::spawn(listen(self.database_url.clone(), wake.clone()));
        let mut state = LoopState::default();
        loop {
            if *stop.borrow() {
                break;
            }
            let role = match self.step(&mut state).await {
                Ok(role) => {
                    if state.warned_down && role != Role::Waiting {
                        state.warned_down = false;
                        tracing::info!("change feed reachable again");
                    }
                    role
                }
                Err(e) => {
                    if !std::mem::replace(&mut state.warned_down, true) {
                        tracing::warn!(error = %e, "change feed step failed; retrying");
                    }
                    state.session = None;
                    Role::Waiting
                }
            };
            ready.send_replace(true);
            tokio::select! {
                () = wake.notified(), if role == Role::Consumer => {}
                () = tokio::time::sleep(self.config.poll) => {}
                changed = stop.changed() => if changed.is_err() { break },
            }
        }
        listener.abort();
        if state.is_consumer {
            self.cache.release_record(POSITION_RECORD, &self.owner).await;
            self.metrics.consumer.set(0);
            tracing::info!("released the change feed");
        }
    }

    fn set_consumer(&self, state: &mut LoopState, consumer: bool) {
        if state.is_consumer != consumer {
            state.is_consumer = consumer;
            if consumer {
                tracing::info!(namespace = %self.cache.config().namespace, "this instance now consumes the change feed");
            } else {
                tracing::info!("another instance consumes the change feed now");
            }
        }
        self.metrics.consumer.set(i64::from(consumer));
    }

    /// One poll: claim, then consume or watch.
    async fn step(&self, state: &mut LoopState) -> Result<Role, FeedError> {
        let cfg = &self.config;
        let Some((held, record)) = self.cache.claim_record(POSITION_RECORD, &self.owner, cfg.lease, cfg.keep).await
        else {
            self.set_consumer(state, false);
            return Ok(Role::Waiting);
        };
        if state.session.is_none() {
            let (client, driver) = store::connect(&self.database_url, "fkapi-feed").await.inspect_err(|_| {
                self.metrics.errors.with_label_values(&["connect"]).inc();
            })?;
            state.session = Some(Session { client, driver, resumed: false });
        }
        let parsed = record.value.as_deref().map(Position::parse);
        if !held {
            self.set_consumer(state, false);
            if let Some(session) = state.session.as_mut() {
                session.resumed = false;
                if let Some(Ok(position)) = &parsed {
                    let (records, seconds) = store::pending(&session.client, position).await?;
                    self.set_lag(records, seconds);
                }
            }
            return Ok(Role::Follower);
        }
        self.set_consumer(state, true);
        let role = self.consume(state, parsed).await?;
        if role == Role::Consumer {
            self.upkeep(state).await;
        }
        Ok(role)
    }

    /// Applies everything committed since the saved position.
    async fn consume(
        &self,
        state: &mut LoopState,
        parsed: Option<Result<Position, String>>,
    ) -> Result<Role, FeedError> {
        let Some(session) = state.session.as_mut() else { return Ok(Role::Waiting) };
        let mut position = match parsed {
            Some(Ok(position)) => {
                if !session.resumed {
                    self.metrics.resumes.inc();
                    tracing::info!(applied = %position.applied, "resuming the change feed from the saved position");
                }
                position
            }
            None => match self.reset(session, LostPosition::Missing).await? {
                Some(position) => position,
                None => return Ok(Role::Waiting),
            },
            Some(Err(e)) => {
                tracing::warn!(error = %e, "the saved change-feed position is unreadable");
                match self.reset(session, LostPosition::Unknown).await? {
                    Some(position) => position,
                    None => return Ok(Role::Waiting),
                }
            }
        };
        session.resumed = true;
        loop {
            let chunk =
                store::read_chunk(&mut session.client, &position, self.config.batch).await.inspect_err(|_| {
                    self.metrics.errors.with_label_values(&["read"]).inc();
                })?;
            let (target, records) = match chunk {
                Chunk::Lost(reason) => {
                    position = match self.reset(session, reason).await? {
                        Some(position) => position,
                        None => return Ok(Role::Waiting),
                    };
                    continue;
                }
                Chunk::Records { target, records } => (target, records),
            };
            let full = records.len() >= self.config.batch;
            if full {
                let (pending, seconds) = store::pending(&session.client, &position).await?;
                self.set_lag(pending, seconds);
            } else {
                let oldest = records.iter().map(|r| r.age_secs).fold(0.0, f64::max);
                self.set_lag(i64::try_from(records.len()).unwrap_or(i64::MAX), oldest);
            }
            if !self.apply(&records).await {
                // Not saved: the whole step is read and applied again.
                self.metrics.errors.with_label_values(&["apply"]).inc();
                return Ok(Role::Waiting);
            }
            self.metrics.applied.inc_by(u64::try_from(records.len()).unwrap_or(u64::MAX));
            let next = match (full, records.last()) {
                (true, Some(last)) => Position {
                    applied: position.applied.clone(),
                    batch: Some(Batch { target, after_xid: last.xid, after_id: last.id }),
                },
                _ => Position::at(target),
            };
            if next != position {
                match self.save(&next).await {
                    Some(true) => position = next,
                    Some(false) => return Ok(Role::Follower),
                    None => return Ok(Role::Waiting),
                }
            }
            if !full {
                return Ok(Role::Consumer);
            }
        }
    }

    /// The position cannot be resumed: start from now, invalidating every
    /// entry once. The snapshot is taken *before* the epoch bump: a change
    /// it shows committed before the bump, so no entry built before the
    /// bump survives it and every entry built after it read the change;
    /// changes it does not show are read later from the new position.
    async fn reset(&self, session: &Session, reason: LostPosition) -> Result<Option<Position>, FeedError> {
        let snapshot = store::current_snapshot(&session.client).await?;
        if !self.cache.invalidate_all().await {
            return Ok(None);
        }
        self.metrics.epoch_bumps.with_label_values(&[reason.as_str()]).inc();
        tracing::warn!(
            reason = reason.as_str(),
            "the change-feed position cannot be resumed (missing on the first start of a cache namespace, or \
             pruned, unreadable, or from another database): invalidated every cache entry once"
        );
        let position = Position::at(snapshot);
        Ok(match self.save(&position).await {
            Some(true) => Some(position),
            _ => None,
        })
    }

    async fn save(&self, position: &Position) -> Option<bool> {
        let cfg = &self.config;
        let saved =
            self.cache.write_record(POSITION_RECORD, &self.owner, cfg.lease, cfg.keep, &position.to_json()).await;
        match saved {
            None => self.metrics.errors.with_label_values(&["save"]).inc(),
            Some(false) => tracing::info!("lost the change-feed lease while applying; another instance took over"),
            Some(true) => {}
        }
        saved
    }

    /// Bumps what a step's changes made stale, once: the union of their
    /// scopes (at most [`SCOPES_PER_INVALIDATION`] per invalidation), or
    /// everything when one of them asks for it. Not one invalidation per
    /// record: each waits until every L1 has acknowledged it, which capped
    /// the feed below a thousand records a second. False when Redis was not
    /// reached.
    async fn apply(&self, records: &[store::Record]) -> bool {
        let mut scopes: Vec<Scope> = Vec::new();
        let mut seen = HashSet::new();
        for record in records {
            match (self.scopes_of)(&record.change) {
                Ok(None) => return self.cache.invalidate_all().await,
                Ok(Some(stale)) => scopes.extend(stale.into_iter().filter(|scope| seen.insert(scope.clone()))),
                Err(e) => {
                    let table = &record.change.table;
                    tracing::warn!(%table, error = %e, "unreadable change record; invalidating everything");
                    return self.cache.invalidate_all().await;
                }
            }
        }
        for slice in scopes.chunks(SCOPES_PER_INVALIDATION) {
            if !self.cache.invalidate(slice).await {
                return false;
            }
        }
        true
    }

    fn set_lag(&self, records: i64, seconds: f64) {
        self.metrics.lag_records.set(records);
        self.metrics.lag_seconds.set(if records == 0 { 0.0 } else { seconds });
    }

    /// The consumer's periodic chores: tell pruning what it applied, prune.
    async fn upkeep(&self, state: &mut LoopState) {
        let Some(session) = state.session.as_mut() else { return };
        let due = |at: Option<Instant>, every: Duration| at.is_none_or(|t| t.elapsed() >= every);
        if due(state.consumer_row_at, CONSUMER_ROW_EVERY) {
            if let Some(Ok(position)) =
                self.cache.read_record(POSITION_RECORD).await.and_then(|r| r.value).as_deref().map(Position::parse)
            {
                let namespace = &self.cache.config().namespace;
                match store::record_consumer(&session.client, namespace, &position, &self.owner).await {
                    Ok(()) => state.consumer_row_at = Some(Instant::now()),
                    Err(e) => tracing::debug!(error = %e, "could not record the consumer's position"),
                }
            }
        }
        let Some(every) = self.config.prune_every else { return };
        if due(state.pruned_at, every) {
            state.pruned_at = Some(Instant::now());
            match store::prune_with(&mut session.client, self.config.retention).await {
                Ok(report) => {
                    self.metrics.pruned.inc_by(report.deleted);
                    if report.deleted > 0 {
                        tracing::info!(
                            deleted = report.deleted,
                            pruned_below = %report.pruned_below,
                            "pruned applied change records"
                        );
                    }
                }
                Err(e) => {
                    self.metrics.errors.with_label_values(&["prune"]).inc();
                    tracing::warn!(error = %e, "pruning the change feed failed");
                }
            }
        }
    }
}

/// Keeps a LISTEN connection up and turns each notification into a
/// wake-up. Losing it loses nothing: the records are in the table, and the
/// poll reads them.
async fn listen(database_url: String, wake: Arc<Notify>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match listen_once(&database_url, &wake).await {
            Ok(()) => {
                tracing::debug!("change-feed LISTEN connection closed; reconnecting");
                backoff = Duration::from_millis(200);
            }
            Err(e) => tracing::debug!(error = %e, "change-feed LISTEN connection failed; reconnecting"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn listen_once(database_url: &str, wake: &Arc<Notify>) -> Result<(), FeedError> {
    let mut config: tokio_postgres::Config = database_url.parse()?;
    config.application_name("fkapi-feed-listen").connect_timeout(Duration::from_secs(5));
    let (client, mut connection) = config.connect(tokio_postgres::NoTls).await?;
    let woken = wake.clone();
    let driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(_)) => woken.notify_one(),
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    let listening = client.batch_execute(&format!("LISTEN {WAKE_CHANNEL}")).await;
    if listening.is_ok() {
        // Whatever committed while not listening is read now, not at the next poll.
        wake.notify_one();
    }
    let outcome = match listening {
        Ok(()) => driver.await.map_err(|_| ()),
        Err(e) => {
            driver.abort();
            return Err(e.into());
        }
    };
    drop(client);
    let _ = outcome;
    Ok(())
}
