//! Test harness. `TestApp::spawn()` gives a test the real server on a free
//! port, its own PostgreSQL database (a copy of a template that is migrated
//! and seeded at the small scale once per change of migrations or seeder)
//! and its own Redis key namespace. Both are removed when the app drops.
//! `fleet::Fleet` starts several real `fkapi serve` processes instead.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod cluster;
pub mod fleet;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use fkapi_api::config::{Secret, Settings};
use fkapi_api::AppState;
use md5::{Digest, Md5};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

pub use reqwest::StatusCode;
pub use serde_json::{json, Value};

pub const ADMIN_KEY: &str = "test-admin-key";

static NEXT_ID: AtomicU32 = AtomicU32::new(0);

/// The server the tests use when neither variable below names one.
const DEFAULT_TEST_SERVER: &str = "postgres://postgres:postgres@127.0.0.1:5432";

/// The PostgreSQL server the per-test databases are created on, as a URL
/// whose database name does not matter: `FKAPI_TEST_DATABASE_URL`, else
/// `DATABASE_URL` (the server `fkapi` itself uses), else 127.0.0.1:5432.
/// `make clean-test-dbs` asks this function too, so both always agree.
pub fn postgres_server() -> String {
    ["FKAPI_TEST_DATABASE_URL", "DATABASE_URL"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|url| !url.trim().is_empty()))
        .unwrap_or_else(|| DEFAULT_TEST_SERVER.into())
}

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| "redis://127.0.0.1:6379".into())
}

/// The URL of database `name` on [`postgres_server`] (user, password,
/// host, port and options kept, the database name replaced).
pub fn database_url(name: &str) -> String {
    let server = postgres_server();
    let mut url = url::Url::parse(&server)
        .unwrap_or_else(|e| panic!("FKAPI_TEST_DATABASE_URL / DATABASE_URL is not a postgres:// URL: {e}"));
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// The files under `dir` (recursively), for hashing.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Changes whenever a migration, the seeder (its code and data files) or
/// the catalogue it generates changes (the slug rule and the colour and
/// design lists live in other crates), so a stale template is never reused.
fn template_name() -> String {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut hasher = Md5::new();
        let mut files = files_under(&root.join("migrations"));
        files.extend(files_under(&root.join("crates/seed/src")));
        files.extend(files_under(&root.join("crates/seed/data")));
        assert!(files.iter().any(|f| f.ends_with("generate.rs")), "the seeder's sources moved: update template_name");
        files.sort();
        for file in files {
            // Relative paths: every checkout of the same sources shares one template.
            hasher.update(file.strip_prefix(&root).unwrap_or(&file).to_string_lossy().as_bytes());
            hasher.update(std::fs::read(&file).unwrap_or_default());
        }
        let catalogue = fkapi_seed::generate(fkapi_seed::Scale::Small).expect("seeder data files");
        hasher.update(format!("{catalogue:?}").as_bytes());
        let digest = hasher.finalize();
        format!("fkapi_tpl_{}", digest[..6].iter().map(|b| format!("{b:02x}")).collect::<String>())
    })
    .clone()
}

async fn admin_conn() -> AsyncPgConnection {
    AsyncPgConnection::establish(&database_url("postgres")).await.expect("connect to postgres")
}

/// The test databases (`fkapi_t_<pid>_…`) and templates (`fkapi_tpl_…`),
/// with their comment (a template's last use).
const TEST_DATABASES: &str = "SELECT datname AS name, coalesce(shobj_description(oid, 'pg_database'), '') AS note
     FROM pg_database WHERE datname LIKE 'fkapi\\_t%'";

#[derive(diesel::QueryableByName)]
struct Name {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    /// The database's comment: a template's last use (unix seconds).
    #[diesel(sql_type = diesel::sql_types::Text)]
    note: String,
}

