//! Keeping every instance's L1 coherent: an invalidation stream, leases,
//! and the write-side wait for acknowledgements.
//!
//! * A write announces its scopes on a Redis Stream (XADD, capped with
//!   `MAXLEN ~`), each message numbered densely (`n`) in the same script,
//!   so a reader sees a lost or trimmed message as a jump in `n`.
//! * Each instance reads the stream in order on a connection of its own
//!   (XREAD BLOCK from its last id), applies each message to its
//!   [`LocalTier`](crate::local::LocalTier), then renews its lease: one
//!   script that records the `n` it has applied (the acknowledgement) and
//!   extends its expiry by the lease term. L1 serves only until the time
//!   taken *before* that renewal was sent, plus the term, minus a margin.
//! * The write then waits until every lease shows `n` applied or has
//!   expired; if Redis cannot be reached it waits the whole term plus the
//!   margin, after which no lease can still be valid.
//!
//! All keys of this protocol share one hash tag (one slot on a cluster):
//! they are not on the hit path, and the scripts need them together.
//! The argument is in docs/ARCHITECTURE.md, "In-process tier (L1)".

use crate::client::Cache;
use crate::connection::Guard;
use crate::scope::Scope;
use redis::Value;
use std::time::{Duration, Instant};

/// Messages kept in the stream (approximately): a reader further behind
/// than this sees a gap and flushes its L1.
const STREAM_MAXLEN: u64 = 10_000;
/// Messages read per XREAD.
const READ_BATCH: usize = 1000;
/// Field of the leases hash that records when the hash was (re)created
/// (the scripts spell it too).
pub const SINCE_FIELD: &str = "~since";

/// Appends a numbered message. Whenever the counter is missing (first use,
/// evicted, flushed) it restarts from Redis' clock in microseconds, so it
/// never goes back (fewer than one message per microsecond) and a reader
/// sees the restart as a jump, i.e. a gap. `%d` keeps Lua from printing
/// large numbers in exponent form.
const ANNOUNCE_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  local t = redis.call('TIME')
  redis.call('SET', KEYS[1], string.format('%d', tonumber(t[1]) * 1000000 + math.floor(tonumber(t[2]) / 1000) * 1000))
end
local n = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', 'n', string.format('%d', n), 's', ARGV[2])
return n
";

/// The stream's head: {last n, id of the last message or 0-0}.
const HEAD_SCRIPT: &str = r"
local n = redis.call('GET', KEYS[1]) or '0'
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
if #last > 0 then return {n, last[1][1]} end
return {n, '0-0'}
";

/// Renews one instance's lease. KEYS: counter, leases. ARGV: instance,
/// applied n, term ms. The applied n is always recorded (it acknowledges the
/// messages up to it). The expiry is extended only when the instance has
/// applied everything, or when its lease has not lapsed (every writer of a
/// message it has not applied is then still waiting for it). Returns
/// {1 extended | 0 refused, head n}.
const RENEW_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('HSET', KEYS[2], '~since', string.format('%d', now))
end
local head = redis.call('GET', KEYS[1]) or '0'
local applied = tonumber(ARGV[2])
local expiry = nil
local current = redis.call('HGET', KEYS[2], ARGV[1])
if current then
  expiry = tonumber(string.match(current, ' (%d+)$'))
end
local live = expiry and expiry >= now
if tonumber(head) == applied or (live and applied < tonumber(head)) then
  redis.call('HSET', KEYS[2], ARGV[1], string.format('%d %d', applied, now + tonumber(ARGV[3])))
  return {1, head}
end
if live then
  redis.call('HSET', KEYS[2], ARGV[1], string.format('%d %d', applied, expiry))
end
return {0, head}
";

/// How far the leases are from acknowledging message n. KEYS: leases.
/// ARGV: n, term ms. Expired leases are removed. Returns {pending, wait ms}:
/// pending = -1 while the hash is younger than a term (it was just created,
/// perhaps after an eviction, so leases it lost may still be valid): wait ms
/// says how long that lasts.
const ACK_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local term = tonumber(ARGV[2])
local since = tonumber(redis.call('HGET', KEYS[1], '~since') or '')
if not since then
  redis.call('HSET', KEYS[1], '~since', string.format('%d', now))
  return {-1, term}
end
local n = tonumber(ARGV[1])
local all = redis.call('HGETALL', KEYS[1])
local pending = 0
for i = 1, #all, 2 do
  if all[i] ~= '~since' then
    local applied, expiry = string.match(all[i + 1], '^(%d+) (%d+)$')
    if (not expiry) or tonumber(expiry) < now then
      redis.call('HDEL', KEYS[1], all[i])
    elseif tonumber(applied) < n then
      pending = pending + 1
    end
  end
