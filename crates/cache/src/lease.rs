//! Leased records: a small value in Redis that one instance at a time owns
//! and may write (a lease with fencing). The change feed keeps its position
//! in one, so several instances sharing a namespace have one consumer, and
//! one that was frozen past its lease cannot overwrite its successor's
//! position. The lease, its owner and the value live in one hash, so the
//! scripts touch one key (one slot on a cluster); the lease clock is Redis'
//! own (`TIME`), so instances' clocks do not matter.

use crate::client::Cache;
use std::sync::LazyLock;
use std::time::Duration;

/// Takes the lease when it is free or already ours, renewing it; returns
/// {held (0/1), owner, ms of lease left, value}.
static CLAIM: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local owner = redis.call('HGET', KEYS[1], 'owner')
local lease_end = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
local held = 0
if owner == ARGV[1] or lease_end <= now then
  lease_end = now + tonumber(ARGV[2])
  owner = ARGV[1]
  redis.call('HSET', KEYS[1], 'owner', owner, 'until', lease_end)
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  held = 1
end
return {held, owner or '', math.max(lease_end - now, 0), redis.call('HGET', KEYS[1], 'value') or ''}
",
    )
});

/// Writes the value only for the lease's owner (renewing the lease);
/// returns 1 when written, 0 when the lease belongs to someone else.
static WRITE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'value', ARGV[2], 'until', now + tonumber(ARGV[3]))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
",
    )
});

/// Ends the lease at once when `owner` holds it (a clean shutdown), so
/// another instance takes over without waiting for it to lapse.
static RELEASE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'until', 0)
  return 1
end
return 0
",
    )
});

/// Reads the record without touching the lease.
static READ: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease_end = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
return {redis.call('HGET', KEYS[1], 'owner') or '', math.max(lease_end - now, 0), redis.call('HGET', KEYS[1], 'value') or ''}
",
    )
});

/// What a leased record holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeasedRecord {
    /// Who holds (or last held) the lease; `None` when nobody ever did.
    pub owner: Option<String>,
    /// Time left on the lease; zero when it has lapsed.
    pub lease_left: Duration,
    /// The stored value; `None` when none was written (or it expired).
    pub value: Option<String>,
}

impl LeasedRecord {
    fn from_parts(owner: String, left_ms: u64, value: String) -> LeasedRecord {
        LeasedRecord {
            owner: Some(owner).filter(|o| !o.is_empty()),
            lease_left: Duration::from_millis(left_ms),
            value: Some(value).filter(|v| !v.is_empty()),
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl Cache {
    /// Takes or renews the lease on record `name` for `owner`. Returns
    /// whether `owner` holds it now, and the record; `None` when Redis
    /// could not be reached. The record lives `keep` past its last write or
    /// claim.
    pub async fn claim_record(
        &self,
        name: &str,
        owner: &str,
        lease: Duration,
        keep: Duration,
    ) -> Option<(bool, LeasedRecord)> {
        let key = self.namespace().aux_key(name);
        let (held, holder, left, value): (i64, String, u64, String) = self
            .background_redis("lease", |mut conn| async move {
                CLAIM.key(&key).arg(owner).arg(millis(lease)).arg(millis(keep)).invoke_async(&mut conn).await
            })
            .await?;
        Some((held == 1, LeasedRecord::from_parts(holder, left, value)))
    }

    /// Stores `value` in record `name` if `owner` holds its lease, renewing
    /// the lease. `Some(false)`: the lease is someone else's (nothing was
    /// written); `None`: Redis could not be reached.
    pub async fn write_record(
        &self,
        name: &str,
        owner: &str,
        lease: Duration,
        keep: Duration,
        value: &str,
    ) -> Option<bool> {
        let key = self.namespace().aux_key(name);
        let written: i64 = self
            .background_redis("lease", |mut conn| async move {
                WRITE.key(&key).arg(owner).arg(value).arg(millis(lease)).arg(millis(keep)).invoke_async(&mut conn).await
            })
            .await?;
        Some(written == 1)
    }

    /// Gives up `owner`'s lease on record `name` (no-op when not held).
    pub async fn release_record(&self, name: &str, owner: &str) -> bool {
        let key = self.namespace().aux_key(name);
        self.background_redis("lease", |mut conn| async move {
            RELEASE.key(&key).arg(owner).invoke_async::<i64>(&mut conn).await
        })
        .await
        .is_some_and(|released| released == 1)
    }

    /// The record as stored, lease untouched; `None` when Redis could not
    /// be reached.
    pub async fn read_record(&self, name: &str) -> Option<LeasedRecord> {
        let key = self.namespace().aux_key(name);
        let (owner, left, value): (String, u64, String) = self
            .background_redis("lease", |mut conn| async move { READ.key(&key).invoke_async(&mut conn).await })
            .await?;
        Some(LeasedRecord::from_parts(owner, left, value))
    }
}
