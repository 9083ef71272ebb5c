//! The change-feed workloads (issue 10): a rolling restart under Zipf reads
//! on two instances, and the feed's lag under a burst of out-of-band writes.

use crate::load::{self, Latency};
use crate::servers::{Server, ServerSpec};
use crate::workloads::{cleanup, redis_conn, warm_all_kits, zipf_cdf};
use crate::Args;
use fkapi_cache::Namespace;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Hit rate of the reads in one time window.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Window {
    pub seconds: f64,
    pub reads: u64,
    pub hits: u64,
    pub hit_rate: f64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct RollingResult {
    /// What happened at the restart: the change feed of this build, or an
    /// epoch bump when the instance starts (what the pre-feed server did).
    pub mode: String,
    pub kits: u32,
    pub exponent: f64,
    pub connections: usize,
    pub before: Window,
    /// The 10 s after the restarted instance answers again.
    pub after: Window,
    /// From SIGTERM to the restarted instance answering /api/health.
    pub restart_secs: f64,
    /// Reads sent to the other instance while this one was down.
    pub failed_over: u64,
    pub errors: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct FeedLagResult {
    pub target_rate: u32,
    pub seconds: f64,
    pub changes: u64,
    pub achieved_rate: f64,
    /// Commit of a psql-style UPDATE → its kit's generation bumped in Redis.
    pub lag: Latency,
    pub unapplied_samples: usize,
    /// Highest fkapi_feed_lag_seconds / _records either instance reported
    /// (sampled every 100 ms).
    pub max_lag_seconds_metric: f64,
    pub max_lag_records_metric: f64,
    pub records_applied: f64,
}

const WINDOW: Duration = Duration::from_secs(10);

struct Read {
    at: Duration,
    hit: bool,
}

/// Zipf reads (s = 1.1) of kit details spread over two instances, one
/// restarted (SIGTERM, start) after `WINDOW`; the hit rate in the `WINDOW`
/// before against the `WINDOW` after it answers again.
async fn rolling_restart<'a>(
    args: &'a Args,
    spec: &dyn Fn(u16, String) -> ServerSpec<'a>,
    namespace: String,
    bump_epoch_at_start: bool,
) -> anyhow::Result<RollingResult> {
    let kits = args.kits.min(if args.quick() { 5_000 } else { 20_000 });
    let connections = 16usize;
    let exponent = 1.1;
    let ports = feed_ports(args);
    let mut servers = vec![
        Server::start(spec(ports[0], namespace.clone())).await?,
        Server::start(spec(ports[1], namespace.clone())).await?,
    ];
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let client = load::client(connections)?;
    warm_all_kits(&client, &bases[0], kits, connections).await?;

    let cdf = Arc::new(zipf_cdf(kits, exponent));
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(Mutex::new(Vec::<Read>::new()));
    let (failed_over, errors) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut tasks = Vec::new();
    for worker in 0..connections {
        let (client, cdf, stop, reads) = (client.clone(), cdf.clone(), stop.clone(), reads.clone());
        let (failed_over, errors, bases) = (failed_over.clone(), errors.clone(), bases.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(7000 + worker as u64);
            let home = worker % 2;
            while !stop.load(Ordering::Relaxed) {
                let u: f64 = rng.random();
                let rank = cdf.partition_point(|c| *c < u) as u64 + 1;
                let id = (rank * 7919) % u64::from(kits) + 1;
                let path = format!("/api/kit-json/{id}");
                let mut answer = load::get(&client, &format!("{}{path}", bases[home])).await;
                if answer.is_err() {
                    // The instance is down: a load balancer sends it elsewhere.
                    failed_over.fetch_add(1, Ordering::Relaxed);
                    answer = load::get(&client, &format!("{}{path}", bases[1 - home])).await;
                }
                match answer {
                    Ok((200, x_cache, _)) => {
                        let read = Read { at: started.elapsed(), hit: x_cache == "HIT" || x_cache == "STALE" };
                        reads.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(read);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    tokio::time::sleep(WINDOW).await;
    let restart_began = started.elapsed();
    let restarted = servers.pop().ok_or_else(|| anyhow::anyhow!("no second server"))?;
    restarted.terminate().await;
    let server = Server::start(spec(ports[1], namespace.clone())).await?;
    if bump_epoch_at_start {
        // What the pre-feed server did on every start and reconnect.
        let cache = fkapi_cache::Cache::new(
            fkapi_cache::CacheConfig { namespace: namespace.clone(), ..Default::default() },
            Some(&args.redis_url),
            &prometheus::Registry::new(),
        )?;
        anyhow::ensure!(cache.invalidate_all().await, "could not bump the epoch");
    }
    servers.push(server);
    let back = started.elapsed();
    tokio::time::sleep(WINDOW).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await?;
    }
    for server in servers {
        server.stop().await;
    }
    cleanup(&args.redis_url, &namespace).await;
    let reads = std::mem::take(&mut *reads.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    let window = |from: Duration, to: Duration| {
        let (mut total, mut hits) = (0u64, 0u64);
        for read in reads.iter().filter(|r| r.at >= from && r.at < to) {
            total += 1;
            hits += u64::from(read.hit);
        }
        Window { seconds: (to - from).as_secs_f64(), reads: total, hits, hit_rate: hits as f64 / total.max(1) as f64 }
    };
    let result = RollingResult {
        mode: if bump_epoch_at_start {
            "epoch bumped when the instance starts (the pre-feed server)".into()
        } else {
            "change feed (this build)".into()
        },
        kits,
        exponent,
        connections,
        before: window(restart_began.saturating_sub(WINDOW), restart_began),
        after: window(back, back + WINDOW),
        restart_secs: (back - restart_began).as_secs_f64(),
        failed_over: failed_over.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
    };
    println!(
        "  rolling restart, {}: hit rate {:.2}% before, {:.2}% in the {} s after (restart {:.1} s)",
        result.mode,
        result.before.hit_rate * 100.0,
        result.after.hit_rate * 100.0,
        WINDOW.as_secs(),
        result.restart_secs
    );
    Ok(result)
}

/// Out-of-band single-row UPDATEs at `rate`/s for a few seconds, as psql or
/// another service would make them; every 10th is timed from its commit to
/// its kit's generation bump in Redis.
async fn feed_lag<'a>(
    args: &'a Args,
    spec: &dyn Fn(u16, String) -> ServerSpec<'a>,
    namespace: String,
) -> anyhow::Result<FeedLagResult> {
    let rate = 1000u32;
    let seconds = if args.quick() { 3.0 } else { 10.0 };
    let writers = 4u32;
    let servers = vec![
        Server::start(spec(feed_ports(args)[0], namespace.clone())).await?,
        Server::start(spec(feed_ports(args)[1], namespace.clone())).await?,
    ];
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let client = load::client(4)?;
    let applied_before = sum_metric(&client, &bases, "fkapi_feed_records_applied_total").await;
    let ns = Namespace::new(&namespace);
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (client, bases, stop) = (client.clone(), bases.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut seconds, mut records) = (0.0f64, 0.0f64);
            while !stop.load(Ordering::Relaxed) {
                for base in &bases {
                    seconds = seconds.max(load::metric(&client, base, "fkapi_feed_lag_seconds").await.unwrap_or(0.0));
                    records = records.max(load::metric(&client, base, "fkapi_feed_lag_records").await.unwrap_or(0.0));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (seconds, records)
        })
    };
    let kits = u64::from(args.kits);
    let next = Arc::new(AtomicU64::new(0));
    let began = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let mut config: tokio_postgres::Config = args.database_url.parse()?;
        config.application_name("fkapi-bench-writer");
        let (db, connection) = config.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        let mut redis = redis_conn(&args.redis_url).await?;
        let (next, ns) = (next.clone(), ns.clone());
        tasks.push(tokio::spawn(async move {
            let update = db.prepare("UPDATE kits SET name = name WHERE id = $1").await?;
            let mut tick = tokio::time::interval(Duration::from_secs_f64(f64::from(writers) / f64::from(rate)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut pollers = Vec::new();
            let mut written = 0u64;
            while began.elapsed().as_secs_f64() < seconds {
                tick.tick().await;
                let n = next.fetch_add(1, Ordering::Relaxed);
                let id = i32::try_from(n % kits + 1)?;
                if n % 10 != 0 {
                    db.execute(&update, &[&id]).await?;
                    written += 1;
                    continue;
                }
                let key = ns.generation_key(&format!("kit:{id}"));
                let before: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut redis).await?;
                db.execute(&update, &[&id]).await?;
                written += 1;
                let committed = Instant::now();
                let mut poll = redis.clone();
                pollers.push(tokio::spawn(async move {
                    while committed.elapsed() < Duration::from_secs(10) {
                        let now: Option<String> =
                            redis::cmd("GET").arg(&key).query_async(&mut poll).await.unwrap_or(None);
                        if now.is_some() && now != before {
                            return Some(u64::try_from(committed.elapsed().as_micros()).unwrap_or(u64::MAX));
                        }
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    None
                }));
            }
            let mut lags = Vec::new();
            let mut unapplied = 0usize;
            for poller in pollers {
                match poller.await? {
                    Some(lag) => lags.push(lag),
                    None => unapplied += 1,
                }
            }
            anyhow::Ok((written, lags, unapplied))
        }));
    }
    let (mut changes, mut lags, mut unapplied) = (0u64, Vec::new(), 0usize);
    let mut elapsed = 0.0f64;
    for task in tasks {
        let (written, task_lags, task_unapplied) = task.await??;
        elapsed = elapsed.max(began.elapsed().as_secs_f64());
        changes += written;
        lags.extend(task_lags);
        unapplied += task_unapplied;
    }
    stop.store(true, Ordering::Relaxed);
    let (max_seconds, max_records) = sampler.await?;
    let applied = sum_metric(&client, &bases, "fkapi_feed_records_applied_total").await - applied_before;
    for server in servers {
        server.stop().await;
    }
    cleanup(&args.redis_url, &namespace).await;
    let result = FeedLagResult {
        target_rate: rate,
        seconds,
        changes,
        achieved_rate: changes as f64 / elapsed.max(1e-9),
        lag: Latency::of(lags),
        unapplied_samples: unapplied,
        max_lag_seconds_metric: max_seconds,
        max_lag_records_metric: max_records,
        records_applied: applied,
    };
    println!(
        "  feed lag at {:.0} changes/s: commit → bump p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} samples, {} never applied)",
        result.achieved_rate,
        result.lag.p50_ms,
        result.lag.p99_ms,
        result.lag.max_ms,
        result.lag.count,
        result.unapplied_samples
    );
    Ok(result)
}

async fn sum_metric(client: &reqwest::Client, bases: &[String], series: &str) -> f64 {
    let mut total = 0.0;
    for base in bases {
        total += load::metric(client, base, series).await.unwrap_or(0.0);
    }
    total
}

/// Both rolling-restart modes and the lag burst, each on a fresh namespace.
pub async fn run<'a>(
    args: &'a Args,
    spec: &dyn Fn(u16, String) -> ServerSpec<'a>,
    namespace: &str,
) -> anyhow::Result<(Vec<RollingResult>, Option<FeedLagResult>)> {
    println!("change feed: rolling restart and lag");
    let rolling = vec![
        rolling_restart(args, spec, format!("{namespace}roll"), false).await?,
        rolling_restart(args, spec, format!("{namespace}rollepoch"), true).await?,
    ];
    let lag = feed_lag(args, spec, format!("{namespace}lag")).await?;
    Ok((rolling, Some(lag)))
}

/// The report's "Change feed" section.
pub fn markdown(md: &mut String, r: &crate::Results) {
    use std::fmt::Write;
    if r.rolling_restart.is_empty() && r.feed_lag.is_none() {
        return;
    }
    let pct = |v: f64| format!("{:.2}%", v * 100.0);
    let _ = writeln!(md, "\n## Change feed: rolling restart and lag (issue 10)\n");
    let _ = writeln!(
        md,
        "Two instances on one namespace, every kit detail of the key set warmed first, then Zipf reads \
         (closed loop, reqwest) spread over both; after {} s one instance gets SIGTERM and is started \
         again (its reads go to the other one meanwhile). Hit rate of the {} s before the SIGTERM \
         against the {} s after the restarted instance answers. The second row repeats it with an epoch \
         bump when the instance starts, which is what the server did before the change feed.\n",
        WINDOW.as_secs(),
        WINDOW.as_secs(),
        WINDOW.as_secs()
    );
    let _ = writeln!(
        md,
        "| at the restart | kits | s | conns | reads before | hit rate before | reads after | hit rate after | restart s | failed over | errors |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|");
    for x in &r.rolling_restart {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | **{}** | {:.1} | {} | {} |",
            x.mode,
            x.kits,
            x.exponent,
            x.connections,
            x.before.reads,
            pct(x.before.hit_rate),
            x.after.reads,
            pct(x.after.hit_rate),
            x.restart_secs,
            x.failed_over,
            x.errors
        );
    }
    if let Some(l) = &r.feed_lag {
        let _ = writeln!(
            md,
            "\nFeed lag: {} writer connections send single-row `UPDATE kits` statements (autocommit, \
             application_name not fkapi, so the triggers record them) at a target of {} changes/s for \
             {:.0} s; every 10th is timed from its commit to the bump of that kit's generation in Redis \
             (polled every ms).\n",
            4, l.target_rate, l.seconds
        );
        let _ = writeln!(md, "| | value |\n|---|---|");
        let _ = writeln!(md, "| changes / achieved rate | {} / {:.0} per s |", l.changes, l.achieved_rate);
        let _ = writeln!(
            md,
            "| commit → generation bumped: p50 / p90 / p99 / max ms ({} samples) | {:.1} / {:.1} / {:.1} / {:.1} |",
            l.lag.count, l.lag.p50_ms, l.lag.p90_ms, l.lag.p99_ms, l.lag.max_ms
        );
        let _ = writeln!(md, "| samples never applied (10 s) | {} |", l.unapplied_samples);
        let _ = writeln!(
            md,
            "| highest fkapi_feed_lag_seconds / _records seen (every 100 ms) | {:.3} s / {:.0} |",
            l.max_lag_seconds_metric, l.max_lag_records_metric
        );
        let _ = writeln!(md, "| records applied (both instances) | {:.0} |", l.records_applied);
    }
}

/// The two instances of the feed workloads: clear of the servers the main
/// run keeps up meanwhile (base + 0, 1, 3) and of the reference servers.
fn feed_ports(args: &Args) -> [u16; 2] {
    [args.base_port + 7, args.base_port + 8]
}