end
if now < since + term then return {-1, since + term - now} end
return {pending, 0}
";

/// Lease settings and the protocol's keys and scripts; one per [`Cache`].
pub(crate) struct Coherence {
    /// Random per process: a restarted instance is a new holder.
    pub instance: String,
    pub term: Duration,
    /// The local lease ends this long before Redis' record of it.
    pub margin: Duration,
    counter_key: String,
    stream_key: String,
    leases_key: String,
    announce: redis::Script,
    head: redis::Script,
    renew: redis::Script,
    ack: redis::Script,
}

/// How a write's wait for acknowledgements ended (a metrics label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AckOutcome {
    /// Every live lease acknowledged the message.
    Acked,
    /// Redis could not be reached: the whole term plus margin was waited.
    Unreachable,
}

impl AckOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AckOutcome::Acked => "acked",
            AckOutcome::Unreachable => "redis_unreachable",
        }
    }
}

impl Coherence {
    pub fn new(namespace: &crate::key::Namespace, term: Duration) -> Coherence {
        let key = |name: &str| namespace.coherence_key(name);
        Coherence {
            instance: format!("{:016x}", rand::random::<u64>()),
            term,
            margin: lease_margin(term),
            counter_key: key("n"),
            stream_key: key("stream"),
            leases_key: namespace.leases_key(),
            announce: redis::Script::new(ANNOUNCE_SCRIPT),
            head: redis::Script::new(HEAD_SCRIPT),
            renew: redis::Script::new(RENEW_SCRIPT),
            ack: redis::Script::new(ACK_SCRIPT),
        }
    }

    pub fn leases_key(&self) -> &str {
        &self.leases_key
    }

    fn term_ms(&self) -> u64 {
        crate::client::millis(self.term)
    }
}

/// The margin kept between the local lease and Redis' record of it: a
/// tenth of the term, at least 50 ms (clock-rate differences, timer slack).
pub fn lease_margin(term: Duration) -> Duration {
    (term / 10).max(Duration::from_millis(50))
}

impl Cache {
    /// Announces `scopes` on the invalidation stream; the message's number,
    /// or `None` when Redis could not be reached.
    pub(crate) async fn announce(&self, scopes: &[Scope]) -> Option<u64> {
        self.announce_guarded(scopes, Guard::Breaker).await
    }

    /// [`Self::announce`] with a choice of [`Guard`] (a write's second try
    /// goes past the breaker; see `for_write` in client.rs). A writer that
    /// wrongly believed Redis unreachable would wait out the lease term
    /// while instances that do reach Redis keep renewing their leases and
    /// serving what the write changed.
    pub(crate) async fn announce_guarded(&self, scopes: &[Scope], guard: Guard) -> Option<u64> {
        let coherence = self.coherence()?;
        let names = scopes.iter().map(Scope::as_str).collect::<Vec<_>>().join(" ");
        let call = |mut conn: crate::connection::Conn| async move {
            coherence
                .announce
                .key(&coherence.counter_key)
                .key(&coherence.stream_key)
                .arg(STREAM_MAXLEN)
                .arg(&names)
                .invoke_async::<u64>(&mut conn)
                .await
        };
        self.link()?.run_guarded("announce", guard, call).await
    }

    /// Waits until every instance's L1 has applied message `n` or can no
    /// longer serve (its lease expired); with `n = None` (the announcement
    /// failed) waits the whole lease term plus margin.
    pub(crate) async fn await_acks(&self, n: Option<u64>) -> AckOutcome {
        let Some(coherence) = self.coherence() else { return AckOutcome::Acked };
        let began = Instant::now();
        let outcome = match n {
            Some(n) => self.poll_acks(coherence, n).await,
            None => {
                tokio::time::sleep(coherence.term + coherence.margin).await;
                AckOutcome::Unreachable
            }
        };
        let metrics = self.metrics();
        metrics.ack_duration.with_label_values(&[outcome.as_str()]).observe(began.elapsed().as_secs_f64());
        outcome
    }

