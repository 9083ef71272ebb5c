//! Redis Cluster runs (`--only cluster`, and part of `make bench`): a
//! private 3-master / 3-replica cluster of Debian's redis-server, then
//!
//! * hit throughput and p99 of kit details with L1 off (so every hit is a
//!   Redis hit) on the single node and on the cluster, in the same run;
//! * write latency on the cluster with and without the `WAIT` after bumps;
//! * the failover gap: SIGKILL the master of a warm kit's entry slot, then
//!   the time until that kit is a HIT again (and when the replica was
//!   promoted).

use crate::load::{self, Latency, RunResult, WrkRun};
use crate::servers::{Server, ServerSpec, ADMIN_KEY};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct ClusterResult {
    /// `single_redis_hit_kit` and `cluster_redis_hit_kit`.
    pub hits: Vec<RunResult>,
    /// Sequential club renames on the cluster: `wait` (default) and `no_wait`.
    pub writes: Vec<(String, Latency)>,
    /// Kill → replica promoted (as CLUSTER NODES shows it), ms.
    pub promotion_ms: f64,
    /// Kill → first HIT on a kit whose entry was on the killed master, ms.
    pub failover_gap_ms: f64,
    /// Requests during the failover that were not 200.
    pub failover_errors: u64,
    /// Slowest request during the failover, ms.
    pub failover_slowest_ms: f64,
}

struct Node {
    port: u16,
    child: Child,
}

struct LocalCluster {
    nodes: Vec<Node>,
    dir: PathBuf,
}