/// Another checkout's template (other migrations) is dropped only when no
/// test has used it for this long: several worktrees share one server.
const UNUSED_TEMPLATE_SECS: u64 = 6 * 3600;

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Creates the template once (under an advisory lock, so parallel test
/// processes agree) and sweeps databases left by test processes that died.
async fn ensure_template() -> String {
    let template = template_name();
    let mut conn = admin_conn().await;
    diesel::sql_query("SELECT pg_advisory_lock(727274)").execute(&mut conn).await.expect("lock");
    let existing: Vec<Name> = diesel::sql_query(TEST_DATABASES).load(&mut conn).await.expect("list databases");
    for db in &existing {
        let dead_test = db
            .name
            .strip_prefix("fkapi_t_")
            .and_then(|rest| rest.split('_').next())
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists());
        let last_used = db.note.parse::<u64>().ok();
        let old_template = db.name.starts_with("fkapi_tpl_")
            && db.name != template
            && last_used.is_some_and(|at| unix_now().saturating_sub(at) > UNUSED_TEMPLATE_SECS);
        if dead_test || old_template {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", db.name))
                .execute(&mut conn)
                .await;
        }
    }
    if !existing.iter().any(|db| db.name == template) {
        let building = format!("{template}_building");
        let _ =
            diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)")).execute(&mut conn).await;
        diesel::sql_query(format!("CREATE DATABASE \"{building}\"")).execute(&mut conn).await.expect("create template");
        fkapi_db::run_migrations(&database_url(&building)).await.expect("migrate template");
        let mut seed_conn = AsyncPgConnection::establish(&database_url(&building)).await.expect("connect template");
        fkapi_seed::seed(&mut seed_conn, fkapi_seed::Scale::Small).await.expect("seed template");
        drop(seed_conn);
        diesel::sql_query(format!("ALTER DATABASE \"{building}\" RENAME TO \"{template}\""))
            .execute(&mut conn)
            .await
            .expect("publish template");
    }
    let _ =
        diesel::sql_query(format!("COMMENT ON DATABASE \"{template}\" IS '{}'", unix_now())).execute(&mut conn).await;
    diesel::sql_query("SELECT pg_advisory_unlock(727274)").execute(&mut conn).await.expect("unlock");
    template
}

/// A database of the test's own, copied from the template; dropped (with
/// its connections) when this drops, also when the test panics.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn create() -> TestDb {
        let mut template = ensure_template().await;
        let id = NEXT_ID.fetch_add(1, Ordering::SeqCst);
        let name = format!("fkapi_t_{}_{id}", std::process::id());
        let mut conn = admin_conn().await;
        diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&mut conn)
            .await
            .expect("drop");
        // Several tests may copy the template at the same moment; PostgreSQL
        // refuses a copy while another session (or autovacuum, on a freshly
        // built template) touches the source, so retry for up to 30 s.
        let mut attempt = 0;
        loop {
            match diesel::sql_query(format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\" STRATEGY FILE_COPY"))
                .execute(&mut conn)
                .await
            {
                Ok(_) => break,
                Err(e) if attempt < 300 => {
                    attempt += 1;
                    // Swept by a checkout with older harness code: build it again.
                    if e.to_string().contains("does not exist") {
                        template = ensure_template().await;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("could not copy template: {e}"),
            }
        }
        TestDb { url: database_url(&name), name }
    }

    /// A direct connection, for out-of-band writes.
    pub async fn connect(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.url).await.expect("connect test db")
    }
}

/// Runs `work` on a runtime of its own on another thread: Drop impls run
/// inside a test's runtime, where blocking on a future is not allowed.
fn block_on_side_thread<F: std::future::Future<Output = ()> + Send + 'static>(work: F) {
    let _ = std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        runtime.block_on(work);
    })
    .join();
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        block_on_side_thread(async move {
            // A backend still shutting down (its client was just killed) can
            // make one attempt fail; a later one succeeds.
            let mut last_error = String::new();
            for _ in 0..20 {
                match AsyncPgConnection::establish(&database_url("postgres")).await {
                    Ok(mut conn) => {
                        match diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                            .execute(&mut conn)
                            .await
                        {
                            Ok(_) => return,
                            Err(e) => last_error = e.to_string(),
                        }
                    }
                    Err(e) => last_error = e.to_string(),
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            eprintln!("could not drop test database {name}: {last_error}");
        });
    }
}

