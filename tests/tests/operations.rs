//! Operating the cache: warming (route, schedule), cross-instance claims,
//! stats, popular keywords.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fkapi_tests::{json, StatusCode, TestApp, Value};
use reqwest::Method;
use std::time::{Duration, Instant};

async fn newest_kits(app: &TestApp, n: usize) -> Vec<i64> {
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        id: i32,
    }
    use diesel_async::RunQueryDsl;
    let rows: Vec<Id> = diesel::sql_query(format!("SELECT id FROM kits ORDER BY last_updated DESC, id DESC LIMIT {n}"))
        .load(&mut app.db().await)
        .await
        .unwrap();
    rows.iter().map(|r| i64::from(r.id)).collect()
}

#[tokio::test]
async fn warm_route_fills_entries_that_requests_then_hit() {
    let app = TestApp::spawn().await;
    let (status, report) =
        app.admin_json(Method::POST, "/api/admin/cache/warm", &json!({"kits": 20, "clubs": 3})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["warmed"], 20 + 3 * 3, "{report}");
    assert_eq!(report["failed"], 0);
    for id in newest_kits(&app, 20).await {
        let (status, _, cache) = app.get_json(&format!("/api/kit-json/{id}")).await;
        assert_eq!((status, cache.as_str()), (StatusCode::OK, "HIT"), "kit {id}");
    }
    // A second run finds everything cached.
    let (_, again) = app.admin_json(Method::POST, "/api/admin/cache/warm", &json!({"kits": 20, "clubs": 3})).await;
    assert_eq!((again["warmed"].as_u64(), again["skipped"].as_u64()), (Some(0), Some(29)), "{again}");
}

