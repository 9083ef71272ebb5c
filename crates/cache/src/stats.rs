//! Statistics for `cache-stats`, the admin stats route and the gauges:
//! per-type counters from this instance's metrics, Redis memory figures,
//! and the background SCAN that counts entries per cache type.

use crate::client::Cache;
use crate::registry::Registry;
use std::collections::BTreeMap;

/// Per-cache-type counters for `cache-stats` and the admin stats route.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct TypeStats {
    /// Hits of both tiers.
    pub hits: u64,
    /// Of `hits`, those answered by L1.
    #[serde(default)]
    pub local_hits: u64,
    pub misses: u64,
    pub stale: u64,
    pub bypass: u64,
    pub loads: u64,
    pub hit_rate: f64,
}

/// This instance's in-process tier.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct LocalStats {
    pub entries: u64,
    pub bytes: u64,
    pub max_bytes: u64,
    /// Whether L1 may serve now (this instance holds a lease).
    pub lease_valid: bool,
    pub lease_remaining_ms: u64,
}

/// Redis memory and keys: the sum over every master of a cluster (the
/// policy is the first master's), with each master's own figures in `nodes`.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct RedisStats {
    pub used_memory_bytes: u64,
    pub maxmemory_bytes: u64,
    pub maxmemory_policy: String,
    pub db_keys: u64,
    pub evicted_keys: u64,
    /// One per master (one entry on a single node).
    #[serde(default)]
    pub nodes: Vec<NodeStats>,
}

/// One Redis master's figures.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct NodeStats {
    /// `host:port`
    pub address: String,
    pub used_memory_bytes: u64,
    pub maxmemory_bytes: u64,
    pub maxmemory_policy: String,
    pub db_keys: u64,
    pub evicted_keys: u64,
}

/// INFO memory + INFO stats + DBSIZE of one node.
async fn node_stats(address: String, mut conn: crate::connection::Conn) -> redis::RedisResult<NodeStats> {
    let memory: String = redis::cmd("INFO").arg("memory").query_async(&mut conn).await?;
    let stats: String = redis::cmd("INFO").arg("stats").query_async(&mut conn).await?;
    let db_keys: u64 = redis::cmd("DBSIZE").query_async(&mut conn).await?;
    let info = format!("{memory}\n{stats}");
    let field = |name: &str| {
        info.lines().find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(':'))).map(str::trim)
    };
    let number = |name: &str| field(name).and_then(|v| v.parse().ok()).unwrap_or(0);
    Ok(NodeStats {
        address,
        used_memory_bytes: number("used_memory"),
        maxmemory_bytes: number("maxmemory"),
        maxmemory_policy: field("maxmemory_policy").unwrap_or("unknown").to_string(),
        db_keys,
        evicted_keys: number("evicted_keys"),
    })
}

impl Cache {
    /// Hit/miss counters per cache type, from this instance's metrics.
    pub fn type_stats(&self) -> BTreeMap<String, TypeStats> {
        let mut stats: BTreeMap<String, TypeStats> = BTreeMap::new();
        let metrics = self.metrics();
        type Field = fn(&mut TypeStats) -> &mut u64;
        let counters: [(&prometheus::IntCounterVec, Field); 5] = [
            (&metrics.hits, |s| &mut s.hits),
            (&metrics.misses, |s| &mut s.misses),
            (&metrics.stale, |s| &mut s.stale),
            (&metrics.bypass, |s| &mut s.bypass),
            (&metrics.loads, |s| &mut s.loads),
        ];
        for (counter, field) in counters {
            for family in prometheus::core::Collector::collect(counter) {
                for metric in family.get_metric() {
                    let label = |name: &str| metric.get_label().iter().find(|l| l.name() == name).map(|l| l.value());
                    let Some(cache_type) = label("cache_type") else { continue };
                    let entry = stats.entry(cache_type.to_string()).or_default();
                    // Counter values are whole numbers stored as f64.
                    let value = metric.get_counter().get_value() as u64;
                    *field(entry) += value;
                    if label("tier") == Some("local") {
                        entry.local_hits += value;
                    }
                }
            }
        }
        for entry in stats.values_mut() {
            let served = entry.hits + entry.stale + entry.misses;
            entry.hit_rate = if served == 0 { 0.0 } else { (entry.hits + entry.stale) as f64 / served as f64 };
        }
        stats
    }

    /// Memory, policy and key count of the Redis server, or of every
    /// master of a cluster; `None` when any master could not be asked.
    pub async fn redis_stats(&self) -> Option<RedisStats> {
        let link = self.link()?;
        let timeout = self.config().op_timeout * 4;
        let masters = tokio::time::timeout(timeout, link.masters()).await.ok()??;
        let asks = masters.into_iter().map(|(address, conn)| node_stats(address, conn));
        let nodes = tokio::time::timeout(timeout, futures::future::join_all(asks)).await.ok()?;
        let nodes = nodes.into_iter().collect::<redis::RedisResult<Vec<NodeStats>>>().ok()?;
        let sum = |field: fn(&NodeStats) -> u64| nodes.iter().map(field).sum::<u64>();
        let stats = RedisStats {
            used_memory_bytes: sum(|n| n.used_memory_bytes),
            maxmemory_bytes: sum(|n| n.maxmemory_bytes),
            maxmemory_policy: nodes.first().map_or_else(|| "unknown".to_string(), |n| n.maxmemory_policy.clone()),
            db_keys: sum(|n| n.db_keys),
            evicted_keys: sum(|n| n.evicted_keys),
            nodes,
        };
        let metrics = self.metrics();
        metrics.redis_used_memory.set(i64::try_from(stats.used_memory_bytes).unwrap_or(i64::MAX));
        metrics.redis_maxmemory.set(i64::try_from(stats.maxmemory_bytes).unwrap_or(i64::MAX));
        Some(stats)
    }

    /// Counts our entries per cache type with SCAN, for the
    /// `fkapi_cache_entries` gauge. Runs in a background task, never on a
    /// request path; cost grows with the keyspace, so it is sampled rarely.
    pub async fn count_entries<C>(&self, registry: &Registry<C>) -> Option<BTreeMap<&'static str, i64>> {
        let link = self.link()?;
        let masters = link.masters().await?;
        let [pattern, _] = self.namespace().scan_patterns();
        let generation_prefix = self.namespace().generation_prefix().to_string();
        let prefix_len = self.namespace().prefix().len();
        let mut counts: BTreeMap<&'static str, i64> = registry.cache_types().map(|t| (t.name, 0)).collect();
        // Every master holds a share of the slots: walk each one.
        for (_, mut conn) in masters {
            crate::scan::scan_each(&mut conn, &pattern, 1000, |keys: Vec<String>| {
                for key in keys.iter().filter(|k| !k.starts_with(&generation_prefix)) {
                    let rest = &key[prefix_len.min(key.len())..];
                    if let Some(cache_type) = registry.type_of_key(rest) {
                        *counts.entry(cache_type.name).or_default() += 1;
                    }
                }
            })
            .await
            .ok()?;
        }
        for (cache_type, count) in &counts {
            self.metrics().entries.with_label_values(&[cache_type]).set(*count);
        }
        Some(counts)
    }
}
