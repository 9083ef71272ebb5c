//! Several real `fkapi serve` processes on one test database and one Redis
//! namespace, for the scale-out tests: restarts, crashes (SIGKILL), freezes
//! (SIGSTOP / SIGCONT). Each instance is the binary cargo builds, on a free
//! port, with its own environment and its log in a file; everything is
//! killed, and the database and namespace removed, when the fleet drops,
//! also when the test panics (the logs are then printed).
//!
//! ```ignore
//! let mut fleet = Fleet::start(2).await;
//! fleet.get_json(0, "/api/clubs/1").await;
//! fleet.restart(1).await;
//! fleet.freeze(0);
//! ```

use crate::{clear_redis_namespace, metric_in, redis_url, StatusCode, TestDb, Value, ADMIN_KEY};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static NEXT_FLEET: AtomicU32 = AtomicU32::new(0);

/// How long an instance may take to answer /api/health after it starts
/// (a debug build on a loaded two-core machine).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a SIGTERM'd instance may take to exit before it is killed.
const TERMINATE_TIMEOUT: Duration = Duration::from_secs(15);

/// The `fkapi` binary: `FKAPI_TEST_BIN` when set, otherwise built once per
/// test process with `cargo build -p fkapi-api --bin fkapi` in the target
/// directory and profile of the running test (cargo's own lock serialises
/// concurrent builds), so the processes run the code under test.
pub fn fkapi_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Some(path) = std::env::var_os("FKAPI_TEST_BIN").filter(|p| !p.is_empty()) {
            return PathBuf::from(path);
        }
        // The test runs as target/<profile>/deps/<name>-<hash>.
        let exe = std::env::current_exe().expect("test executable path");
        let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps");
        let target_dir = profile_dir.parent().expect("target dir");
        let profile = profile_dir.file_name().and_then(|n| n.to_str()).unwrap_or("debug");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .args(["build", "-q", "-p", "fkapi-api", "--bin", "fkapi", "--target-dir"])
            .arg(target_dir)
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
        match profile {
            "debug" => {}
            "release" => {
                build.arg("--release");
            }
            other => {
                build.args(["--profile", other]);
            }
        }
        let status = build.status().expect("run cargo build for the fkapi binary");
        assert!(status.success(), "cargo build -p fkapi-api failed: {status}");
        profile_dir.join("fkapi")
    })
}

/// One `fkapi serve` process (or the slot of one that is not running).
pub struct Instance {
    pub port: u16,
    /// The environment it starts with (FKAPI_BIND, DATABASE_URL, …).
    pub env: BTreeMap<String, String>,
    child: Option<Child>,
    log: PathBuf,
    frozen: bool,
}

impl Instance {
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    fn signal(&self, signal: &str) {
        let pid = self.pid().expect("instance is not running");
        let status = Command::new("kill").args([signal, &pid.to_string()]).status().expect("run kill");
        assert!(status.success(), "kill {signal} {pid} failed");
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.frozen = false;
    }
}

/// N instances sharing one database and one Redis namespace.
pub struct Fleet {
    pub db: TestDb,
    pub namespace: String,
    pub redis_url: String,
    pub client: reqwest::Client,
    pub instances: Vec<Instance>,
    dir: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port()
}

/// Directory of one fleet's logs and pid files: fkapi-fleet-<test pid>-<n>.
fn fleet_dir(n: u32) -> PathBuf {
    std::env::temp_dir().join(format!("fkapi-fleet-{}-{n}", std::process::id()))
}

/// Kills instances left by test processes that died without dropping their
/// fleet (a SIGKILL'd `cargo test`), and removes their directories.
fn sweep_orphans() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(owner) = name.strip_prefix("fkapi-fleet-").and_then(|rest| rest.split('-').next()) else { continue };
        if std::path::Path::new(&format!("/proc/{owner}")).exists() {
            continue;
        }
        for pid_file in std::fs::read_dir(entry.path()).into_iter().flatten().flatten() {
            if pid_file.path().extension().is_some_and(|e| e == "pid") {
                let pid = std::fs::read_to_string(pid_file.path()).unwrap_or_default();
                let cmdline = std::fs::read(format!("/proc/{}/cmdline", pid.trim())).unwrap_or_default();
                if String::from_utf8_lossy(&cmdline).contains("fkapi") {
                    let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
                }
            }
        }
        let _ = std::fs::remove_dir_all(entry.path());
    }
}

