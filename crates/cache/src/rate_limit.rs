//! A shared rate limiter: one GCRA bucket per client key in Redis, the same
//! for every instance on this Redis and namespace.

use crate::client::{millis, Cache};
use std::time::Duration;

/// GCRA (the generic cell rate algorithm) in one script, so concurrent
/// requests on any number of instances see one consistent bucket: the key
/// holds the "theoretical arrival time" (TAT, ms) of the next request. A
/// request is allowed while TAT − now stays within `limit` emission
/// intervals; each allowed request pushes TAT one interval further. Redis'
/// own clock (TIME) is used so instances with skewed clocks still agree.
/// ARGV: emission interval (ms), limit. Returns {allowed, remaining,
/// retry_after_ms, reset_ms}.
const RATE_LIMIT_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local emission = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tat < now then tat = now end
local new_tat = tat + emission
local allow_at = new_tat - emission * limit
if now < allow_at then
  return {0, 0, allow_at - now, tat - now}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', new_tat - now)
return {1, math.floor((now - allow_at) / emission), 0, new_tat - now}
";

/// The answer of [`Cache::rate_limit`] for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    /// Requests the bucket holds when full.
    pub limit: u32,
    /// Requests still allowed right now.
    pub remaining: u32,
    /// When denied: how long until one request is allowed again.
    pub retry_after: Duration,
    /// How long until the bucket is full again.
    pub reset: Duration,
}

impl Cache {
    /// Counts one request against the bucket `key` (e.g. `ip:1.2.3.4`):
    /// at most `limit` requests per `period`, all of them usable at once
    /// (burst = limit), refilling evenly. Shared by every instance on this
    /// Redis and namespace; atomic (one Lua script).
    ///
    /// `None` when Redis is off, down or slow (the same timeout and circuit
    /// breaker as every cache operation): the caller decides whether to fail
    /// open.
    pub async fn rate_limit(&self, key: &str, limit: u32, period: Duration) -> Option<RateDecision> {
        if limit == 0 {
            return None;
        }
        let redis_key = self.namespace().aux_key(&format!("rl:{key}"));
        let emission_ms = (millis(period) / u64::from(limit)).max(1);
        // Hashed once; EVALSHA afterwards (the script is loaded on NOSCRIPT).
        static SCRIPT: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
        let script = SCRIPT.get_or_init(|| redis::Script::new(RATE_LIMIT_SCRIPT));
        let reply = self
            .redis("rate_limit", |mut conn| async move {
                script.key(&redis_key).arg(emission_ms).arg(limit).invoke_async::<Vec<i64>>(&mut conn).await
            })
            .await?;
        let [allowed, remaining, retry_after_ms, reset_ms] = reply.as_slice() else { return None };
        let duration = |ms: i64| Duration::from_millis(u64::try_from(ms).unwrap_or(0));
        Some(RateDecision {
            allowed: *allowed == 1,
            limit,
            remaining: u32::try_from(*remaining).unwrap_or(0).min(limit),
            retry_after: duration(*retry_after_ms),
            reset: duration(*reset_ms),
        })
    }
}
