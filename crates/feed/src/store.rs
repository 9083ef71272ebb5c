//! The feed's SQL: reading a batch by transaction visibility, lag,
//! pruning, the consumers table and `fkapi feed status`.

use crate::position::{Batch, Position};
use crate::{Change, FeedError, LostPosition, POSITION_RECORD};
use fkapi_cache::Cache;
use serde::Serialize;
use std::time::Duration;
use tokio_postgres::{Client, IsolationLevel};

/// Records of a batch, in (xid, id) order: visible in the target snapshot
/// ($2), not in the applied one ($1), after the cursor ($3, $4). The
/// `xid < xmax` bound only lets the index narrow the scan.
const CHUNK_SQL: &str = "
SELECT id, xid::text::bigint, table_name, ids, related_ids,
       greatest(extract(epoch FROM clock_timestamp() - recorded_at)::float8, 0)
FROM fkapi_feed
WHERE xid >= pg_snapshot_xmin($1::text::pg_snapshot)
  AND xid < pg_snapshot_xmax($2::text::pg_snapshot)
  AND NOT pg_visible_in_snapshot(xid, $1::text::pg_snapshot)
  AND pg_visible_in_snapshot(xid, $2::text::pg_snapshot)
  AND (xid, id) > ($3::text::xid8, $4::bigint)
ORDER BY xid, id
LIMIT $5";

/// Committed records a position has not applied: count and oldest age (s).
const PENDING_SQL: &str = "
SELECT count(*), coalesce(max(extract(epoch FROM clock_timestamp() - recorded_at))::float8, 0)
FROM fkapi_feed
WHERE xid >= pg_snapshot_xmin($1::text::pg_snapshot)
  AND NOT pg_visible_in_snapshot(xid, $1::text::pg_snapshot)
  AND NOT coalesce($2::text IS NOT NULL AND pg_visible_in_snapshot(xid, $2::text::pg_snapshot)
                   AND (xid, id) <= ($3::text::xid8, $4::bigint), false)";

/// The xid below which records may go: below every active consumer's
/// applied xmin (they have all seen those), or above the newest record
/// older than the retention ($1 seconds), whichever cuts deeper. Never
/// above this transaction's snapshot xmin, so any snapshot taken after the
/// prune has an xmin at or above the new horizon (a consumer that resets is
/// not "pruned" again at once). NULL when there is nothing to prune.
const PRUNE_BOUND_SQL: &str = "
SELECT CASE WHEN bound IS NOT NULL THEN least(bound, pg_snapshot_xmin(pg_current_snapshot()))::text END
FROM (SELECT greatest(
  (SELECT min(applied_xmin) FROM fkapi_feed_consumers),
  (SELECT (max(xid)::text::bigint + 1)::text::xid8 FROM fkapi_feed
   WHERE recorded_at < clock_timestamp() - make_interval(secs => $1))
) AS bound) AS b";

/// Two pruners on one database take turns (any namespace may prune).
const PRUNE_LOCK: i64 = 727_275;

pub(crate) struct Record {
    pub xid: i64,
    pub id: i64,
    pub change: Change,
    pub age_secs: f64,
}

pub(crate) enum Chunk {
    /// The position cannot be resumed.
    Lost(LostPosition),
    /// The next records (at most the limit) and the snapshot they lead to.
    Records { target: String, records: Vec<Record> },
}

/// Connects with `application_name` (so pg_stat_activity tells the feed's
/// connections apart) and drives the connection in a task.
pub(crate) async fn connect(
    database_url: &str,
    application_name: &str,
) -> Result<(Client, tokio::task::JoinHandle<()>), FeedError> {
    let mut config: tokio_postgres::Config = database_url.parse()?;
    config.application_name(application_name).connect_timeout(Duration::from_secs(5));
    let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "feed database connection ended");
        }
    });
    Ok((client, driver))
}

pub(crate) async fn current_snapshot(client: &Client) -> Result<String, FeedError> {
    Ok(client.query_one("SELECT pg_current_snapshot()::text", &[]).await?.get(0))
}