impl Fleet {
    /// `n` running instances with the default test settings.
    pub async fn start(n: usize) -> Fleet {
        Fleet::start_with(n, |_, _| {}).await
    }

    /// `n` running instances; `adjust(index, env)` may change each one's
    /// environment before it starts.
    pub async fn start_with(n: usize, adjust: impl Fn(usize, &mut BTreeMap<String, String>)) -> Fleet {
        Fleet::start_on(&redis_url(), n, adjust).await
    }

    /// As [`Fleet::start_with`], on the Redis at `redis_url` (one URL or a
    /// cluster's comma-separated seed list).
    pub async fn start_on(redis_url: &str, n: usize, adjust: impl Fn(usize, &mut BTreeMap<String, String>)) -> Fleet {
        let binary = fkapi_binary().to_path_buf();
        assert!(binary.exists(), "no fkapi binary at {}", binary.display());
        sweep_orphans();
        let db = TestDb::create().await;
        let dir = fleet_dir(NEXT_FLEET.fetch_add(1, Ordering::SeqCst));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("fleet dir");
        // Idle connections are dropped before the server's keep-alive (5 s)
        // closes them: reusing one just as the server closes it fails the
        // request ("error sending request").
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .expect("client");
        let mut fleet = Fleet {
            namespace: db.name.clone(),
            db,
            redis_url: redis_url.to_string(),
            client,
            instances: Vec::new(),
            dir,
        };
        crate::mark_namespace_unused(&fleet.redis_url, &fleet.namespace).await;
        for index in 0..n {
            let mut env = fleet.default_env();
            adjust(index, &mut env);
            fleet.add(env);
        }
        for index in 0..n {
            fleet.start_instance(index).await;
        }
        fleet
    }

