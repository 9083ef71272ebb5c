//! FKApi's own API tests (`fkapi/core/tests/test_api.py`, class
//! `APITests`), re-expressed over HTTP against the running server. The
//! fixtures of FKApi's `setUp` are written through the admin API (kit types
//! have no write route, so the seeded "Home" type stands in for the one
//! FKApi creates); the assertions are FKApi's, on top of a seeded catalogue
//! instead of an empty one.
//!
//! Not re-expressed, because fkapi has no such route: the three
//! `test_scrape_user_collection_post_*` tests (`POST
//! /api/user-collection/{id}/scrape` scrapes footballkitarchive.com; fkapi
//! keeps collections itself). Where fkapi differs on purpose (README,
//! "Compatibility with FKApi"), the test says so and asserts fkapi's answer:
//! a bad parameter is a 400 with a `detail` (FKApi: 422 from Django Ninja),
//! a collection needs its owner's token (or the admin key) and an unknown
//! user is a 404 with a `detail`, and seasons span consecutive years (so
//! FKApi's "2025-27" fixture cannot exist).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fkapi_tests::{json, StatusCode, TestApp, Value};
use reqwest::Method;

/// FKApi's `setUp`, through the admin API.
struct Fixtures {
    club: i64,
    season: i64,
    brand: i64,
    kind: i64,
    kit: i64,
    kit_slug: &'static str,
}

