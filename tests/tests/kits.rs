//! The kit reads: `GET /api/kit-json/{id}`, `/api/kits/{id}`, `/api/kits`,
//! `/api/clubs/{id}/kits` and `/api/kits/bulk`. Shapes (FKApi's field
//! names), ordering, pagination, aliases, filters and errors are checked
//! against SQL on the test's own database; the cache tests assert on the
//! effect (HIT, then the fresh value after a write through the API, with
//! the database's change notifications switched off so only the write
//! path's own invalidation can make them pass).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fkapi_tests::{json, StatusCode, TestApp, Value};
use futures::future::FutureExt;
use reqwest::Method;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

fn keys(body: &Value) -> Vec<String> {
    let mut keys: Vec<String> = body.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    keys.sort();
    keys
}

fn detail(body: &Value) -> String {
    body["detail"].as_str().unwrap_or_default().to_string()
}

fn list_ids(body: &Value) -> Vec<i32> {
    body.as_array()
        .unwrap_or_else(|| panic!("expected a JSON array: {body}"))
        .iter()
        .map(|k| k["id"].as_i64().unwrap() as i32)
        .collect()
}

/// GET that must succeed; returns (body, X-Cache).
async fn ok(app: &TestApp, path: &str) -> (Value, String) {
    let (status, body, cache) = app.get_json(path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    (body, cache)
}

/// GET that must fail with `status`; returns the detail message.
async fn fails(app: &TestApp, path: &str, status: StatusCode) -> String {
    let (got, body, _) = app.get_json(path).await;
    assert_eq!(got, status, "{path}: {body}");
    let message = detail(&body);
    assert!(!message.is_empty(), "{path}: errors are {{\"detail\": …}}, got {body}");
    message
}

/// A GET twice: a MISS, then a HIT with the same body.
async fn warm(app: &TestApp, path: &str) -> Value {
    let (first, cache) = ok(app, path).await;
    assert_eq!(cache, "MISS", "{path}");
    let (second, cache) = ok(app, path).await;
    assert_eq!(cache, "HIT", "{path}");
    assert_eq!(first, second, "{path}");
    second
}

async fn send(app: &TestApp, method: Method, path: &str, body: &Value) {
    let (status, response) = app.admin_json(method.clone(), path, body).await;
    assert!(status.is_success(), "{method} {path} {body}: {status} {response}");
}

/// The expected order of a kit list: newest season first, then kit type
/// category and priority, then id.
fn expected_list_sql(condition: &str, limit: i64, offset: i64) -> String {
    format!(
        "SELECT k.id FROM kits k JOIN seasons s ON s.id = k.season_id JOIN kit_types t ON t.id = k.type_id \
         JOIN clubs c ON c.id = k.team_id WHERE {condition} \
         ORDER BY s.first_year DESC, t.category_order, t.order_priority, k.id LIMIT {limit} OFFSET {offset}"
    )
}

/// A club with kits in several seasons (more than one page of 10).
async fn busy_club(app: &TestApp) -> i32 {
    app.id("SELECT team_id AS id FROM kits GROUP BY team_id \
         HAVING count(*) > 12 AND count(DISTINCT season_id) > 2 ORDER BY team_id LIMIT 1")
        .await
}

// ------------------------------------------------------------ kit detail --

const DETAIL_KEYS: [&str; 14] = [
    "brand",
    "competition",
    "design",
    "id",
    "last_updated",
    "main_img_url",
    "name",
    "primary_color",
    "rating",
    "season",
    "secondary_color",
    "slug",
    "team",
    "type",
];

#[tokio::test]
async fn kit_detail_has_fkapi_shape() {
    let app = TestApp::spawn().await;
    let kit = warm(&app, "/api/kit-json/1").await;
    assert_eq!(keys(&kit), DETAIL_KEYS, "{kit}");
    assert_eq!(keys(&kit["team"]), ["country", "id", "id_fka", "logo", "logo_dark", "name", "slug"]);
    assert_eq!(keys(&kit["season"]), ["first_year", "id", "second_year", "year"]);
    assert_eq!(keys(&kit["type"]), ["category", "category_order", "id", "is_goalkeeper", "name", "order_priority"]);
    assert_eq!(keys(&kit["brand"]), ["id", "logo", "logo_dark", "name", "slug"]);
    assert_eq!(keys(&kit["primary_color"]), ["color", "name"]);

    // The seeded showcase kit: Arsenal 2005-06 home.
    assert_eq!(kit["id"], 1);
    assert_eq!(kit["name"], "Arsenal 2005-06 Home Kit");
    assert_eq!(kit["slug"], "arsenal-2005-06-home-kit");
    assert_eq!(kit["team"]["name"], "Arsenal");
    assert_eq!(kit["season"]["year"], "2005-06");
    assert_eq!(kit["season"]["first_year"], "2005");
    assert_eq!(kit["season"]["second_year"], "2006");
    assert_eq!(kit["design"], "Plain");
    assert_eq!(kit["primary_color"]["name"], "Claret");
    assert!(kit["primary_color"]["color"].as_str().is_some_and(|c| c.starts_with('#') && c.len() == 7), "{kit}");
    assert_eq!(kit["rating"], json!(4.85), "a JSON number with two decimals");
    assert!(kit["last_updated"].as_str().is_some_and(|t| t.contains('T')), "{kit}");

    // Every row it points at, as stored.
    assert_eq!(kit["team"]["id"], app.id("SELECT team_id AS id FROM kits WHERE id = 1").await);
    assert_eq!(kit["brand"]["id"], app.id("SELECT brand_id AS id FROM kits WHERE id = 1").await);
    assert_eq!(kit["type"]["id"], app.id("SELECT type_id AS id FROM kits WHERE id = 1").await);
    assert_eq!(kit["type"]["name"], "Home");
    let competitions = app.ids("SELECT competition_id AS id FROM kit_competitions WHERE kit_id = 1 ORDER BY 1").await;
    assert_eq!(competitions.len(), 3);
    let shown: Vec<i32> =
        kit["competition"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap() as i32).collect();
    assert_eq!(shown, competitions);
    for competition in kit["competition"].as_array().unwrap() {
        assert_eq!(keys(competition), ["country", "id", "logo", "logo_dark", "name", "slug"]);
    }
    let mut secondary: Vec<&str> =
        kit["secondary_color"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    secondary.sort_unstable();
    assert_eq!(secondary, ["Gold", "White"]);
    for color in kit["secondary_color"].as_array().unwrap() {
        assert_eq!(keys(color), ["color", "name"]);
    }

    // Both paths serve the same entry: the second path is already a HIT.
    let (same, cache) = ok(&app, "/api/kits/1").await;
    assert_eq!(cache, "HIT");
    assert_eq!(same, kit);
    assert_eq!(app.metric("fkapi_cache_loads_total", &[("cache_type", "kit_json")]).await, 1.0);
}

#[tokio::test]
async fn kit_detail_without_optional_rows_uses_null_and_empty_lists() {
    let app = TestApp::spawn().await;
    let kit = app
        .id("SELECT id FROM kits k WHERE primary_color_id IS NULL \
         AND NOT EXISTS (SELECT 1 FROM kit_competitions c WHERE c.kit_id = k.id) \
         AND NOT EXISTS (SELECT 1 FROM kit_secondary_colors c WHERE c.kit_id = k.id) ORDER BY id LIMIT 1")
        .await;
    app.sql(&format!("UPDATE kits SET rating = NULL, design = NULL WHERE id = {kit}")).await;
    let (body, _) = ok(&app, &format!("/api/kits/{kit}")).await;
    assert_eq!(body["primary_color"], Value::Null);
    assert_eq!(body["rating"], Value::Null);
    assert_eq!(body["design"], Value::Null);
    assert_eq!(body["competition"], json!([]));
    assert_eq!(body["secondary_color"], json!([]));
}

#[tokio::test]
async fn kit_detail_errors() {
    let app = TestApp::spawn().await;
    for path in ["/api/kit-json/999999", "/api/kits/999999"] {
        assert_eq!(fails(&app, path, StatusCode::NOT_FOUND).await, "Kit with ID 999999 not found");
    }
    for path in ["/api/kit-json/abc", "/api/kits/1.5", "/api/kit-json/99999999999"] {
        fails(&app, path, StatusCode::BAD_REQUEST).await;
    }
    // A 404 is never stored: the kit shows once it exists.
    app.sql(
        "INSERT INTO kits (id, name, slug, team_id, season_id, type_id, brand_id, main_img_url) \
         SELECT 999999, 'Late Kit', 'late-kit', team_id, season_id, type_id, brand_id, main_img_url FROM kits WHERE id = 1",
    )
    .await;
    let (body, _) = ok(&app, "/api/kit-json/999999").await;
    assert_eq!(body["name"], "Late Kit");
}

// -------------------------------------------------------------- kit lists --

const LIST_KEYS: [&str; 10] =
    ["brand_id", "id", "main_img_url", "name", "rating", "season_id", "season_year", "slug", "team_id", "team_name"];

#[tokio::test]
async fn kit_list_shape_order_and_pagination() {
    let app = TestApp::spawn().await;
    let club = busy_club(&app).await;
    let (page, cache) = ok(&app, &format!("/api/kits?club_id={club}&page_size=100")).await;
    assert_eq!(cache, "MISS");
    let items = page.as_array().expect("FKApi returns a plain list");
    assert!(items.len() > 12);
    for item in items {
        assert_eq!(keys(item), LIST_KEYS, "{item}");
        assert_eq!(item["team_id"], club);
    }
    let first = &items[0];
    let kit_id = first["id"].as_i64().unwrap();
    assert_eq!(first["team_name"], app.text(&format!("SELECT name AS value FROM clubs WHERE id = {club}")).await);
    assert_eq!(
        first["season_year"],
        app.text(&format!(
            "SELECT s.year AS value FROM kits k JOIN seasons s ON s.id = k.season_id WHERE k.id = {kit_id}"
        ))
        .await
    );
    assert_eq!(list_ids(&page), app.ids(&expected_list_sql(&format!("k.team_id = {club}"), 100, 0)).await);

    // Pages follow one another without gaps or overlap.
    let (one, _) = ok(&app, &format!("/api/kits?club_id={club}&page=1&page_size=5")).await;
    let (two, _) = ok(&app, &format!("/api/kits?club_id={club}&page=2&page_size=5")).await;
    let (ten, _) = ok(&app, &format!("/api/kits?club_id={club}&page_size=10")).await;
    assert_eq!([list_ids(&one), list_ids(&two)].concat(), list_ids(&ten));
    // Default page size is 20; past the end is an empty list.
    let (default, _) = ok(&app, &format!("/api/kits?club_id={club}")).await;
    assert_eq!(list_ids(&default), list_ids(&page).into_iter().take(20).collect::<Vec<_>>());
    let (beyond, _) = ok(&app, &format!("/api/kits?club_id={club}&page=1000")).await;
    assert_eq!(beyond, json!([]));

    // Unfiltered: the whole catalogue, same order.
    let (all, _) = ok(&app, "/api/kits?page=3&page_size=50").await;
    assert_eq!(list_ids(&all), app.ids(&expected_list_sql("true", 50, 100)).await);

    // An unknown club has no kits here (the club route answers 404).
    let (none, _) = ok(&app, "/api/kits?club_id=999999").await;
    assert_eq!(none, json!([]));
}

#[tokio::test]
async fn kit_list_aliases_give_the_same_list() {
    let app = TestApp::spawn().await;
    let club = busy_club(&app).await;
    let season = app.id(&format!("SELECT season_id AS id FROM kits WHERE team_id = {club} ORDER BY id LIMIT 1")).await;
    let (canonical, _) = ok(&app, &format!("/api/kits?club_id={club}&season_id={season}")).await;
    assert!(!list_ids(&canonical).is_empty());
    for path in [
        format!("/api/kits?club={club}&season={season}"),
        format!("/api/kits?club={club}&season_id={season}"),
        format!("/api/kits?club_id={club}&season={season}"),
    ] {
        let (aliased, _) = ok(&app, &path).await;
        assert_eq!(aliased, canonical, "{path}");
    }
    assert_eq!(
        list_ids(&canonical),
        app.ids(&expected_list_sql(&format!("k.team_id = {club} AND k.season_id = {season}"), 20, 0)).await
    );
}

#[tokio::test]
async fn kit_list_filters_match_sql() {
    let app = TestApp::spawn().await;
    let brand = app.id("SELECT brand_id AS id FROM kits WHERE id = 1").await;
    let country =
        app.text("SELECT country AS value FROM clubs WHERE id = (SELECT team_id FROM kits WHERE id = 1)").await;
    let club = app.id("SELECT team_id AS id FROM kits WHERE id = 1").await;
    let cases: Vec<(String, String)> = vec![
        ("primary_color=Claret".into(), "k.primary_color_id = (SELECT id FROM colors WHERE name = 'Claret')".into()),
        (
            "primary_color=sky%20BLUE".into(),
            "k.primary_color_id = (SELECT id FROM colors WHERE name = 'Sky blue')".into(),
        ),
        ("design=plain".into(), "k.design = 'Plain'".into()),
        ("design=Chest%20band".into(), "k.design = 'Chest band'".into()),
        (format!("country={}", country.to_lowercase()), format!("c.country = '{country}'")),
        ("year=2005".into(), "(s.first_year = '2005' OR s.second_year = '2005')".into()),
        ("first_year=2005".into(), "s.first_year = '2005'".into()),
        ("second_year=2006".into(), "s.second_year = '2006'".into()),
        (format!("brand={brand}"), format!("k.brand_id = {brand}")),
        (
            format!("club={club}&primary_color=Claret&design=Plain&year=2005&brand={brand}"),
            format!(
                "k.team_id = {club} AND k.primary_color_id = (SELECT id FROM colors WHERE name = 'Claret') \
                 AND k.design = 'Plain' AND (s.first_year = '2005' OR s.second_year = '2005') AND k.brand_id = {brand}"
            ),
        ),
    ];
    for (params, condition) in cases {
        let (body, _) = ok(&app, &format!("/api/kits?{params}&page_size=100")).await;
        let expected = app.ids(&expected_list_sql(&condition, 100, 0)).await;
        assert!(!expected.is_empty(), "{params}: the seed should have kits matching");
        assert_eq!(list_ids(&body), expected, "{params}");
    }
    // The showcase kit passes every filter at once.
    let (body, _) = ok(
        &app,
        &format!("/api/kits?club_id={club}&primary_color=claret&design=PLAIN&first_year=2005&second_year=2006"),
    )
    .await;
    assert!(list_ids(&body).contains(&1), "{body}");
}

#[tokio::test]
async fn kit_list_bad_parameters_are_400() {
    let app = TestApp::spawn().await;
    let colour = fails(&app, "/api/kits?primary_color=Mauve", StatusCode::BAD_REQUEST).await;
    for name in ["White", "Sky blue", "Off-white", "Claret"] {
        assert!(colour.contains(name), "the options are listed: {colour}");
    }
    let design = fails(&app, "/api/kits?design=Polka", StatusCode::BAD_REQUEST).await;
    for name in ["Plain", "Chest band", "Half-and-half", "Quarters"] {
        assert!(design.contains(name), "the options are listed: {design}");
    }
    for path in [
        "/api/kits?page_size=101",
        "/api/kits?page_size=0",
        "/api/kits?page=0",
        "/api/kits?page=abc",
        "/api/kits?club_id=abc",
        "/api/kits?club=1.5",
        "/api/kits?season_id=x",
        "/api/kits?brand=nike",
        "/api/kits?country=GBR",
        "/api/kits?country=1",
        "/api/kits?year=1799",
        "/api/kits?year=2101",
        "/api/kits?first_year=99",
        "/api/kits?second_year=3000",
        "/api/kits?year=twenty",
        "/api/kits?club_id=1&club=1",
    ] {
        fails(&app, path, StatusCode::BAD_REQUEST).await;
    }
    // Nothing was loaded for any of them.
    assert_eq!(app.metric("fkapi_cache_loads_total", &[("cache_type", "kits")]).await, 0.0);
}

#[tokio::test]
async fn club_kits_list() {
    let app = TestApp::spawn().await;
    let club = busy_club(&app).await;
    let (body, cache) = ok(&app, &format!("/api/clubs/{club}/kits?page_size=100")).await;
    assert_eq!(cache, "MISS");
    for item in body.as_array().unwrap() {
        assert_eq!(keys(item), LIST_KEYS);
    }
    assert_eq!(list_ids(&body), app.ids(&expected_list_sql(&format!("k.team_id = {club}"), 100, 0)).await);
    let (general, _) = ok(&app, &format!("/api/kits?club_id={club}&page_size=100")).await;
    assert_eq!(body, general, "same items and order as /api/kits?club_id=");

    let season =
        app.id(&format!("SELECT season_id AS id FROM kits WHERE team_id = {club} ORDER BY id DESC LIMIT 1")).await;
    let (by_season, _) = ok(&app, &format!("/api/clubs/{club}/kits?season={season}")).await;
    assert!(!list_ids(&by_season).is_empty());
    assert_eq!(
        list_ids(&by_season),
        app.ids(&expected_list_sql(&format!("k.team_id = {club} AND k.season_id = {season}"), 20, 0)).await
    );
    let (aliased, _) = ok(&app, &format!("/api/clubs/{club}/kits?season_id={season}")).await;
    assert_eq!(aliased, by_season);

    let (one, _) = ok(&app, &format!("/api/clubs/{club}/kits?page=1&page_size=4")).await;
    let (two, _) = ok(&app, &format!("/api/clubs/{club}/kits?page=2&page_size=4")).await;
    assert_eq!([list_ids(&one), list_ids(&two)].concat(), list_ids(&body)[..8].to_vec());

    assert_eq!(fails(&app, "/api/clubs/999999/kits", StatusCode::NOT_FOUND).await, "Club with ID 999999 not found");
    for path in [
        "/api/clubs/abc/kits".to_string(),
        format!("/api/clubs/{club}/kits?page_size=101"),
        format!("/api/clubs/{club}/kits?page=0"),
        format!("/api/clubs/{club}/kits?season=abc"),
    ] {
        fails(&app, &path, StatusCode::BAD_REQUEST).await;
    }
    // A club without kits: an empty list, not a 404.
    let (status, created) =
        app.admin_json(Method::POST, "/api/clubs", &json!({"name": "Kitless FC", "slug": "kitless-fc"})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (empty, _) = ok(&app, &format!("/api/clubs/{}/kits", created["id"])).await;
    assert_eq!(empty, json!([]));
}

// ------------------------------------------------------------------ bulk --

#[tokio::test]
async fn bulk_keeps_input_order_skips_unknown_and_duplicates() {
    let app = TestApp::spawn().await;
    let a = app.text("SELECT slug AS value FROM kits WHERE id = 1").await;
    let b = app.text("SELECT slug AS value FROM kits WHERE id = 2").await;
    let c = app.text("SELECT slug AS value FROM kits WHERE id = 3").await;
    let path = format!("/api/kits/bulk?slugs={c},no-such-kit,{a},{c},https://www.footballkitarchive.com/{b}/");
    let body = warm(&app, &path).await;
    let slugs: Vec<&str> = body.as_array().unwrap().iter().map(|k| k["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs, [c.as_str(), a.as_str(), b.as_str()]);
    let first = &body[1];
    assert_eq!(keys(first), ["brand", "main_img_url", "name", "season", "slug", "team"]);
    assert_eq!(keys(&first["team"]), ["country", "logo", "logo_dark", "name"]);
    assert_eq!(keys(&first["season"]), ["year"]);
    assert_eq!(keys(&first["brand"]), ["logo", "logo_dark", "name"]);
    assert_eq!(first["name"], "Arsenal 2005-06 Home Kit");
    assert_eq!(first["team"]["name"], "Arsenal");
    assert_eq!(first["season"]["year"], "2005-06");
    assert_eq!(
        first["brand"]["name"],
        app.text("SELECT b.name AS value FROM brands b JOIN kits k ON k.brand_id = b.id WHERE k.id = 1").await
    );
    // Spaces around items and empty items are ignored.
    let (spaced, _) = ok(&app, &format!("/api/kits/bulk?slugs=%20{a}%20,,{b}")).await;
    assert_eq!(spaced.as_array().map(Vec::len), Some(2));
    // Only unknown slugs: an empty list.
    let (none, _) = ok(&app, "/api/kits/bulk?slugs=no-such-kit,nor-this-one").await;
    assert_eq!(none, json!([]));
}

#[tokio::test]
async fn bulk_errors() {
    let app = TestApp::spawn().await;
    fails(&app, "/api/kits/bulk", StatusCode::BAD_REQUEST).await;
    assert_eq!(fails(&app, "/api/kits/bulk?slugs=", StatusCode::BAD_REQUEST).await, "Minimum 2 kits required");
    assert_eq!(fails(&app, "/api/kits/bulk?slugs=one-kit", StatusCode::BAD_REQUEST).await, "Minimum 2 kits required");
    assert_eq!(
        fails(&app, "/api/kits/bulk?slugs=one-kit,,%20", StatusCode::BAD_REQUEST).await,
        "Minimum 2 kits required"
    );
    let thirty: Vec<String> = (0..30).map(|i| format!("kit-{i}")).collect();
    ok(&app, &format!("/api/kits/bulk?slugs={}", thirty.join(","))).await;
    let thirty_one: Vec<String> = (0..31).map(|i| format!("kit-{i}")).collect();
    assert_eq!(
        fails(&app, &format!("/api/kits/bulk?slugs={}", thirty_one.join(",")), StatusCode::BAD_REQUEST).await,
        "Maximum 30 kits allowed"
    );
    for slugs in
        ["a-kit,Not%20A%20Slug", "a-kit,UPPER", "a-kit,a--b", "a-kit,%2A", "a-kit,https://www.footballkitarchive.com/"]
    {
        fails(&app, &format!("/api/kits/bulk?slugs={slugs}"), StatusCode::BAD_REQUEST).await;
    }
    let long = "a".repeat(301);
    fails(&app, &format!("/api/kits/bulk?slugs=a-kit,{long}"), StatusCode::BAD_REQUEST).await;
    // The bulk route is not mistaken for a kit id.
    assert_ne!(app.get("/api/kits/bulk?slugs=a-kit,b-kit").await.status(), StatusCode::NOT_FOUND);
}

// ------------------------------------------------------------ the cache --

/// A club rename through the API shows at once in every kit endpoint that
/// shows the club, each of which was a HIT before.
#[tokio::test]
async fn a_club_rename_shows_at_once_in_kit_details_lists_and_bulk() {
    let app = TestApp::spawn().await;
    app.without_change_notifications().await;
    // The club of the first kit of the unfiltered list, so that list shows it too.
    let kit = app.ids(&expected_list_sql("true", 1, 0)).await[0];
    let club = app.id(&format!("SELECT team_id AS id FROM kits WHERE id = {kit}")).await;
    let slug = app.text(&format!("SELECT slug AS value FROM kits WHERE id = {kit}")).await;
    let other = app.text(&format!("SELECT slug AS value FROM kits WHERE team_id <> {club} ORDER BY id LIMIT 1")).await;
    let paths = [
        format!("/api/kit-json/{kit}"),
        format!("/api/kits?club_id={club}"),
        "/api/kits?page_size=1".to_string(),
        format!("/api/clubs/{club}/kits"),
        format!("/api/kits/bulk?slugs={slug},{other}"),
    ];
    for path in &paths {
        warm(&app, path).await;
    }
    send(&app, Method::PATCH, &format!("/api/clubs/{club}"), &json!({"name": "Renamed Athletic"})).await;

    let (body, cache) = ok(&app, &paths[0]).await;
    assert_eq!((body["team"]["name"].as_str(), cache.as_str()), (Some("Renamed Athletic"), "MISS"));
    for path in &paths[1..4] {
        let (body, cache) = ok(&app, path).await;
        assert_eq!(body[0]["team_name"], "Renamed Athletic", "{path} ({cache})");
        assert_eq!(body[0]["id"], kit, "{path}");
    }
    let (body, _) = ok(&app, &paths[4]).await;
    assert_eq!(body[0]["team"]["name"], "Renamed Athletic");
    // And the fresh bodies are cached again.
    for path in &paths {
        let (_, cache) = ok(&app, path).await;
        assert_eq!(cache, "HIT", "{path}");
    }
}

/// The rows a kit detail shows besides the kit (club, season, brand,
/// competitions) are only known once the kit row is read. A kit moved to
/// another club must depend on the new club, and no longer on the old one.
#[tokio::test]
async fn kit_detail_depends_on_the_rows_it_points_at_now() {
    let app = TestApp::spawn().await;
    app.without_change_notifications().await;
    let old_club = app.id("SELECT team_id AS id FROM kits WHERE id = 1").await;
    let new_club = app.id(&format!("SELECT id FROM clubs WHERE id <> {old_club} ORDER BY id LIMIT 1")).await;
    warm(&app, "/api/kit-json/1").await;

    send(&app, Method::PATCH, "/api/kits/1", &json!({"team_id": new_club})).await;
    let (body, _) = ok(&app, "/api/kit-json/1").await;
    assert_eq!(body["team"]["id"], new_club);
    warm_hit(&app, "/api/kit-json/1").await;

    send(&app, Method::PATCH, &format!("/api/clubs/{new_club}"), &json!({"name": "New Home FC"})).await;
    let (body, cache) = ok(&app, "/api/kit-json/1").await;
    assert_eq!((body["team"]["name"].as_str(), cache.as_str()), (Some("New Home FC"), "MISS"));

    // The old club no longer matters to this kit.
    send(&app, Method::PATCH, &format!("/api/clubs/{old_club}"), &json!({"name": "Old Home FC"})).await;
    let (body, cache) = ok(&app, "/api/kit-json/1").await;
    assert_eq!((body["team"]["name"].as_str(), cache.as_str()), (Some("New Home FC"), "HIT"));

    // Brand and competition renames show too.
    let brand = body["brand"]["id"].as_i64().unwrap();
    let competition = body["competition"][0]["id"].as_i64().unwrap();
    send(&app, Method::PATCH, &format!("/api/brands/{brand}"), &json!({"name": "Renamed Brand"})).await;
    let (body, _) = ok(&app, "/api/kit-json/1").await;
    assert_eq!(body["brand"]["name"], "Renamed Brand");
    send(&app, Method::PATCH, &format!("/api/competitions/{competition}"), &json!({"name": "Renamed Cup"})).await;
    let (body, _) = ok(&app, "/api/kits/1").await;
    assert!(body["competition"].as_array().unwrap().iter().any(|c| c["name"] == "Renamed Cup"), "{body}");
}

/// The next read is a HIT (after a MISS that refilled the entry).
async fn warm_hit(app: &TestApp, path: &str) {
    let (_, cache) = ok(app, path).await;
    assert_eq!(cache, "HIT", "{path}");
}

/// The classic race, on a scope the kit detail only learns while loading:
/// a reader builds the detail with the old club name and stalls before the
/// fill; the club is renamed; the stalled fill must not be served after.
#[tokio::test]
async fn a_slow_kit_reader_cannot_put_an_old_club_name_back() {
    let app = TestApp::spawn().await;
    app.without_change_notifications().await;
    let club = app.id("SELECT team_id AS id FROM kits WHERE id = 1").await;
    let reached = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    {
        let (reached, release) = (reached.clone(), release.clone());
        app.state.cache().set_fill_hook(Some(Arc::new(move |key: String| {
            let (reached, release) = (reached.clone(), release.clone());
            async move {
                if key.ends_with(":kit_json_1") {
                    reached.notify_one();
                    release.notified().await;
                }
            }
            .boxed()
        })));
    }
    let reader = {
        let client = app.client.clone();
        let url = app.url("/api/kit-json/1");
        tokio::spawn(async move { client.get(url).send().await.unwrap().json::<Value>().await.unwrap() })
    };
    tokio::time::timeout(Duration::from_secs(10), reached.notified()).await.expect("reader reached the fill");
    send(&app, Method::PATCH, &format!("/api/clubs/{club}"), &json!({"name": "Renamed Mid-Read"})).await;
    app.state.cache().set_fill_hook(None);
    release.notify_one();
    let held = reader.await.unwrap();
    assert_ne!(held["team"]["name"], "Renamed Mid-Read", "the held reader began before the write");

    let (after, cache) = ok(&app, "/api/kit-json/1").await;
    assert_eq!(after["team"]["name"], "Renamed Mid-Read", "x-cache {cache}: the old club name came back");
    warm_hit(&app, "/api/kit-json/1").await;
}

/// Bulk reads depend on every kit row (a kit created or re-slugged later
/// must appear) and on the brands they show.
#[tokio::test]
async fn bulk_sees_new_slugs_and_brand_renames() {
    let app = TestApp::spawn().await;
    app.without_change_notifications().await;
    let a = app.text("SELECT slug AS value FROM kits WHERE id = 1").await;
    let path = format!("/api/kits/bulk?slugs={a},zz-renamed-later");
    let before = warm(&app, &path).await;
    assert_eq!(before.as_array().map(Vec::len), Some(1));

    send(&app, Method::PATCH, "/api/kits/2", &json!({"slug": "zz-renamed-later"})).await;
    let (after, _) = ok(&app, &path).await;
    let slugs: Vec<&str> = after.as_array().unwrap().iter().map(|k| k["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs, [a.as_str(), "zz-renamed-later"]);
    warm_hit(&app, &path).await;

    let brand = app.id("SELECT brand_id AS id FROM kits WHERE id = 1").await;
    send(&app, Method::PATCH, &format!("/api/brands/{brand}"), &json!({"name": "Bulk Brand Renamed"})).await;
    let (after, cache) = ok(&app, &path).await;
    assert_eq!((after[0]["brand"]["name"].as_str(), cache.as_str()), (Some("Bulk Brand Renamed"), "MISS"));
}

/// A kit write changes the lists of its club and the unfiltered lists, at once.
#[tokio::test]
async fn kit_writes_show_in_lists_at_once() {
    let app = TestApp::spawn().await;
    app.without_change_notifications().await;
    let club = app.id("SELECT team_id AS id FROM kits WHERE id = 1").await;
    let lists = [format!("/api/kits?club_id={club}&page_size=100"), format!("/api/clubs/{club}/kits?page_size=100")];
    for path in &lists {
        let body = warm(&app, path).await;
        assert!(list_ids(&body).contains(&1), "{path}");
    }
    send(&app, Method::PATCH, "/api/kits/1", &json!({"name": "Arsenal 2005-06 Redcurrant Home Kit"})).await;
    for path in &lists {
        let (body, _) = ok(&app, path).await;
        let item = body.as_array().unwrap().iter().find(|k| k["id"] == 1).cloned().unwrap_or(Value::Null);
        assert_eq!(item["name"], "Arsenal 2005-06 Redcurrant Home Kit", "{path}");
    }
    // The colour filter reflects a primary colour change.
    let claret = format!("/api/kits?club_id={club}&primary_color=Claret&page_size=100");
    assert!(list_ids(&warm(&app, &claret).await).contains(&1));
    let white = app.id("SELECT id FROM colors WHERE name = 'White'").await;
    send(&app, Method::PATCH, "/api/kits/1", &json!({"primary_color_id": white})).await;
    let (body, _) = ok(&app, &claret).await;
    assert!(!list_ids(&body).contains(&1), "{body}");
}
