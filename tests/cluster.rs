//! A real local Redis Cluster for the cluster tests: six `redis-server`
//! processes (3 masters, 3 replicas) on free ports below 55535 (the cluster
//! bus is port + 10000), each with its own temporary directory,
//! `cluster-node-timeout` 1000 ms, joined with `redis-cli --cluster create`.
//! Every server is killed and the directories removed when it drops, also
//! when the test panics (the servers' logs are then printed). As redis-rs
//! does in its own cluster tests (`redis/tests/support/cluster.rs`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `cluster-node-timeout`: how long before a dead master is failed over.
pub const NODE_TIMEOUT_MS: u64 = 1000;

/// A node timeout for tests that freeze a node without wanting a failover.
pub const SLOW_NODE_TIMEOUT_MS: u64 = 10_000;

struct Node {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

pub struct TestCluster {
    nodes: Vec<Node>,
    root: PathBuf,
}

/// A port whose bus port (+10000) is free too.
fn free_cluster_port(taken: &[u16]) -> u16 {
    loop {
        let port = 20000 + (rand_u16() % 25000);
        if taken.iter().any(|t| t.abs_diff(port) < 2) {
            continue;
        }
        let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
        if free(port) && free(port + 10000) {
            return port;
        }
    }
}

fn rand_u16() -> u16 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let mixed = nanos.wrapping_mul(2_654_435_761) ^ std::process::id().wrapping_mul(40503);
    (mixed >> 7) as u16
}

fn sync_conn(port: u16) -> redis::RedisResult<redis::Connection> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
    client.get_connection_with_timeout(Duration::from_secs(2))
}

/// One line of `CLUSTER NODES`: (id, port, flags, master id, slot ranges).
#[derive(Clone, Debug)]
pub struct NodeLine {
    pub id: String,
    pub port: u16,
    pub flags: String,
    pub master_id: String,
    pub slots: Vec<(u16, u16)>,
}

impl NodeLine {
    pub fn is_master(&self) -> bool {
        self.flags.contains("master") && !self.flags.contains("fail")
    }
}

impl TestCluster {
    /// Starts the six servers, creates the cluster and waits until every
    /// node reports `cluster_state:ok` and every master has its replica.
    pub fn start() -> TestCluster {
        TestCluster::start_with_node_timeout(NODE_TIMEOUT_MS)
    }