async fn created(app: &TestApp, path: &str, body: Value) -> i64 {
    let (status, response) = app.admin_json(Method::POST, path, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{path} {body}: {response}");
    response["id"].as_i64().unwrap()
}

/// A season by year: created, or the seeded one when it already exists.
async fn season(app: &TestApp, year: &str) -> i64 {
    let (status, response) = app.admin_json(Method::POST, "/api/seasons", &json!({ "year": year })).await;
    match status {
        StatusCode::CREATED => response["id"].as_i64().unwrap(),
        StatusCode::CONFLICT => i64::from(app.id(&format!("SELECT id FROM seasons WHERE year = '{year}'")).await),
        other => panic!("season {year}: {other} {response}"),
    }
}

async fn set_up(app: &TestApp) -> Fixtures {
    let season = season(app, "2024-25").await;
    let club = created(
        app,
        "/api/clubs",
        json!({"slug": "test-club", "name": "Test Club", "logo": "https://example.com/logo.png"}),
    )
    .await;
    let brand = created(
        app,
        "/api/brands",
        json!({"slug": "test-brand", "name": "Test Brand", "logo": "https://example.com/brand.png"}),
    )
    .await;
    let competition =
        created(app, "/api/competitions", json!({"slug": "test-competition", "name": "Test Competition"})).await;
    let kind = i64::from(app.id("SELECT id FROM kit_types WHERE name = 'Home'").await);
    let fixtures = Fixtures { club, season, brand, kind, kit: 0, kit_slug: "test-kit" };
    let kit = kit(app, &fixtures, "test-kit", "Test Kit", 4.5, &[competition]).await;
    Fixtures { kit, ..fixtures }
}

async fn kit(app: &TestApp, f: &Fixtures, slug: &str, name: &str, rating: f64, competitions: &[i64]) -> i64 {
    created(
        app,
        "/api/kits",
        json!({
            "slug": slug, "name": name, "team_id": f.club, "season_id": f.season, "type_id": f.kind,
            "brand_id": f.brand, "main_img_url": format!("https://example.com/{slug}.jpg"), "rating": rating,
            "competition_ids": competitions,
        }),
    )
    .await
}

async fn get(app: &TestApp, path: &str) -> (StatusCode, Value) {
    let (status, body, _) = app.get_json(path).await;
    (status, body)
}

fn has(data: &Value, key: &str) -> bool {
    data.get(key).is_some()
}

#[tokio::test]
async fn test_health_check() {
    let app = TestApp::spawn().await;
    let (status, data) = get(&app, "/api/health").await;
    assert_eq!(status, StatusCode::OK);
    assert!(has(&data, "status"));
    assert!(["healthy", "unhealthy"].contains(&data["status"].as_str().unwrap()), "{data}");
}

#[tokio::test]
async fn test_searches_return_lists() {
    let app = TestApp::spawn().await;
    set_up(&app).await;
    // test_search_clubs
    let (status, data) = get(&app, "/api/clubs/search?keyword=test").await;
    assert_eq!(status, StatusCode::OK);
    let clubs = data.as_array().unwrap();
    if let Some(first) = clubs.first() {
        assert!(has(first, "id") && has(first, "name"));
    }
    assert!(clubs.iter().any(|c| c["name"] == "Test Club"), "{data}");
    // test_search_brands, test_search_competitions, test_search_seasons, test_search_kits
    for path in [
        "/api/brands/search?keyword=test",
        "/api/competitions/search?keyword=test",
        "/api/seasons/search?keyword=2024",
        "/api/kits/search?keyword=test",
    ] {
        let (status, data) = get(&app, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(data.is_array(), "{path}: {data}");
    }
}

#[tokio::test]
async fn test_search_seasons_priority_ordering() {
    let app = TestApp::spawn().await;
    // FKApi also creates "2025-27", which fkapi's seasons cannot be (their
    // years are consecutive); the other three are FKApi's.
    for year in ["2025", "2025-26", "2024-25"] {
        season(&app, year).await;
    }
    let (status, data) = get(&app, "/api/seasons/search?keyword=2025").await;
    assert_eq!(status, StatusCode::OK, "{data}");
    let years: Vec<&str> = data.as_array().unwrap().iter().map(|s| s["year"].as_str().unwrap()).collect();
    assert!(!years.is_empty());
    if let Some(exact) = years.iter().position(|y| *y == "2025") {
        assert_eq!(exact, 0, "exact match '2025' should be first: {years:?}");
    }
    if let (Some(starts), Some(ends)) =
        (years.iter().position(|y| *y == "2025-26"), years.iter().position(|y| *y == "2024-25"))
    {
        assert!(starts < ends, "'2025-26' should come before '2024-25': {years:?}");
    }
    assert!(years.contains(&"2025") && years.contains(&"2025-26") && years.contains(&"2024-25"), "{years:?}");
}

#[tokio::test]
async fn test_get_kit_json() {
    let app = TestApp::spawn().await;
    let f = set_up(&app).await;
    let (status, data) = get(&app, &format!("/api/kits/{}", f.kit)).await;
    assert_eq!(status, StatusCode::OK);
    for key in ["name", "team", "season", "type"] {
        assert!(has(&data, key), "{key}: {data}");
    }
    let kind = &data["type"];
    for key in ["id", "name", "category", "category_order", "order_priority", "is_goalkeeper"] {
        assert!(has(kind, key), "type.{key}: {kind}");
    }
    assert!(kind["id"].is_i64());
    let stored = app
        .text(&format!(
            "SELECT concat_ws('|', name, category, category_order, order_priority, is_goalkeeper) AS value \
             FROM kit_types WHERE id = {}",
            f.kind
        ))
        .await;
    let shown = format!(
        "{}|{}|{}|{}|{}",
        kind["name"].as_str().unwrap(),
        kind["category"].as_str().unwrap(),
        kind["category_order"],
        kind["order_priority"],
        if kind["is_goalkeeper"] == true { "t" } else { "f" }
    );
    assert_eq!(shown, stored);
    assert_eq!(data["name"], "Test Kit");
}

#[tokio::test]
async fn test_get_random_kits_and_clubs() {
    let app = TestApp::spawn().await;
    set_up(&app).await;
    let (status, data) = get(&app, "/api/random-kits/?page=1&page_size=20").await;
    assert_eq!(status, StatusCode::OK);
    assert!(has(&data, "kits") && has(&data, "pagination"), "{data}");
    assert!(has(&data["pagination"], "current_page"));
    let (status, data) = get(&app, "/api/random-clubs/?page=1&page_size=20").await;
    assert_eq!(status, StatusCode::OK);
    assert!(has(&data, "clubs") && has(&data, "pagination"), "{data}");
}

#[tokio::test]
async fn test_get_kits_bulk() {
    let app = TestApp::spawn().await;
    let f = set_up(&app).await;
    // test_get_kits_bulk_success
    kit(&app, &f, "test-kit-2", "Test Kit 2", 4.0, &[]).await;
    let (status, data) = get(&app, &format!("/api/kits/bulk?slugs={},test-kit-2", f.kit_slug)).await;
    assert_eq!(status, StatusCode::OK, "{data}");
    let kits = data.as_array().unwrap();
    assert_eq!(kits.len(), 2);
    let kit_data = &kits[0];
    for key in ["name", "team", "season", "brand", "main_img_url"] {
        assert!(has(kit_data, key), "{key}");
    }
    for key in ["name", "logo", "logo_dark", "country"] {
        assert!(has(&kit_data["team"], key), "team.{key}");
    }
    assert!(has(&kit_data["season"], "year"));
    for key in ["name", "logo", "logo_dark"] {
        assert!(has(&kit_data["brand"], key), "brand.{key}");
    }

    // test_get_kits_bulk_minimum_validation, test_get_kits_bulk_maximum_validation
    let thirty_one: Vec<String> = (0..31).map(|i| format!("test-kit-{i}")).collect();
    for path in
        [format!("/api/kits/bulk?slugs={}", f.kit_slug), format!("/api/kits/bulk?slugs={}", thirty_one.join(","))]
    {
        let (status, data) = get(&app, &path).await;
        assert!([StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY].contains(&status), "{status}");
        assert!(has(&data, "detail"), "{data}");
    }

    // test_get_kits_bulk_with_urls, test_get_kits_bulk_mixed_slugs_and_urls
    let url1 = format!("https://www.footballkitarchive.com/{}", f.kit_slug);
    let url2 = "https://www.footballkitarchive.com/test-kit-2/";
    for slugs in [format!("{url1},{url2}"), format!("{url1},test-kit-2")] {
        let (status, data) = get(&app, &format!("/api/kits/bulk?slugs={slugs}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(data.as_array().unwrap().len(), 2);
    }

    // test_get_kits_bulk_preserves_order
    kit(&app, &f, "test-kit-3", "Test Kit 3", 3.5, &[]).await;
    let (status, data) = get(&app, &format!("/api/kits/bulk?slugs=test-kit-3,{},test-kit-2", f.kit_slug)).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = data.as_array().unwrap().iter().map(|k| k["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Test Kit 3", "Test Kit", "Test Kit 2"]);

    // test_get_kits_bulk_handles_missing_kits
    let (status, data) = get(&app, &format!("/api/kits/bulk?slugs={},non-existent-kit", f.kit_slug)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(data.as_array().unwrap().len(), 1);
    assert_eq!(data[0]["name"], "Test Kit");

    // test_get_kits_bulk_maximum_allowed
    let mut slugs = vec![f.kit_slug.to_string(), "test-kit-2".into(), "test-kit-3".into()];
    for i in 4..=30 {
        let slug = format!("test-kit-{i}");
        kit(&app, &f, &slug, &format!("Test Kit {i}"), 3.5, &[]).await;
        slugs.push(slug);
    }
    let (status, data) = get(&app, &format!("/api/kits/bulk?slugs={}", slugs.join(","))).await;
    assert_eq!(status, StatusCode::OK, "{data}");
    assert_eq!(data.as_array().unwrap().len(), 30);
}

/// A user whose collection holds `kits` kits (FKApi's tests put a scraped
/// collection of that size in its cache); returns the user's id and token.
async fn collector(app: &TestApp, kits: i64) -> (i64, String) {
    let (status, user) = app.admin_json(Method::POST, "/api/users", &json!({"username": "collector"})).await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let (id, token) = (user["id"].as_i64().unwrap(), user["token"].as_str().unwrap().to_string());
    for kit in 1..=kits {
        let response = app
            .client
            .post(app.url(&format!("/api/user-collection/{id}/kits")))
            .bearer_auth(&token)
            .json(&json!({ "kit_id": kit }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    (id, token)
}

async fn collection(app: &TestApp, id: i64, token: &str, query: &str) -> (StatusCode, Value) {
    let response =
        app.client.get(app.url(&format!("/api/user-collection/{id}{query}"))).bearer_auth(token).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn test_get_user_collection_success() {
    let app = TestApp::spawn().await;
    let (id, token) = collector(&app, 25).await;
    let (status, data) = collection(&app, id, &token, "?page=1&page_size=10").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(data["status"], "ready");
    assert_eq!(data["data"]["entries"].as_array().unwrap().len(), 10);
    assert_eq!(data["pagination"]["current_page"], 1);
    assert_eq!(data["pagination"]["page_size"], 10);
    assert_eq!(data["pagination"]["total_count"], 25);
    assert_eq!(data["pagination"]["total_pages"], 3);
    let (status, data) = collection(&app, id, &token, "?page=2&page_size=10").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(data["data"]["entries"].as_array().unwrap().len(), 10);
    assert_eq!(data["pagination"]["current_page"], 2);
}

#[tokio::test]
async fn test_get_user_collection_not_found() {
    let app = TestApp::spawn().await;
    // Deliberate difference: FKApi answers {"status": "not_found", "message"}
    // for a collection it has not scraped; fkapi keeps collections itself,
    // so only an unknown user has none: a 404 with a `detail`.
    let response = app.admin(Method::GET, "/api/user-collection/123").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let data: Value = response.json().await.unwrap();
    assert_eq!(data["detail"], "User with ID 123 not found");
}

#[tokio::test]
async fn test_get_user_collection_pagination_defaults_and_validation() {
    let app = TestApp::spawn().await;
    let (id, token) = collector(&app, 20).await;
    // test_get_user_collection_pagination_defaults
    let (status, data) = collection(&app, id, &token, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(data["pagination"]["current_page"], 1);
    assert_eq!(data["pagination"]["page_size"], 20);
    // test_get_user_collection_pagination_validation. Deliberate
    // difference: FKApi (Django Ninja) answers 422; fkapi answers a bad
    // parameter with 400 and a `detail` saying why, as on every route.
    for query in ["?page=0", "?page_size=200", "?page_size=0"] {
        let (status, data) = collection(&app, id, &token, query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {data}");
        assert!(has(&data, "detail"));
    }
    let (status, data) = collection(&app, id, &token, "?page=1&page_size=10").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(data["pagination"]["current_page"], 1);
    assert_eq!(data["pagination"]["page_size"], 10);
}
