//! Release servers under test, started as child processes and killed on drop.

use anyhow::Context;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

pub const ADMIN_KEY: &str = "fkapi-bench-admin-key";

pub struct Server {
    pub base: String,
    pub namespace: String,
    child: Child,
}

pub struct ServerSpec<'a> {
    pub bin: &'a Path,
    pub database_url: &'a str,
    pub redis_url: &'a str,
    pub port: u16,
    pub namespace: String,
    pub cache: bool,
    pub compress_min_bytes: Option<usize>,
}

impl Server {
    pub async fn start(spec: ServerSpec<'_>) -> anyhow::Result<Server> {
        let bind = format!("127.0.0.1:{}", spec.port);
        let mut cmd = Command::new(spec.bin);
        cmd.arg("serve")
            .env("DATABASE_URL", spec.database_url)
            .env("REDIS_URL", spec.redis_url)
            .env("FKAPI_BIND", &bind)
            .env("FKAPI_CACHE", if spec.cache { "on" } else { "off" })
            .env("FKAPI_CACHE_NAMESPACE", &spec.namespace)
            .env("FKAPI_ADMIN_KEY", ADMIN_KEY)
            .env("FKAPI_RATE_LIMIT", "0")
            .env("FKAPI_ENTRIES_SAMPLE_SECS", "0")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if let Some(min) = spec.compress_min_bytes {
            cmd.env("FKAPI_CACHE_COMPRESS_MIN_BYTES", min.to_string());
        }
        let child = cmd.spawn().with_context(|| format!("starting {}", spec.bin.display()))?;
        let server = Server { base: format!("http://{bind}"), namespace: spec.namespace, child };
        server.wait_ready().await?;
        Ok(server)
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(resp) = client.get(format!("{}/api/health", self.base)).send().await {
                if resp.status().is_success() {
                    break;
                }
            }
            anyhow::ensure!(Instant::now() < deadline, "server at {} not healthy after 30 s", self.base);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let probe = client.get(format!("{}/bench/static/16", self.base)).send().await?;
        anyhow::ensure!(
            probe.status().is_success(),
            "{}/bench/static/16 answered {}: the server binary was not built with --features bench",
            self.base,
            probe.status()
        );
        Ok(())
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }

    /// SIGTERM, as a deploy stops an instance; killed if it lingers.
    pub async fn terminate(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status().await;
        }
        if tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

/// A private redis-server (no persistence) for the invalidation workload.
pub struct PrivateRedis {
    pub url: String,
    child: Child,
}

impl PrivateRedis {
    pub async fn start(port: u16) -> anyhow::Result<PrivateRedis> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--protected-mode", "yes", "--loglevel", "warning"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting redis-server (apt-get install redis-server)")?;
        let url = format!("redis://127.0.0.1:{port}");
        let client = redis::Client::open(url.as_str())?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
                if redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok() {
                    break;
                }
            }
            anyhow::ensure!(Instant::now() < deadline, "private redis-server on port {port} did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(PrivateRedis { url, child })
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