    /// The environment an instance gets unless a test changes it.
    pub fn default_env(&self) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        for (name, value) in [
            ("DATABASE_URL", self.db.url.as_str()),
            ("REDIS_URL", self.redis_url.as_str()),
            ("FKAPI_CACHE_NAMESPACE", self.namespace.as_str()),
            ("FKAPI_ADMIN_KEY", ADMIN_KEY),
            ("FKAPI_WORKERS", "2"),
            ("FKAPI_DB_POOL_SIZE", "8"),
            // The suite makes many requests from 127.0.0.1.
            ("FKAPI_RATE_LIMIT", "off"),
            ("NO_COLOR", "1"),
        ] {
            env.insert(name.to_string(), value.to_string());
        }
        env.insert(
            "RUST_LOG".into(),
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info,actix_server=warn,tokio_postgres=warn".into()),
        );
        env
    }

    /// Adds a (not yet started) instance on a free port; returns its index.
    pub fn add(&mut self, mut env: BTreeMap<String, String>) -> usize {
        let index = self.instances.len();
        let port = free_port();
        env.insert("FKAPI_BIND".into(), format!("127.0.0.1:{port}"));
        env.insert("FKAPI_URL".into(), format!("http://127.0.0.1:{port}"));
        let log = self.dir.join(format!("instance-{index}.log"));
        self.instances.push(Instance { port, env, child: None, log, frozen: false });
        index
    }

    /// Starts instance `index` (again) on its port and waits until it
    /// answers /api/health with 200.
    pub async fn start_instance(&mut self, index: usize) {
        let binary = fkapi_binary();
        let instance = &mut self.instances[index];
        assert!(instance.child.is_none(), "instance {index} is already running");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&instance.log).expect("instance log");
        let child = Command::new(binary)
            .arg("serve")
            .env_clear()
            .envs(["PATH", "HOME"].iter().filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v))))
            .envs(&instance.env)
            // No stray .env file is read: the instance runs in its own directory.
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        std::fs::write(self.dir.join(format!("instance-{index}.pid")), child.id().to_string()).expect("pid file");
        instance.child = Some(child);
        self.wait_healthy(index).await;
    }

    async fn wait_healthy(&mut self, index: usize) {
        let began = Instant::now();
        let url = self.url(index, "/api/health");
        loop {
            let instance = &mut self.instances[index];
            if let Some(status) = instance.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                instance.child = None;
                panic!("instance {index} exited at start ({status}):\n{}", self.log(index));
            }
            let answer = self.client.get(&url).timeout(Duration::from_secs(2)).send().await;
            if answer.is_ok_and(|r| r.status() == StatusCode::OK) {
                return;
            }
            assert!(
                began.elapsed() < START_TIMEOUT,
                "instance {index} not healthy after {START_TIMEOUT:?}:\n{}",
                self.log(index)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: the process dies at once, mid-request or mid-batch.
    pub fn kill(&mut self, index: usize) {
        self.instances[index].kill();
    }

    /// SIGTERM and wait for a clean exit (SIGKILL after a timeout), as a
    /// deploy stops an instance.
    pub fn terminate(&mut self, index: usize) {
        let instance = &mut self.instances[index];
        if instance.child.is_none() {
            return;
        }
        if instance.frozen {
            instance.signal("-CONT");
        }
        instance.signal("-TERM");
        let began = Instant::now();
        while began.elapsed() < TERMINATE_TIMEOUT {
            if instance.child.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_some()) {
                instance.child = None;
                instance.frozen = false;
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        instance.kill();
    }

    /// Stops and starts instance `index` (a rolling-deploy step).
    pub async fn restart(&mut self, index: usize) {
        self.terminate(index);
        self.start_instance(index).await;
    }

    /// SIGSTOP: the process is frozen (a long pause, a stalled VM).
    pub fn freeze(&mut self, index: usize) {
        self.instances[index].signal("-STOP");
        self.instances[index].frozen = true;
    }

    /// SIGCONT: a frozen process runs on.
    pub fn thaw(&mut self, index: usize) {
        self.instances[index].signal("-CONT");
        self.instances[index].frozen = false;
    }

    pub fn url(&self, index: usize, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.instances[index].port)
    }

    pub async fn get(&self, index: usize, path: &str) -> reqwest::Response {
        self.client.get(self.url(index, path)).send().await.unwrap_or_else(|e| panic!("instance {index} {path}: {e:?}"))
    }

    /// GET returning (status, JSON body, X-Cache header).
    pub async fn get_json(&self, index: usize, path: &str) -> (StatusCode, Value, String) {
        let response = self.get(index, path).await;
        let status = response.status();
        let cache = crate::header(&response, "x-cache");
        (status, response.json::<Value>().await.unwrap_or(Value::Null), cache)
    }

    /// A request with the admin key.
    pub fn admin(&self, index: usize, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(index, path)).header("X-API-Key", ADMIN_KEY)
    }

    /// The value of one Prometheus sample of instance `index` (0 when absent).
    pub async fn metric(&self, index: usize, name: &str, labels: &[(&str, &str)]) -> f64 {
        let text = self.get(index, "/metrics").await.text().await.expect("metrics");
        metric_in(&text, name, labels)
    }

    /// A direct connection to the fleet's database (psql's view).
    pub async fn db(&self) -> AsyncPgConnection {
        self.db.connect().await
    }

    /// Runs raw SQL on the fleet's database; returns the rows affected.
    pub async fn sql(&self, statement: &str) -> usize {
        diesel::sql_query(statement).execute(&mut self.db().await).await.unwrap_or_else(|e| panic!("{statement}: {e}"))
    }

    /// Everything instance `index` has logged so far.
    pub fn log(&self, index: usize) -> String {
        std::fs::read_to_string(&self.instances[index].log).unwrap_or_default()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for instance in &mut self.instances {
            instance.kill();
        }
        if std::thread::panicking() {
            for index in 0..self.instances.len() {
                let log = self.log(index);
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                eprintln!("--- fleet instance {index} log (last {} lines) ---", tail.len());
                for line in tail.iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        clear_redis_namespace(&self.redis_url, &self.namespace);
        // `db` drops after this, removing the database.
    }
}
