//! The durable change feed of fkapi, with no football in it.
//!
//! Database triggers record every committed change (one row per statement
//! in `fkapi_feed`, written in the changing transaction, tagged with its
//! transaction id). A consumer reads the rows in commit order by
//! transaction visibility, as PgQ does: its position is a PostgreSQL
//! snapshot, and the next batch is every row whose transaction is visible
//! in a snapshot taken now but was not in the saved one. A transaction that
//! took an early id and commits late is therefore read when it commits, not
//! skipped. Delivery is at least once (the position is saved after the
//! batch is applied); applying a change bumps generation counters, which is
//! idempotent.
//!
//! The position lives in Redis next to the cache it describes (a leased
//! record of the namespace), so one instance at a time consumes a namespace
//! and a Redis restored from an older snapshot replays what it missed. A
//! position that can no longer be resumed (its records were pruned, or it
//! is missing or unreadable) costs one epoch bump, logged and counted.
//! What a change makes stale is the caller's knowledge: it passes a
//! [`ScopesOf`] function.

mod consumer;
mod metrics;
mod position;
mod store;

pub use consumer::{spawn, Feed, FeedHandle, ScopesOf};
pub use metrics::FeedMetrics;
pub use position::{Batch, Position};
pub use store::{prune, status, ConsumerRow, FeedStatus, PruneReport};

use std::time::Duration;

/// The channel the triggers NOTIFY at commit: a wake-up only, the records
/// are in the table.
pub const WAKE_CHANNEL: &str = "fkapi_changes";

/// The leased record (in the cache namespace) holding the position.
pub const POSITION_RECORD: &str = "feed";

/// One recorded change: a statement on `table`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub table: String,
    /// The changed rows' ids; `None` means every row (TRUNCATE).
    pub ids: Option<Vec<i32>>,
    /// Ids in another table the change touches; their meaning is the
    /// table's (for kits, the clubs before and after).
    pub related_ids: Vec<i32>,
}

#[derive(Clone, Debug)]
pub struct FeedConfig {
    /// Safety-net poll interval (NOTIFY wakes the consumer sooner).
    pub poll: Duration,
    /// How long a consumer's claim lasts without renewal; a dead consumer
    /// is replaced after at most this long.
    pub lease: Duration,
    /// Records read and applied per step (bounds memory on a backlog).
    pub batch: usize,
    /// Records older than this are pruned even if a consumer still needs
    /// them (that consumer then bumps its epoch).
    pub retention: Duration,
    /// How often a consumer prunes; `None` = never.
    pub prune_every: Option<Duration>,
    /// How long a saved position outlives its last write (set to the
    /// lifetime of the cache's generation counters: an older position
    /// describes a cache that is gone anyway).
    pub keep: Duration,
}

impl Default for FeedConfig {
    fn default() -> Self {
        FeedConfig {
            poll: Duration::from_millis(500),
            lease: Duration::from_millis(2000),
            batch: 1000,
            retention: Duration::from_secs(3 * 86400),
            prune_every: Some(Duration::from_secs(300)),
            keep: Duration::from_secs(3 * 86400),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("database: {0}")]
    Db(#[from] tokio_postgres::Error),
    #[error("redis could not be reached")]
    RedisUnreachable,
}

/// Why a consumer gave up its position and bumped the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LostPosition {
    /// No position saved (first start of a namespace, or Redis lost it).
    Missing,
    /// Records the position still needed were pruned.
    Pruned,
    /// Unreadable, or ahead of this database (another database's).
    Unknown,
}

impl LostPosition {
    pub const ALL: [LostPosition; 3] = [LostPosition::Missing, LostPosition::Pruned, LostPosition::Unknown];

    pub fn as_str(self) -> &'static str {
        match self {
            LostPosition::Missing => "missing",
            LostPosition::Pruned => "pruned",
            LostPosition::Unknown => "unknown",
        }
    }
}