    /// As [`TestCluster::start`], with `cluster-node-timeout` `node_timeout_ms`.
    pub fn start_with_node_timeout(node_timeout_ms: u64) -> TestCluster {
        let root = std::env::temp_dir().join(format!("fkapi-cluster-{}-{}", std::process::id(), rand_u16()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("cluster dir");
        let mut cluster = TestCluster { nodes: Vec::new(), root };
        let mut ports = Vec::new();
        for _ in 0..6 {
            let port = free_cluster_port(&ports);
            ports.push(port);
            let dir = cluster.root.join(port.to_string());
            std::fs::create_dir_all(&dir).expect("node dir");
            let mut node = Node { port, dir, child: None };
            node.child = Some(spawn_node(&node, node_timeout_ms));
            cluster.nodes.push(node);
        }
        for port in &ports {
            wait_for(Duration::from_secs(10), || sync_conn(*port).is_ok(), &format!("redis on {port}"));
        }
        let addresses: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let output = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli on PATH");
        assert!(output.status.success(), "cluster create: {}", String::from_utf8_lossy(&output.stdout));
        cluster.wait_until_healthy(Duration::from_secs(20));
        cluster
    }

    /// Waits until every running node says `cluster_state:ok`, there are
    /// three masters and each has a replica that finished its first sync
    /// (only such a replica can be promoted).
    pub fn wait_until_healthy(&self, within: Duration) {
        let began = Instant::now();
        loop {
            if self.is_healthy() {
                return;
            }
            assert!(began.elapsed() < within, "cluster not healthy after {within:?}:\n{}", self.describe());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn is_healthy(&self) -> bool {
        let running: Vec<u16> = self.nodes.iter().filter(|n| n.child.is_some()).map(|n| n.port).collect();
        let all_ok = running.iter().all(|port| {
            sync_conn(*port)
                .and_then(|mut c| redis::cmd("CLUSTER").arg("INFO").query::<String>(&mut c))
                .is_ok_and(|info| info.contains("cluster_state:ok"))
        });
        if !all_ok {
            return false;
        }
        let masters = self.masters();
        masters.len() == 3
            && masters.iter().all(|m| {
                sync_conn(m.port)
                    .and_then(|mut c| redis::cmd("INFO").arg("replication").query::<String>(&mut c))
                    .is_ok_and(|info| info.contains("connected_slaves:1") && info.contains("state=online"))
            })
    }

    /// Waits until the dead master's slots are served by a promoted replica
    /// and every running node agrees the cluster is ok (no replica needed).
    pub fn wait_for_promotion(&self, dead_port: u16, within: Duration) -> Duration {
        let began = Instant::now();
        loop {
            let masters = self.masters();
            let promoted = masters.len() == 3 && masters.iter().all(|m| m.port != dead_port);
            let ok = self.nodes.iter().filter(|n| n.child.is_some()).all(|n| {
                sync_conn(n.port)
                    .and_then(|mut c| redis::cmd("CLUSTER").arg("INFO").query::<String>(&mut c))
                    .is_ok_and(|info| info.contains("cluster_state:ok"))
            });
            if promoted && ok {
                return began.elapsed();
            }
            assert!(began.elapsed() < within, "no promotion after {within:?}:\n{}", self.describe());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `redis://…` of every node, comma-separated (a seed list).
    pub fn seeds(&self) -> String {
        self.nodes.iter().map(|n| format!("redis://127.0.0.1:{}", n.port)).collect::<Vec<_>>().join(",")
    }

    /// The URL of one node (a single seed).
    pub fn url(&self, index: usize) -> String {
        format!("redis://127.0.0.1:{}", self.nodes[index].port)
    }

    /// `CLUSTER NODES` as a running node sees it.
    pub fn nodes(&self) -> Vec<NodeLine> {
        for node in self.nodes.iter().filter(|n| n.child.is_some()) {
            let Ok(mut conn) = sync_conn(node.port) else { continue };
            let Ok(text) = redis::cmd("CLUSTER").arg("NODES").query::<String>(&mut conn) else { continue };
            return text
                .lines()
                .filter_map(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    let port = fields.get(1)?.split('@').next()?.rsplit(':').next()?.parse().ok()?;
                    let slots = fields
                        .iter()
                        .skip(8)
                        .filter(|r| !r.starts_with('['))
                        .filter_map(|r| match r.split_once('-') {
                            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                            None => r.parse().ok().map(|s| (s, s)),
                        })
                        .collect();
                    Some(NodeLine {
                        id: fields.first()?.to_string(),
                        port,
                        flags: fields.get(2)?.to_string(),
                        master_id: fields.get(3)?.to_string(),
                        slots,
                    })
                })
                .collect();
        }
        Vec::new()
    }

    /// The masters serving slots now.
    pub fn masters(&self) -> Vec<NodeLine> {
        self.nodes().into_iter().filter(|n| n.is_master() && !n.slots.is_empty()).collect()
    }

    /// The port of the master serving `key`'s slot.
    pub fn master_of(&self, key: &str) -> u16 {
        let slot = fkapi_cache::key::slot_of(key.as_bytes());
        self.masters()
            .into_iter()
            .find(|m| m.slots.iter().any(|(a, b)| (*a..=*b).contains(&slot)))
            .map(|m| m.port)
            .unwrap_or_else(|| panic!("no master for slot {slot}"))
    }

    /// Every key matching `pattern` on the master at `port` (SCAN).
    pub fn keys_on(&self, port: u16, pattern: &str) -> Vec<String> {
        let mut conn = sync_conn(port).expect("connect");
        let mut cursor = 0u64;
        let mut out = Vec::new();
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(1000)
                .query(&mut conn)
                .expect("scan");
            out.extend(keys);
            cursor = next;
            if cursor == 0 {
                return out;
            }
        }
    }

    /// `CONFIG SET name value` on the server at `port`.
    pub fn config_set(&self, port: u16, name: &str, value: &str) {
        let mut conn = sync_conn(port).expect("connect");
        let _: () = redis::cmd("CONFIG").arg("SET").arg(name).arg(value).query(&mut conn).expect("config set");
    }

    /// Waits until `INFO <section>` of the server at `port` contains `text`.
    pub fn wait_for_info(&self, port: u16, section: &str, text: &str, within: Duration) {
        wait_for(
            within,
            || {
                sync_conn(port)
                    .and_then(|mut c| redis::cmd("INFO").arg(section).query::<String>(&mut c))
                    .is_ok_and(|info| info.contains(text))
            },
            &format!("INFO {section} of {port} showing {text}"),
        );
    }

    /// `SCRIPT FLUSH` on every running node: the next `EVALSHA` gets
    /// `NOSCRIPT`, as on a freshly promoted master.
    pub fn flush_scripts(&self) {
        for node in self.nodes.iter().filter(|n| n.child.is_some()) {
            let mut conn = sync_conn(node.port).expect("connect");
            let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut conn).expect("script flush");
        }
    }

    /// SIGKILL the server on `port`.
    pub fn kill(&mut self, port: u16) {
        if let Some(node) = self.nodes.iter_mut().find(|n| n.port == port) {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// A signal (`-STOP`, `-CONT`) to the server on `port`.
    pub fn signal(&self, port: u16, signal: &str) {
        let node = self.nodes.iter().find(|n| n.port == port).expect("node");
        let pid = node.child.as_ref().expect("running").id();
        let _ = Command::new("kill").args([signal, &pid.to_string()]).status();
    }

    fn describe(&self) -> String {
        let nodes = self.nodes().iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join("\n");
        format!("{nodes}\nports: {:?}", self.nodes.iter().map(|n| n.port).collect::<Vec<_>>())
    }
}

fn spawn_node(node: &Node, node_timeout_ms: u64) -> Child {
    let log = std::fs::File::create(node.dir.join("redis.log")).expect("log");
    Command::new("redis-server")
        .args(["--port", &node.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .args(["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"])
        .args(["--cluster-node-timeout", &node_timeout_ms.to_string()])
        // Replicas sync at once (the default waits 5 s for more replicas).
        .args(["--repl-diskless-sync-delay", "0", "--protected-mode", "no", "--dir"])
        .arg(&node.dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("redis-server on PATH")
}

fn wait_for(within: Duration, mut ready: impl FnMut() -> bool, what: &str) {
    let began = Instant::now();
    while !ready() {
        assert!(began.elapsed() < within, "{what} not ready after {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
            if panicking {
                let log = std::fs::read_to_string(node.dir.join("redis.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                eprintln!("--- redis {} (last {} lines) ---", node.port, tail.len());
                for line in tail.iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
