//! The workloads of issue 6, run in one process so ratios compare runs made
//! side by side on the same machine state.

use crate::load::{self, Latency, RunResult, WrkRun};
use crate::servers::{BareServer, Nginx, PrivateRedis, Server, ServerSpec, ADMIN_KEY};
use crate::{Args, Results};
use anyhow::Context;
use fkapi_cache::{scan_keys, Cache, CacheConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct RedisBenchmark {
    pub command: String,
    pub value_bytes: usize,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct ZipfResult {
    pub pass: String,
    pub requests: u64,
    pub reads: u64,
    pub writes: u64,
    pub kits: u32,
    pub exponent: f64,
    pub connections: usize,
    pub distinct_kits: usize,
    /// Hit rate of a cache that never forgets and sees no writes: 1 − (kits
    /// never requested before, in this or an earlier pass) / reads.
    pub ideal_hit_rate: f64,
    pub hits: u64,
    pub hit_rate: f64,
    pub rps: f64,
    pub latency: Latency,
    pub errors: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct StampedeResult {
    pub clients: usize,
    pub seconds: f64,
    pub requests: u64,
    pub origin_loads: f64,
    pub miss_responses: u64,
    pub before: Latency,
    /// Requests that started within 250 ms after the entry was deleted.
    pub refill: Latency,
    pub overall: Latency,
    pub errors: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct InvalidationResult {
    pub keys: u64,
    pub method: String,
    pub iterations: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Latency of an API write (PATCH of a club) with L1 on every instance:
/// it includes the wait until every instance acknowledged the invalidation.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct WriteLatencyResult {
    pub instances: usize,
    pub writes: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct MemoryResult {
    pub cache_type: String,
    pub compression: String,
    pub entries: usize,
    pub mean_memory_usage_bytes: f64,
    pub mean_value_bytes: f64,
}

struct KeySets {
    kit_ids: Vec<u32>,
    kits: Vec<String>,
    lists: Vec<String>,
    searches: Vec<String>,
}

fn spread(total: u32, n: u32) -> Vec<u32> {
    let n = n.min(total).max(1);
    let stride = (total / n).max(1);
    (0..n).map(|i| 1 + i * stride).collect()
}

async fn key_sets(args: &Args, client: &reqwest::Client, base: &str) -> anyhow::Result<KeySets> {
    let (n_kits, n_clubs) = if args.quick() { (200, 50) } else { (1000, 200) };
    let kit_ids = spread(args.kits, n_kits);
    let club_ids = spread(args.clubs, n_clubs);
    let kits = kit_ids.iter().map(|id| format!("/api/kit-json/{id}")).collect();
    let lists = club_ids.iter().map(|id| format!("/api/kits?club_id={id}")).collect();
    let mut words: Vec<String> = Vec::new();
    for id in club_ids.iter().take(60) {
        let resp = client.get(format!("{base}/api/clubs/{id}")).send().await?;
        if !resp.status().is_success() {
            continue;
        }
        let club: serde_json::Value = resp.json().await?;
        let name = club.get("name").and_then(|n| n.as_str()).unwrap_or_default();
        if let Some(word) =
            name.split_whitespace().find(|w| w.len() >= 3 && w.bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            let word = word.to_ascii_lowercase();
            if !words.contains(&word) {
                words.push(word);
            }
        }
    }
    anyhow::ensure!(!words.is_empty(), "no club names found for the search key set");
    let searches = words.iter().map(|w| format!("/api/clubs/search?keyword={w}")).collect();
    Ok(KeySets { kit_ids, kits, lists, searches })
}

/// Requests every path twice; returns the mean body length of the second pass
/// and how many of the second pass were HITs.
/// As `warm`, for the cluster runs: (mean body bytes, hits of the second pass).
pub(crate) async fn warm_paths(client: &reqwest::Client, base: &str, paths: &[String]) -> anyhow::Result<(u64, usize)> {
    warm(client, base, paths).await
}

async fn warm(client: &reqwest::Client, base: &str, paths: &[String]) -> anyhow::Result<(u64, usize)> {
    let mut total = 0usize;
    let mut hits = 0usize;
    for pass in 0..2 {
        for path in paths {
            let (status, x_cache, len) = load::get(client, &format!("{base}{path}")).await?;
            anyhow::ensure!(status == 200, "GET {path} answered {status}");
            if pass == 1 {
                total += len;
                hits += usize::from(x_cache == "HIT");
            }
        }
    }
    Ok(((total / paths.len().max(1)) as u64, hits))
}

pub async fn run_all(args: &Args, results: &mut Results) -> anyhow::Result<()> {
    let ns = format!("fkapibench{}", std::process::id());
    let scratch = std::env::temp_dir().join(format!("fkapi-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let script = Path::new("bench/wrk.lua").canonicalize().context("bench/wrk.lua (run from the workspace root)")?;
    let spec = |port: u16, namespace: String, cache: bool, compress: Option<usize>, l1_mb: Option<u32>| ServerSpec {
        bin: &args.server_bin,
        database_url: &args.database_url,
        redis_url: &args.redis_url,
        port,
        namespace,
        cache,
        compress_min_bytes: compress,
        l1_mb,
        extra_env: Vec::new(),
    };
    let feed_spec = |port: u16, namespace: String| spec(port, namespace, true, None, None);
    if args.only.as_deref() == Some("feed") {
        (results.rolling_restart, results.feed_lag) = crate::feed::run(args, &feed_spec, &ns).await?;
        return Ok(());
    }
    if args.only.as_deref() == Some("cluster") {
        let (n_kits, _) = if args.quick() { (200, 50) } else { (1000, 200) };
        let kits: Vec<String> = spread(args.kits, n_kits).iter().map(|id| format!("/api/kit-json/{id}")).collect();
        let outcome = crate::cluster::run(args, &ns, &kits, &script, &scratch).await;
        let _ = std::fs::remove_dir_all(&scratch);
        results.cluster = Some(outcome?);
        return Ok(());
    }
    println!("starting servers (cache on: {}, cache off: {})", args.base_port, args.base_port + 1);
    // `hit` has L1 on (the default); `redis` is the same server with L1 off,
    // so its hits are Redis hits.
    let hit = Server::start(spec(args.base_port, ns.clone(), true, None, None)).await?;
    let miss = Server::start(spec(args.base_port + 1, format!("{ns}off"), false, None, None)).await?;
    let redis_tier = Server::start(spec(args.base_port + 3, format!("{ns}r"), true, None, Some(0))).await?;
    let client = load::client(300)?;
    let keys = key_sets(args, &client, &hit.base).await?;

    let outcome = async {
        let workers = std::thread::available_parallelism().map_or(2, usize::from);
        println!(
            "starting reference servers (bare actix-web: {}, nginx proxy_cache: {})",
            args.base_port + 4,
            args.base_port + 5
        );
        let bare = BareServer::start(&args.bare_bin, args.base_port + 4, workers).await?;
        let nginx = match Nginx::start(&args.nginx_bin, args.base_port + 5, &hit.base, workers, &scratch).await {
            Ok(nginx) => nginx,
            Err(err) => {
                bare.stop().await;
                return Err(err);
            }
        };
        let refs = References { bare: &bare.base, nginx: &nginx.base };
        let measured =
            throughput(args, results, &client, [&hit, &redis_tier, &miss], &refs, &keys, &script, &scratch).await;
        bare.stop().await;
        nginx.stop().await;
        measured?;
        results.write_latency = write_latency(args, &client, &spec, &ns).await?;
        let private = PrivateRedis::start(args.invalidation_redis_port).await?;
        let redis_part = async {
            let value_bytes = entry_bytes(&args.redis_url, &ns, keys.kit_ids[0]).await?;
            results.redis_benchmark = Some(redis_benchmark(args, value_bytes).await?);
            results.invalidation = invalidation(args, &private).await?;
            anyhow::Ok(())
        }
        .await;
        private.stop().await;
        redis_part?;
        results.zipf = zipf(args, &hit).await?;
        results.stampede = Some(stampede(args, &client, &redis_tier, &keys).await?);
        results.memory = memory(args, &client, &hit, &keys, &spec).await?;
        (results.rolling_restart, results.feed_lag) = crate::feed::run(args, &feed_spec, &ns).await?;
        results.cluster = Some(crate::cluster::run(args, &ns, &keys.kits, &script, &scratch).await?);
        anyhow::Ok(())
    }
    .await;
    hit.stop().await;
    miss.stop().await;
    redis_tier.stop().await;
    let _ = std::fs::remove_dir_all(&scratch);
    for namespace in [ns.clone(), format!("{ns}r"), format!("{ns}w")] {
        cleanup(&args.redis_url, &namespace).await;
    }
    outcome
}

/// The reference servers of issue 12, run in the same session as fkapi.
struct References<'a> {
    /// Bare actix-web (bench/src/bare.rs): same URL shape as fkapi's
    /// `/bench/static/{bytes}`, no middleware.
    bare: &'a str,
    /// nginx `proxy_cache` in front of the hit server: its own hits.
    nginx: &'a str,
}

/// Requests every path twice through nginx; fails unless the second pass
/// is all nginx cache hits (so the nginx runs measure nginx, not fkapi).
async fn warm_nginx(client: &reqwest::Client, base: &str, paths: &[String]) -> anyhow::Result<()> {
    for pass in 0..2 {
        for path in paths {
            let resp = client.get(format!("{base}{path}")).header("accept-encoding", "gzip").send().await?;
            anyhow::ensure!(resp.status() == 200, "nginx GET {path} answered {}", resp.status());
            let status = resp.headers().get("x-nginx-cache").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            let _ = resp.bytes().await?;
            anyhow::ensure!(pass == 0 || status == "HIT", "nginx GET {path} on the second pass: {status:?}, not HIT");
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn throughput(
    args: &Args,
    results: &mut Results,
    client: &reqwest::Client,
    [hit, redis_tier, miss]: [&Server; 3],
    refs: &References<'_>,
    keys: &KeySets,
    script: &Path,
    scratch: &Path,
) -> anyhow::Result<()> {
    let secs = args.run_secs();
    let c = args.connections;
    let groups = [("kit", &keys.kits), ("list", &keys.lists), ("search", &keys.searches)];
    for (group, paths) in groups {
        println!("warming {} {group} paths", paths.len());
        let (hit_bytes, hits) = warm(client, &hit.base, paths).await?;
        if hits < paths.len() {
            results
                .notes
                .push(format!("{group}: only {hits} of {} warm paths answered HIT on the second pass", paths.len()));
        }
        let (miss_bytes, _) = warm(client, &miss.base, paths).await?;
        let (redis_bytes, _) = warm(client, &redis_tier.base, paths).await?;
        warm_nginx(client, refs.nginx, paths).await?;
        let baseline_paths = vec![format!("/bench/static/{hit_bytes}")];
        // The four servers the targets compare run in alternating rounds
        // (the run time split between them) and each is reported by its
        // median round: on a shared VM the speed drifts by tens of percent
        // over minutes, which one run per server would turn into its ratio.
        let compared = [
            (format!("hit_{group}"), "hit", hit.base.as_str(), paths.as_slice()),
            (format!("baseline_{group}"), "baseline", hit.base.as_str(), baseline_paths.as_slice()),
            (format!("bare_{group}"), "bare", refs.bare, baseline_paths.as_slice()),
            (format!("nginx_{group}"), "nginx", refs.nginx, paths.as_slice()),
        ];
        let rounds = args.compared_rounds();
        let round_secs = (secs / rounds).max(1);
        let mut by_round: Vec<Vec<RunResult>> = vec![Vec::new(); compared.len()];
        for _ in 0..rounds {
            for ((name, workload, base, paths), kept) in compared.iter().zip(&mut by_round) {
                let run =
                    WrkRun { name, workload, base, paths, connections: c, secs: round_secs, body_bytes: hit_bytes };
                kept.push(load::wrk(&run, script, scratch).await?);
            }
        }
        let mut rps = std::collections::HashMap::new();
        let mut spread = Vec::new();
        for ((_, workload, _, _), mut kept) in compared.iter().zip(by_round) {
            kept.sort_by(|a, b| a.rps.total_cmp(&b.rps));
            spread.push(format!(
                "{workload} {}",
                kept.iter().map(|r| format!("{:.0}", r.rps)).collect::<Vec<_>>().join("/")
            ));
            let median = kept.swap_remove(kept.len() / 2);
            rps.insert(*workload, median.rps);
            results.throughput.push(median);
        }
        if rounds > 1 {
            results.notes.push(format!(
                "{group}: {rounds} alternating rounds of {round_secs} s, req/s low to high (the median is in the table): {}",
                spread.join(", ")
            ));
        }
        let single = [
            (format!("miss_{group}"), "miss", miss.base.as_str(), paths.as_slice(), miss_bytes),
            (format!("redis_hit_{group}"), "redis_hit", redis_tier.base.as_str(), paths.as_slice(), redis_bytes),
        ];
        for (name, workload, base, paths, body_bytes) in single {
            let run = WrkRun { name: &name, workload, base, paths, connections: c, secs, body_bytes };
            let result = load::wrk(&run, script, scratch).await?;
            rps.insert(workload, result.rps);
            results.throughput.push(result);
        }
        let ratio =
            |a: &str, b: &str| rps.get(a).copied().unwrap_or(0.0) / rps.get(b).copied().unwrap_or(1.0).max(1e-9);
        results.ratios.push((format!("{group}: hit / baseline"), ratio("hit", "baseline")));
        results.ratios.push((format!("{group}: hit / miss"), ratio("hit", "miss")));
        results.ratios.push((format!("{group}: L1 hit / Redis hit"), ratio("hit", "redis_hit")));
        results.ratios.push((format!("{group}: baseline / bare actix-web"), ratio("baseline", "bare")));
        results.ratios.push((format!("{group}: hit / nginx proxy_cache"), ratio("hit", "nginx")));
    }
    // Moderate load: fewer connections, for the p99 target.
    let moderate = 8;
    let (kit_bytes, _) = warm(client, &hit.base, &keys.kits).await?;
    let baseline_paths = vec![format!("/bench/static/{kit_bytes}")];
    for (name, workload, paths) in
        [("hit_kit_c8", "hit", keys.kits.as_slice()), ("baseline_kit_c8", "baseline", baseline_paths.as_slice())]
    {
        let run = WrkRun { name, workload, base: &hit.base, paths, connections: moderate, secs, body_bytes: kit_bytes };
        results.throughput.push(load::wrk(&run, script, scratch).await?);
    }
    Ok(())
}

fn entry_key(ns: &str, cache_key: &str) -> String {
    fkapi_cache::Namespace::new(ns).entry_key(cache_key)
}

pub(crate) async fn redis_conn(url: &str) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    Ok(redis::Client::open(url)?.get_multiplexed_async_connection().await?)
}

/// STRLEN of a cached kit detail: the value size a hit moves out of Redis.
async fn entry_bytes(redis_url: &str, ns: &str, kit_id: u32) -> anyhow::Result<usize> {
    let mut conn = redis_conn(redis_url).await?;
    let len: usize =
        redis::cmd("STRLEN").arg(entry_key(ns, &format!("kit_json_{kit_id}"))).query_async(&mut conn).await?;
    anyhow::ensure!(len > 0, "kit_json_{kit_id} is not cached after warming");
    Ok(len)
}

/// Against the private redis-server (port `--invalidation-redis-port`).
async fn redis_benchmark(args: &Args, value_bytes: usize) -> anyhow::Result<RedisBenchmark> {
    let n = if args.quick() { 50_000 } else { 400_000 };
    let port = args.invalidation_redis_port.to_string();
    let output = tokio::process::Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &port, "-t", "set,get", "--csv"])
        .args(["-c", &args.connections.to_string(), "-n", &n.to_string(), "-d", &value_bytes.to_string()])
        .output()
        .await
        .context("running redis-benchmark (apt-get install redis-tools)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let row = stdout
        .lines()
        .find(|l| l.starts_with("\"GET\""))
        .with_context(|| format!("no GET row in redis-benchmark output: {stdout}"))?;
    let cols: Vec<f64> = row.split(',').skip(1).map(|c| c.trim_matches('"').parse().unwrap_or(0.0)).collect();
    let col = |i: usize| cols.get(i).copied().unwrap_or(0.0);
    let result = RedisBenchmark {
        command: format!("redis-benchmark -t set,get -c {} -n {n} -d {value_bytes} --csv", args.connections),
        value_bytes,
        rps: col(0),
        p50_ms: col(3),
        p99_ms: col(5),
        max_ms: col(6),
    };
    println!(
        "  redis-benchmark GET {value_bytes} B: {:.0} req/s p50 {} ms p99 {} ms",
        result.rps, result.p50_ms, result.p99_ms
    );
    Ok(result)
}

/// Cumulative distribution of Zipf(s) over ranks 1..=n.
pub(crate) fn zipf_cdf(n: u32, s: f64) -> Vec<f64> {
    let mut cdf = Vec::with_capacity(n as usize);
    let mut total = 0.0;
    for k in 1..=n {
        total += 1.0 / f64::from(k).powf(s);
        cdf.push(total);
    }
    for v in &mut cdf {
        *v /= total;
    }
    cdf
}

/// Requests every kit detail once, `connections` at a time.
pub(crate) async fn warm_all_kits(
    client: &reqwest::Client,
    base: &str,
    kits: u32,
    connections: usize,
) -> anyhow::Result<()> {
    let next = Arc::new(AtomicU64::new(1));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (client, next, base) = (client.clone(), Arc::clone(&next), base.to_string());
        tasks.push(tokio::spawn(async move {
            loop {
                let id = next.fetch_add(1, Ordering::Relaxed);
                if id > u64::from(kits) {
                    return anyhow::Ok(());
                }
                let (status, _, _) = load::get(&client, &format!("{base}/api/kit-json/{id}")).await?;
                anyhow::ensure!(status == 200, "GET /api/kit-json/{id} answered {status}");
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

async fn zipf(args: &Args, hit: &Server) -> anyhow::Result<Vec<ZipfResult>> {
    let requests: u64 = if args.quick() { 10_000 } else { 100_000 };
    let kits = args.kits.min(50_000);
    let s = 1.1;
    let connections = 32usize;
    let cdf = Arc::new(zipf_cdf(kits, s));
    let client = load::client(connections)?;
    let mut out = Vec::new();
    let mut seen_before = std::collections::HashSet::new();
    // Two passes from a cold cache (bounded by first-time misses: see
    // `ideal_hit_rate`), then the steady state: every kit detail cached
    // first, so the only misses left are those the 1% writes cause.
    for (pass, seed, prewarm) in [
        ("cold start", 1u64, false),
        ("warm (second pass)", 2u64, false),
        ("steady state (all kit details warmed first)", 3u64, true),
    ] {
        if prewarm {
            warm_all_kits(&client, &hit.base, kits, connections).await?;
            seen_before.extend(1..=u64::from(kits));
        }
        let next = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for worker in 0..connections {
            let (client, cdf, next, base) = (client.clone(), Arc::clone(&cdf), Arc::clone(&next), hit.base.clone());
            tasks.push(tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(seed * 1000 + worker as u64);
                let mut lat = Vec::new();
                let (mut hits, mut reads, mut writes, mut errors) = (0u64, 0u64, 0u64, 0u64);
                let mut seen = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < requests {
                    let u: f64 = rng.random();
                    let rank = cdf.partition_point(|c| *c < u) as u64 + 1;
                    // Spread ranks over the id range so hot kits are not just the first rows.
                    let id = (rank * 7919) % u64::from(kits) + 1;
                    let t = Instant::now();
                    if rng.random_bool(0.01) {
                        writes += 1;
                        let rating = f64::from(rng.random_range(0..=500u32)) / 100.0;
                        let resp = client
                            .patch(format!("{base}/api/kits/{id}"))
                            .header("x-api-key", ADMIN_KEY)
                            .json(&serde_json::json!({ "rating": rating }))
                            .send()
                            .await;
                        if !resp.is_ok_and(|r| r.status().is_success()) {
                            errors += 1;
                        }
                    } else {
                        reads += 1;
                        seen.push(id);
                        match load::get(&client, &format!("{base}/api/kit-json/{id}")).await {
                            Ok((200, x_cache, _)) => hits += u64::from(x_cache == "HIT" || x_cache == "STALE"),
                            _ => errors += 1,
                        }
                    }
                    lat.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
                }
                (lat, hits, reads, writes, errors, seen)
            }));
        }
        let mut all = Vec::new();
        let (mut hits, mut reads, mut writes, mut errors) = (0, 0, 0, 0);
        let mut distinct = std::collections::HashSet::new();
        for task in tasks {
            let (lat, h, r, w, e, seen) = task.await?;
            all.extend(lat);
            hits += h;
            reads += r;
            writes += w;
            errors += e;
            distinct.extend(seen);
        }
        let secs = started.elapsed().as_secs_f64();
        let first_seen = distinct.iter().filter(|id| !seen_before.contains(*id)).count();
        let result = ZipfResult {
            pass: pass.to_string(),
            requests: reads + writes,
            reads,
            writes,
            kits,
            exponent: s,
            connections,
            distinct_kits: distinct.len(),
            ideal_hit_rate: 1.0 - first_seen as f64 / reads.max(1) as f64,
            hits,
            hit_rate: hits as f64 / reads.max(1) as f64,
            rps: (reads + writes) as f64 / secs,
            latency: Latency::of(all),
            errors,
        };
        println!(
            "  zipf {pass}: hit rate {:.2}% (ideal {:.2}%), {:.0} req/s, p99 {:.2} ms, errors {}",
            result.hit_rate * 100.0,
            result.ideal_hit_rate * 100.0,
            result.rps,
            result.latency.p99_ms,
            result.errors
        );
        out.push(result);
        seen_before.extend(distinct);
    }
    Ok(out)
}

async fn stampede(
    args: &Args,
    client: &reqwest::Client,
    hit: &Server,
    keys: &KeySets,
) -> anyhow::Result<StampedeResult> {
    let clients = 256usize;
    let secs = if args.quick() { 3.0 } else { 8.0 };
    let id = keys.kit_ids.get(keys.kit_ids.len() / 2).copied().unwrap_or(1);
    let url = format!("{}/api/kit-json/{id}", hit.base);
    load::get(client, &url).await?;
    let series = "fkapi_cache_loads_total{cache_type=\"kit_json\"}";
    let mut redis = redis_conn(&args.redis_url).await?;
    let key = entry_key(&hit.namespace, &format!("kit_json_{id}"));
    let exists: bool = redis::cmd("EXISTS").arg(&key).query_async(&mut redis).await?;
    anyhow::ensure!(exists, "stampede key {key} is not cached");
    let started = Instant::now();
    let end = started + Duration::from_secs_f64(secs);
    let hammer = load::client(clients)?;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (hammer, url) = (hammer.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut records = Vec::new();
            while Instant::now() < end {
                let t = Instant::now();
                let outcome = load::get(&hammer, &url).await;
                let took = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
                let start = u64::try_from((t - started).as_micros()).unwrap_or(u64::MAX);
                records.push(match outcome {
                    Ok((200, x_cache, _)) => (start, took, x_cache != "HIT", false),
                    _ => (start, took, false, true),
                });
            }
            records
        }));
    }
    // Let the clients reach a steady state, then expire the hot key.
    tokio::time::sleep(Duration::from_secs_f64(secs / 3.0)).await;
    let loads_before = load::metric(client, &hit.base, series).await?;
    let del_at = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let _: u64 = redis::cmd("DEL").arg(&key).query_async(&mut redis).await?;
    let mut records = Vec::new();
    for task in tasks {
        records.extend(task.await?);
    }
    let loads_after = load::metric(client, &hit.base, series).await?;
    let window = del_at..del_at + 250_000;
    let result = StampedeResult {
        clients,
        seconds: secs,
        requests: records.len() as u64,
        origin_loads: loads_after - loads_before,
        miss_responses: records.iter().filter(|r| r.2).count() as u64,
        before: Latency::of(records.iter().filter(|r| r.0 < del_at).map(|r| r.1).collect()),
        refill: Latency::of(records.iter().filter(|r| window.contains(&r.0)).map(|r| r.1).collect()),
        overall: Latency::of(records.iter().map(|r| r.1).collect()),
        errors: records.iter().filter(|r| r.3).count() as u64,
    };
    println!(
        "  stampede: {} origin load(s), {} non-HIT responses, refill p99 {:.2} ms, errors {}",
        result.origin_loads, result.miss_responses, result.refill.p99_ms, result.errors
    );
    Ok(result)
}

fn summarise(keys: u64, method: &str, micros: Vec<u64>) -> InvalidationResult {
    let iterations = micros.len();
    let lat = Latency::of(micros);
    let result = InvalidationResult {
        keys,
        method: method.to_string(),
        iterations,
        p50_ms: lat.p50_ms,
        p99_ms: lat.p99_ms,
        max_ms: lat.max_ms,
    };
    println!("  invalidation {keys:>8} keys {method:<28} p50 {:.3} ms p99 {:.3} ms", result.p50_ms, result.p99_ms);
    result
}

fn micros_since(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX)
}

async fn invalidation(args: &Args, redis: &PrivateRedis) -> anyhow::Result<Vec<InvalidationResult>> {
    let sizes: &[u64] = if args.quick() { &[1_000, 10_000, 100_000] } else { &[1_000, 100_000, 1_000_000] };
    let registry = prometheus::Registry::new();
    let cfg = CacheConfig {
        namespace: "fkapi_inv".into(),
        op_timeout: Duration::from_secs(2),
        pool_size: 4,
        ..CacheConfig::default()
    };
    let cache = Cache::new(cfg, Some(&redis.url), &registry)?;
    let mut conn = redis_conn(&redis.url).await?;
    let related = 20;
    let related_keys: Vec<String> = (0..related).map(|j| format!("fkapi:club_3_kits_page={j}")).collect();
    let mut out = Vec::new();
    let leases = fkapi_cache::Namespace::new("fkapi_inv").leases_key();
    for &n in sizes {
        redis::cmd("FLUSHALL").query_async::<()>(&mut conn).await?;
        // FLUSHALL also removed the L1 leases hash; no instance holds a lease
        // here, so say so rather than wait out the term that protects an
        // evicted hash (the first write after a real eviction pays it).
        redis::cmd("HSETNX").arg(&leases).arg(fkapi_cache::SINCE_FIELD).arg(0).query_async::<()>(&mut conn).await?;
        let value = "x".repeat(100);
        let mut i = 0;
        while i < n {
            let mut pipe = redis::pipe();
            for k in i..(i + 10_000).min(n) {
                pipe.cmd("SET").arg(format!("fkapi:kit_json_{k}")).arg(&value).ignore();
            }
            pipe.query_async::<()>(&mut conn).await?;
            i += 10_000;
        }
        let iterations = |full: usize| if args.quick() { full.div_ceil(4) } else { full };
        // Ours: bump the club's generations, whatever the number of keys.
        let scopes = fkapi_clubs::scopes::on_club_change(3);
        let mut ours = Vec::new();
        for _ in 0..iterations(2000) {
            let t = Instant::now();
            anyhow::ensure!(cache.invalidate(&scopes).await, "invalidate did not reach redis");
            ours.push(micros_since(t));
        }
        out.push(summarise(n, "fkapi (generation bump + L1 announcement)", ours));
        let slow_iterations = if n >= 1_000_000 { 8 } else { 40 };
        let mut keys_del = Vec::new();
        let mut scan_del = Vec::new();
        for round in 0..iterations(slow_iterations) {
            for scan in [false, true] {
                let mut pipe = redis::pipe();
                for key in &related_keys {
                    pipe.cmd("SET").arg(key).arg(&value).ignore();
                }
                pipe.query_async::<()>(&mut conn).await?;
                let t = Instant::now();
                let found: Vec<String> = if scan {
                    scan_keys(&mut conn, "fkapi:club_3_*", 1000).await?
                } else {
                    redis::cmd("KEYS").arg("fkapi:club_3_*").query_async(&mut conn).await?
                };
                let deleted: usize = redis::cmd("DEL").arg(&found).query_async(&mut conn).await?;
                let took = micros_since(t);
                anyhow::ensure!(deleted == related, "round {round}: deleted {deleted} of {related} keys");
                if scan {
                    scan_del.push(took)
                } else {
                    keys_del.push(took)
                }
            }
        }
        out.push(summarise(n, "FKApi: KEYS + DEL", keys_del));
        out.push(summarise(n, "FKApi: SCAN MATCH + DEL", scan_del));
    }
    redis::cmd("FLUSHALL").query_async::<()>(&mut conn).await?;
    Ok(out)
}

async fn measure(
    conn: &mut redis::aio::MultiplexedConnection,
    keys: &[String],
    cache_type: &str,
    compression: &str,
) -> anyhow::Result<MemoryResult> {
    anyhow::ensure!(!keys.is_empty(), "no {cache_type} entries to measure");
    let (mut usage, mut len) = (0u64, 0u64);
    for key in keys {
        let u: Option<u64> = redis::cmd("MEMORY").arg("USAGE").arg(key).arg("SAMPLES").arg(0).query_async(conn).await?;
        let l: u64 = redis::cmd("STRLEN").arg(key).query_async(conn).await?;
        usage += u.unwrap_or(0);
        len += l;
    }
    let n = keys.len() as f64;
    Ok(MemoryResult {
        cache_type: cache_type.to_string(),
        compression: compression.to_string(),
        entries: keys.len(),
        mean_memory_usage_bytes: usage as f64 / n,
        mean_value_bytes: len as f64 / n,
    })
}

async fn memory<'a>(
    args: &'a Args,
    client: &reqwest::Client,
    hit: &Server,
    keys: &KeySets,
    spec: &impl Fn(u16, String, bool, Option<usize>, Option<u32>) -> ServerSpec<'a>,
) -> anyhow::Result<Vec<MemoryResult>> {
    let kit_ids: Vec<u32> = keys.kit_ids.iter().take(100).copied().collect();
    let lists: Vec<String> = keys.lists.iter().take(50).cloned().collect();
    let mut conn = redis_conn(&args.redis_url).await?;
    let raw_ns = format!("{}raw", hit.namespace);
    let raw = Server::start(spec(args.base_port + 2, raw_ns.clone(), true, Some(0), None)).await?;
    let mut out = Vec::new();
    let result = async {
        for (server, label) in [(hit, "gzip (default, ≥ 1024 B)"), (&raw, "none (FKAPI_CACHE_COMPRESS_MIN_BYTES=0)")]
        {
            let kit_paths: Vec<String> = kit_ids.iter().map(|id| format!("/api/kit-json/{id}")).collect();
            warm(client, &server.base, &kit_paths).await?;
            warm(client, &server.base, &lists).await?;
            let kit_keys: Vec<String> =
                kit_ids.iter().map(|id| entry_key(&server.namespace, &format!("kit_json_{id}"))).collect();
            out.push(measure(&mut conn, &kit_keys, "kit detail (kit_json)", label).await?);
            let list_keys: Vec<String> = scan_keys(&mut conn, &entry_key(&server.namespace, "kits_*"), 1000).await?;
            let list_keys: Vec<String> = list_keys.into_iter().filter(|k| !k.contains(":kits_bulk_")).collect();
            out.push(measure(&mut conn, &list_keys, "kits list (kits, 20 items)", label).await?);
        }
        anyhow::Ok(())
    }
    .await;
    raw.stop().await;
    cleanup(&args.redis_url, &raw_ns).await;
    result?;
    for m in &out {
        println!(
            "  memory {:<28} {:<40} {:>8.0} B in redis ({:.0} B value)",
            m.cache_type, m.compression, m.mean_memory_usage_bytes, m.mean_value_bytes
        );
    }
    Ok(out)
}

/// Deletes every key of a benchmark namespace from the shared Redis.
pub(crate) async fn cleanup(redis_url: &str, ns: &str) {
    let Ok(mut conn) = redis_conn(redis_url).await else { return };
    for pattern in fkapi_cache::Namespace::new(ns).scan_patterns() {
        if let Ok(keys) = scan_keys::<_, String>(&mut conn, &pattern, 1000).await {
            for chunk in keys.chunks(1000) {
                let _: Result<u64, _> = redis::cmd("UNLINK").arg(chunk).query_async(&mut conn).await;
            }
        }
    }
}

/// Writes on the first of 1, then 3 instances sharing one namespace, each
/// holding an L1 lease: what a write costs with the acknowledgement wait.
async fn write_latency<'a>(
    args: &'a Args,
    client: &reqwest::Client,
    spec: &impl Fn(u16, String, bool, Option<usize>, Option<u32>) -> ServerSpec<'a>,
    ns: &str,
) -> anyhow::Result<Vec<WriteLatencyResult>> {
    let namespace = format!("{ns}w");
    let writes = if args.quick() { 100 } else { 500 };
    let mut out = Vec::new();
    for instances in [1usize, 3] {
        let mut servers = Vec::new();
        for i in 0..instances {
            let port = args.base_port + 4 + u16::try_from(i).unwrap_or(0);
            servers.push(Server::start(spec(port, namespace.clone(), true, None, None)).await?);
        }
        // Let every instance take its first lease (and the leases hash outlive
        // its first term) so the runs measure the steady state.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let mut micros = Vec::with_capacity(writes);
        let result = async {
            for i in 0..writes {
                let url = format!("{}/api/clubs/1", servers[0].base);
                let body = serde_json::json!({ "name": format!("Bench Write {instances}-{i}") });
                let t = Instant::now();
                let response = client.patch(&url).header("X-API-Key", ADMIN_KEY).json(&body).send().await?;
                anyhow::ensure!(response.status().is_success(), "write answered {}", response.status());
                micros.push(micros_since(t));
            }
            anyhow::Ok(())
        }
        .await;
        for server in servers {
            server.stop().await;
        }
        result?;
        let latency = Latency::of(micros);
        out.push(WriteLatencyResult {
            instances,
            writes,
            p50_ms: latency.p50_ms,
            p99_ms: latency.p99_ms,
            max_ms: latency.max_ms,
        });
    }
    Ok(out)
}
