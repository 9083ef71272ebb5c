//! Users, bearer tokens, per-user collections and the rate limiter (issue
//! 5). Each test fails when its feature is switched off: authorisation,
//! per-user cache keys, invalidation, the limiter and its sharing through
//! Redis.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fkapi_api::rate_limit::{parse_nets, Rate};
use fkapi_tests::{header, json, DelayProxy, StatusCode, TestApp, TestRedis, Value};
use reqwest::Method;
use std::time::{Duration, Instant};

/// Creates a user through the admin route; returns (id, token).
async fn create_user(app: &TestApp, username: &str) -> (i64, String) {
    let (status, body) = app.admin_json(Method::POST, "/api/users", &json!({ "username": username })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (body["id"].as_i64().unwrap(), body["token"].as_str().unwrap().to_string())
}

fn as_user(app: &TestApp, method: Method, path: &str, token: &str) -> reqwest::RequestBuilder {
    app.client.request(method, app.url(path)).bearer_auth(token)
}

/// GET with a bearer token: (status, body, X-Cache, Cache-Control).
async fn get_as(app: &TestApp, path: &str, token: &str) -> (StatusCode, Value, String, String) {
    let response = as_user(app, Method::GET, path, token).send().await.unwrap();
    let status = response.status();
    let (cache, control) = (header(&response, "x-cache"), header(&response, "cache-control"));
    (status, response.json().await.unwrap_or(Value::Null), cache, control)
}

/// Reads `path` until it is served from the cache, and returns that body.
/// A write's own invalidation happens before its response; the database
/// trigger's notification of the same write may land a moment later and
/// bump the scope once more, so the first read after a write may have to
/// be refilled once before it is a hit.
async fn cached(app: &TestApp, path: &str, token: &str) -> Value {
    for _ in 0..40 {
        let (status, body, cache, _) = get_as(app, path, token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if cache == "HIT" {
            return body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{path} was never served from the cache");
}

async fn add_kit(app: &TestApp, user: i64, token: &str, body: Value) -> (StatusCode, Value) {
    let response = as_user(app, Method::POST, &format!("/api/user-collection/{user}/kits"), token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn kit_ids(page: &Value) -> Vec<i64> {
    page["data"]["entries"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect()
}

fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

fn rate(text: &str) -> Option<Rate> {
    Rate::parse(text).unwrap()
}

#[tokio::test]
async fn users_are_created_by_the_admin_only_and_validated() {
    let app = TestApp::spawn().await;
    let anonymous = app.client.post(app.url("/api/users")).json(&json!({"username": "anon"})).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let wrong_key = app
        .client
        .post(app.url("/api/users"))
        .header("X-API-Key", "not-the-key")
        .json(&json!({"username": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_key.status(), StatusCode::UNAUTHORIZED);

    let (id, token) = create_user(&app, "kit_collector").await;
    assert!(id > 0);
    assert_eq!(token.len(), 64);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    // A user is not the admin.
    let by_user =
        as_user(&app, Method::POST, "/api/users", &token).json(&json!({"username": "sneaky"})).send().await.unwrap();
    assert_eq!(by_user.status(), StatusCode::UNAUTHORIZED);

    let (status, body) = app.admin_json(Method::POST, "/api/users", &json!({"username": "kit_collector"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    for bad in ["ab", "Upper", "has space", "semi;colon", &"x".repeat(51)] {
        let (status, body) = app.admin_json(Method::POST, "/api/users", &json!({ "username": bad })).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert!(body["detail"].as_str().unwrap().contains("username"), "{body}");
    }
    let (status, _) = app.admin_json(Method::POST, "/api/users", &json!({"username": "ok_name", "admin": true})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "unknown fields are refused");

    // Without FKAPI_ADMIN_KEY the admin routes are disabled, not open.
    let closed = TestApp::spawn_with(|s| s.admin_key = None).await;
    let response = closed
        .client
        .post(closed.url("/api/users"))
        .header("X-API-Key", "anything")
        .json(&json!({"username": "nobody"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("FKAPI_ADMIN_KEY"), "{body}");
}

#[tokio::test]
async fn the_token_is_shown_once_and_only_its_hash_is_stored() {
    let app = TestApp::spawn().await;
    let (status, created) = app.admin_json(Method::POST, "/api/users", &json!({"username": "once"})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(keys(&created), ["id", "token", "username"]);
    let (id, token) = (created["id"].as_i64().unwrap(), created["token"].as_str().unwrap().to_string());

    let (status, user, _, _) = get_as(&app, &format!("/api/users/{id}"), &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys(&user), ["created_at", "id", "username"]);
    let (_, page, _, _) = get_as(&app, &format!("/api/user-collection/{id}"), &token).await;
    for shown in [user.to_string(), page.to_string()] {
        assert!(!shown.contains(&token), "a read must never show the token");
    }
    // The column holds the 32-byte SHA-256 of the token, never the token.
    let matching = format!(
        "SELECT 1 FROM users WHERE id = {id} AND octet_length(token_hash) = 32 \
         AND token_hash = sha256(convert_to('{token}', 'UTF8'))"
    );
    assert_eq!(app.sql(&matching).await, 1);
    let plain = format!(
        "SELECT 1 FROM users WHERE encode(token_hash, 'hex') = '{token}' OR encode(token_hash, 'escape') = '{token}'"
    );
    assert_eq!(app.sql(&plain).await, 0);
}

#[tokio::test]
async fn rotating_a_token_retires_the_old_one() {
    let app = TestApp::spawn().await;
    let (id, old) = create_user(&app, "rotator").await;
    let (other, other_token) = create_user(&app, "bystander").await;
    let path = format!("/api/user-collection/{id}");
    assert_eq!(get_as(&app, &path, &old).await.0, StatusCode::OK);

    // Another user may not rotate it; nor may an anonymous client.
    let response = as_user(&app, Method::POST, &format!("/api/users/{id}/token"), &other_token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = app.client.post(app.url(&format!("/api/users/{id}/token"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // The user rotates their own.
    let response = as_user(&app, Method::POST, &format!("/api/users/{id}/token"), &old).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let rotated: Value = response.json().await.unwrap();
    let new = rotated["token"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(rotated["id"].as_i64(), Some(id));
    let (status, body, _, _) = get_as(&app, &path, &old).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["detail"], "invalid token");
    assert_eq!(get_as(&app, &path, &new).await.0, StatusCode::OK);

    // The admin may rotate anyone's; 404 for nobody.
    let (status, body) = app.admin_json(Method::POST, &format!("/api/users/{other}/token"), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(get_as(&app, &format!("/api/user-collection/{other}"), &other_token).await.0, StatusCode::UNAUTHORIZED);
    let (status, _) = app.admin_json(Method::POST, "/api/users/999999/token", &json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn only_the_owner_or_the_admin_reaches_a_collection() {
    let app = TestApp::spawn().await;
    let (alice, alice_token) = create_user(&app, "alice").await;
    let (_, bob_token) = create_user(&app, "bob").await;
    let path = format!("/api/user-collection/{alice}");
    assert_eq!(add_kit(&app, alice, &alice_token, json!({"kit_id": 1})).await.0, StatusCode::CREATED);

    let (status, page, _, control) = get_as(&app, &path, &alice_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(kit_ids(&page), [1]);
    assert!(control.starts_with("private"), "{control}");

    let (status, body, cache, _) = get_as(&app, &path, &bob_token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["detail"].is_string() && cache.is_empty(), "{body}");
    let anonymous = app.get(&path).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&anonymous, "www-authenticate"), "Bearer");
    let forged = "0".repeat(64);
    let (status, body, _, _) = get_as(&app, &path, &forged).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!body.to_string().contains(&forged), "errors never echo the token");
    let basic = app.client.get(app.url(&path)).header("Authorization", "Basic YWxpY2U6c2VjcmV0").send().await.unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);

    // Writes follow the same rule.
    assert_eq!(add_kit(&app, alice, &bob_token, json!({"kit_id": 2})).await.0, StatusCode::FORBIDDEN);
    let response = app.client.post(app.url(&format!("{path}/kits"))).json(&json!({"kit_id": 2})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = as_user(&app, Method::DELETE, &format!("{path}/kits/1"), &bob_token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // The admin reads anyone's; unknown users are 404 to the admin only.
    let response = app.admin(Method::GET, &path).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = app.admin(Method::GET, "/api/user-collection/999999").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(get_as(&app, "/api/user-collection/999999", &bob_token).await.0, StatusCode::FORBIDDEN);
    // Still there, untouched by the refused writes.
    assert_eq!(kit_ids(&get_as(&app, &path, &alice_token).await.1), [1]);
}

#[tokio::test]
async fn a_collection_page_has_fkapis_shape() {
    let app = TestApp::spawn().await;
    let (id, token) = create_user(&app, "pager").await;
    for kit in [1, 2, 3] {
        let (status, body) =
            add_kit(&app, id, &token, json!({"kit_id": kit, "size": "L", "condition": "good", "notes": "n"})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, page, _, _) = get_as(&app, &format!("/api/user-collection/{id}?page=1&page_size=2"), &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys(&page), ["data", "pagination", "status"]);
    assert_eq!(page["status"], "ready", "what FKApi's clients look for");
    assert_eq!(keys(&page["data"]), ["entries", "success", "total_entries"]);
    assert_eq!(page["data"]["success"], true);
    assert_eq!(page["data"]["total_entries"], 3);
    assert_eq!(
        page["pagination"],
        json!({"current_page": 1, "total_pages": 2, "total_count": 3, "has_next": true, "has_previous": false,
               "next_page": 2, "previous_page": null, "page_size": 2})
    );
    let entry = &page["data"]["entries"][0];
    assert_eq!(
        keys(entry),
        [
            "added_at",
            "brand_id",
            "condition",
            "id",
            "main_img_url",
            "name",
            "notes",
            "rating",
            "season_id",
            "season_year",
            "size",
            "slug",
            "team_id",
            "team_name"
        ]
    );
    assert_eq!(
        (entry["size"].as_str(), entry["condition"].as_str(), entry["notes"].as_str()),
        (Some("L"), Some("good"), Some("n"))
    );
    // Newest first.
    assert_eq!(kit_ids(&page), [3, 2]);
    let (_, second, _, _) = get_as(&app, &format!("/api/user-collection/{id}?page=2&page_size=2"), &token).await;
    assert_eq!(kit_ids(&second), [1]);
    assert_eq!(second["pagination"]["has_next"], false);
    assert_eq!(second["pagination"]["has_previous"], true);
    let (status, _, _, _) = get_as(&app, &format!("/api/user-collection/{id}?page_size=101"), &token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn adding_and_removing_kits_shows_at_once() {
    let app = TestApp::spawn().await;
    let (id, token) = create_user(&app, "collector").await;
    let path = format!("/api/user-collection/{id}");
    let (_, page, cache, _) = get_as(&app, &path, &token).await;
    assert_eq!((kit_ids(&page), cache.as_str()), (vec![], "MISS"));
    cached(&app, &path, &token).await;

    let (status, entry) = add_kit(&app, id, &token, json!({"kit_id": 4, "size": "XL"})).await;
    assert_eq!(status, StatusCode::CREATED, "{entry}");
    assert_eq!((entry["id"].as_i64(), entry["size"].as_str()), (Some(4), Some("XL")));
    let (_, page, cache, _) = get_as(&app, &path, &token).await;
    assert_eq!((kit_ids(&page), cache.as_str()), (vec![4], "MISS"));
    cached(&app, &path, &token).await;

    assert_eq!(add_kit(&app, id, &token, json!({"kit_id": 4})).await.0, StatusCode::CONFLICT);
    for bad in [
        json!({"kit_id": 999999}),
        json!({"kit_id": 5, "size": "XXS"}),
        json!({"kit_id": 5, "condition": "mint"}),
        json!({"kit_id": 5, "notes": "x".repeat(501)}),
        json!({"kit_id": 5, "notes": "nul\u{0}byte"}),
    ] {
        let (status, body) = add_kit(&app, id, &token, bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
    // Refused writes leave the cached page alone.
    cached(&app, &path, &token).await;

    let response = as_user(&app, Method::DELETE, &format!("{path}/kits/4"), &token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (_, page, cache, _) = get_as(&app, &path, &token).await;
    assert_eq!((kit_ids(&page), cache.as_str()), (vec![], "MISS"));
    let response = as_user(&app, Method::DELETE, &format!("{path}/kits/4"), &token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_renamed_kit_or_club_shows_in_the_cached_collection_at_once() {
    let app = TestApp::spawn().await;
    let (id, token) = create_user(&app, "watcher").await;
    let path = format!("/api/user-collection/{id}");
    add_kit(&app, id, &token, json!({"kit_id": 1})).await;
    let (_, before, _, _) = get_as(&app, &path, &token).await;
    cached(&app, &path, &token).await;

    let (status, body) = app.admin_json(Method::PATCH, "/api/kits/1", &json!({"name": "Renamed In Collection"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, after, cache, _) = get_as(&app, &path, &token).await;
    assert_eq!(after["data"]["entries"][0]["name"], "Renamed In Collection", "before: {before}");
    assert_eq!(cache, "MISS");

    // The club's name is shown too (team_name), so a club rename counts.
    let club = before["data"]["entries"][0]["team_id"].as_i64().unwrap();
    cached(&app, &path, &token).await;
    let (status, _) =
        app.admin_json(Method::PATCH, &format!("/api/clubs/{club}"), &json!({"name": "Renamed Club FC"})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, after, _, _) = get_as(&app, &path, &token).await;
    assert_eq!(after["data"]["entries"][0]["team_name"], "Renamed Club FC");
}

#[tokio::test]
async fn one_users_cached_collection_is_never_served_to_another() {
    let app = TestApp::spawn().await;
    let (alice, alice_token) = create_user(&app, "alice").await;
    let (bob, bob_token) = create_user(&app, "bob").await;
    add_kit(&app, alice, &alice_token, json!({"kit_id": 1, "notes": "alice's"})).await;
    add_kit(&app, bob, &bob_token, json!({"kit_id": 2, "notes": "bob's"})).await;

    let alice_path = format!("/api/user-collection/{alice}?page=1&page_size=20");
    let (_, alice_page, _, _) = get_as(&app, &alice_path, &alice_token).await;
    let etag = header(&as_user(&app, Method::GET, &alice_path, &alice_token).send().await.unwrap(), "etag");
    cached(&app, &alice_path, &alice_token).await;

    // Bob asking for Alice's cached page: refused before the cache is asked,
    // with or without her ETag.
    let (status, body, cache, _) = get_as(&app, &alice_path, &bob_token).await;
    assert_eq!((status, cache.as_str()), (StatusCode::FORBIDDEN, ""), "{body}");
    assert!(!body.to_string().contains("alice's"));
    let response =
        as_user(&app, Method::GET, &alice_path, &bob_token).header("If-None-Match", &etag).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // Same page parameters, own data: a miss of his own, then his own hit.
    let bob_path = format!("/api/user-collection/{bob}?page=1&page_size=20");
    let (status, bob_page, cache, _) = get_as(&app, &bob_path, &bob_token).await;
    assert_eq!((status, cache.as_str()), (StatusCode::OK, "MISS"));
    assert_eq!(kit_ids(&bob_page), [2]);
    let bob_again = cached(&app, &bob_path, &bob_token).await;
    assert_eq!(bob_again, bob_page);
    assert_eq!(kit_ids(&alice_page), [1]);
    assert_eq!(alice_page["data"]["entries"][0]["notes"], "alice's");
}

#[tokio::test]
async fn anonymous_clients_get_429_after_the_limit() {
    let app = TestApp::spawn_with(|s| s.rate_limit = rate("5/minute")).await;
    for n in 0..5 {
        let response = app.get("/api/clubs/1").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "ratelimit-limit"), "5");
        assert_eq!(header(&response, "ratelimit-remaining"), (4 - n).to_string());
        assert!(header(&response, "ratelimit-reset").parse::<u64>().unwrap() <= 60);
    }
    let response = app.get("/api/clubs/1").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = header(&response, "retry-after").parse().unwrap();
    assert!((1..=12).contains(&retry_after), "{retry_after}");
    assert_eq!(header(&response, "ratelimit-limit"), "5");
    assert_eq!(header(&response, "ratelimit-remaining"), "0");
    assert!(!header(&response, "ratelimit-reset").is_empty());
    let body: Value = response.json().await.unwrap();
    assert_eq!(keys(&body), ["detail"]);
    assert!(body["detail"].as_str().unwrap().contains("5/minute"), "{body}");

    // Health checks and metrics are never limited.
    assert_eq!(app.get("/api/health").await.status(), StatusCode::OK);
    assert_eq!(app.get("/metrics").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn users_have_buckets_of_their_own() {
    let app = TestApp::spawn_with(|s| s.rate_limit = rate("3/minute")).await;
    // Admin requests are not limited, so these cost nothing.
    let (alice, alice_token) = create_user(&app, "alice").await;
    let (bob, bob_token) = create_user(&app, "bob").await;
    for _ in 0..3 {
        assert_eq!(app.get("/api/clubs/1").await.status(), StatusCode::OK);
    }
    assert_eq!(app.get("/api/clubs/1").await.status(), StatusCode::TOO_MANY_REQUESTS);
    // A forged token does not escape the address's bucket.
    let forged = as_user(&app, Method::GET, "/api/clubs/1", &"f".repeat(64)).send().await.unwrap();
    assert_eq!(forged.status(), StatusCode::TOO_MANY_REQUESTS);

    // Same address, but authenticated: each user has a full bucket.
    for n in 0..3 {
        let response =
            as_user(&app, Method::GET, &format!("/api/user-collection/{alice}"), &alice_token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "ratelimit-remaining"), (2 - n).to_string());
    }
    let response = as_user(&app, Method::GET, "/api/clubs/1", &alice_token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let response = as_user(&app, Method::GET, &format!("/api/user-collection/{bob}"), &bob_token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "ratelimit-remaining"), "2");
}

#[tokio::test]
async fn whitelisted_addresses_are_not_limited() {
    let app = TestApp::spawn_with(|s| {
        s.rate_limit = rate("2/minute");
        s.rate_limit_whitelist = parse_nets("10.0.0.0/8, 127.0.0.0/8").unwrap();
    })
    .await;
    for _ in 0..6 {
        let response = app.get("/api/clubs/1").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(header(&response, "ratelimit-limit").is_empty());
    }
}

#[tokio::test]
async fn forwarded_for_counts_only_from_trusted_proxies() {
    let forwarded = |app: &TestApp, client: &str| {
        app.client.get(app.url("/api/clubs/1")).header("X-Forwarded-For", client.to_string()).send()
    };
    // No trusted proxy: the header is ignored, every request is 127.0.0.1's.
    let direct = TestApp::spawn_with(|s| s.rate_limit = rate("2/minute")).await;
    let statuses: Vec<StatusCode> =
        futures::future::join_all(["198.51.100.1", "198.51.100.2", "198.51.100.3"].map(|ip| forwarded(&direct, ip)))
            .await
            .into_iter()
            .map(|r| r.unwrap().status())
            .collect();
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count(), 1, "{statuses:?}");

    // Behind a trusted proxy: each forwarded client has its own bucket, and
    // a whitelisted forwarded client none.
    let proxied = TestApp::spawn_with(|s| {
        s.rate_limit = rate("2/minute");
        s.trusted_proxies = parse_nets("127.0.0.1").unwrap();
        s.rate_limit_whitelist = parse_nets("192.0.2.0/24").unwrap();
    })
    .await;
    for _ in 0..2 {
        assert_eq!(forwarded(&proxied, "198.51.100.1").await.unwrap().status(), StatusCode::OK);
    }
    assert_eq!(forwarded(&proxied, "198.51.100.1").await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    // A client forging a hop to the left is still itself.
    let forged = forwarded(&proxied, "198.51.100.9, 198.51.100.1").await.unwrap();
    assert_eq!(forged.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(forwarded(&proxied, "198.51.100.2").await.unwrap().status(), StatusCode::OK);
    for _ in 0..4 {
        assert_eq!(forwarded(&proxied, "192.0.2.7").await.unwrap().status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn two_instances_sharing_redis_enforce_one_limit() {
    let first = TestApp::spawn_with(|s| s.rate_limit = rate("4/minute")).await;
    let (namespace, database) = (first.settings.cache.namespace.clone(), first.settings.database_url.clone());
    let second = TestApp::spawn_with(move |s| {
        s.rate_limit = rate("4/minute");
        s.cache.namespace = namespace;
        s.database_url = database;
    })
    .await;
    // Two requests each: within either instance's share, but the shared
    // bucket is now empty for both.
    for app in [&first, &second, &first, &second] {
        assert_eq!(app.get("/api/clubs/1").await.status(), StatusCode::OK);
    }
    for app in [&first, &second] {
        let response = app.get("/api/clubs/1").await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(!header(&response, "retry-after").is_empty());
    }
}

/// A server whose Redis is behind `proxy` (each round trip then costs the
/// proxy's delay), with the given rate limit; no L1, so a hit is a Redis
/// round trip.
async fn behind(proxy: &DelayProxy, limit: Option<Rate>) -> TestApp {
    let url = proxy.redis_url();
    TestApp::spawn_with(move |s| {
        s.cache.l1_max_bytes = 0;
        s.redis_url = Some(fkapi_api::config::Secret(url));
        s.cache.op_timeout = Duration::from_secs(5);
        s.entries_sample_secs = 0;
        s.rate_limit = limit;
    })
    .await
}

/// The fastest of three GETs of `path`, with its last response's headers.
async fn fastest_get(app: &TestApp, path: &str) -> (Duration, reqwest::header::HeaderMap) {
    let mut best = Duration::MAX;
    let mut headers = reqwest::header::HeaderMap::new();
    for _ in 0..3 {
        let started = Instant::now();
        let response = app.get(path).await;
        best = best.min(started.elapsed());
        assert_eq!(response.status(), StatusCode::OK);
        headers = response.headers().clone();
    }
    (best, headers)
}

#[tokio::test]
async fn a_limited_read_asks_the_bucket_while_its_hit_is_fetched() {
    // Every Redis round trip takes 150 ms: asking the bucket first, then
    // fetching the hit, would make a limited hit 150 ms slower than an
    // unlimited one; asked together, they take one round trip.
    let delay = Duration::from_millis(150);
    let proxy = DelayProxy::redis(delay).await;
    let unlimited = behind(&proxy, None).await;
    let limited = behind(&proxy, rate("1000/minute")).await;
    for app in [&unlimited, &limited] {
        app.get("/api/clubs/1").await;
        assert_eq!(app.get_json("/api/clubs/1").await.2, "HIT");
    }
    let (plain, plain_headers) = fastest_get(&unlimited, "/api/clubs/1").await;
    let (with_limit, limit_headers) = fastest_get(&limited, "/api/clubs/1").await;
    assert!(plain_headers.get("ratelimit-limit").is_none(), "no limiter is wrapped when limiting is off");
    assert_eq!(limit_headers.get("ratelimit-limit").map(|v| v.as_bytes()), Some(&b"1000"[..]), "the bucket was asked");
    assert_eq!(limit_headers.get("x-cache").map(|v| v.as_bytes()), Some(&b"HIT"[..]));
    assert!(plain >= delay, "the proxy delays every hit: {plain:?}");
    assert!(
        with_limit < plain + delay / 2,
        "a limited hit took {with_limit:?}, an unlimited one {plain:?}: the bucket was asked before the hit"
    );
}

#[tokio::test]
async fn a_refused_write_does_not_happen() {
    // The bucket answers 300 ms late, long after the insert would have
    // committed had the write run alongside it.
    let proxy = DelayProxy::redis(Duration::from_millis(300)).await;
    let app = behind(&proxy, rate("2/minute")).await;
    let (user, token) = create_user(&app, "over_the_limit").await;
    for kit in [1, 2] {
        assert_eq!(add_kit(&app, user, &token, json!({ "kit_id": kit })).await.0, StatusCode::CREATED);
    }
    let (status, body) = add_kit(&app, user, &token, json!({ "kit_id": 3 })).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let stored =
        app.ids(&format!("SELECT kit_id AS id FROM collection_entries WHERE user_id = {user} ORDER BY kit_id")).await;
    assert_eq!(stored, [1, 2], "the refused write must not have been applied");
}

#[tokio::test]
async fn the_limiter_fails_open_when_redis_is_down() {
    let mut redis = TestRedis::start();
    let url = redis.url();
    let app = TestApp::spawn_with(move |s| {
        s.rate_limit = rate("2/minute");
        s.redis_url = Some(fkapi_api::config::Secret(url));
    })
    .await;
    for _ in 0..2 {
        assert_eq!(app.get("/api/clubs/1").await.status(), StatusCode::OK);
    }
    assert_eq!(app.get("/api/clubs/1").await.status(), StatusCode::TOO_MANY_REQUESTS);
    redis.stop();
    for _ in 0..5 {
        let response = app.get("/api/clubs/1").await;
        assert_eq!(response.status(), StatusCode::OK, "served from the database, unlimited");
        assert!(header(&response, "ratelimit-limit").is_empty());
    }
}

#[tokio::test]
async fn collection_rows_changed_in_psql_show_within_a_second() {
    let app = TestApp::spawn().await;
    let (id, token) = create_user(&app, "psql_user").await;
    let path = format!("/api/user-collection/{id}");
    add_kit(&app, id, &token, json!({"kit_id": 1})).await;
    get_as(&app, &path, &token).await;
    cached(&app, &path, &token).await;
    let within_one_second = |expected: Vec<i64>| {
        let (app, path, token) = (&app, &path, &token);
        async move {
            let began = std::time::Instant::now();
            loop {
                let (_, page, _, _) = get_as(app, path, token).await;
                if kit_ids(&page) == expected {
                    return;
                }
                assert!(began.elapsed() < std::time::Duration::from_secs(1), "still {page} after 1 s");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    };
    app.sql(&format!("INSERT INTO collection_entries (user_id, kit_id) VALUES ({id}, 2)")).await;
    within_one_second(vec![2, 1]).await;
    // Deleting a kit removes it from every collection (ON DELETE CASCADE).
    app.sql("DELETE FROM kit_competitions WHERE kit_id = 2").await;
    app.sql("DELETE FROM kit_secondary_colors WHERE kit_id = 2").await;
    app.sql("DELETE FROM kits WHERE id = 2").await;
    within_one_second(vec![1]).await;
}