/// Reads the next records after `position`, in one repeatable-read
/// transaction so the pruning check and the rows agree.
pub(crate) async fn read_chunk(client: &mut Client, position: &Position, limit: usize) -> Result<Chunk, FeedError> {
    let tx = client.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start().await?;
    let check = "SELECT pg_current_snapshot()::text,
        pg_snapshot_xmin($1::text::pg_snapshot) >= (SELECT below FROM fkapi_feed_pruned),
        pg_snapshot_xmax($1::text::pg_snapshot) <= pg_snapshot_xmax(pg_current_snapshot())
          AND pg_snapshot_xmax($2::text::pg_snapshot) <= pg_snapshot_xmax(pg_current_snapshot())";
    let target = position.batch.as_ref().map_or(position.applied.as_str(), |b| b.target.as_str());
    let row = tx.query_one(check, &[&position.applied, &target]).await?;
    let now: String = row.get(0);
    let (intact, known): (bool, bool) = (row.get(1), row.get(2));
    if !known {
        return Ok(Chunk::Lost(LostPosition::Unknown));
    }
    if !intact {
        return Ok(Chunk::Lost(LostPosition::Pruned));
    }
    let (target, after_xid, after_id) = match &position.batch {
        Some(batch) => (batch.target.clone(), batch.after_xid, batch.after_id),
        None => (now, 0, 0),
    };
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = tx.query(CHUNK_SQL, &[&position.applied, &target, &after_xid.to_string(), &after_id, &limit]).await?;
    tx.commit().await?;
    let records = rows
        .iter()
        .map(|row| Record {
            id: row.get(0),
            xid: row.get(1),
            change: Change { table: row.get(2), ids: row.get(3), related_ids: row.get(4) },
            age_secs: row.get(5),
        })
        .collect();
    Ok(Chunk::Records { target, records })
}

/// How far `position` is behind: committed records it has not applied,
/// and the age in seconds of the oldest.
pub(crate) async fn pending(client: &Client, position: &Position) -> Result<(i64, f64), FeedError> {
    let (target, after_xid, after_id) = match &position.batch {
        Some(Batch { target, after_xid, after_id }) => (Some(target.as_str()), *after_xid, *after_id),
        None => (None, 0, 0),
    };
    let row = client.query_one(PENDING_SQL, &[&position.applied, &target, &after_xid.to_string(), &after_id]).await?;
    Ok((row.get(0), row.get(1)))
}

/// Tells pruning what `namespace` has applied.
pub(crate) async fn record_consumer(
    client: &Client,
    namespace: &str,
    position: &Position,
    owner: &str,
) -> Result<(), FeedError> {
    client
        .execute(
            "INSERT INTO fkapi_feed_consumers (namespace, applied_xmin, owner, updated_at)
             VALUES ($1, $2::text::xid8, $3, clock_timestamp())
             ON CONFLICT (namespace) DO UPDATE
             SET applied_xmin = EXCLUDED.applied_xmin, owner = EXCLUDED.owner, updated_at = EXCLUDED.updated_at",
            &[&namespace, &position.applied_xmin().to_string(), &owner],
        )
        .await?;
    Ok(())
}

/// What one pruning pass did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PruneReport {
    /// False when another pruner held the lock (nothing done).
    pub ran: bool,
    pub deleted: u64,
    /// Records of transactions below this xid may be gone.
    pub pruned_below: String,
    /// Consumers forgotten because they were idle longer than the retention.
    pub forgotten_consumers: u64,
}

