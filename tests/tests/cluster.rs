//! fkapi on a real local Redis Cluster (tests/cluster.rs: 3 masters and 3
//! replicas on free ports, `cluster-node-timeout` 1 s): one seed node is
//! enough, entries spread over the masters, every Redis feature works, and
//! a master killed right after a burst of writes fails open, never brings
//! an old entry back, and the cache returns by itself after the promotion.
//! Fresh-after-write across instances with L1 on, on a cluster too, is
//! tests/l1.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fkapi_tests::cluster::TestCluster;
use fkapi_tests::fleet::Fleet;
use fkapi_tests::{json, StatusCode, TestApp, Value};
use reqwest::Method;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Every test's own bound: a hung cluster fails the test, not the suite.
const TEST_BOUND: Duration = Duration::from_secs(60);

/// Runs `test` within [`TEST_BOUND`]. The `fkapi` binary the fleets run is
/// built first, outside the bound: from a clean target directory that build
/// takes minutes, which is no hang of the cluster.
async fn bounded<F: std::future::Future<Output = ()>>(test: F) {
    fkapi_tests::fleet::fkapi_binary();
    tokio::time::timeout(TEST_BOUND, Box::pin(test)).await.expect("test took longer than its bound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn from_one_seed_every_redis_feature_works_and_entries_spread_over_the_masters() {
    let cluster = TestCluster::start();
    let seed = cluster.url(0);
    bounded(Box::pin(async {
        let app = TestApp::spawn_with(|s| {
            s.redis_url = Some(fkapi_api::config::Secret(seed.clone()));
        })
        .await;
        let kits = app.ids("SELECT id FROM kits ORDER BY id LIMIT 300").await;
        assert_eq!(kits.len(), 300, "the small seed has 300 kits");

        // Misses then hits, from one seed node that owns only a third of the slots.
        let path = format!("/api/kits/{}", kits[0]);
        assert_eq!(app.get_json(&path).await.2, "MISS");
        assert_eq!(app.get_json(&path).await.2, "HIT");
        let (status, health, _) = app.get_json("/api/health").await;
        assert_eq!(status, StatusCode::OK, "{health}");

        // 300 kit details: entries on every master (at least two).
        for kit in &kits {
            let (status, _, cache) = app.get_json(&format!("/api/kits/{kit}")).await;
            assert_eq!(status, StatusCode::OK);
            assert!(cache == "MISS" || cache == "HIT", "{cache}");
        }
        let ns = fkapi_cache::Namespace::new(&app.db_name);
        let pattern = format!("{}kit_json_*", ns.prefix());
        let per_master: Vec<(u16, usize)> =
            cluster.masters().iter().map(|m| (m.port, cluster.keys_on(m.port, &pattern).len())).collect();
        let total: usize = per_master.iter().map(|(_, n)| n).sum();
        assert_eq!(total, 300, "{per_master:?}");
        assert!(per_master.iter().filter(|(_, n)| *n > 0).count() >= 2, "entries on one master: {per_master:?}");
        // Generation counters spread too (one per kit scope).
        let generations = format!("{}kit:*", ns.generation_prefix());
        let spread = cluster.masters().iter().filter(|m| !cluster.keys_on(m.port, &generations).is_empty()).count();
        assert!(spread >= 2, "generation counters on {spread} master(s)");
        for kit in kits.iter().take(50) {
            assert_eq!(app.get_json(&format!("/api/kits/{kit}")).await.2, "HIT");
        }

        // The entries gauge counts every master's share.
        let counts = app.state.cache().count_entries(fkapi_api::domains::registry()).await.expect("counted");
        assert_eq!(counts.get("kit_json").copied(), Some(300), "{counts:?}");

        // cache-stats: one line per master, summed.
        let (status, stats) = app.admin_json(Method::GET, "/api/admin/cache/stats", &Value::Null).await;
        assert_eq!(status, StatusCode::OK);
        let nodes = stats["redis"]["nodes"].as_array().expect("per-master stats");
        assert_eq!(nodes.len(), 3, "{stats}");
        let keys: u64 = nodes.iter().map(|n| n["db_keys"].as_u64().unwrap()).sum();
        assert_eq!(stats["redis"]["db_keys"].as_u64(), Some(keys));
        assert!(keys >= 300, "{stats}");

        // Scripts survive NOSCRIPT (a new master has none): redis-rs loads and retries.
        cluster.flush_scripts();
        let fresh = format!("/api/kits/{}", kits[299]);
        app.admin_json(Method::POST, "/api/admin/cache/invalidate", &json!({"scope": "kit", "id": kits[299]})).await;
        assert_eq!(app.get_json(&fresh).await.2, "MISS");
        assert_eq!(app.get_json(&fresh).await.2, "HIT", "the generation script ran again after SCRIPT FLUSH");

        // Rate limiter: one bucket, whatever node it lands on.
        let cache = app.state.cache();
        let mut allowed = 0;
        for _ in 0..5 {
            let decision = cache.rate_limit("ip:192.0.2.1", 3, Duration::from_secs(60)).await.expect("limited");
            allowed += usize::from(decision.allowed);
        }
        assert_eq!(allowed, 3);

        // Claims: exactly one of two instances' caches.
        let registry = prometheus::Registry::new();
        let other = fkapi_cache::Cache::new(app.settings.cache.clone(), Some(&seed), &registry).unwrap();
        let claims = futures::future::join_all((0..10).map(|i| {
            let cache = if i % 2 == 0 { cache.clone() } else { other.clone() };
            async move { cache.try_claim("warm-lock:7", Duration::from_secs(30)).await }
        }))
        .await;
        assert_eq!(claims.iter().filter(|c| **c).count(), 1, "{claims:?}");

        // Popularity counts over lists on different slots.
        for (list, member, times) in
            [("search_clubs", "ajax", 2), ("search_clubs", "juventus", 3), ("search_kits", "home", 1)]
        {
            for _ in 0..times {
                cache.count_popular(list, member);
            }
        }
        assert!(cache.flush_popular().await);
        assert_eq!(cache.top_popular("search_clubs", 2).await, ["juventus", "ajax"]);
        assert_eq!(cache.top_popular("search_kits", 1).await, ["home"]);

        // `invalidate all` bumps every epoch copy: every entry is a miss.
        let (status, body) =
            app.admin_json(Method::POST, "/api/admin/cache/invalidate", &json!({"scope": "all"})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["reached_redis"], true, "{body}");
        for kit in kits.iter().step_by(10) {
            assert_eq!(app.get_json(&format!("/api/kits/{kit}")).await.2, "MISS", "kit {kit} after invalidate all");
        }
        // `invalidate kit N`: that kit only.
        let (status, _) =
            app.admin_json(Method::POST, "/api/admin/cache/invalidate", &json!({"scope": "kit", "id": kits[1]})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(app.get_json(&format!("/api/kits/{}", kits[1])).await.2, "MISS");
        assert_eq!(app.get_json(&format!("/api/kits/{}", kits[10])).await.2, "HIT");
    }))
    .await;
}

async fn rename(fleet: &Fleet, index: usize, what: &str, id: i32, name: &str) -> Duration {
    let began = Instant::now();
    let response = fleet
        .admin(index, Method::PATCH, &format!("/api/{what}/{id}"))
        .json(&json!({ "name": name }))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap_or_default());
    began.elapsed()
}

/// SIGKILL the master holding the generation counters of a burst of just
/// renamed kits: while its replica takes over, every request is answered
/// 200 within 3 s and with the new name (reads began after the renames
/// were acknowledged); after the promotion no kit is served with its old
/// name on either instance, and hits come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_master_failover_fails_open_and_never_revives_an_old_entry() {
    let mut cluster = TestCluster::start();
    let seeds = cluster.seeds();
    let env_extra: Vec<(String, String)> = std::env::var("FKAPI_TEST_CLUSTER_ENV")
        .unwrap_or_default()
        .split(' ')
        .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    let fleet = Fleet::start_on(&seeds, 2, |_, env| {
        for (k, v) in &env_extra {
            env.insert(k.clone(), v.clone());
        }
    })
    .await;
    let fleet = Arc::new(fleet);
    let ns = fkapi_cache::Namespace::new(&fleet.namespace);
    let all: Vec<i32> = {
        let mut conn = fleet.db().await;
        #[derive(diesel::QueryableByName)]
        struct Id {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            id: i32,
        }
        use diesel_async::RunQueryDsl;
        diesel::sql_query("SELECT id FROM kits ORDER BY id LIMIT 120")
            .load::<Id>(&mut conn)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect()
    };
    // The victim: the master of the first kit's generation counter; the
    // kits whose counters it holds are the ones a lost bump would revive.
    let victim = cluster.master_of(&ns.generation_key(&format!("kit:{}", all[0])));
    let kits: Vec<i32> = all
        .iter()
        .copied()
        .filter(|k| cluster.master_of(&ns.generation_key(&format!("kit:{k}"))) == victim)
        .take(30)
        .collect();
    assert!(kits.len() >= 10, "only {} kits on the victim", kits.len());
    let slow = tokio::time::timeout(TEST_BOUND, async {
        for kit in &kits {
            rename(&fleet, 0, "kits", *kit, &format!("Failover Kit {kit} v0")).await;
            for instance in [0, 1] {
                fleet.get_json(instance, &format!("/api/kits/{kit}")).await;
                let (_, _, cache) = fleet.get_json(instance, &format!("/api/kits/{kit}")).await;
                assert_eq!(cache, "HIT", "kit {kit} warm on {instance}");
            }
        }
        // The burst, then the kill as soon as the last rename is acknowledged.
        let renames = kits.iter().map(|kit| {
            let fleet = fleet.clone();
            let kit = *kit;
            async move { rename(&fleet, 0, "kits", kit, &format!("Failover Kit {kit} v1")).await }
        });
        let write_times = futures::future::join_all(renames).await;
        cluster.kill(victim);
        let killed = Instant::now();

        // During the failover: every answer 200, within 3 s, never the old name.
        let until = Arc::new(std::sync::Mutex::new(None::<Instant>));
        let mut readers = Vec::new();
        for reader in 0..4usize {
            let (fleet, kits, until) = (fleet.clone(), kits.clone(), until.clone());
            readers.push(tokio::spawn(async move {
                let mut slowest = Duration::ZERO;
                let mut served = BTreeSet::new();
                let mut i = reader;
                loop {
                    if until.lock().unwrap().is_some_and(|t| Instant::now() >= t) {
                        return (slowest, served);
                    }
                    let kit = kits[i % kits.len()];
                    i += 1;
                    let began = Instant::now();
                    let (status, body, cache) = fleet.get_json(reader % 2, &format!("/api/kits/{kit}")).await;
                    let took = began.elapsed();
                    assert_eq!(status, StatusCode::OK, "kit {kit} during failover: {body}");
                    assert!(took < Duration::from_secs(3), "kit {kit} took {took:?} during failover");
                    let name = body["name"].as_str().unwrap_or_default();
                    assert!(
                        name.ends_with(" v1"),
                        "kit {kit} served {name:?} ({cache}) after its rename was acknowledged"
                    );
                    slowest = slowest.max(took);
                    served.insert(cache);
                }
            }));
        }
        let promotion = cluster.wait_for_promotion(victim, Duration::from_secs(20));
        *until.lock().unwrap() = Some(Instant::now() + Duration::from_secs(2));
        let mut slowest = Duration::ZERO;
        let mut statuses = BTreeSet::new();
        for reader in readers {
            let (took, served) = reader.await.unwrap();
            slowest = slowest.max(took);
            statuses.extend(served);
        }
        eprintln!(
            "failover: promoted {promotion:?} after the kill; slowest read {slowest:?}; X-Cache seen {statuses:?}; \
             slowest write of the burst {:?}",
            write_times.iter().max()
        );

        // After the promotion: no old name anywhere, and hits come back.
        for kit in &kits {
            for instance in [0, 1] {
                let (status, body, cache) = fleet.get_json(instance, &format!("/api/kits/{kit}")).await;
                assert_eq!(status, StatusCode::OK);
                let name = body["name"].as_str().unwrap_or_default();
                assert_eq!(name, format!("Failover Kit {kit} v1"), "instance {instance} ({cache}) after promotion");
            }
        }
        let back = Instant::now();
        loop {
            let path = format!("/api/kits/{}", kits[0]);
            fleet.get_json(1, &path).await;
            let (_, _, cache) = fleet.get_json(1, &path).await;
            let (_, _, other) = fleet.get_json(0, &format!("/api/kits/{}", kits[1])).await;
            if cache == "HIT" && other == "HIT" {
                break;
            }
            assert!(back.elapsed() < Duration::from_secs(15), "hits never came back ({cache}, {other})");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!("failover: first HIT on the affected slots {:?} after the kill", killed.elapsed());
    })
    .await;
    slow.expect("failover test took longer than its bound");
}

/// The case `WAIT` cannot cover: the victim's replica is cut off (frozen
/// past `repl-timeout`, then flagged as failed, so no bump waits for it),
/// the renames are acknowledged by the master alone, the master dies and
/// the stale replica is promoted without them. The instances see the
/// master set change and bump the epoch, so no kit comes back with its old
/// name. With `FKAPI_REDIS_FAILOVER_EPOCH=off` this test fails (old names
/// are served as HITs); that is how it was checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_promoted_replica_that_missed_bumps_never_serves_an_old_entry() {
    let mut cluster = TestCluster::start();
    let env_extra: Vec<(String, String)> = std::env::var("FKAPI_TEST_CLUSTER_ENV")
        .unwrap_or_default()
        .split(' ')
        .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    let fleet = Fleet::start_on(&cluster.seeds(), 2, |_, env| {
        for (k, v) in &env_extra {
            env.insert(k.clone(), v.clone());
        }
    })
    .await;
    let ns = fkapi_cache::Namespace::new(&fleet.namespace);
    let victim = cluster.master_of(&ns.generation_key("kit:1"));
    let kits: Vec<i32> =
        (1..200).filter(|k| cluster.master_of(&ns.generation_key(&format!("kit:{k}"))) == victim).take(10).collect();
    let run = tokio::time::timeout(TEST_BOUND, async {
        for kit in &kits {
            rename(&fleet, 0, "kits", *kit, &format!("Lagging Kit {kit} v0")).await;
            for instance in [0, 1] {
                fleet.get_json(instance, &format!("/api/kits/{kit}")).await;
                assert_eq!(fleet.get_json(instance, &format!("/api/kits/{kit}")).await.2, "HIT");
            }
        }
        let nodes = cluster.nodes();
        let victim_id = nodes.iter().find(|n| n.port == victim).expect("victim").id.clone();
        let replica = nodes.iter().find(|n| n.master_id == victim_id).expect("victim's replica").port;
        cluster.config_set(victim, "repl-timeout", "1");
        cluster.signal(replica, "-STOP");
        cluster.wait_for_info(victim, "replication", "connected_slaves:0", Duration::from_secs(15));
        for kit in &kits {
            rename(&fleet, 0, "kits", *kit, &format!("Lagging Kit {kit} v1")).await;
        }
        cluster.kill(victim);
        cluster.signal(replica, "-CONT");
        let promotion = cluster.wait_for_promotion(victim, Duration::from_secs(30));
        eprintln!("lagging replica promoted {promotion:?} after the kill");
        // The instances' topology watchers poll every 250 ms.
        tokio::time::sleep(Duration::from_millis(1000)).await;
        for kit in &kits {
            for instance in [0, 1] {
                let (status, body, cache) = fleet.get_json(instance, &format!("/api/kits/{kit}")).await;
                assert_eq!(status, StatusCode::OK);
                let name = body["name"].as_str().unwrap_or_default();
                assert_eq!(name, format!("Lagging Kit {kit} v1"), "instance {instance} ({cache}) after promotion");
            }
        }
    })
    .await;
    run.expect("test took longer than its bound");
}

