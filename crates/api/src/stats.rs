//! `fkapi cache-stats`: asks a running server for its cache counters and
//! shows the hit rate, like `top` with `--watch`.

use anyhow::Context;
use fkapi_api::config::Settings;
use fkapi_api::ops::CacheStatsBody;
use std::time::Duration;

async fn fetch(client: &reqwest::Client, settings: &Settings) -> anyhow::Result<CacheStatsBody> {
    let url = format!("{}/api/admin/cache/stats", settings.server_url.trim_end_matches('/'));
    let mut request = client.get(&url);
    if let Some(key) = &settings.admin_key {
        request = request.header("X-API-Key", &key.0);
    }
    let response =
        request.send().await.with_context(|| format!("no fkapi server answering at {url} (set FKAPI_URL)"))?;
    let status = response.status();
    anyhow::ensure!(status.is_success(), "{url} answered {status}: {}", response.text().await.unwrap_or_default());
    Ok(response.json().await?)
}

fn percent(hits: u64, misses: u64) -> String {
    if hits + misses == 0 {
        "    -".to_string()
    } else {
        format!("{:5.1}%", 100.0 * hits as f64 / (hits + misses) as f64)
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1_048_576.0)
}

/// One screen; with `previous`, the rates cover the interval since then.
fn render(stats: &CacheStatsBody, previous: Option<&CacheStatsBody>, interval: Duration) -> String {
    let mut out = String::new();
    let mode = if !stats.enabled {
        "disabled"
    } else if stats.bypassed {
        "BYPASSED (redis unreachable)"
    } else {
        "in use"
    };
    out.push_str(&format!("cache {mode}; counters of this instance since it started\n"));
    out.push_str(&format!(
        "overall hit rate {}  hits {}  misses {}\n",
        percent(stats.hits, stats.misses),
        stats.hits,
        stats.misses
    ));
    if let Some(previous) = previous {
        let hits = stats.hits.saturating_sub(previous.hits);
        let misses = stats.misses.saturating_sub(previous.misses);
        let per_second = (hits + misses) as f64 / interval.as_secs_f64().max(0.001);
        out.push_str(&format!(
            "last {}s: hit rate {}  {:.1} req/s\n",
            interval.as_secs(),
            percent(hits, misses),
            per_second
        ));
    }
    if stats.hits > 0 {
        out.push_str(&format!(
            "hits by tier: local (L1) {}  redis {}\n",
            stats.local_hits,
            stats.hits.saturating_sub(stats.local_hits)
        ));
    }
    match &stats.local {
        Some(local) => out.push_str(&format!(
            "L1: {} entries, {} of {}, lease {}\n",
            local.entries,
            mib(local.bytes),
            mib(local.max_bytes),
            if local.lease_valid {
                format!("valid ({} ms left)", local.lease_remaining_ms)
            } else {
                "NOT held (serving from redis)".to_string()
            }
        )),
        None => out.push_str("L1: off\n"),
    }
    let limit = |bytes: u64| if bytes == 0 { "no limit".to_string() } else { mib(bytes) };
    match &stats.redis {
        Some(redis) => {
            out.push_str(&format!(
                "redis: {} used of {} ({}), {} keys, {} evicted\n",
                mib(redis.used_memory_bytes),
                limit(redis.maxmemory_bytes),
                redis.maxmemory_policy,
                redis.db_keys,
                redis.evicted_keys
            ));
            // A cluster: one line per master (the line above is their sum).
            if redis.nodes.len() > 1 {
                for node in &redis.nodes {
                    out.push_str(&format!(
                        "  master {}: {} used of {}, {} keys, {} evicted\n",
                        node.address,
                        mib(node.used_memory_bytes),
                        limit(node.maxmemory_bytes),
                        node.db_keys,
                        node.evicted_keys
                    ));
                }
            }
        }
        None => out.push_str("redis: unreachable\n"),
    }
    out.push_str(&format!(
        "\n{:<20} {:>6} {:>10} {:>10} {:>10} {:>8} {:>8} {:>8}\n",
        "cache type", "hit%", "hits", "L1 hits", "misses", "stale", "bypass", "loads"
    ));
    for (cache_type, t) in &stats.per_type {
        out.push_str(&format!(
            "{:<20} {:>6} {:>10} {:>10} {:>10} {:>8} {:>8} {:>8}\n",
            cache_type,
            percent(t.hits + t.stale, t.misses),
            t.hits,
            t.local_hits,
            t.misses,
            t.stale,
            t.bypass,
            t.loads
        ));
    }
    out
}

pub async fn show(settings: Settings, watch: bool, interval: u64, json: bool) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let interval = Duration::from_secs(interval.max(1));
    let mut previous: Option<CacheStatsBody> = None;
    loop {
        let stats = fetch(&client, &settings).await?;
        if json {
            println!("{}", serde_json::to_string(&stats)?);
        } else {
            if watch {
                print!("\x1b[2J\x1b[H");
            }
            print!("{}", render(&stats, previous.as_ref(), interval));
        }
        if !watch {
            return Ok(());
        }
        previous = Some(stats);
        tokio::time::sleep(interval).await;
    }
}