/// Deletes every key of a test's cache namespace (SCAN: tests only).
pub fn clear_redis_namespace(redis_url: &str, namespace: &str) {
    let redis = redis_url.to_string();
    let patterns = fkapi_cache::Namespace::new(namespace).scan_patterns();
    block_on_side_thread(async move {
        let Ok(client) = redis::Client::open(redis) else { return };
        let Ok(mut conn) = client.get_multiplexed_async_connection().await else { return };
        for pattern in patterns {
            let keys: Vec<String> = fkapi_cache::scan_keys(&mut conn, &pattern, 1000).await.unwrap_or_default();
            for chunk in keys.chunks(1000) {
                let _: redis::RedisResult<()> = redis::cmd("DEL").arg(chunk).query_async(&mut conn).await;
            }
        }
    });
}

/// Records that no instance has ever held an L1 lease in this brand-new
/// namespace, so its first writes need not wait out the lease term that
/// protects a leases hash Redis may have evicted (see fkapi_cache's
/// coherence module). Only for a namespace nobody has used.
/// Async, not on a side thread: a test's Redis may sit behind a proxy
/// running on the test's own (current-thread) runtime.
pub async fn mark_namespace_unused(redis_url: &str, namespace: &str) {
    let key = fkapi_cache::Namespace::new(namespace).leases_key();
    let mut mark = redis::cmd("HSETNX");
    mark.arg(&key).arg(fkapi_cache::SINCE_FIELD).arg(0);
    if redis_url.contains(',') {
        // A cluster's seed list (tests/cluster.rs).
        let seeds: Vec<&str> = redis_url.split(',').collect();
        let Ok(client) = redis::cluster::ClusterClient::new(seeds) else { return };
        let Ok(mut conn) = client.get_async_connection().await else { return };
        let _: redis::RedisResult<()> = mark.query_async(&mut conn).await;
        return;
    }
    let Ok(client) = redis::Client::open(redis_url) else { return };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else { return };
    let _: redis::RedisResult<()> = mark.query_async(&mut conn).await;
}

/// A running server with its own database and Redis namespace.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub settings: Settings,
    pub db_name: String,
    handle: actix_web::dev::ServerHandle,
    /// Dropped after the namespace is cleared (fields drop after `drop`).
    database: TestDb,
    _background: fkapi_api::Background,
}

impl TestApp {
    /// The default test app: caching on, admin key set.
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(|_| {}).await
    }

    /// Lets a test adjust the settings (e.g. cache off, another Redis).
    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let database = TestDb::create().await;
        let db_name = database.name.clone();
        let mut settings = Settings::from_env().expect("settings");
        settings.database_url = Secret(database.url.clone());
        settings.redis_url = Some(Secret(redis_url()));
        settings.admin_key = Some(Secret(ADMIN_KEY.into()));
        settings.cache.namespace = db_name.clone();
        settings.db_pool_size = 8;
        settings.workers = 2;
        // Off unless a test turns it on: the suite makes many requests from 127.0.0.1.
        settings.rate_limit = None;
        adjust(&mut settings);
        if let Some(url) = &settings.redis_url {
            mark_namespace_unused(&url.0, &settings.cache.namespace).await;
        }
        let state = AppState::new(&settings).expect("state");
        let mut background = fkapi_api::spawn_background(&state, &settings).expect("background");
        // Wait for the change feed's first step (on a new namespace it bumps
        // the epoch once), unless the database is deliberately unreachable.
        let _ = tokio::time::timeout(Duration::from_secs(5), background.ready.wait_for(|ready| *ready)).await;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = format!("http://{}", listener.local_addr().expect("addr"));
        let server = fkapi_api::serve(listener, state.clone(), settings.workers).expect("server");
        let handle = server.handle();
        tokio::spawn(server);
        // Idle connections are dropped before the server's keep-alive (5 s)
        // closes them (see `Fleet::start_on`).
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .expect("client");
        TestApp { address, client, state, settings, db_name, handle, database, _background: background }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request")
    }

    /// GET returning (status, JSON body, X-Cache header).
    pub async fn get_json(&self, path: &str) -> (StatusCode, Value, String) {
        let response = self.get(path).await;
        let status = response.status();
        let cache = header(&response, "x-cache");
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        (status, body, cache)
    }

    /// A request with the admin key.
    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path)).header("X-API-Key", ADMIN_KEY)
    }

    /// Sends a JSON body with the admin key; returns (status, body).
    pub async fn admin_json(&self, method: reqwest::Method, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self.admin(method, path).json(body).send().await.expect("request");
        let status = response.status();
        (status, response.json::<Value>().await.unwrap_or(Value::Null))
    }

    /// A direct connection to this test's database, for out-of-band writes.
    pub async fn db(&self) -> AsyncPgConnection {
        self.database.connect().await
    }

    /// Waits (at most 2 s) until the change feed has applied more records
    /// than `before` (a reading of `fkapi_feed_records_applied_total`): an
    /// out-of-band write is invalidated asynchronously, and a test that reads
    /// right after one must not race that invalidation.
    pub async fn wait_for_feed_past(&self, before: f64) {
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while self.metric("fkapi_feed_records_applied_total", &[]).await <= before
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Runs raw SQL on this test's database and waits until the change feed
    /// has applied it ([`Self::wait_for_feed_past`]; the statement commits
    /// at once, so one feed step takes all its records), so that its
    /// invalidation cannot land in the middle of what the test does next.
    pub async fn sql_through_feed(&self, statement: &str) -> usize {
        let before = self.metric("fkapi_feed_records_applied_total", &[]).await;
        let rows = self.sql(statement).await;
        self.wait_for_feed_past(before).await;
        rows
    }

    /// Runs raw SQL on this test's database.
    pub async fn sql(&self, statement: &str) -> usize {
        diesel::sql_query(statement).execute(&mut self.db().await).await.expect("sql")
    }

    /// The value of one Prometheus sample, e.g.
    /// `metric("fkapi_cache_loads_total", &[("cache_type", "kit_json")])`; 0 when absent.
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let text = self.get("/metrics").await.text().await.expect("metrics");
        metric_in(&text, name, labels)
    }

    /// Stops the server now (tests that need it down).
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

