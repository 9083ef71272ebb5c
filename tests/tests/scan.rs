//! The one SCAN loop (`fkapi_cache::scan_each` / `scan_keys`) against the
//! real Redis: it walks every key of a pattern across many SCAN calls.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fkapi_tests::{redis_url, TestApp};

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
    let mut keys: Vec<String> = fkapi_cache::scan_keys(&mut conn, &format!("{prefix}scan_test_*"), 10).await.unwrap();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 250);
    let mut batches = 0;
    fkapi_cache::scan_each(&mut conn, &format!("{prefix}scan_test_*"), 10, |_: Vec<String>| batches += 1)
        .await
        .unwrap();
    assert!(batches > 1, "{batches} batches");
}
