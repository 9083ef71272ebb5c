//! The in-process tier (L1) across real `fkapi serve` processes: a hit
//! touches no network, no instance serves data older than an acknowledged
//! write, a frozen instance delays a write by at most its lease and never
//! serves its old copy, out-of-band writes reach every L1 within a second,
//! and the memory bound holds, each on one Redis server and on a local Redis
//! Cluster (3 masters, 3 replicas). Each test fails with its mechanism off
//! (docs/ARCHITECTURE.md, "In-process tier (L1)", says how that was checked).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fkapi_tests::cluster::{TestCluster, SLOW_NODE_TIMEOUT_MS};
use fkapi_tests::fleet::Fleet;
use fkapi_tests::{json, reads_never_older_than_acknowledged_writes, StatusCode, TestApp, TestRedis, Value};
use reqwest::Method;
use std::io::{BufRead, BufReader, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The lease term the fleets run with (the default).
const LEASE: Duration = Duration::from_millis(2000);

async fn rename_club_on(fleet: &Fleet, index: usize, id: i32, name: &str) {
    let response =
        fleet.admin(index, Method::PATCH, &format!("/api/clubs/{id}")).json(&json!({ "name": name })).send().await;
    let response = response.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap_or_default());
}

/// Reads `path` on `index` until it is an L1 hit (the local-tier counter moves).
async fn warm_l1(fleet: &Fleet, index: usize, path: &str, cache_type: &str) {
    let began = Instant::now();
    loop {
        let before =
            fleet.metric(index, "fkapi_cache_hits_total", &[("cache_type", cache_type), ("tier", "local")]).await;
        assert_eq!(fleet.get_json(index, path).await.0, StatusCode::OK);
        let after =
            fleet.metric(index, "fkapi_cache_hits_total", &[("cache_type", cache_type), ("tier", "local")]).await;
        if after > before {
            return;
        }
        assert!(began.elapsed() < Duration::from_secs(20), "instance {index} never served {path} from L1");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every command a Redis server receives, as MONITOR prints it.
struct Monitor {
    lines: Arc<Mutex<Vec<String>>>,
    stream: std::net::TcpStream,
}

impl Monitor {
    fn start(port: u16) -> Monitor {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.write_all(b"MONITOR\r\n").unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let reader = BufReader::new(stream.try_clone().unwrap());
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in reader.lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Monitor { lines, stream }
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.lines.lock().unwrap())
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// The Redis a test runs on; each test below runs on both.
enum Topology {
    /// A Redis server of the test's own (MONITOR sees only its commands,
    /// and it can be frozen without touching other tests).
    OneServer(TestRedis),
    /// A local Redis Cluster of the test's own (3 masters, 3 replicas).
    Cluster(TestCluster),
}

impl Topology {
    /// The `REDIS_URL` instances get (a cluster's seed list).
    fn url(&self) -> String {
        match self {
            Topology::OneServer(redis) => redis.url(),
            Topology::Cluster(cluster) => cluster.seeds(),
        }
    }

    /// Every server's port.
    fn ports(&self) -> Vec<u16> {
        match self {
            Topology::OneServer(redis) => vec![redis.port],
            Topology::Cluster(cluster) => cluster.nodes().iter().map(|n| n.port).collect(),
        }
    }

    async fn fleet(&self, n: usize) -> Fleet {
        Fleet::start_on(&self.url(), n, |_, _| {}).await
    }

    /// The port of the server holding the coherence protocol's keys
    /// (stream and leases) of `namespace`.
    fn coherence_port(&self, namespace: &str) -> u16 {
        match self {
            Topology::OneServer(redis) => redis.port,
            Topology::Cluster(cluster) => cluster.master_of(&fkapi_cache::Namespace::new(namespace).leases_key()),
        }
    }

    /// Sends `signal` (`-STOP`, `-CONT`) to the server on `port`.
    fn signal(&self, port: u16, signal: &str) {
        match self {
            Topology::OneServer(redis) => redis.signal(signal),
            Topology::Cluster(cluster) => cluster.signal(port, signal),
        }
    }
}

/// Closes every client connection of the server on `port`, as a Redis
/// restart, its `timeout` setting or a proxy between would.
fn disconnect_clients(port: u16) {
    let url = format!("redis://127.0.0.1:{port}");
    let mut conn = redis::Client::open(url).unwrap().get_connection().unwrap();
    redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("normal").query::<i64>(&mut conn).unwrap();
}

/// A bound on each run: a hung cluster fails its test, not the suite. The
/// `fkapi` binary is built before the clock starts (from a clean target
/// directory that takes minutes).
const RUN_BOUND: Duration = Duration::from_secs(90);

/// Each named `async fn(Topology)` becomes a module of two tests:
/// `on_one_redis` and `on_a_cluster`.
macro_rules! on_each_topology {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_one_redis() {
                fkapi_tests::fleet::fkapi_binary();
                let topology = Topology::OneServer(TestRedis::start());
                tokio::time::timeout(RUN_BOUND, Box::pin(super::$name(topology)))
                    .await
                    .expect("the test took longer than its bound");
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_a_cluster() {
                fkapi_tests::fleet::fkapi_binary();
                // No failover here: a node frozen for a moment is not failed over.
                let topology = Topology::Cluster(TestCluster::start_with_node_timeout(SLOW_NODE_TIMEOUT_MS));
                tokio::time::timeout(RUN_BOUND, Box::pin(super::$name(topology)))
                    .await
                    .expect("the test took longer than its bound");
            }
        }
    )*};
}

on_each_topology!(
    a_repeated_hit_sends_no_redis_command_for_its_entry,
    three_instances_never_serve_a_read_older_than_the_last_acknowledged_write,
    a_frozen_instance_delays_a_write_by_at_most_its_lease_and_never_serves_its_old_copy,
    a_psql_update_reaches_every_l1_within_a_second,
    the_memory_bound_holds_under_a_larger_workload,
    a_write_whose_connection_redis_closed_still_reaches_every_instance,
);

/// With the rate limiter on, as by default: each L1 hit costs the
/// limiter's one script call and nothing else about the request.
async fn a_repeated_hit_sends_no_redis_command_for_its_entry(topology: Topology) {
    let fleet = Fleet::start_on(&topology.url(), 1, |_, env| {
        env.insert("FKAPI_RATE_LIMIT".into(), "100000/hour".into());
    })
    .await;
    warm_l1(&fleet, 0, "/api/clubs/1", "club").await;
    let monitors: Vec<Monitor> = topology.ports().into_iter().map(Monitor::start).collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    monitors.iter().for_each(|m| drop(m.take()));
    for _ in 0..20 {
        let (status, body, cache) = fleet.get_json(0, "/api/clubs/1").await;
        assert_eq!((status, cache.as_str(), body["id"].as_i64()), (StatusCode::OK, "HIT", Some(1)));
    }
    // Longer than one XREAD BLOCK (a quarter lease term, 500 ms), so the
    // sanity check below sees at least one whatever the phase.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let commands: Vec<String> = monitors.iter().flat_map(Monitor::take).collect();
    let about_the_entry: Vec<&String> = commands.iter().filter(|line| line.contains("club_1")).collect();
    assert!(about_the_entry.is_empty(), "hits sent Redis commands for the entry: {about_the_entry:?}");
    // (A replica shows a script's effects, not the script call.)
    let limiter_calls = commands.iter().filter(|line| line.contains("EVAL") && line.contains(":rl:")).count();
    assert_eq!(limiter_calls, 20, "one limiter call per hit: {commands:?}");
    // The monitors work: the coherence protocol's reads and renewals show.
    assert!(commands.iter().any(|line| line.contains("XREAD")), "MONITOR saw nothing: {commands:?}");
}

/// The single-instance torture test of cache.rs, on three instances: a
/// writer on one, readers on the other two, every read that began after a
/// write's acknowledgement sees that write or a later one.
async fn three_instances_never_serve_a_read_older_than_the_last_acknowledged_write(topology: Topology) {
    let fleet = Arc::new(topology.fleet(3).await);
    let clubs = [11, 12];
    for club in clubs {
        rename_club_on(&fleet, 0, club, &format!("Fleet Club {club} v0")).await;
        for reader in [1, 2] {
            warm_l1(&fleet, reader, &format!("/api/clubs/{club}"), "club").await;
        }
    }
    let (writer, reader) = (fleet.clone(), fleet.clone());
    let reads = reads_never_older_than_acknowledged_writes(
        &clubs,
        8,
        Duration::from_secs(4),
        Duration::from_millis(40),
        move |club, version| {
            let fleet = writer.clone();
            async move { rename_club_on(&fleet, 0, club, &format!("Fleet Club {club} v{version}")).await }
        },
        // Readers alternate between instances 1 and 2 per pair of clubs, so
        // each instance reads every club.
        move |index, club| {
            let fleet = reader.clone();
            let instance = 1 + (index / clubs.len()) % 2;
            async move {
                let (status, body, cache) = fleet.get_json(instance, &format!("/api/clubs/{club}")).await;
                (status, body, format!("instance {instance} ({cache})"))
            }
        },
    )
    .await;
    assert!(reads > 100, "only {reads} reads checked");
    for reader in [1, 2] {
        let local = fleet.metric(reader, "fkapi_cache_hits_total", &[("cache_type", "club"), ("tier", "local")]).await;
        assert!(local > 0.0, "instance {reader} never served from L1: the test would not exercise it");
    }
}

async fn a_frozen_instance_delays_a_write_by_at_most_its_lease_and_never_serves_its_old_copy(topology: Topology) {
    let mut fleet = topology.fleet(2).await;
    let path = "/api/clubs/13";
    warm_l1(&fleet, 1, path, "club").await;
    let (_, before, _) = fleet.get_json(1, path).await;
    fleet.freeze(1);
    // Its stream connection is closed while it sleeps, so the write's
    // message is not already waiting in its socket when it wakes.
    disconnect_clients(topology.coherence_port(&fleet.namespace));
    let began = Instant::now();
    rename_club_on(&fleet, 0, 13, "Renamed While Frozen").await;
    let took = began.elapsed();
    // The bound: the frozen lease expires within a term of its last renewal;
    // one second of slack for a loaded two-core machine.
    let bound = LEASE + fkapi_cache::lease_margin(LEASE) + Duration::from_secs(1);
    assert!(took < bound, "the write took {took:?}, more than {bound:?}");
    // Let the frozen instance's lease run out for sure, then thaw it while
    // the server of the coherence keys is frozen in turn: the thawed
    // instance cannot learn of the write from the stream, only its lapsed
    // lease keeps it from serving its old copy.
    tokio::time::sleep(LEASE).await;
    let coherence = topology.coherence_port(&fleet.namespace);
    topology.signal(coherence, "-STOP");
    fleet.thaw(1);
    let (status, body, cache) = fleet.get_json(1, path).await;
    topology.signal(coherence, "-CONT");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["name"], "Renamed While Frozen",
        "the thawed instance served its old copy ({cache}); before: {before}"
    );
    for _ in 0..30 {
        let (status, body, cache) = fleet.get_json(1, path).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body["name"], "Renamed While Frozen",
            "the thawed instance served its old copy ({cache}); before: {before}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // It catches up, and serves from L1 again.
    warm_l1(&fleet, 1, path, "club").await;
    assert_eq!(fleet.get_json(1, path).await.1["name"], "Renamed While Frozen");
}

async fn a_psql_update_reaches_every_l1_within_a_second(topology: Topology) {
    let fleet = topology.fleet(3).await;
    let path = "/api/clubs/14";
    for index in 0..3 {
        warm_l1(&fleet, index, path, "club").await;
    }
    fleet.sql("UPDATE clubs SET name = 'Renamed In psql' WHERE id = 14").await;
    let updated = Instant::now();
    let mut pending: Vec<usize> = (0..3).collect();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for index in pending {
            let (_, body, _) = fleet.get_json(index, path).await;
            if body["name"] != "Renamed In psql" {
                still.push(index);
            }
        }
        pending = still;
        assert!(updated.elapsed() < Duration::from_secs(1), "instances {pending:?} still serve the old name after 1 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Redis closed every connection since the last request: the writer's
/// first command fails on its dead connection. The write must still reach
/// Redis (a fresh connection, past the breaker) before it answers: without
/// the bump the other instance refills its L1 from Redis' old entry;
/// without the announcement it keeps serving its L1 copy.
async fn a_write_whose_connection_redis_closed_still_reaches_every_instance(topology: Topology) {
    // The writer's breaker opens at its first failure and stays open, so
    // its first tries are skipped: only the tries past the breaker remain.
    let fleet = Fleet::start_on(&topology.url(), 2, |index, env| {
        if index == 0 {
            env.insert("FKAPI_REDIS_BREAKER_THRESHOLD".into(), "1".into());
            env.insert("FKAPI_REDIS_BREAKER_COOLDOWN_MS".into(), "60000".into());
        }
    })
    .await;
    for (club, round) in [(16, 1), (17, 2), (18, 3)] {
        let path = format!("/api/clubs/{club}");
        warm_l1(&fleet, 1, &path, "club").await;
        topology.ports().into_iter().for_each(disconnect_clients);
        // The reader's own first command meets its closed connection (and
        // so goes to the database): take that turn before the write.
        fleet.get_json(1, "/api/clubs/1").await;
        let name = format!("Renamed On A Closed Connection {round}");
        rename_club_on(&fleet, 0, club, &name).await;
        let (status, body, cache) = fleet.get_json(1, &path).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["name"], name.as_str(), "instance 1 served the old name ({cache}) after the write answered");
    }
}

async fn the_memory_bound_holds_under_a_larger_workload(topology: Topology) {
    let max = 1024 * 1024;
    let url = topology.url();
    let app = TestApp::spawn_with(move |s| {
        s.redis_url = Some(fkapi_api::config::Secret(url));
        s.cache.l1_max_bytes = max;
        // Stored as sent, so the bytes the client reads are the bytes stored.
        s.cache.compress_min_bytes = 0;
    })
    .await;
    let mut paths: Vec<String> = (1..=50).map(|page| format!("/api/kits?page={page}&page_size=100")).collect();
    paths.extend((1..=200).map(|club| format!("/api/clubs/{club}/kits?page_size=100")));
    let mut stored = 0usize;
    for path in &paths {
        for _ in 0..2 {
            let response = app.get(path).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            stored += response.bytes().await.unwrap().len();
        }
    }
    stored /= 2;
    assert!(stored > 2 * max as usize, "the workload ({stored} bytes) must exceed the bound");
    // The gauges are sampled every second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let bytes = app.metric("fkapi_cache_l1_bytes", &[]).await;
    let entries = app.metric("fkapi_cache_l1_entries", &[]).await;
    assert!(bytes <= max as f64, "L1 holds {bytes} bytes, more than {max}");
    assert!(bytes > 0.3 * max as f64, "L1 holds only {bytes} bytes: is it on?");
    assert!(entries < paths.len() as f64, "{entries} entries of {}", paths.len());
    let (_, stats) = app.admin_json(Method::GET, "/api/admin/cache/stats", &Value::Null).await;
    assert!(stats["local"]["bytes"].as_u64().unwrap() <= max, "{stats}");
}

/// Redis goes away with L1 on: L1 may serve until its lease lapses; a write
/// made meanwhile waits out the lease and is then visible at once; when
/// Redis returns nothing older is served and caching resumes.
#[tokio::test]
async fn redis_outage_with_l1_serves_nothing_older_than_a_write() {
    let mut redis = TestRedis::start();
    let url = redis.url();
    let app = TestApp::spawn_with(move |s| {
        s.redis_url = Some(fkapi_api::config::Secret(url));
        s.cache.op_timeout = Duration::from_millis(100);
        s.cache.breaker_cooldown = Duration::from_millis(200);
    })
    .await;
    app.get_json("/api/clubs/15").await;
    assert_eq!(app.get_json("/api/clubs/15").await.2, "HIT");
    redis.stop();
    let began = Instant::now();
    let (status, body) =
        app.admin_json(Method::PATCH, "/api/clubs/15", &json!({ "name": "Renamed During Outage" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(began.elapsed() >= LEASE, "the write answered after {:?}, before every lease lapsed", began.elapsed());
    let (_, during, cache) = app.get_json("/api/clubs/15").await;
    assert_eq!(during["name"], "Renamed During Outage", "{cache}");
    redis.restart();
    let mut last = String::new();
    for _ in 0..60 {
        let (_, body, cache) = app.get_json("/api/clubs/15").await;
        assert_eq!(body["name"], "Renamed During Outage", "an entry from before the outage was served ({cache})");
        last = cache;
        if last == "HIT" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last, "HIT", "caching resumes by itself");
}

/// How often `keyword` was counted in the popularity list `list`.
async fn searched(app: &TestApp, list: &str, keyword: &str) -> f64 {
    let cache = app.state.cache();
    assert!(cache.flush_popular().await);
    let key = cache.namespace().aux_key(&format!("popular:{list}"));
    let mut conn = redis::Client::open(fkapi_tests::redis_url()).unwrap().get_connection().unwrap();
    redis::cmd("ZSCORE").arg(key).arg(keyword).query::<Option<f64>>(&mut conn).unwrap().unwrap_or(0.0)
}

/// Reads `path` until an answer comes by target (before routing), and
/// returns the by-target count after it.
async fn until_answered_by_target(app: &TestApp, path: &str) -> f64 {
    let began = Instant::now();
    loop {
        let before = app.metric("fkapi_cache_l1_target_hits_total", &[]).await;
        let (status, _, cache) = app.get_json(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let after = app.metric("fkapi_cache_l1_target_hits_total", &[]).await;
        if after > before {
            assert_eq!(cache, "HIT");
            return after;
        }
        assert!(began.elapsed() < Duration::from_secs(10), "{path} was never answered by target");
    }
}

/// Answers by target skip routing, so they must still do what the routed
/// request does: be as fresh as L1 (a write in between is seen at once),
/// be counted under their route, count a search's keyword for warming,
/// and never happen for a route whose answer also depends on the clock.
#[tokio::test]
async fn answers_by_target_are_fresh_counted_and_only_for_fixed_targets() {
    let app = TestApp::spawn().await;
    let club = "/api/clubs/15";
    let by_target = until_answered_by_target(&app, club).await;
    let route = [("method", "GET"), ("route", "/api/clubs/{club_id}"), ("status", "200")];
    let counted = app.metric("fkapi_http_requests_total", &route).await;
    assert_eq!(app.get_json(club).await.2, "HIT");
    assert_eq!(app.metric("fkapi_cache_l1_target_hits_total", &[]).await, by_target + 1.0);
    assert_eq!(app.metric("fkapi_http_requests_total", &route).await, counted + 1.0, "counted under its route");

    let (status, body) = app.admin_json(Method::PATCH, club, &json!({ "name": "Renamed By Target" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body, cache) = app.get_json(club).await;
    assert_eq!(body["name"], "Renamed By Target", "an answer by target outlived a write ({cache})");
    until_answered_by_target(&app, club).await;
    assert_eq!(app.get_json(club).await.1["name"], "Renamed By Target");

    let search = "/api/clubs/search?keyword=arsenal";
    until_answered_by_target(&app, search).await;
    let before_search = searched(&app, "search_clubs", "arsenal").await;
    let (_, found, _) = app.get_json(search).await;
    assert!(!found.as_array().unwrap().is_empty(), "{found}");
    assert_eq!(
        searched(&app, "search_clubs", "arsenal").await,
        before_search + 1.0,
        "an answer by target counts its keyword"
    );

    let before = app.metric("fkapi_cache_l1_target_hits_total", &[]).await;
    for _ in 0..4 {
        assert_eq!(app.get_json("/api/random-kits/").await.0, StatusCode::OK);
    }
    assert_eq!(
        app.metric("fkapi_cache_l1_target_hits_total", &[]).await,
        before,
        "a route keyed by the clock was answered by target"
    );
}