/// Finds one sample in Prometheus text.
pub fn metric_in(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, label_text) = series.split_once('{').map_or((series, ""), |(m, l)| (m, l));
            if metric != name {
                return None;
            }
            let all = labels.iter().all(|(k, v)| label_text.contains(&format!("{k}=\"{v}\"")));
            all.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

pub fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

impl Drop for TestApp {
    fn drop(&mut self) {
        clear_redis_namespace(&redis_url(), &self.settings.cache.namespace);
    }
}

/// An empty database of the test's own on [`postgres_server`] (not copied
/// from the template, not migrated), dropped when the value drops, also
/// when the test fails; named like a test database, so a run that was
/// killed has it swept by the next one.
pub struct EmptyDatabase {
    pub name: String,
    pub url: String,
}

impl EmptyDatabase {
    pub async fn create(label: &str) -> EmptyDatabase {
        let id = NEXT_ID.fetch_add(1, Ordering::SeqCst);
        let name = format!("fkapi_t_{}_{label}_{id}", std::process::id());
        drop_database(&name).await;
        diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin_conn().await)
            .await
            .expect("create database");
        EmptyDatabase { url: database_url(&name), name }
    }
}

impl Drop for EmptyDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(drop_database(&name));
        })
        .join();
    }
}

/// Drops database `name` (if it exists), closing its connections.
async fn drop_database(name: &str) {
    if let Ok(mut conn) = AsyncPgConnection::establish(&database_url("postgres")).await {
        let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut conn).await;
    }
}

/// Drops every test database and template on [`postgres_server`] (for
/// `make clean-test-dbs`, after test runs that were killed); returns their
/// names.
pub async fn drop_all_test_databases() -> Vec<String> {
    let mut conn = admin_conn().await;
    let names: Vec<Name> = diesel::sql_query(TEST_DATABASES).load(&mut conn).await.expect("list databases");
    for db in &names {
        drop_database(&db.name).await;
    }
    names.into_iter().map(|db| db.name).collect()
}

/// A Redis server of the test's own, on a free port, persisting to an
/// append-only file so a restart brings its old entries back (the case
/// where stale entries could be served again).
pub struct TestRedis {
    pub port: u16,
    dir: std::path::PathBuf,
    child: Option<std::process::Child>,
}

