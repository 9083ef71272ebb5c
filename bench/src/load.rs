//! Load generation: `wrk` for plain throughput runs, and a closed-loop
//! client of our own for workloads that need per-request choices (zipf,
//! writes) or per-request records (stampede).

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

/// One throughput run, as the report shows it.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct RunResult {
    pub name: String,
    pub workload: String,
    pub url_example: String,
    pub paths: usize,
    pub connections: u32,
    pub requests: u64,
    pub seconds: f64,
    pub rps: f64,
    /// Mean response body bytes (as sent, gzip where the client accepted it).
    pub body_bytes: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
}

#[derive(Deserialize)]
struct WrkJson {
    requests: u64,
    duration_us: u64,
    errors: u64,
    p50_us: u64,
    p90_us: u64,
    p99_us: u64,
    max_us: u64,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Runs wrk over `paths` (cycled) on `base` for `secs` seconds.
pub struct WrkRun<'a> {
    pub name: &'a str,
    pub workload: &'a str,
    pub base: &'a str,
    pub paths: &'a [String],
    pub connections: u32,
    pub secs: u32,
    pub body_bytes: u64,
}

pub async fn wrk(run: &WrkRun<'_>, script: &Path, scratch: &Path) -> anyhow::Result<RunResult> {
    anyhow::ensure!(!run.paths.is_empty(), "no paths for {}", run.name);
    let list = scratch.join(format!("{}.paths", run.name));
    std::fs::write(&list, run.paths.join("\n") + "\n")?;
    let threads = run.connections.clamp(1, 2);
    let output = tokio::process::Command::new("wrk")
        .arg(format!("-t{threads}"))
        .arg(format!("-c{}", run.connections))
        .arg(format!("-d{}s", run.secs))
        .arg("--timeout")
        .arg("5s")
        .arg("-s")
        .arg(script)
        .arg(format!("{}{}", run.base, run.paths[0]))
        .arg("--")
        .arg(&list)
        .output()
        .await
        .context("running wrk (apt-get install wrk)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("WRKJSON "))
        .with_context(|| format!("wrk printed no result: {stdout} {}", String::from_utf8_lossy(&output.stderr)))?;
    let parsed: WrkJson = serde_json::from_str(line).with_context(|| format!("parsing {line}"))?;
    let seconds = parsed.duration_us as f64 / 1e6;
    let result = RunResult {
        name: run.name.to_string(),
        workload: run.workload.to_string(),
        url_example: run.paths[0].clone(),
        paths: run.paths.len(),
        connections: run.connections,
        requests: parsed.requests,
        seconds,
        rps: if seconds > 0.0 { parsed.requests as f64 / seconds } else { 0.0 },
        body_bytes: run.body_bytes,
        p50_ms: ms(parsed.p50_us),
        p90_ms: ms(parsed.p90_us),
        p99_ms: ms(parsed.p99_us),
        max_ms: ms(parsed.max_us),
        errors: parsed.errors,
    };
    println!(
        "  {:<28} {:>9.0} req/s  p50 {:.3} ms  p99 {:.3} ms  max {:.1} ms  errors {}",
        result.name, result.rps, result.p50_ms, result.p99_ms, result.max_ms, result.errors
    );
    Ok(result)
}

/// Latencies in microseconds, summarised.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Latency {
    pub count: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn of(mut micros: Vec<u64>) -> Latency {
        if micros.is_empty() {
            return Latency::default();
        }
        micros.sort_unstable();
        let at = |q: f64| {
            let idx = ((micros.len() as f64 * q).ceil() as usize).clamp(1, micros.len()) - 1;
            ms(micros[idx])
        };
        Latency { count: micros.len(), p50_ms: at(0.50), p90_ms: at(0.90), p99_ms: at(0.99), max_ms: at(1.0) }
    }
}

/// A client with a connection pool sized for `connections` and no gzip
/// decoding (bodies are counted as sent).
pub fn client(connections: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .build()?)
}

/// GETs `url` with Accept-Encoding: gzip; returns status, X-Cache and body length.
pub async fn get(client: &reqwest::Client, url: &str) -> anyhow::Result<(u16, String, usize)> {
    let resp = client.get(url).header("accept-encoding", "gzip").send().await?;
    let status = resp.status().as_u16();
    let x_cache = resp.headers().get("x-cache").and_then(|v| v.to_str().ok()).map(str::to_string).unwrap_or_default();
    let body = resp.bytes().await?;
    Ok((status, x_cache, body.len()))
}

/// Reads one sample of a Prometheus counter from /metrics.
pub async fn metric(client: &reqwest::Client, base: &str, series: &str) -> anyhow::Result<f64> {
    let text = client.get(format!("{base}/metrics")).send().await?.text().await?;
    Ok(text
        .lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.trim().parse::<f64>().ok()))
        .unwrap_or(0.0))
}
