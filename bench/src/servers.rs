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
    /// FKAPI_L1_MAX_MB; `None` keeps the default (L1 on, 64 MB).
    pub l1_mb: Option<u32>,
    /// More settings (the cluster runs: FKAPI_REDIS_WAIT_MS, …).
    pub extra_env: Vec<(&'static str, String)>,
}

impl Server {
    pub async fn start(spec: ServerSpec<'_>) -> anyhow::Result<Server> {
        let bind = format!("127.0.0.1:{}", spec.port);
        // A taken port would let the health check below be answered by the
        // server already on it, and every figure of this one measure that.
        drop(std::net::TcpListener::bind(&bind).with_context(|| format!("port {} is already taken", spec.port))?);
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
        if let Some(megabytes) = spec.l1_mb {
            cmd.env("FKAPI_L1_MAX_MB", megabytes.to_string());
        }
        for (name, value) in &spec.extra_env {
            cmd.env(name, value);
        }
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

/// Waits until `url` answers 200 (a reference server coming up).
async fn wait_ok(url: &str, what: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(resp) = client.get(url).send().await {
            if resp.status().is_success() {
                return Ok(());
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "{what} at {url} not answering after 20 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The bare actix-web reference server (bench/src/bare.rs), killed on drop.
pub struct BareServer {
    pub base: String,
    child: Child,
}

impl BareServer {
    pub async fn start(bin: &Path, port: u16, workers: usize) -> anyhow::Result<BareServer> {
        let bind = format!("127.0.0.1:{port}");
        let child = Command::new(bin)
            .arg(&bind)
            .arg(workers.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {} (built by make bench-build)", bin.display()))?;
        let server = BareServer { base: format!("http://{bind}"), child };
        wait_ok(&format!("{}/bench/static/16", server.base), "bare actix-web server").await?;
        Ok(server)
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Debian's nginx with `proxy_cache` in front of an fkapi server: the HTTP
/// cache a user would put in front of FKApi. It caches every 200 for ten
/// minutes whatever fkapi's `Cache-Control` says (so it serves its own
/// copies, stale after a write, which is the trade it makes), and tags each
/// response with `X-Nginx-Cache` so warming can check it hits.
pub struct Nginx {
    pub base: String,
    dir: std::path::PathBuf,
    child: Child,
}

impl Nginx {
    pub async fn start(bin: &Path, port: u16, upstream: &str, workers: usize, scratch: &Path) -> anyhow::Result<Nginx> {
        let dir = scratch.join("nginx");
        std::fs::create_dir_all(&dir)?;
        let upstream = upstream.trim_start_matches("http://");
        let conf = format!(
            "worker_processes {workers};\n\
             pid {dir}/nginx.pid;\n\
             error_log {dir}/error.log warn;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n\
             \x20 access_log off;\n\
             \x20 client_body_temp_path {dir}/body;\n\
             \x20 proxy_temp_path {dir}/proxy;\n\
             \x20 fastcgi_temp_path {dir}/fastcgi;\n\
             \x20 uwsgi_temp_path {dir}/uwsgi;\n\
             \x20 scgi_temp_path {dir}/scgi;\n\
             \x20 proxy_cache_path {dir}/cache levels=1:2 keys_zone=fkapi:32m max_size=1g inactive=1h use_temp_path=off;\n\
             \x20 upstream fkapi {{ server {upstream}; keepalive 64; }}\n\
             \x20 server {{\n\
             \x20   listen 127.0.0.1:{port};\n\
             \x20   location / {{\n\
             \x20     proxy_pass http://fkapi;\n\
             \x20     proxy_http_version 1.1;\n\
             \x20     proxy_set_header Connection \"\";\n\
             \x20     proxy_cache fkapi;\n\
             \x20     proxy_cache_key $request_uri;\n\
             \x20     proxy_cache_valid 200 10m;\n\
             \x20     proxy_ignore_headers Cache-Control Expires;\n\
             \x20     add_header X-Nginx-Cache $upstream_cache_status;\n\
             \x20   }}\n\
             \x20 }}\n\
             }}\n",
            dir = dir.display()
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf)?;
        let child = Command::new(bin)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf_path)
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {} (apt-get install nginx)", bin.display()))?;
        let nginx = Nginx { base: format!("http://127.0.0.1:{port}"), dir, child };
        wait_ok(&format!("{}/api/health", nginx.base), "nginx").await?;
        Ok(nginx)
    }

    /// SIGTERM to the master, which stops its workers (SIGKILL would leave
    /// them running without it).
    fn terminate(&self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        }
    }

    pub async fn stop(mut self) {
        self.terminate();
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // After `stop` the child has exited and has no id any more.
        self.terminate();
    }
}