impl TestRedis {
    pub fn start() -> TestRedis {
        let port = TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
        let dir = std::env::temp_dir().join(format!("fkapi-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("redis dir");
        let mut redis = TestRedis { port, dir, child: None };
        redis.restart();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts (or starts again) the server and waits until it answers.
    pub fn restart(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes"])
            .args(["--appendfsync", "always", "--dir"])
            .arg(&self.dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server on PATH");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("test redis did not start");
    }

    /// A signal (`-STOP`, `-CONT`) to the running server.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("test redis is running").id();
        let status = std::process::Command::new("kill").args([signal, &pid.to_string()]).status().expect("run kill");
        assert!(status.success(), "kill {signal} {pid} failed");
    }

    /// Kills the server (data already on disk survives).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[derive(diesel::QueryableByName)]
struct IdRow {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    id: i32,
}

#[derive(diesel::QueryableByName)]
struct TextRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}

/// Tables whose triggers notify the server of out-of-band changes.
const NOTIFYING_TABLES: &[&str] = &[
    "clubs",
    "seasons",
    "brands",
    "competitions",
    "kit_types",
    "colors",
    "kits",
    "kit_competitions",
    "kit_secondary_colors",
];

/// SQL helpers shared by the black-box tests.
impl TestApp {
    /// The ids a query returns (it must select one integer column `id`).
    pub async fn ids(&self, sql: &str) -> Vec<i32> {
        diesel::sql_query(sql).load::<IdRow>(&mut self.db().await).await.unwrap().into_iter().map(|r| r.id).collect()
    }

    /// The first id a query returns.
    pub async fn id(&self, sql: &str) -> i32 {
        self.ids(sql).await.into_iter().next().unwrap_or_else(|| panic!("no row for {sql}"))
    }

    /// The first value of a query selecting one text column `value`.
    pub async fn text(&self, sql: &str) -> String {
        let rows = diesel::sql_query(sql).load::<TextRow>(&mut self.db().await).await.unwrap();
        rows.into_iter().next().unwrap_or_else(|| panic!("no row for {sql}")).value
    }

    /// Turns off the triggers that notify the server of changes, so the only
    /// invalidation left is the one the write routes do themselves.
    pub async fn without_change_notifications(&self) {
        for table in NOTIFYING_TABLES {
            self.sql(&format!("ALTER TABLE {table} DISABLE TRIGGER USER")).await;
        }
    }
}

/// When each version of a row was acknowledged, for the tests that check
/// no read goes back in time: a read that began at `t` must see at least
/// `floor(t)`.
pub struct AckLog(std::sync::Mutex<Vec<(std::time::Instant, u64)>>);

impl AckLog {
    /// Version 0 counts as acknowledged at `start`.
    pub fn new(start: std::time::Instant) -> AckLog {
        AckLog(std::sync::Mutex::new(vec![(start, 0)]))
    }

    /// Call right after the write of `version` answered.
    pub fn acknowledged(&self, version: u64) {
        self.0.lock().unwrap().push((std::time::Instant::now(), version));
    }

    /// The newest version acknowledged at or before `began`.
    pub fn floor(&self, began: std::time::Instant) -> u64 {
        self.0.lock().unwrap().iter().filter(|(at, _)| *at <= began).map(|(_, v)| *v).max().unwrap_or(0)
    }

    /// Panics when `body` (read by a request that began at `began`) shows a
    /// version older than one acknowledged by then; `what` names the read.
    pub fn assert_not_older(&self, began: std::time::Instant, body: &Value, what: &str) {
        let floor = self.floor(began);
        let name = body["name"].as_str().unwrap_or_default();
        let seen = version_of(name);
        assert!(seen >= floor, "{what} began after v{floor} was acknowledged but saw {name}");
    }
}

/// The fresh-after-write torture every tier is put through: for `run_for`,
/// one writer per club calls `write(club, version)` with increasing versions
/// (pausing `pause` between them) and logs each acknowledgement; `readers`
/// readers call `read(reader, club)` (reader `r` reads `clubs[r % len]`),
/// which answers (status, body, a label for the message), and every read
/// must be 200 and show a version no older than the newest acknowledged
/// when it began. Returns how many reads were checked.
pub async fn reads_never_older_than_acknowledged_writes<W, WF, R, RF>(
    clubs: &[i32],
    readers: usize,
    run_for: Duration,
    pause: Duration,
    write: W,
    read: R,
) -> usize
where
    W: Fn(i32, u64) -> WF + Send + Sync + 'static,
    WF: std::future::Future<Output = ()> + Send + 'static,
    R: Fn(usize, i32) -> RF + Send + Sync + 'static,
    RF: std::future::Future<Output = (reqwest::StatusCode, Value, String)> + Send + 'static,
{
    use std::sync::Arc;
    use std::time::Instant;
    let started = Instant::now();
    let acked: Arc<Vec<AckLog>> = Arc::new(clubs.iter().map(|_| AckLog::new(started)).collect());
    let deadline = started + run_for;
    let (write, read) = (Arc::new(write), Arc::new(read));
    let mut tasks = Vec::new();
    for (slot, &club) in clubs.iter().enumerate() {
        let (write, acked) = (write.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            let mut version = 0u64;
            while Instant::now() < deadline {
                version += 1;
                write(club, version).await;
                acked[slot].acknowledged(version);
                tokio::time::sleep(pause).await;
            }
            0usize
        }));
    }
    for reader in 0..readers {
        let (read, acked) = (read.clone(), acked.clone());
        let slot = reader % clubs.len();
        let club = clubs[slot];
        tasks.push(tokio::spawn(async move {
            let mut checked = 0usize;
            while Instant::now() < deadline {
                let began = Instant::now();
                let (status, body, label) = read(reader, club).await;
                assert_eq!(status, reqwest::StatusCode::OK);
                acked[slot].assert_not_older(began, &body, &format!("{label}: a read of club {club}"));
                checked += 1;
            }
            checked
        }));
    }
    let mut reads = 0;
    for task in tasks {
        reads += task.await.expect("torture task");
    }
    reads
}

/// The version a test name ends with: "Hot Club 3 v12" → 12 (0 if none).
pub fn version_of(name: &str) -> u64 {
    name.rsplit('v').next().and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// A TCP proxy on a free port that hands on everything the upstream server
/// sends back `delay` after it arrived, so each round trip through it costs
/// at least `delay`: tests count round trips by the time they take. Stops
/// (with every connection) when dropped.
pub struct DelayProxy {
    pub port: u16,
    accept: tokio::task::JoinHandle<()>,
}

impl DelayProxy {
    pub async fn start(upstream: &str, delay: Duration) -> DelayProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let upstream = upstream.to_string();
        let accept = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                connections.spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else { return };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (mut server_reads, mut server_writes) = server.into_split();
                    let (mut client_reads, mut client_writes) = client.into_split();
                    let (chunks, mut due) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
                    let upstream_to_client = async {
                        use tokio::io::AsyncReadExt;
                        let mut buffer = vec![0u8; 64 * 1024];
                        while let Ok(n) = server_reads.read(&mut buffer).await {
                            if n == 0
                                || chunks.send((tokio::time::Instant::now() + delay, buffer[..n].to_vec())).is_err()
                            {
                                break;
                            }
                        }
                        drop(chunks);
                    };
                    let delayed_writer = async {
                        use tokio::io::AsyncWriteExt;
                        while let Some((at, chunk)) = due.recv().await {
                            tokio::time::sleep_until(at).await;
                            if client_writes.write_all(&chunk).await.is_err() {
                                break;
                            }
                        }
                    };
                    let client_to_upstream = tokio::io::copy(&mut client_reads, &mut server_writes);
                    tokio::join!(upstream_to_client, delayed_writer, async {
                        let _ = client_to_upstream.await;
                    });
                });
            }
        });
        DelayProxy { port, accept }
    }

    /// The tests' `REDIS_URL` (credentials and database kept) through this proxy.
    pub fn redis_url(&self) -> String {
        let mut url = url::Url::parse(&redis_url()).expect("REDIS_URL");
        let _ = url.set_host(Some("127.0.0.1"));
        let _ = url.set_port(Some(self.port));
        url.to_string()
    }

    /// In front of the tests' Redis (`REDIS_URL`).
    pub async fn redis(delay: Duration) -> DelayProxy {
        let url = url::Url::parse(&redis_url()).expect("REDIS_URL");
        let upstream = format!("{}:{}", url.host_str().unwrap_or("127.0.0.1"), url.port().unwrap_or(6379));
        DelayProxy::start(&upstream, delay).await
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
