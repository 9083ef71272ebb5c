//! The one SCAN loop (`fkapi_cache::scan_each` / `scan_keys`) against the
//! real Redis: it walks every key of a pattern across many SCAN calls, and
//! the `fkapi_cache_entries` counts it feeds match the entries stored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fkapi_tests::{redis_url, StatusCode, TestApp};

#[tokio::test]
async fn scan_keys_walks_every_batch() {
    let app = TestApp::spawn().await;
    let prefix = app.state.cache().namespace().prefix().to_string();
    let mut conn = redis::Client::open(redis_url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let mut pipe = redis::pipe();
    for i in 0..250 {
        pipe.cmd("SET").arg(format!("{prefix}scan_test_{i}")).arg("x").ignore();
    }
    pipe.query_async::<()>(&mut conn).await.unwrap();
    // A batch of 10 needs many SCAN calls for 250 keys.
    let mut keys = fkapi_cache::scan_keys(&mut conn, &format!("{prefix}scan_test_*"), 10).await.unwrap();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 250);
    let mut batches = 0;
    fkapi_cache::scan_each(&mut conn, &format!("{prefix}scan_test_*"), 10, |_| batches += 1).await.unwrap();
    assert!(batches > 1, "{batches} batches");
}

#[tokio::test]
async fn entries_are_counted_per_cache_type() {
    let app = TestApp::spawn().await;
    for path in ["/api/kit-json/1", "/api/kit-json/2", "/api/kit-json/3", "/api/clubs/1"] {
        let (status, _, _) = app.get_json(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    let counts = app.state.cache().count_entries(&["kit_json", "club", "kits"]).await.expect("redis reachable");
    assert_eq!(counts.get("kit_json"), Some(&3), "{counts:?}");
    assert_eq!(counts.get("club"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("kits"), Some(&0), "{counts:?}");
}
