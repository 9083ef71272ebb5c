//! The durable change feed (issue 10): restarts and reconnects cost the
//! cache nothing, no out-of-band change is lost (not while no instance
//! runs, not when the consumer dies mid-batch, not when transactions commit
//! out of id order), one consumer per namespace with takeover, retention.
//! Most tests run real `fkapi serve` processes (tests/fleet.rs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diesel_async::RunQueryDsl;
use fkapi_cache::{Cache, CacheConfig, Namespace};
use fkapi_tests::fleet::{fkapi_binary, Fleet};
use fkapi_tests::{json, redis_url, StatusCode, TestApp, Value};
use std::time::{Duration, Instant};

/// GETs every path on instance `index`; returns how many were HITs.
async fn hits(fleet: &Fleet, index: usize, paths: &[String]) -> usize {
    let mut hits = 0;
    for path in paths {
        let (status, body, cache) = fleet.get_json(index, path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        hits += usize::from(cache == "HIT");
    }
    hits
}

fn kit_paths(ids: impl IntoIterator<Item = i32>) -> Vec<String> {
    ids.into_iter().map(|id| format!("/api/kit-json/{id}")).collect()
}

/// Polls instance `index` until `done` holds; fails after `limit`.
async fn until(fleet: &Fleet, index: usize, path: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Duration {
    let began = Instant::now();
    loop {
        let (_, body, _) = fleet.get_json(index, path).await;
        if done(&body) {
            return began.elapsed();
        }
        assert!(began.elapsed() < limit, "{path} still shows {body} after {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls the in-process app until `done` holds, failing after one second.
async fn within_one_second(app: &TestApp, path: &str, done: impl Fn(StatusCode, &Value) -> bool) {
    let began = Instant::now();
    loop {
        let (status, body, _) = app.get_json(path).await;
        if done(status, &body) {
            return;
        }
        assert!(began.elapsed() < Duration::from_secs(1), "{path} still shows {status} {body} after 1 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn redis() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url()).unwrap().get_multiplexed_async_connection().await.unwrap()
}

async fn generations(conn: &mut redis::aio::MultiplexedConnection, keys: &[String]) -> Vec<Option<String>> {
    redis::cmd("MGET").arg(keys).query_async(conn).await.unwrap()
}

/// Which instance holds the consumer lease (exactly one must).
async fn consumer_of(fleet: &Fleet) -> usize {
    let mut consumers = Vec::new();
    for index in 0..fleet.instances.len() {
        if fleet.instances[index].is_running() && fleet.metric(index, "fkapi_feed_consumer", &[]).await == 1.0 {
            consumers.push(index);
        }
    }
    assert_eq!(consumers.len(), 1, "one consumer per namespace, found {consumers:?}");
    consumers[0]
}

/// Runs `fkapi feed …` with instance `index`'s environment.
fn feed_cli(fleet: &Fleet, index: usize, args: &[&str], extra_env: &[(&str, &str)]) -> String {
    let output = std::process::Command::new(fkapi_binary())
        .arg("feed")
        .args(args)
        .env_clear()
        .envs(&fleet.instances[index].env)
        .envs(extra_env.iter().copied())
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "fkapi feed {args:?}: {stdout}{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

/// Restarting or crashing one of two instances leaves the other's cache
/// warm: no epoch bump on start (today every start bumps it: 0/50 HIT).
#[tokio::test]
async fn restarting_one_of_two_instances_keeps_the_cache() {
    let mut fleet = Fleet::start(2).await;
    let paths = kit_paths(1..=50);
    hits(&fleet, 0, &paths).await;
    assert_eq!(hits(&fleet, 1, &paths).await, 50, "both instances share the warm cache");

    fleet.restart(1).await;
    let after_restart = hits(&fleet, 0, &paths).await;
    assert!(after_restart * 100 >= 95 * paths.len(), "{after_restart}/50 HIT after the other instance restarted");
    assert!(hits(&fleet, 1, &paths).await * 100 >= 95 * paths.len(), "the restarted instance finds the cache warm");

    fleet.kill(0);
    fleet.start_instance(0).await;
    let after_crash = hits(&fleet, 1, &paths).await;
    assert!(after_crash * 100 >= 95 * paths.len(), "{after_crash}/50 HIT after the other instance crashed");
    for index in 0..2 {
        assert_eq!(fleet.metric(index, "fkapi_feed_epoch_bumps_total", &[]).await, 0.0, "instance {index}");
    }
}

/// A change made while no instance ran is applied when one starts, and
/// nothing else is dropped (today: the start bumps the epoch, all MISS).
#[tokio::test]
async fn a_change_made_while_no_instance_ran_is_applied_at_start() {
    let mut fleet = Fleet::start(1).await;
    let changed = "/api/kit-json/7".to_string();
    let others = kit_paths(20..=40);
    hits(&fleet, 0, &others).await;
    hits(&fleet, 0, std::slice::from_ref(&changed)).await;
    assert_eq!(hits(&fleet, 0, std::slice::from_ref(&changed)).await, 1);

    fleet.terminate(0);
    assert_eq!(fleet.sql("UPDATE kits SET name = 'Changed While Nobody Ran' WHERE id = 7").await, 1);
    fleet.start_instance(0).await;
    let took = until(&fleet, 0, &changed, Duration::from_secs(1), |b| b["name"] == "Changed While Nobody Ran").await;
    assert!(took < Duration::from_secs(1));
    assert_eq!(hits(&fleet, 0, &others).await, others.len(), "the start must not drop the other entries");
    assert_eq!(fleet.metric(0, "fkapi_feed_resumes_total", &[]).await, 1.0);
}

/// The consumer is SIGKILLed while it applies a batch: nothing is lost, and
/// the half-applied batch is applied again from the saved position.
#[tokio::test]
async fn a_consumer_killed_mid_batch_loses_no_change() {
    // One batch of 2,000 records (one per UPDATE statement), applied one
    // record after another, so a kill can land in the middle.
    let mut fleet = Fleet::start_with(1, |_, env| {
        env.insert("FKAPI_FEED_BATCH".into(), "5000".into());
    })
    .await;
    let namespace = Namespace::new(&fleet.namespace);
    let mut conn = redis().await;
    let mut caught = None;
    for (attempt, first) in [1, 2001].into_iter().enumerate() {
        let ids: Vec<i32> = (first..first + 2000).collect();
        let keys: Vec<String> = ids.iter().map(|id| namespace.generation_key(&format!("kit:{id}"))).collect();
        let samples = kit_paths([ids[0], ids[999], ids[1999]]);
        hits(&fleet, 0, &samples).await;
        let before = generations(&mut conn, &keys).await;
        fleet
            .sql(&format!(
                "DO $$ BEGIN FOR i IN {first}..{} LOOP
                   UPDATE kits SET name = 'Batch {attempt} kit ' || i WHERE id = i;
                 END LOOP; END $$",
                first + 1999
            ))
            .await;
        let began = Instant::now();
        loop {
            let now = generations(&mut conn, &keys).await;
            let moved = now.iter().zip(&before).filter(|(now, before)| now != before).count();
            if moved > 0 && moved < keys.len() {
                fleet.kill(0);
                caught = Some((attempt, ids, keys, samples, moved));
                break;
            }
            if moved == keys.len() {
                break;
            }
            assert!(began.elapsed() < Duration::from_secs(20), "the batch was not applied");
        }
        if caught.is_some() {
            break;
        }
    }
    let (attempt, _ids, keys, samples, moved) = caught.expect("never caught the consumer in the middle of a batch");
    let at_kill = generations(&mut conn, &keys).await;
    assert!(moved < keys.len(), "killed after {moved} of {} records", keys.len());

    fleet.start_instance(0).await;
    let began = Instant::now();
    loop {
        let now = generations(&mut conn, &keys).await;
        let again = now.iter().zip(&at_kill).filter(|(now, then)| now != then).count();
        if again == keys.len() {
            break;
        }
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "only {again} of {} records applied after the restart (killed after {moved})",
            keys.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for path in &samples {
        let (_, body, _) = fleet.get_json(0, path).await;
        let name = body["name"].as_str().unwrap_or_default();
        assert!(name.starts_with(&format!("Batch {attempt} kit ")), "{path}: {body}");
    }
    assert_eq!(fleet.metric(0, "fkapi_feed_epoch_bumps_total", &[]).await, 0.0, "resumed, not reset");
}

/// One consumer per namespace; when it dies (SIGKILL) or freezes (SIGSTOP)
/// another instance takes over from the saved position, and the frozen one
/// cannot overwrite its successor's position when it wakes.
#[tokio::test]
async fn a_dead_or_frozen_consumer_is_replaced() {
    let mut fleet = Fleet::start(2).await;
    let first = consumer_of(&fleet).await;
    let other = 1 - first;
    let status: Value = serde_json::from_str(&feed_cli(&fleet, other, &["status", "--json"], &[])).unwrap();
    let port = fleet.instances[first].port.to_string();
    assert!(status["consumer"].as_str().unwrap_or_default().contains(&port), "{status}");
    assert_eq!(status["lag_records"], 0, "{status}");

    fleet.get_json(other, "/api/clubs/5").await;
    fleet.kill(first);
    fleet.sql("UPDATE clubs SET name = 'Renamed After The Consumer Died' WHERE id = 5").await;
    // The lease (2 s) lapses, then the other instance's next poll takes over.
    let took = until(&fleet, other, "/api/clubs/5", Duration::from_secs(4), |b| {
        b["name"] == "Renamed After The Consumer Died"
    })
    .await;
    assert!(took < Duration::from_secs(4));
    assert_eq!(consumer_of(&fleet).await, other);
    assert_eq!(fleet.metric(other, "fkapi_feed_resumes_total", &[]).await, 1.0, "took over from the position");

    // Freeze the new consumer; the restarted one takes over; the thawed one
    // must neither keep consuming nor roll the position back.
    fleet.start_instance(first).await;
    fleet.freeze(other);
    fleet.sql("UPDATE clubs SET name = 'Renamed While Frozen' WHERE id = 5").await;
    until(&fleet, first, "/api/clubs/5", Duration::from_secs(4), |b| b["name"] == "Renamed While Frozen").await;
    fleet.thaw(other);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(consumer_of(&fleet).await, first);
    fleet.get_json(other, "/api/clubs/6").await;
    fleet.sql("UPDATE clubs SET name = 'Renamed After The Thaw' WHERE id = 6").await;
    until(&fleet, other, "/api/clubs/6", Duration::from_secs(1), |b| b["name"] == "Renamed After The Thaw").await;
    let text = feed_cli(&fleet, first, &["status"], &[]);
    assert!(text.contains("lag:       0 records"), "{text}");
}

/// Transaction A takes the earlier xid and record id but commits after B:
/// a reader that moved past B's record must still apply A's (the trap of
/// reading by id order). Also shows a long transaction does not hold back
/// the changes committed meanwhile.
#[tokio::test]
async fn transactions_committing_out_of_id_order_are_both_applied() {
    let app = TestApp::spawn().await;
    for path in ["/api/kit-json/11", "/api/kit-json/12"] {
        app.get_json(path).await;
    }
    let mut early = app.db().await;
    diesel::sql_query("BEGIN").execute(&mut early).await.unwrap();
    diesel::sql_query("UPDATE kits SET name = 'Took The Earlier Id' WHERE id = 11").execute(&mut early).await.unwrap();
    app.sql("UPDATE kits SET name = 'Committed First' WHERE id = 12").await;
    within_one_second(&app, "/api/kit-json/12", |_, b| b["name"] == "Committed First").await;
    diesel::sql_query("COMMIT").execute(&mut early).await.unwrap();
    within_one_second(&app, "/api/kit-json/11", |_, b| b["name"] == "Took The Earlier Id").await;

    // The scenario was real: the late commit has the smaller xid and id.
    let order = app
        .text(
            "SELECT string_agg(ids::text, ' ' ORDER BY xid, id) AS value FROM fkapi_feed
             WHERE table_name = 'kits' AND (ids = '{11}' OR ids = '{12}')",
        )
        .await;
    assert_eq!(order, "{11} {12}");
}

/// TRUNCATE is recorded as "every row": everything is invalidated.
#[tokio::test]
async fn truncate_invalidates_everything() {
    let app = TestApp::spawn().await;
    let kit = app.id("SELECT kit_id AS id FROM kit_secondary_colors ORDER BY kit_id LIMIT 1").await;
    let detail = format!("/api/kit-json/{kit}");
    for path in [detail.as_str(), "/api/clubs/1", "/api/brands/search?keyword=a"] {
        app.get_json(path).await;
        assert_eq!(app.get_json(path).await.2, "HIT", "{path}");
    }
    app.sql("TRUNCATE kit_secondary_colors").await;
    within_one_second(&app, &detail, |_, b| b["secondary_color"] == json!([])).await;
    for path in ["/api/clubs/1", "/api/brands/search?keyword=a"] {
        assert_eq!(app.get_json(path).await.2, "MISS", "{path}: TRUNCATE must invalidate everything");
    }
}

/// An API write is invalidated by the route, once; the feed records none.
#[tokio::test]
async fn api_writes_are_applied_once_and_not_recorded() {
    let app = TestApp::spawn().await;
    const RECORDS: &str = "SELECT count(*)::text AS value FROM fkapi_feed";
    let before = app.text(RECORDS).await;
    let applied = app.metric("fkapi_feed_records_applied_total", &[]).await;
    let club = app.metric("fkapi_cache_invalidations_total", &[("scope", "club")]).await;
    let (status, body) =
        app.admin_json(reqwest::Method::PATCH, "/api/clubs/8", &json!({"name": "Renamed Through The API"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(app.text(RECORDS).await, before, "an API write must not be recorded in the feed");
    assert_eq!(app.metric("fkapi_feed_records_applied_total", &[]).await, applied);
    assert_eq!(app.metric("fkapi_cache_invalidations_total", &[("scope", "club")]).await - club, 1.0);
    // And the same change through psql is recorded once and applied once.
    app.get_json("/api/clubs/8").await;
    assert_eq!(app.get_json("/api/clubs/8").await.2, "HIT");
    app.sql("UPDATE clubs SET name = 'Renamed Through psql' WHERE id = 8").await;
    within_one_second(&app, "/api/clubs/8", |_, b| b["name"] == "Renamed Through psql").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.metric("fkapi_feed_records_applied_total", &[]).await - applied, 1.0);
}

/// Applied records are pruned on schedule, and the horizon moves.
#[tokio::test]
async fn applied_records_are_pruned() {
    let app = TestApp::spawn_with(|s| s.feed.prune_every = Some(Duration::from_secs(1))).await;
    app.get_json("/api/clubs/4").await;
    app.sql("UPDATE clubs SET name = 'Soon Pruned' WHERE id = 4").await;
    within_one_second(&app, "/api/clubs/4", |_, b| b["name"] == "Soon Pruned").await;
    let began = Instant::now();
    while app.text("SELECT count(*)::text AS value FROM fkapi_feed").await != "0" {
        assert!(began.elapsed() < Duration::from_secs(6), "applied records were not pruned");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(app.metric("fkapi_feed_pruned_total", &[]).await >= 1.0);
    let below = app.text("SELECT below::text AS value FROM fkapi_feed_pruned").await;
    assert_ne!(below, "0");
}

/// A position older than the retention cannot be resumed: one epoch bump,
/// counted, and the change it missed shows.
#[tokio::test]
async fn a_position_older_than_retention_forces_one_counted_epoch_bump() {
    let mut fleet = Fleet::start(1).await;
    let warm = kit_paths([9, 10]);
    hits(&fleet, 0, &warm).await;
    assert_eq!(hits(&fleet, 0, &warm).await, 2);
    fleet.terminate(0);
    fleet.sql("UPDATE kits SET name = 'Pruned While Away' WHERE id = 9").await;
    // The record is a month old now: past the retention, pruned although
    // this namespace has not applied it.
    fleet.sql("UPDATE fkapi_feed SET recorded_at = recorded_at - interval '30 days'").await;
    // Pruning stops at the oldest transaction running anywhere on the
    // server (other tests' included): try until it has gone.
    let began = Instant::now();
    loop {
        let pruned = feed_cli(&fleet, 0, &["prune"], &[("FKAPI_FEED_RETENTION_SECS", "86400")]);
        if pruned.starts_with("pruned ") && !pruned.starts_with("pruned 0 ") {
            break;
        }
        assert!(began.elapsed() < Duration::from_secs(15), "the old record was never pruned: {pruned}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    fleet.start_instance(0).await;
    assert_eq!(fleet.get_json(0, "/api/kit-json/9").await.1["name"], "Pruned While Away");
    assert_eq!(fleet.get_json(0, "/api/kit-json/10").await.2, "MISS", "the epoch was bumped");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(fleet.metric(0, "fkapi_feed_epoch_bumps_total", &[("reason", "pruned")]).await, 1.0);
    assert_eq!(fleet.metric(0, "fkapi_feed_epoch_bumps_total", &[]).await, 1.0, "exactly one bump");
    assert_eq!(hits(&fleet, 0, &kit_paths([10])).await, 1);
}

/// The lease primitive the feed relies on: one holder, fenced writes.
#[tokio::test]
async fn a_leased_record_has_one_writer_at_a_time() {
    let namespace = format!("fkapi_lease_test_{}", std::process::id());
    let cfg = CacheConfig { namespace: namespace.clone(), ..CacheConfig::default() };
    let cache = Cache::new(cfg, Some(&redis_url()), &prometheus::Registry::new()).unwrap();
    let (lease, keep) = (Duration::from_millis(400), Duration::from_secs(60));
    let (held, record) = cache.claim_record("t", "a", lease, keep).await.unwrap();
    assert!(held);
    assert_eq!((record.owner.as_deref(), record.value), (Some("a"), None));
    assert!(!cache.claim_record("t", "b", lease, keep).await.unwrap().0, "b must wait for a's lease");
    assert_eq!(cache.write_record("t", "b", lease, keep, "from b").await, Some(false));
    assert_eq!(cache.write_record("t", "a", lease, keep, "from a").await, Some(true));
    // a's lease lapses: b takes over, and a can no longer write.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (held, record) = cache.claim_record("t", "b", lease, keep).await.unwrap();
    assert!(held);
    assert_eq!(record.value.as_deref(), Some("from a"));
    assert_eq!(cache.write_record("t", "a", lease, keep, "stale a").await, Some(false));
    // A release hands over at once.
    assert!(cache.release_record("t", "b").await);
    assert!(cache.claim_record("t", "a", lease, keep).await.unwrap().0);
    assert_eq!(cache.read_record("t").await.unwrap().value.as_deref(), Some("from a"));
    fkapi_tests::clear_redis_namespace(&redis_url(), &namespace);
}