    /// Polls the leases until every one has acknowledged `n` or expired.
    /// While Redis answers, a lease that does not acknowledge expires by
    /// itself within a term. Gives up (Unreachable) once Redis has failed
    /// to answer for the whole term plus margin since its first failure:
    /// no lease can have been renewed since then.
    async fn poll_acks(&self, coherence: &Coherence, n: u64) -> AckOutcome {
        let term_ms = coherence.term_ms();
        let mut pause = Duration::from_micros(200);
        let mut failing_since: Option<Instant> = None;
        loop {
            let reply = self
                .redis("ack", |mut conn| async move {
                    coherence
                        .ack
                        .key(&coherence.leases_key)
                        .arg(n)
                        .arg(term_ms)
                        .invoke_async::<(i64, u64)>(&mut conn)
                        .await
                })
                .await;
            match reply {
                Some((0, _)) => return AckOutcome::Acked,
                Some((pending, wait_ms)) => {
                    failing_since = None;
                    if pending < 0 {
                        tokio::time::sleep(Duration::from_millis(wait_ms.max(1))).await;
                        continue;
                    }
                }
                None => {
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= coherence.term + coherence.margin {
                        return AckOutcome::Unreachable;
                    }
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(5));
        }
    }

    /// The background task that keeps this instance's L1 coherent: reads
    /// the stream, applies it, renews the lease. Runs until the process ends.
    pub async fn run_coherence(self) {
        let (Some(local), Some(coherence), Some(link)) = (self.local(), self.coherence(), self.link()) else { return };
        let metrics = self.metrics().clone();
        let block = (coherence.term / 4).max(Duration::from_millis(10));
        let mut position: Option<Position> = None;
        let mut reader: Option<crate::connection::Conn> = None;
        let mut first_head = true;
        // A head seen beyond our position with nothing left to read: a gap
        // if the next read does not reach it either.
        let mut suspect: Option<u64> = None;
        let mut sampled = Instant::now() - Duration::from_secs(60);
        loop {
            metrics.l1_lease_valid.set(i64::from(local.lease_valid()));
            if sampled.elapsed() >= Duration::from_secs(1) {
                sampled = Instant::now();
                let (entries, bytes) = local.usage();
                metrics.l1_entries.set(i64::try_from(entries).unwrap_or(i64::MAX));
                metrics.l1_bytes.set(i64::try_from(bytes).unwrap_or(i64::MAX));
            }
            if reader.is_none() {
                reader = link.reader_connection().await;
                if reader.is_none() {
                    tokio::time::sleep(block).await;
                    continue;
                }
            }
            let Some(conn) = reader.as_mut() else { continue };
            let Some(at) = position.as_mut() else {
                match self.read_head(conn, coherence).await {
                    Some(head) => {
                        if !first_head {
                            // Restarting from the head skips whatever came before it.
                            local.flush();
                            metrics.l1_flushes.inc();
                        }
                        first_head = false;
                        suspect = None;
                        position = Some(head);
                    }
                    None => reader = None,
                }
                continue;
            };
            let read = xread(conn, &coherence.stream_key, &at.id, block).await;
            let Some(messages) = read else {
                // The reader connection failed: reconnect and resume from
                // the same position (a jump in n will show any loss).
                reader = None;
                continue;
            };
            let mut gap = false;
            for message in &messages {
                if message.n <= at.n {
                    continue;
                }
                // From a position taken before the namespace's counter
                // existed (n = 0) the first number is the counter's clock
                // start: not a gap, since every message after `at.id` is read.
                if message.n != at.n + 1 && at.n != 0 {
                    gap = true;
                }
                local.apply(message.scopes.split(' ').filter(|s| !s.is_empty()));
                self.note_remote_invalidation();
                metrics.l1_applied.inc();
                at.n = message.n;
                at.id.clone_from(&message.id);
            }
            if gap {
                tracing::warn!("invalidation stream gap (trimmed or lost messages); L1 flushed");
                local.flush();
                metrics.l1_flushes.inc();
            }
            let was_valid = local.lease_valid();
            let sent = Instant::now();
            let applied = at.n;
            // On the reader's own connection, not the shared one: a renewal
            // slowed down by a saturated machine must not count against the
            // breaker that guards request traffic (three slow renewals
            // would send every request to the database for a cooldown). A
            // slow renewal only shortens the lease, which runs from `sent`.
            let mut invocation = coherence.renew.prepare_invoke();
            invocation
                .key(&coherence.counter_key)
                .key(&coherence.leases_key)
                .arg(&coherence.instance)
                .arg(applied)
                .arg(coherence.term_ms());
            let call = invocation.invoke_async::<(i64, String)>(conn);
            let renewed = match tokio::time::timeout(self.config().op_timeout * 4, call).await {
                Ok(Ok(reply)) => reply,
                _ => {
                    metrics.errors.with_label_values(&["l1_lease"]).inc();
                    reader = None;
                    continue;
                }
            };
            let (extended, head) = renewed;
            let head: u64 = head.parse().unwrap_or(0);
            if extended == 1 {
                if !was_valid {
                    // Lapsed: anything written meanwhile may not have reached
                    // the stream (Redis was away); start L1 afresh.
                    local.flush();
                    metrics.l1_flushes.inc();
                }
                local.extend_lease(sent, coherence.term.saturating_sub(coherence.margin));
            }
            let lost = head < applied || (messages.is_empty() && head > applied && suspect.is_some());
            if lost {
                // The counter went back (flushed Redis), or messages up to the
                // head are gone from the stream: start again from the head.
                tracing::warn!(applied, head, "invalidation stream lost messages; L1 flushed");
                position = None;
            } else {
                suspect = (head > applied).then_some(head);
            }
        }
    }

    async fn read_head(&self, conn: &mut crate::connection::Conn, coherence: &Coherence) -> Option<Position> {
        let mut invocation = coherence.head.prepare_invoke();
        invocation.key(&coherence.counter_key).key(&coherence.stream_key);
        let call = invocation.invoke_async::<(String, String)>(conn);
        let (n, id) = tokio::time::timeout(self.config().op_timeout * 4, call).await.ok()?.ok()?;
        Some(Position { n: n.parse().ok()?, id })
    }
}

/// Where a reader is in the stream.
struct Position {
    n: u64,
    id: String,
}

struct Message {
    id: String,
    n: u64,
    scopes: String,
}

/// One XREAD BLOCK; `None` when the connection failed, an empty list on
/// timeout.
async fn xread(conn: &mut crate::connection::Conn, stream: &str, after: &str, block: Duration) -> Option<Vec<Message>> {
    let mut command = redis::cmd("XREAD");
    command
        .arg("COUNT")
        .arg(READ_BATCH)
        .arg("BLOCK")
        .arg(crate::client::millis(block))
        .arg("STREAMS")
        .arg(stream)
        .arg(after);
    let call = command.query_async::<Value>(conn);
    let reply = tokio::time::timeout(block + Duration::from_secs(2), call).await.ok()?.ok()?;
    Some(parse_xread(&reply))
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn items(value: &Value) -> &[Value] {
    match value {
        Value::Array(items) | Value::Set(items) => items,
        _ => &[],
    }
}

/// XREAD's reply: [[stream, [[id, [field, value, …]], …]]] (RESP2), or a
/// map of stream to entries (RESP3), or nil on timeout.
fn parse_xread(reply: &Value) -> Vec<Message> {
    let streams: Vec<&Value> = match reply {
        Value::Map(pairs) => pairs.iter().map(|(_, entries)| entries).collect(),
        other => items(other).iter().filter_map(|s| items(s).get(1)).collect(),
    };
    let mut out = Vec::new();
    for entries in streams {
        for entry in items(entries) {
            let [id, fields] = items(entry) else { continue };
            let Some(id) = text(id) else { continue };
            let (mut n, mut scopes) = (None, String::new());
            for pair in items(fields).chunks(2) {
                match (pair.first().and_then(text).as_deref(), pair.get(1).and_then(text)) {
                    (Some("n"), Some(value)) => n = value.parse().ok(),
                    (Some("s"), Some(value)) => scopes = value,
                    _ => {}
                }
            }
            if let Some(n) = n {
                out.push(Message { id, n, scopes });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn parses_resp2_xread() {
        let entry = |id: &str, n: &str, s: &str| {
            Value::Array(vec![bulk(id), Value::Array(vec![bulk("n"), bulk(n), bulk("s"), bulk(s)])])
        };
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("stream"),
            Value::Array(vec![entry("1-0", "7", "club:1 clubs"), entry("1-1", "8", "epoch")]),
        ])]);
        let messages = parse_xread(&reply);
        assert_eq!(messages.len(), 2);
        assert_eq!((messages[0].id.as_str(), messages[0].n, messages[0].scopes.as_str()), ("1-0", 7, "club:1 clubs"));
        assert_eq!((messages[1].n, messages[1].scopes.as_str()), (8, "epoch"));
        assert!(parse_xread(&Value::Nil).is_empty());
    }

    #[test]
    fn margin_is_a_tenth_at_least_50ms() {
        assert_eq!(lease_margin(Duration::from_secs(2)), Duration::from_millis(200));
        assert_eq!(lease_margin(Duration::from_millis(200)), Duration::from_millis(50));
    }
}