#[tokio::test]
async fn warm_route_checks_its_input() {
    let app = TestApp::spawn().await;
    for bad in [json!({}), json!({"kits": 0}), json!({"clubs": -1})] {
        let (status, body) = app.admin_json(Method::POST, "/api/admin/cache/warm", &bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad} → {body}");
    }
    let (status, _) = app.admin_json(Method::POST, "/api/admin/cache/warm", &json!({"kits": 1, "bogus": true})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let anonymous = app.client.post(app.url("/api/admin/cache/warm")).json(&json!({"all": true})).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn search_warming_uses_the_most_searched_keywords() {
    let app = TestApp::spawn().await;
    for _ in 0..3 {
        app.get("/api/clubs/search?keyword=Juventus").await;
    }
    app.get("/api/clubs/search?keyword=ajax").await;
    app.state.cache().flush_popular().await;
    assert_eq!(app.state.cache().top_popular("search_clubs", 2).await, ["juventus", "ajax"]);
    app.sql("UPDATE clubs SET logo = NULL WHERE id = 1").await; // drops club search entries
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, report) = app.admin_json(Method::POST, "/api/admin/cache/warm", &json!({"search": true})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let (_, _, cache) = app.get_json("/api/clubs/search?keyword=juventus").await;
    assert_eq!(cache, "HIT");
}

#[tokio::test]
async fn scheduled_warming_runs_by_itself() {
    let app =
        TestApp::spawn_with(|s| s.warm_schedule = Some(fkapi_api::schedule::parse("*/2 * * * * *").unwrap())).await;
    let newest = newest_kits(&app, 1).await[0];
    let path = format!("/api/kit-json/{newest}");
    let began = Instant::now();
    loop {
        // Look without filling: a miss would fill the entry itself.
        let loads = app.metric("fkapi_cache_loads_total", &[("cache_type", "kit_json")]).await;
        if loads > 0.0 {
            break;
        }
        assert!(began.elapsed() < Duration::from_secs(10), "the schedule never warmed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, _, cache) = app.get_json(&path).await;
    assert_eq!(cache, "HIT");
}

#[tokio::test]
async fn only_one_instance_claims_a_tick() {
    // Exactly one claim needs Redis to answer all ten: on a machine loaded by
    // the rest of the suite the default operation timeout was seen to lapse
    // for all of them (0 claims), which says nothing about claiming.
    let app = TestApp::spawn_with(|s| s.cache.op_timeout = Duration::from_secs(5)).await;
    let registry = prometheus::Registry::new();
    let other =
        fkapi_cache::Cache::new(app.settings.cache.clone(), Some(&fkapi_tests::redis_url()), &registry).unwrap();
    let claims = futures::future::join_all((0..10).map(|i| {
        let cache = if i % 2 == 0 { app.state.cache().clone() } else { other.clone() };
        async move { cache.try_claim("warm-lock:42", Duration::from_secs(30)).await }
    }))
    .await;
    assert_eq!(claims.iter().filter(|c| **c).count(), 1);
}

#[tokio::test]
async fn stats_route_reports_hit_rate_and_redis() {
    let app = TestApp::spawn().await;
    for _ in 0..4 {
        app.get("/api/clubs/1").await;
    }
    let response = app.admin(Method::GET, "/api/admin/cache/stats").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let stats: Value = response.json().await.unwrap();
    assert_eq!(stats["per_type"]["club"]["hits"], 3);
    assert_eq!(stats["per_type"]["club"]["misses"], 1);
    assert_eq!(stats["per_type"]["club"]["hit_rate"], 0.75);
    assert!(stats["redis"]["used_memory_bytes"].as_u64().unwrap() > 0);
    assert!(stats["redis"]["maxmemory_policy"].is_string());
}

/// Every cache type's entries are counted under its own name; the seasons
/// list (type `seasons`, FKApi key prefix `season`) used to count 0.
#[tokio::test]
async fn entries_gauge_counts_every_cache_type() {
    let app = TestApp::spawn().await;
    for path in [
        "/api/clubs/1",
        "/api/clubs/1/kits",
        "/api/seasons?club_id=1",
        "/api/kits?club_id=1",
        "/api/kit-json/1",
        "/api/clubs/search?keyword=arsenal",
    ] {
        let (status, _, cache) = app.get_json(path).await;
        assert_eq!((status, cache.as_str()), (StatusCode::OK, "MISS"), "{path}");
    }
    let counts = app.state.cache().count_entries(fkapi_api::domains::registry()).await.expect("redis reachable");
    for (cache_type, expected) in [
        ("club", 1),
        ("club_kits", 1),
        ("seasons", 1),
        ("kits", 1),
        ("kit_json", 1),
        ("search_clubs", 1),
        ("kits_bulk", 0),
    ] {
        assert_eq!(counts.get(cache_type).copied(), Some(expected), "{cache_type}: {counts:?}");
    }
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("fkapi_cache_entries{cache_type=\"seasons\"} 1"), "{metrics}");
}

/// An operator's `invalidate kit N` bumps what an API write of kit N
/// bumps, including its club's kit lists (it used to leave them cached).
#[tokio::test]
async fn operator_invalidation_of_a_kit_drops_its_club_lists() {
    let app = TestApp::spawn().await;
    let (_, kit, _) = app.get_json("/api/kit-json/1").await;
    let club = kit["team"]["id"].as_i64().expect("kit 1 has a club");
    let lists = [format!("/api/clubs/{club}/kits"), format!("/api/kits?club_id={club}"), "/api/kit-json/1".into()];
    for path in &lists {
        app.get(path).await;
        let (_, _, cache) = app.get_json(path).await;
        assert_eq!(cache, "HIT", "{path} warm");
    }
    let (status, body) =
        app.admin_json(Method::POST, "/api/admin/cache/invalidate", &json!({"scope": "kit", "id": 1})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["invalidated"].as_array().unwrap().contains(&json!(format!("club_kits:{club}"))), "{body}");
    for path in &lists {
        let (_, _, cache) = app.get_json(path).await;
        assert_eq!(cache, "MISS", "{path} after invalidate kit 1");
    }
}