impl LocalCluster {
    async fn start(first_port: u16, dir: &Path) -> anyhow::Result<LocalCluster> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir)?;
        let mut nodes = Vec::new();
        for i in 0..6u16 {
            let port = first_port + i;
            let node_dir = dir.join(port.to_string());
            std::fs::create_dir_all(&node_dir)?;
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .args(["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"])
                .args(["--cluster-node-timeout", "1000", "--repl-diskless-sync-delay", "0", "--loglevel", "warning"])
                .arg("--dir")
                .arg(&node_dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .kill_on_drop(true)
                .spawn()?;
            nodes.push(Node { port, child });
        }
        let cluster = LocalCluster { nodes, dir: dir.to_path_buf() };
        for node in &cluster.nodes {
            cluster.wait(Duration::from_secs(10), || async { cli(node.port, &["ping"]).await.is_ok() }).await?;
        }
        let mut create = Command::new("redis-cli");
        create.args(["--cluster", "create"]);
        for node in &cluster.nodes {
            create.arg(format!("127.0.0.1:{}", node.port));
        }
        let out = create.args(["--cluster-replicas", "1", "--cluster-yes"]).stdin(Stdio::null()).output().await?;
        anyhow::ensure!(out.status.success(), "cluster create: {}", String::from_utf8_lossy(&out.stdout));
        cluster
            .wait(Duration::from_secs(30), || async {
                let mut ok = true;
                for node in &cluster.nodes {
                    ok &= cli(node.port, &["cluster", "info"]).await.is_ok_and(|i| i.contains("cluster_state:ok"));
                }
                let masters = cluster.masters().await;
                for (port, _) in &masters {
                    ok &= cli(*port, &["info", "replication"]).await.is_ok_and(|i| i.contains("state=online"));
                }
                ok && masters.len() == 3
            })
            .await?;
        Ok(cluster)
    }

    async fn wait<F, Fut>(&self, within: Duration, mut ready: F) -> anyhow::Result<Duration>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let began = Instant::now();
        while !ready().await {
            anyhow::ensure!(began.elapsed() < within, "cluster not ready after {within:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(began.elapsed())
    }

    fn seeds(&self) -> String {
        self.nodes.iter().map(|n| format!("redis://127.0.0.1:{}", n.port)).collect::<Vec<_>>().join(",")
    }

    /// (port, slot ranges) of the masters serving slots, from a live node.
    async fn masters(&self) -> Vec<(u16, Vec<(u16, u16)>)> {
        for node in &self.nodes {
            let Ok(text) = cli(node.port, &["cluster", "nodes"]).await else { continue };
            return text
                .lines()
                .filter_map(|line| {
                    let f: Vec<&str> = line.split_whitespace().collect();
                    let flags = f.get(2)?;
                    if !flags.contains("master") || flags.contains("fail") {
                        return None;
                    }
                    let port = f.get(1)?.split('@').next()?.rsplit(':').next()?.parse().ok()?;
                    let slots: Vec<(u16, u16)> = f
                        .iter()
                        .skip(8)
                        .filter_map(|r| match r.split_once('-') {
                            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                            None => r.parse().ok().map(|s| (s, s)),
                        })
                        .collect();
                    (!slots.is_empty()).then_some((port, slots))
                })
                .collect();
        }
        Vec::new()
    }

    async fn kill(&mut self, port: u16) {
        if let Some(node) = self.nodes.iter_mut().find(|n| n.port == port) {
            let _ = node.child.kill().await;
        }
    }

    async fn stop(mut self) {
        for node in &mut self.nodes {
            let _ = node.child.kill().await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn cli(port: u16, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("redis-cli").arg("-p").arg(port.to_string()).args(args).output().await?;
    anyhow::ensure!(out.status.success(), "redis-cli {args:?} failed");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    anyhow::ensure!(!text.starts_with("Could not connect"), "{text}");
    Ok(text)
}

fn spec<'a>(
    args: &'a crate::Args,
    port: u16,
    namespace: String,
    redis_url: &'a str,
    extra_env: Vec<(&'static str, String)>,
) -> ServerSpec<'a> {
    ServerSpec {
        bin: &args.server_bin,
        database_url: &args.database_url,
        redis_url,
        port,
        namespace,
        cache: true,
        compress_min_bytes: None,
        l1_mb: None,
        extra_env,
    }
}

pub async fn run(
    args: &crate::Args,
    ns: &str,
    paths: &[String],
    script: &Path,
    scratch: &Path,
) -> anyhow::Result<ClusterResult> {
    let mut cluster = LocalCluster::start(args.cluster_port, &scratch.join("cluster")).await?;
    let seeds = cluster.seeds();
    let outcome = measure(args, ns, paths, script, scratch, &mut cluster, &seeds).await;
    cluster.stop().await;
    outcome
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    args: &crate::Args,
    ns: &str,
    paths: &[String],
    script: &Path,
    scratch: &Path,
    cluster: &mut LocalCluster,
    seeds: &str,
) -> anyhow::Result<ClusterResult> {
    let mut result = ClusterResult::default();
    let client = load::client(64)?;
    let l1_off = || vec![("FKAPI_L1_MAX_MB", "0".to_string())];
    let port = args.base_port + 10;
    println!("cluster: hit throughput, single node vs 3-master cluster (L1 off)");
    for (name, url, offset) in
        [("single_redis_hit_kit", args.redis_url.as_str(), 0u16), ("cluster_redis_hit_kit", seeds, 1)]
    {
        let server = Server::start(spec(args, port + offset, format!("{ns}c{offset}"), url, l1_off())).await?;
        let run = async {
            let (bytes, _) = crate::workloads::warm_paths(&client, &server.base, paths).await?;
            let wrk = WrkRun {
                name,
                workload: "redis_hit",
                base: &server.base,
                paths,
                connections: args.connections,
                secs: args.run_secs(),
                body_bytes: bytes,
            };
            load::wrk(&wrk, script, scratch).await
        }
        .await;
        server.stop().await;
        result.hits.push(run?);
    }
    crate::workloads::cleanup(&args.redis_url, &format!("{ns}c0")).await;

    println!("cluster: write latency with and without WAIT");
    let writes = if args.quick() { 100 } else { 300 };
    for (label, wait_ms) in [("wait", "100"), ("no_wait", "0")] {
        let env = vec![("FKAPI_REDIS_WAIT_MS", wait_ms.to_string()), ("FKAPI_L1_MAX_MB", "0".to_string())];
        let server = Server::start(spec(args, port + 2, format!("{ns}cw{label}"), seeds, env)).await?;
        let mut micros = Vec::with_capacity(writes);
        let run = async {
            for i in 0..writes {
                let body = serde_json::json!({ "name": format!("Cluster Write {label} {i}") });
                let t = Instant::now();
                let response = client
                    .patch(format!("{}/api/clubs/1", server.base))
                    .header("X-API-Key", ADMIN_KEY)
                    .json(&body)
                    .send()
                    .await?;
                anyhow::ensure!(response.status().is_success(), "write answered {}", response.status());
                micros.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
            }
            anyhow::Ok(())
        }
        .await;
        server.stop().await;
        run?;
        let latency = Latency::of(micros);
        println!("  {label}: p50 {:.2} ms, p99 {:.2} ms", latency.p50_ms, latency.p99_ms);
        result.writes.push((label.to_string(), latency));
    }

    println!("cluster: failover gap");
    // L1 off: a HIT then comes from the promoted master, not from memory.
    let server = Server::start(spec(args, port + 3, format!("{ns}cf"), seeds, l1_off())).await?;
    let run = failover(&client, &server, cluster, ns, paths, &mut result).await;
    server.stop().await;
    run?;
    Ok(result)
}

async fn failover(
    client: &reqwest::Client,
    server: &Server,
    cluster: &mut LocalCluster,
    ns: &str,
    paths: &[String],
    result: &mut ClusterResult,
) -> anyhow::Result<()> {
    crate::workloads::warm_paths(client, &server.base, paths).await?;
    // The kit to watch: the first whose entry is on the first master.
    let namespace = fkapi_cache::Namespace::new(&format!("{ns}cf"));
    let masters = cluster.masters().await;
    let (victim, ranges) = masters.first().cloned().ok_or_else(|| anyhow::anyhow!("no masters"))?;
    let on_victim = |path: &String| {
        let id = path.rsplit('/').next().unwrap_or_default();
        let slot = fkapi_cache::key::slot_of(namespace.entry_key(&format!("kit_json_{id}")).as_bytes());
        ranges.iter().any(|(a, b)| (*a..=*b).contains(&slot))
    };
    let watched: Vec<String> = paths.iter().filter(|p| on_victim(p)).take(20).cloned().collect();
    anyhow::ensure!(!watched.is_empty(), "no warm kit on the victim master");
    cluster.kill(victim).await;
    let killed = Instant::now();
    let mut promoted: Option<Duration> = None;
    let mut slowest = Duration::ZERO;
    let mut i = 0usize;
    loop {
        anyhow::ensure!(killed.elapsed() < Duration::from_secs(60), "no HIT within 60 s of the kill");
        if promoted.is_none() && cluster.masters().await.iter().all(|(port, _)| *port != victim) {
            promoted = Some(killed.elapsed());
        }
        let path = &watched[i % watched.len()];
        i += 1;
        let t = Instant::now();
        let (status, cache, _) = load::get(client, &format!("{}{path}", server.base)).await?;
        slowest = slowest.max(t.elapsed());
        if status != 200 {
            result.failover_errors += 1;
        }
        if cache == "HIT" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    result.failover_gap_ms = killed.elapsed().as_secs_f64() * 1000.0;
    result.promotion_ms = promoted.unwrap_or_default().as_secs_f64() * 1000.0;
    result.failover_slowest_ms = slowest.as_secs_f64() * 1000.0;
    println!(
        "  promoted after {:.0} ms, first HIT after {:.0} ms, slowest request {:.0} ms, {} non-200",
        result.promotion_ms, result.failover_gap_ms, result.failover_slowest_ms, result.failover_errors
    );
    Ok(())
}
