//! `fkapi-bench`: the driver behind `make bench` / `make bench-quick`.
//!
//! Starts release `fkapi` servers (built with `--features bench`) on
//! loopback against a seeded benchmark database, drives them with `wrk`
//! (plain throughput runs) and with its own closed-loop client (zipf with
//! writes, stampede), measures invalidation against a private redis-server
//! and entry sizes in Redis, then writes `bench/results/latest.json` and
//! `BENCHMARKS.md`.

mod cluster;
mod feed;
mod load;
mod report;
mod servers;
mod workloads;

use anyhow::Context;
use clap::Parser;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Parser, Debug, Clone)]
#[command(name = "fkapi-bench", about = "Benchmarks of the fkapi cache hit path")]
pub struct Args {
    /// full (large scale, long runs) or quick (small scale, a few seconds each).
    #[arg(long, default_value = "full")]
    pub mode: String,
    /// The fkapi binary built with `--features bench`.
    #[arg(long, default_value = "target/release/fkapi-bench-server")]
    pub server_bin: PathBuf,
    /// The bare actix-web reference server (bench/src/bare.rs).
    #[arg(long, default_value = "target/release/fkapi-bench-bare")]
    pub bare_bin: PathBuf,
    /// Debian's nginx, put with `proxy_cache` in front of fkapi as the
    /// HTTP-cache reference.
    #[arg(long, default_value = "nginx")]
    pub nginx_bin: PathBuf,
    /// The seeded benchmark database.
    #[arg(long, env = "BENCH_DATABASE_URL", default_value = "")]
    pub database_url: String,
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// Kits in the benchmark database (500000 large, 5000 small).
    #[arg(long, default_value_t = 500_000)]
    pub kits: u32,
    /// Clubs in the benchmark database (10000 large, 200 small).
    #[arg(long, default_value_t = 10_000)]
    pub clubs: u32,
    /// Connections of the throughput runs.
    #[arg(long, default_value_t = 32)]
    pub connections: u32,
    /// Seconds per throughput run (default 15 full, 3 quick).
    #[arg(long)]
    pub duration: Option<u32>,
    /// First of the loopback ports used (servers take this and the next few).
    #[arg(long, default_value_t = 18180)]
    pub base_port: u16,
    /// First of the six ports of the private Redis Cluster of the cluster
    /// runs (bus ports + 10000).
    #[arg(long, default_value_t = 17201)]
    pub cluster_port: u16,
    /// Port of the private redis-server of the invalidation workload.
    #[arg(long, default_value_t = 16399)]
    pub invalidation_redis_port: u16,
    #[arg(long, default_value = "bench/results/latest.json")]
    pub json_out: PathBuf,
    #[arg(long, default_value = "BENCHMARKS.md")]
    pub markdown_out: PathBuf,
    /// Hand-written notes (profile, changes) included in BENCHMARKS.md.
    #[arg(long, default_value = "bench/NOTES.md")]
    pub notes: PathBuf,
    /// The command line shown in the report.
    #[arg(long, default_value = "make bench")]
    pub command: String,
    /// Run only these workloads (`feed`: rolling restart and feed lag;
    /// `cluster`: the Redis Cluster runs).
    #[arg(long)]
    pub only: Option<String>,
    /// Only rewrite the markdown report from an earlier results file.
    #[arg(long)]
    pub from_json: Option<PathBuf>,
}

impl Args {
    pub fn quick(&self) -> bool {
        self.mode == "quick"
    }

    pub fn run_secs(&self) -> u32 {
        self.duration.unwrap_or(if self.quick() { 3 } else { 15 })
    }

    /// Rounds the servers the issue-12 targets compare alternate over.
    pub fn compared_rounds(&self) -> u32 {
        if self.quick() {
            1
        } else {
            3
        }
    }
}

#[derive(Serialize, Deserialize, Default)]
pub struct Results {
    pub machine: report::Machine,
    pub mode: String,
    pub command: String,
    pub connections: u32,
    pub run_secs: u32,
    pub kits: u32,
    pub clubs: u32,
    pub throughput: Vec<load::RunResult>,
    pub ratios: Vec<(String, f64)>,
    pub redis_benchmark: Option<workloads::RedisBenchmark>,
    pub zipf: Vec<workloads::ZipfResult>,
    pub stampede: Option<workloads::StampedeResult>,
    pub invalidation: Vec<workloads::InvalidationResult>,
    pub memory: Vec<workloads::MemoryResult>,
    #[serde(default)]
    pub rolling_restart: Vec<feed::RollingResult>,
    #[serde(default)]
    pub feed_lag: Option<feed::FeedLagResult>,
    #[serde(default)]
    pub write_latency: Vec<workloads::WriteLatencyResult>,
    /// Redis Cluster runs (hit throughput vs one node, write cost of WAIT, failover gap).
    #[serde(default)]
    pub cluster: Option<cluster::ClusterResult>,
    pub notes: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(path) = &args.from_json {
        let results: Results = serde_json::from_slice(&std::fs::read(path)?)?;
        let notes = std::fs::read_to_string(&args.notes).unwrap_or_default();
        std::fs::write(&args.markdown_out, report::markdown(&results, &notes))?;
        println!("wrote {} from {}", args.markdown_out.display(), path.display());
        return Ok(());
    }
    anyhow::ensure!(args.mode == "full" || args.mode == "quick", "--mode must be full or quick");
    let started = std::time::Instant::now();
    let mut results = Results {
        machine: report::Machine::collect(),
        mode: args.mode.clone(),
        command: args.command.clone(),
        connections: args.connections,
        run_secs: args.run_secs(),
        kits: args.kits,
        clubs: args.clubs,
        ..Results::default()
    };
    let outcome = workloads::run_all(&args, &mut results).await;
    if let Err(err) = &outcome {
        results.notes.push(format!("run aborted: {err:#}"));
    }
    results.notes.push(format!("whole run took {:.0} s", started.elapsed().as_secs_f64()));
    if let Some(dir) = args.json_out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&args.json_out, serde_json::to_vec_pretty(&results)?)
        .with_context(|| format!("writing {}", args.json_out.display()))?;
    let notes = std::fs::read_to_string(&args.notes).unwrap_or_default();
    std::fs::write(&args.markdown_out, report::markdown(&results, &notes))
        .with_context(|| format!("writing {}", args.markdown_out.display()))?;
    println!("wrote {} and {}", args.json_out.display(), args.markdown_out.display());
    outcome
}