/// A master that hangs (SIGSTOP: a frozen process, or a partition that
/// drops packets) is failed over. Unlike a dead one it refuses nothing, it
/// only times out, so the Redis client never rereads the slot map by
/// itself: every request would pay the timeout and bypass the cache for
/// good. Requests fail open meanwhile, and once the watcher sees the new
/// masters, caching returns by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hung_master_failed_over_fails_open_and_caching_returns() {
    let cluster = TestCluster::start();
    let seeds = cluster.seeds();
    bounded(async {
        let app = TestApp::spawn_with(|s| {
            s.redis_url = Some(fkapi_api::config::Secret(seeds.clone()));
            // Every hit is then a Redis hit.
            s.cache.l1_max_bytes = 0;
        })
        .await;
        let kits = app.ids("SELECT id FROM kits ORDER BY id LIMIT 20").await;
        let ns = fkapi_cache::Namespace::new(&app.db_name);
        let path = format!("/api/kits/{}", kits[0]);
        let victim = cluster.master_of(&format!("{}kit_json_{}", ns.prefix(), kits[0]));
        app.get_json(&path).await;
        assert_eq!(app.get_json(&path).await.2, "HIT");
        cluster.signal(victim, "-STOP");
        let frozen = Instant::now();
        let mut answers = BTreeSet::new();
        let resumed = loop {
            let (status, _, cache) = app.get_json(&path).await;
            assert_eq!(status, StatusCode::OK, "a request failed while the master hung");
            if cache == "HIT" {
                break frozen.elapsed();
            }
            answers.insert(cache);
            assert!(frozen.elapsed() < Duration::from_secs(20), "no HIT 20 s after the master hung (seen {answers:?})");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        eprintln!("hung master: first HIT {resumed:?} after the freeze; answers before {answers:?}");
        // No operation is left on the hung node (one would time out: BYPASS).
        for kit in &kits {
            let (status, _, cache) = app.get_json(&format!("/api/kits/{kit}")).await;
            assert_eq!(status, StatusCode::OK);
            assert!(cache == "MISS" || cache == "HIT", "kit {kit}: {cache} after the promotion");
        }
        cluster.signal(victim, "-CONT");
    })
    .await;
}
