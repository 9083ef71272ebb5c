//! The `fkapi` binary's operator commands, run as a user would run them,
//! against a server started by the test harness.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fkapi_tests::{TestApp, ADMIN_KEY};
use std::process::Command;

fn fkapi(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_fkapi"))
        .args(args)
        .env("DATABASE_URL", &app.settings.database_url.0)
        .env("REDIS_URL", fkapi_tests::redis_url())
        .env("FKAPI_CACHE_NAMESPACE", &app.settings.cache.namespace)
        .env("FKAPI_URL", &app.address)
        .env("FKAPI_ADMIN_KEY", ADMIN_KEY)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run fkapi");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn invalidate_command_drops_a_clubs_entries() {
    let app = TestApp::spawn().await;
    app.get("/api/clubs/4").await;
    assert_eq!(app.get_json("/api/clubs/4").await.2, "HIT");
    let (ok, out, err) = fkapi(&app, &["invalidate", "club", "4"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "invalidated: club:4, clubs, club_kits:4");
    assert_eq!(app.get_json("/api/clubs/4").await.2, "MISS");
    let (ok, _, err) = fkapi(&app, &["invalidate", "club"]);
    assert!(!ok && err.contains("needs an id"), "{err}");
}

#[tokio::test]
async fn warm_cache_command_warms_and_summarises() {
    let app = TestApp::spawn().await;
    let (ok, out, err) = fkapi(&app, &["warm-cache", "--kits", "10", "--seasons", "--clubs", "2"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("warmed 18 entries, skipped 0 already cached, 0 failed"), "{out}");
    #[derive(diesel::QueryableByName)]
    struct Busiest {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        team_id: i32,
    }
    use diesel_async::RunQueryDsl;
    let busiest: Busiest =
        diesel::sql_query("SELECT team_id FROM kits GROUP BY team_id ORDER BY count(*) DESC, team_id LIMIT 1")
            .get_result(&mut app.db().await)
            .await
            .unwrap();
    assert_eq!(app.get_json(&format!("/api/seasons?id={}", busiest.team_id)).await.2, "HIT");
    let (ok, _, err) = fkapi(&app, &["warm-cache"]);
    assert!(!ok && err.contains("nothing to warm"), "{err}");
}

#[tokio::test]
async fn cache_stats_command_prints_hit_rate() {
    let app = TestApp::spawn().await;
    app.get("/api/clubs/1").await;
    app.get("/api/clubs/1").await;
    let (ok, out, err) = fkapi(&app, &["cache-stats"]);
    assert!(ok, "{err}");
    assert!(out.contains("overall hit rate  50.0%"), "{out}");
    assert!(out.contains("club "), "{out}");
    let (ok, out, err) = fkapi(&app, &["cache-stats", "--json"]);
    assert!(ok, "{err}");
    let stats: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(stats["per_type"]["club"]["hits"], 1);
}

/// Redis settings that cannot work stop `fkapi serve` at start, naming the
/// setting (the URL itself is not printed: it may hold a password).
#[test]
fn bad_redis_settings_stop_the_server_naming_the_setting() {
    let cases = [
        (vec![("FKAPI_REDIS_MODE", "sharded")], "FKAPI_REDIS_MODE"),
        (vec![("REDIS_URL", "redis://127.0.0.1:1,redis://u:secret@127.0.0.1:2/x/y")], "REDIS_URL"),
        (vec![("REDIS_URL", "redis://127.0.0.1:1,redis://127.0.0.1:2"), ("FKAPI_REDIS_MODE", "single")], "REDIS_URL"),
    ];
    for (env, name) in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_fkapi"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("FKAPI_BIND", "127.0.0.1:0")
            .envs(env.iter().copied())
            .current_dir(std::env::temp_dir())
            .output()
            .expect("run fkapi");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{env:?} started");
        assert!(stderr.contains(name), "{env:?}: {stderr}");
        assert!(!stderr.contains("127.0.0.1:2") && !stderr.contains("secret"), "the URL was printed: {stderr}");
    }
}
