//! The cache's guarantees (DESIGN.md): fresh after write even against a
//! slow reader, one origin load per key, fail-open, headers. Each test here
//! fails when caching or invalidation is switched off.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fkapi_tests::{header, json, reads_never_older_than_acknowledged_writes, StatusCode, TestApp, TestRedis, Value};
use futures::future::FutureExt;
use reqwest::Method;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

async fn rename_club(app: &TestApp, id: i32, name: &str) {
    let (status, body) = app.admin_json(Method::PATCH, &format!("/api/clubs/{id}"), &json!({ "name": name })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn second_read_is_a_hit_with_etag_and_304() {
    let app = TestApp::spawn().await;
    let first = app.get("/api/clubs/1").await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(header(&first, "x-cache"), "MISS");
    assert!(header(&first, "cache-control").starts_with("public"));
    let etag = header(&first, "etag");
    assert!(etag.starts_with("W/\""), "{etag}");
    let body: Value = first.json().await.unwrap();

    let second = app.get("/api/clubs/1").await;
    assert_eq!(header(&second, "x-cache"), "HIT");
    assert_eq!(header(&second, "etag"), etag);
    assert_eq!(second.json::<Value>().await.unwrap(), body);

    let revalidated = app.client.get(app.url("/api/clubs/1")).header("If-None-Match", &etag).send().await.unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(app.metric("fkapi_cache_hits_total", &[("cache_type", "club")]).await, 2.0);
    assert_eq!(app.metric("fkapi_cache_loads_total", &[("cache_type", "club")]).await, 1.0);
}

#[tokio::test]
async fn a_write_is_visible_on_the_next_read() {
    let app = TestApp::spawn().await;
    let (_, before, _) = app.get_json("/api/clubs/2").await;
    let (_, _, cache) = app.get_json("/api/clubs/2").await;
    assert_eq!(cache, "HIT");
    rename_club(&app, 2, "Renamed Once").await;
    let (status, after, cache) = app.get_json("/api/clubs/2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(after["name"], "Renamed Once", "before: {before}");
    assert_eq!(cache, "MISS");
}

#[tokio::test]
async fn errors_and_not_found_are_not_cached() {
    let app = TestApp::spawn().await;
    let (status, body, _) = app.get_json("/api/clubs/999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["detail"], "Club with ID 999999 not found");
    let (status, _) = app
        .admin_json(Method::POST, "/api/clubs", &json!({"id": 999999, "name": "Late Club", "slug": "late-club"}))
        .await;
    // `id` is not a writable field: unknown fields are refused.
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    app.sql("INSERT INTO clubs (id, name, slug) VALUES (999999, 'Late Club', 'late-club')").await;
    // No out-of-band invalidation is needed: the 404 was never stored.
    let (status, body, _) = app.get_json("/api/clubs/999999").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "Late Club");
}

/// The classic cache-aside race: a reader loads the old row, stalls, the
/// writer commits and answers, then the reader fills the cache. With
/// generation counters read before the load, that fill is dead on arrival.
#[tokio::test]
async fn a_slow_reader_cannot_put_old_rows_back() {
    let app = TestApp::spawn().await;
    let reached = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    {
        let (reached, release) = (reached.clone(), release.clone());
        app.state.cache().set_fill_hook(Some(Arc::new(move |key: String| {
            let (reached, release) = (reached.clone(), release.clone());
            async move {
                if key.ends_with(":club_3") {
                    reached.notify_one();
                    release.notified().await;
                }
            }
            .boxed()
        })));
    }
    let reader = {
        let client = app.client.clone();
        let url = app.url("/api/clubs/3");
        tokio::spawn(async move { client.get(url).send().await.unwrap().json::<Value>().await.unwrap() })
    };
    tokio::time::timeout(Duration::from_secs(10), reached.notified()).await.expect("reader reached the fill");

    rename_club(&app, 3, "Renamed While Reading").await;
    app.state.cache().set_fill_hook(None);
    release.notify_one();
    let stale_read = reader.await.unwrap();
    assert_ne!(stale_read["name"], "Renamed While Reading", "the held reader began before the write");

    let (_, after, cache) = app.get_json("/api/clubs/3").await;
    assert_eq!(after["name"], "Renamed While Reading", "x-cache {cache}: the old row came back");
    let (_, again, cache) = app.get_json("/api/clubs/3").await;
    assert_eq!(again["name"], "Renamed While Reading");
    assert_eq!(cache, "HIT");
}

/// Readers and writers on a few hot rows: every read that began after a
/// write was acknowledged sees that write or a later one.
#[tokio::test]
async fn concurrent_reads_never_go_back_in_time() {
    let app = Arc::new(TestApp::spawn().await);
    for club in 1..=3 {
        rename_club(&app, club, &format!("Hot Club {club} v0")).await;
    }
    let (writer, reader) = (app.clone(), app.clone());
    let reads = reads_never_older_than_acknowledged_writes(
        &[1, 2, 3],
        12,
        Duration::from_secs(3),
        Duration::from_millis(15),
        move |club, version| {
            let app = writer.clone();
            async move { rename_club(&app, club, &format!("Hot Club {club} v{version}")).await }
        },
        move |_, club| {
            let app = reader.clone();
            async move {
                let (status, body, cache) = app.get_json(&format!("/api/clubs/{club}")).await;
                (status, body, format!("x-cache {cache}"))
            }
        },
    )
    .await;
    assert!(reads > 100, "only {reads} reads checked");
    assert!(app.metric("fkapi_cache_hits_total", &[("cache_type", "club")]).await > 0.0, "the cache was exercised");
}

#[tokio::test]
async fn concurrent_misses_cost_one_origin_load() {
    let app = TestApp::spawn().await;
    let before = app.metric("fkapi_cache_loads_total", &[("cache_type", "club")]).await;
    let requests = (0..200).map(|_| app.get_json("/api/clubs/7"));
    let responses = futures::future::join_all(requests).await;
    assert!(responses.iter().all(|(status, body, _)| *status == StatusCode::OK && body["id"] == 7));
    let after = app.metric("fkapi_cache_loads_total", &[("cache_type", "club")]).await;
    assert_eq!(after - before, 1.0, "200 concurrent cold requests must load once");
}

#[tokio::test]
async fn invalidation_route_drops_entries_and_checks_input() {
    let app = TestApp::spawn().await;
    app.get_json("/api/clubs/4").await;
    assert_eq!(app.get_json("/api/clubs/4").await.2, "HIT");
    app.sql("UPDATE clubs SET name = 'Changed Behind The API' WHERE id = 4").await;
    let (status, body) =
        app.admin_json(Method::POST, "/api/admin/cache/invalidate", &json!({"scope": "club", "id": 4})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, club, cache) = app.get_json("/api/clubs/4").await;
    assert_eq!((club["name"].as_str(), cache.as_str()), (Some("Changed Behind The API"), "MISS"));

    for bad in [json!({"scope": "club"}), json!({"scope": "club*"}), json!({"scope": "clubs", "id": 1})] {
        let (status, body) = app.admin_json(Method::POST, "/api/admin/cache/invalidate", &bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad} → {body}");
    }
    let anonymous =
        app.client.post(app.url("/api/admin/cache/invalidate")).json(&json!({"scope": "all"})).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = app.admin_json(Method::POST, "/api/admin/cache/invalidate", &json!({"scope": "all"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.get_json("/api/clubs/4").await.2, "MISS", "all invalidates everything");
}

#[tokio::test]
async fn cache_off_serves_from_the_database() {
    let app = TestApp::spawn_with(|s| s.cache.enabled = false).await;
    for _ in 0..2 {
        let (status, _, cache) = app.get_json("/api/clubs/1").await;
        assert_eq!((status, cache.as_str()), (StatusCode::OK, "BYPASS"));
    }
}

/// Redis goes away: requests are served from the database; a write made
/// meanwhile cannot reach Redis; when Redis returns with its old entries
/// (persisted), none of them is served. (The Redis tier alone: L1 off; the
/// same outage with L1 is in l1.rs.)
#[tokio::test]
async fn redis_outage_fails_open_and_returns_fresh() {
    let mut redis = TestRedis::start();
    let url = redis.url();
    let app = TestApp::spawn_with(move |s| {
        s.redis_url = Some(fkapi_api::config::Secret(url));
        s.cache.l1_max_bytes = 0;
        s.cache.op_timeout = Duration::from_millis(100);
        s.cache.breaker_cooldown = Duration::from_millis(200);
    })
    .await;
    app.get_json("/api/clubs/5").await;
    assert_eq!(app.get_json("/api/clubs/5").await.2, "HIT");

    redis.stop();
    let began = Instant::now();
    let (status, _, cache) = app.get_json("/api/clubs/5").await;
    assert_eq!((status, cache.as_str()), (StatusCode::OK, "BYPASS"));
    assert!(began.elapsed() < Duration::from_secs(2), "fail-open must be quick");
    rename_club(&app, 5, "Renamed During Outage").await;
    let (_, during, _) = app.get_json("/api/clubs/5").await;
    assert_eq!(during["name"], "Renamed During Outage");
    let (_, health, _) = app.get_json("/api/health").await;
    assert_eq!(health["cache"], "disconnected");

    redis.restart();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut last = (Value::Null, String::new());
    for _ in 0..20 {
        let (_, body, cache) = app.get_json("/api/clubs/5").await;
        assert_eq!(body["name"], "Renamed During Outage", "an entry from before the outage was served ({cache})");
        last = (body, cache);
        if last.1 == "HIT" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last.1, "HIT", "caching resumes by itself");
}

#[tokio::test]
async fn large_bodies_are_stored_compressed_and_sent_as_stored() {
    let app = TestApp::spawn().await;
    let path = "/api/kits?page_size=100";
    let plain = app.get(path).await;
    assert_eq!(plain.status(), StatusCode::OK);
    let plain_body = plain.bytes().await.unwrap();
    assert!(plain_body.len() > 1024);
    // The test client does not inflate: it sees the bytes as sent.
    let gz = app.client.get(app.url(path)).header("Accept-Encoding", "gzip").send().await.unwrap();
    assert_eq!(header(&gz, "x-cache"), "HIT");
    assert_eq!(header(&gz, "content-encoding"), "gzip");
    let compressed = gz.bytes().await.unwrap();
    assert!(compressed.len() < plain_body.len() / 2, "{} vs {}", compressed.len(), plain_body.len());
}

/// The route invalidates its own write before answering; the database
/// trigger must not invalidate it a second time when its notification
/// arrives (that would turn the next hit into a miss).
#[tokio::test]
async fn an_api_write_is_invalidated_once() {
    let app = TestApp::spawn().await;
    let before = app.metric("fkapi_cache_invalidations_total", &[("scope", "club")]).await;
    rename_club(&app, 8, "Renamed Once Only").await;
    let (_, body, cache) = app.get_json("/api/clubs/8").await;
    assert_eq!((body["name"].as_str(), cache.as_str()), (Some("Renamed Once Only"), "MISS"));
    // Give a (wrong) notification time to arrive and be applied.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.get_json("/api/clubs/8").await.2, "HIT");
    let after = app.metric("fkapi_cache_invalidations_total", &[("scope", "club")]).await;
    assert_eq!(after - before, 1.0, "one bump of club:8 for one write");
}
