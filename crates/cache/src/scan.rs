//! The one SCAN loop: walks the keys matching a pattern a batch at a time.
//! For background jobs, tests and benchmarks only, never a request path
//! (DESIGN.md guarantee 3): its cost grows with the whole keyspace.

use redis::aio::ConnectionLike;
use redis::{FromRedisValue, RedisResult};

/// Calls `each` with every batch of keys matching `pattern` (a Redis glob;
/// escape anything a user typed), asking for `batch` keys per SCAN call.
/// Keys come as `K`: `String`, or `Vec<u8>` for keys that may not be UTF-8.
/// A key may come twice when the keyspace changes during the walk (SCAN's
/// guarantee is "every key present throughout, at least once").
pub async fn scan_each<C, K>(conn: &mut C, pattern: &str, batch: usize, mut each: impl FnMut(Vec<K>)) -> RedisResult<()>
where
    C: ConnectionLike + Send,
    K: FromRedisValue,
{
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<K>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(batch.max(1))
            .query_async(conn)
            .await?;
        if !keys.is_empty() {
            each(keys);
        }
        cursor = next;
        if cursor == 0 {
            return Ok(());
        }
    }
}

/// Every key matching `pattern`, collected (see [`scan_each`]).
pub async fn scan_keys<C, K>(conn: &mut C, pattern: &str, batch: usize) -> RedisResult<Vec<K>>
where
    C: ConnectionLike + Send,
    K: FromRedisValue,
{
    let mut found = Vec::new();
    scan_each(conn, pattern, batch, |keys| found.extend(keys)).await?;
    Ok(found)
}
