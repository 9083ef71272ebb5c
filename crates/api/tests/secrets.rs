//! Issue 5, item 5: no token, key or password reaches the log or an error
//! body. Runs the real `fkapi serve` binary at debug log level, drives the
//! admin, user, failed-authentication and rate-limit paths, and searches
//! everything it logged for the secrets it was given.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fkapi_tests::{TestApp, ADMIN_KEY};
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn secrets_never_reach_the_log_or_error_bodies() {
    // The harness app provides the database and namespace; the binary serves.
    let app = TestApp::spawn().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log_path = std::env::temp_dir().join(format!("fkapi-secrets-{}-{port}.log", std::process::id()));
    let log = std::fs::File::create(&log_path).unwrap();
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_fkapi"))
            .arg("serve")
            .env("DATABASE_URL", &app.settings.database_url.0)
            .env("REDIS_URL", fkapi_tests::redis_url())
            .env("FKAPI_CACHE_NAMESPACE", &app.settings.cache.namespace)
            .env("FKAPI_BIND", format!("127.0.0.1:{port}"))
            .env("FKAPI_ADMIN_KEY", ADMIN_KEY)
            .env("FKAPI_RATE_LIMIT", "4/minute")
            .env("FKAPI_WORKERS", "1")
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("run fkapi serve"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = &app.client;
    let mut up = false;
    for _ in 0..100 {
        if client.get(format!("{base}/api/health")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "fkapi serve did not start");

    let mut bodies = String::new();
    let created: Value = client
        .post(format!("{base}/api/users"))
        .header("X-API-Key", ADMIN_KEY)
        .json(&json!({"username": "secretive"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (id, token) = (created["id"].as_i64().unwrap(), created["token"].as_str().unwrap().to_string());
    let forged = "ab".repeat(32);
    let wrong_key = "wrong-admin-key-0123456789";
    let collection = format!("{base}/api/user-collection/{id}");
    for request in [
        client.get(&collection).bearer_auth(&token),
        client.post(format!("{collection}/kits")).bearer_auth(&token).json(&json!({"kit_id": 1})),
        client.get(&collection).bearer_auth(&forged),
        client.get(&collection).header("Authorization", format!("Basic {forged}")),
        client.get(&collection).header("X-API-Key", wrong_key),
        client.post(format!("{base}/api/users")).header("X-API-Key", wrong_key).json(&json!({"username": "x_y_z"})),
    ] {
        bodies.push_str(&request.send().await.unwrap().text().await.unwrap());
    }
    let rotated: Value = client
        .post(format!("{base}/api/users/{id}/token"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_token = rotated["token"].as_str().unwrap().to_string();
    // The old token, now invalid, and the rate limit's 429s.
    for _ in 0..6 {
        bodies.push_str(&client.get(&collection).bearer_auth(&token).send().await.unwrap().text().await.unwrap());
    }
    let limited = client.get(format!("{base}/api/clubs/1")).bearer_auth(&new_token).send().await.unwrap();
    bodies.push_str(&limited.text().await.unwrap());
    drop(server);

    let logged = std::fs::read_to_string(&log_path).unwrap();
    let _ = std::fs::remove_file(&log_path);
    assert!(logged.contains("secretive") || logged.contains("/api/users"), "the log was captured: {logged}");
    let password_url = app.settings.database_url.0.split('@').next().unwrap().to_string();
    for secret in [ADMIN_KEY, token.as_str(), new_token.as_str(), forged.as_str(), wrong_key, password_url.as_str()] {
        assert!(!logged.contains(secret), "the log contains a secret ({} chars)", secret.len());
        assert!(!bodies.contains(secret), "an error body contains a secret ({} chars)", secret.len());
    }
    assert!(
        bodies.contains("invalid token") && bodies.contains("invalid API key") && bodies.contains("throttled"),
        "{bodies}"
    );
}
