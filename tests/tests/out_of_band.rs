//! Writes made straight in PostgreSQL (not through the API) show through the
//! API within one second: triggers record them in the change feed, the
//! server's consumer bumps their scopes (tests/tests/feed.rs has the rest).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fkapi_tests::{StatusCode, TestApp, Value};
use std::time::{Duration, Instant};

/// Polls `path` until `done` holds, failing after one second.
async fn within_one_second(app: &TestApp, path: &str, done: impl Fn(StatusCode, &Value) -> bool) -> Duration {
    let began = Instant::now();
    loop {
        let (status, body, _) = app.get_json(path).await;
        if done(status, &body) {
            return began.elapsed();
        }
        assert!(began.elapsed() < Duration::from_secs(1), "{path} still shows {status} {body} after 1 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn warm(app: &TestApp, path: &str) {
    app.get_json(path).await;
    let (status, _, cache) = app.get_json(path).await;
    assert_eq!((status, cache.as_str()), (StatusCode::OK, "HIT"), "{path} should be cached first");
}

#[tokio::test]
async fn psql_update_of_a_club_shows_in_club_and_kit_details() {
    let app = TestApp::spawn().await;
    let kit: i32 = {
        let (_, kits, _) = app.get_json("/api/clubs/1/kits?page_size=1").await;
        kits[0]["id"].as_i64().unwrap() as i32
    };
    warm(&app, "/api/clubs/1").await;
    warm(&app, &format!("/api/kit-json/{kit}")).await;
    app.sql("UPDATE clubs SET name = 'Renamed In psql' WHERE id = 1").await;
    within_one_second(&app, "/api/clubs/1", |_, b| b["name"] == "Renamed In psql").await;
    within_one_second(&app, &format!("/api/kit-json/{kit}"), |_, b| b["team"]["name"] == "Renamed In psql").await;
}

#[tokio::test]
async fn bulk_update_of_ten_thousand_kits_shows_within_a_second() {
    let app = TestApp::spawn().await;
    // The small seed has 5,000 kits: add 5,000 more so the update spans 10,000 rows.
    app.sql(
        "INSERT INTO kits (name, slug, team_id, season_id, type_id, brand_id, main_img_url)
         SELECT name || ' Copy', slug || '-copy', team_id, season_id, type_id, brand_id, main_img_url FROM kits",
    )
    .await;
    let sample: Vec<i32> = vec![1, 2500, 5000, 7500, 10000];
    for id in &sample {
        warm(&app, &format!("/api/kit-json/{id}")).await;
    }
    let records = "SELECT count(*)::text AS value FROM fkapi_feed WHERE table_name = 'kits'";
    let before = app.text(records).await.parse::<i64>().unwrap();
    let updated = app.sql("UPDATE kits SET main_img_url = 'https://cdn.example/bulk/' || id || '.jpg'").await;
    assert_eq!(updated, 10_000);
    let after = app.text(records).await.parse::<i64>().unwrap();
    assert_eq!(after - before, 1, "one statement, one feed record");
    for id in sample {
        let expected = format!("https://cdn.example/bulk/{id}.jpg");
        within_one_second(&app, &format!("/api/kit-json/{id}"), |_, b| b["main_img_url"] == expected.as_str()).await;
    }
}

#[tokio::test]
async fn psql_delete_and_many_to_many_changes_show() {
    let app = TestApp::spawn().await;
    warm(&app, "/api/kit-json/3").await;
    warm(&app, "/api/kit-json/4").await;
    app.sql("DELETE FROM kit_competitions WHERE kit_id = 3").await;
    app.sql("INSERT INTO kit_competitions (kit_id, competition_id) VALUES (3, 1)").await;
    within_one_second(&app, "/api/kit-json/3", |_, b| {
        b["competition"].as_array().is_some_and(|c| c.len() == 1 && c[0]["id"] == 1)
    })
    .await;
    app.sql("DELETE FROM kits WHERE id = 4").await;
    within_one_second(&app, "/api/kit-json/4", |status, _| status == StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn a_kit_moved_in_psql_leaves_the_old_clubs_list() {
    let app = TestApp::spawn().await;
    let (_, kits, _) = app.get_json("/api/clubs/1/kits?page_size=100").await;
    let moved = kits[0]["id"].as_i64().unwrap();
    warm(&app, "/api/clubs/1/kits?page_size=100").await;
    app.sql(&format!("UPDATE kits SET team_id = 2 WHERE id = {moved}")).await;
    within_one_second(&app, "/api/clubs/1/kits?page_size=100", |_, b| {
        b.as_array().is_some_and(|list| list.iter().all(|k| k["id"] != moved))
    })
    .await;
}

/// The LISTEN connection is only a wake-up: losing it loses no change, and
/// reconnecting drops nothing else (no epoch bump).
#[tokio::test]
async fn losing_the_listen_connection_loses_no_change_and_keeps_the_cache() {
    let app = TestApp::spawn().await;
    warm(&app, "/api/clubs/6").await;
    warm(&app, "/api/clubs/7").await;
    // Kill the feed's LISTEN connection, then change a row while it is away.
    let killed = app
        .ids(&format!(
            "SELECT 1 AS id FROM pg_stat_activity, pg_terminate_backend(pid)
             WHERE datname = '{}' AND application_name = 'fkapi-feed-listen'",
            app.db_name
        ))
        .await;
    assert_eq!(killed.len(), 1, "one LISTEN connection");
    app.sql("UPDATE clubs SET name = 'Changed While Deaf' WHERE id = 6").await;
    within_one_second(&app, "/api/clubs/6", |_, b| b["name"] == "Changed While Deaf").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.get_json("/api/clubs/7").await.2, "HIT", "a reconnect must not invalidate everything");
}