pub(crate) async fn prune_with(client: &mut Client, retention: Duration) -> Result<PruneReport, FeedError> {
    let retention_secs = retention.as_secs_f64();
    let tx = client.transaction().await?;
    let locked: bool = tx.query_one("SELECT pg_try_advisory_xact_lock($1)", &[&PRUNE_LOCK]).await?.get(0);
    if !locked {
        return Ok(PruneReport::default());
    }
    let forgotten = tx
        .execute(
            "DELETE FROM fkapi_feed_consumers WHERE updated_at < clock_timestamp() - make_interval(secs => $1)",
            &[&retention_secs],
        )
        .await?;
    let bound: Option<String> = tx.query_one(PRUNE_BOUND_SQL, &[&retention_secs]).await?.get(0);
    let mut deleted = 0;
    if let Some(bound) = &bound {
        deleted = tx.execute("DELETE FROM fkapi_feed WHERE xid < $1::text::xid8", &[bound]).await?;
        tx.execute("UPDATE fkapi_feed_pruned SET below = greatest(below, $1::text::xid8)", &[bound]).await?;
    }
    let pruned_below: String = tx.query_one("SELECT below::text FROM fkapi_feed_pruned", &[]).await?.get(0);
    tx.commit().await?;
    Ok(PruneReport { ran: true, deleted, pruned_below, forgotten_consumers: forgotten })
}

/// Prunes once (`fkapi feed prune`, for a cron job when no instance runs).
pub async fn prune(database_url: &str, retention: Duration) -> Result<PruneReport, FeedError> {
    let (mut client, driver) = connect(database_url, "fkapi-feed-prune").await?;
    let report = prune_with(&mut client, retention).await;
    driver.abort();
    report
}

/// A namespace's consumer as pruning knows it.
#[derive(Clone, Debug, Serialize)]
pub struct ConsumerRow {
    pub namespace: String,
    pub applied_xmin: String,
    pub owner: String,
    pub updated_secs_ago: f64,
}

/// What `fkapi feed status` shows.
#[derive(Clone, Debug, Serialize)]
pub struct FeedStatus {
    pub namespace: String,
    /// The saved position; `None` when none is saved.
    pub position: Option<Position>,
    /// Why the saved position is unusable, when it is.
    pub position_error: Option<String>,
    /// The instance holding (or last holding) the consumer lease.
    pub consumer: Option<String>,
    pub lease_left_ms: u64,
    /// Committed records the position has not applied, and the oldest's age.
    pub lag_records: i64,
    pub lag_seconds: f64,
    /// Records in the table, and the pruning horizon.
    pub records: i64,
    pub pruned_below: String,
    /// Every namespace consuming this database.
    pub consumers: Vec<ConsumerRow>,
}

/// The feed as the database and the namespace's position record see it.
pub async fn status(database_url: &str, cache: &Cache) -> Result<FeedStatus, FeedError> {
    let record = cache.read_record(POSITION_RECORD).await.ok_or(FeedError::RedisUnreachable)?;
    let (client, driver) = connect(database_url, "fkapi-feed-status").await?;
    let parsed = record.value.as_deref().map(Position::parse);
    let (position, position_error) = match parsed {
        None => (None, None),
        Some(Ok(position)) => (Some(position), None),
        Some(Err(e)) => (None, Some(e)),
    };
    let (lag_records, lag_seconds) = match &position {
        Some(position) => pending(&client, position).await?,
        None => (0, 0.0),
    };
    let totals = client
        .query_one("SELECT (SELECT count(*) FROM fkapi_feed), (SELECT below::text FROM fkapi_feed_pruned)", &[])
        .await?;
    let consumers = client
        .query(
            "SELECT namespace, applied_xmin::text, owner,
                    extract(epoch FROM clock_timestamp() - updated_at)::float8
             FROM fkapi_feed_consumers ORDER BY namespace",
            &[],
        )
        .await?
        .iter()
        .map(|row| ConsumerRow {
            namespace: row.get(0),
            applied_xmin: row.get(1),
            owner: row.get(2),
            updated_secs_ago: row.get(3),
        })
        .collect();
    driver.abort();
    Ok(FeedStatus {
        namespace: cache.config().namespace.clone(),
        position,
        position_error,
        consumer: record.owner,
        lease_left_ms: u64::try_from(record.lease_left.as_millis()).unwrap_or(u64::MAX),
        lag_records,
        lag_seconds,
        records: totals.get(0),
        pruned_below: totals.get(1),
        consumers,
    })
}
