//! What an FKApi client calls, answered as FKApi answers it (issue 13):
//! the `secondary_color` filter, the random listings and their cache, the
//! user collection's `ready`, the optional keyword of kit and season
//! search, unknown query parameters refused, and for each query parameter
//! FKApi accepts on a route both have, proof that it changes the result as
//! in FKApi (checked against SQL on the test's own database).
//!
//! Cache tests turn the database's change notifications off, so only the
//! write path's own invalidation (or the scopes a page records) can make
//! them pass.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fkapi_tests::{json, StatusCode, TestApp, Value};
use reqwest::Method;
use std::collections::BTreeSet;

const ALL_COLORS: &str =
    "White, Red, Blue, Black, Yellow, Green, Sky blue, Navy, Orange, Gray, Claret, Purple, Pink, Brown, Gold, Silver, Off-white";

/// GET that must succeed; returns (body, X-Cache).
async fn ok(app: &TestApp, path: &str) -> (Value, String) {
    let (status, body, cache) = app.get_json(path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    (body, cache)
}

/// GET that must fail with 400; returns the detail.
async fn bad(app: &TestApp, path: &str) -> String {
    let (status, body, _) = app.get_json(path).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
    body["detail"].as_str().unwrap_or_else(|| panic!("{path}: no detail in {body}")).to_string()
}

fn ids_of(list: &Value) -> Vec<i32> {
    list.as_array()
        .unwrap_or_else(|| panic!("expected a JSON array: {list}"))
        .iter()
        .map(|item| item["id"].as_i64().unwrap() as i32)
        .collect()
}

fn keys(body: &Value) -> Vec<String> {
    let mut keys: Vec<String> = body.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    keys.sort();
    keys
}

async fn send(app: &TestApp, method: Method, path: &str, body: &Value) -> Value {
    let (status, response) = app.admin_json(method.clone(), path, body).await;
    assert!(status.is_success(), "{method} {path} {body}: {status} {response}");
    response
}

/// The ids of a kit list in the API's order, as SQL computes it.
async fn expected_kits(app: &TestApp, condition: &str, limit: i64, offset: i64) -> Vec<i32> {
    app.ids(&format!(
        "SELECT k.id FROM kits k JOIN seasons s ON s.id = k.season_id JOIN kit_types t ON t.id = k.type_id \
         JOIN clubs c ON c.id = k.team_id WHERE {condition} \
         ORDER BY s.first_year DESC, t.category_order, t.order_priority, k.id LIMIT {limit} OFFSET {offset}"
    ))
    .await
}

/// `EXISTS` of a secondary colour of kit `k`.
fn has_secondary(color: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM kit_secondary_colors x JOIN colors co ON co.id = x.color_id \
         WHERE x.kit_id = k.id AND co.name = '{color}')"
    )
}

// -------------------------------------------------------- secondary_color --

#[tokio::test]
async fn secondary_color_keeps_kits_with_all_the_named_colours() {
    let app = TestApp::spawn().await;
    let white = expected_kits(&app, &has_secondary("White"), 100, 0).await;
    assert!(white.len() == 100, "the seed has many kits with white as a secondary colour");
    let (body, _) = ok(&app, "/api/kits?secondary_color=White&page_size=100").await;
    assert_eq!(ids_of(&body), white);

    // Repeated: all of them, not any of them.
    let both = format!("{} AND {}", has_secondary("White"), has_secondary("Gold"));
    let expected = expected_kits(&app, &both, 100, 0).await;
    assert!(expected.contains(&1), "kit 1 has gold and white");
    let (body, cache) = ok(&app, "/api/kits?secondary_color=White&secondary_color=Gold&page_size=100").await;
    assert_eq!(cache, "MISS");
    assert_eq!(ids_of(&body), expected);
    let either =
        expected_kits(&app, &format!("({} OR {})", has_secondary("White"), has_secondary("Gold")), 100, 0).await;
    assert_ne!(ids_of(&body), either, "all-of, not any-of");

    // Order, case, blanks and repeats do not matter: the same cache entry answers.
    let (same, cache) = ok(
        &app,
        "/api/kits?secondary_color=gold&secondary_color=&secondary_color=WHITE&secondary_color=White&page_size=100",
    )
    .await;
    assert_eq!((same, cache.as_str()), (body, "HIT"));

    // With the other filters, on the paging of /api/kits.
    let club = app.id("SELECT team_id AS id FROM kits WHERE id = 1").await;
    let condition = format!("k.team_id = {club} AND {}", has_secondary("White"));
    let (body, _) = ok(&app, &format!("/api/kits?club={club}&secondary_color=White&page=2&page_size=3")).await;
    assert_eq!(ids_of(&body), expected_kits(&app, &condition, 3, 3).await);

    // The bug the issue measured: a kit without white is not returned.
    let without =
        app.id(&format!("SELECT k.id FROM kits k WHERE NOT {} ORDER BY k.id LIMIT 1", has_secondary("White"))).await;
    let (all, _) = ok(&app, "/api/kits?secondary_color=White&page_size=100&page=1").await;
    assert!(!ids_of(&all).contains(&without));
}

#[tokio::test]
async fn unknown_colours_and_designs_are_400_listing_the_options() {
    let app = TestApp::spawn().await;
    let detail = bad(&app, "/api/kits?secondary_color=White&secondary_color=Mauve").await;
    assert_eq!(detail, format!("secondary_color must be one of: {ALL_COLORS}"));
    let detail = bad(&app, "/api/kits?primary_color=Mauve").await;
    assert_eq!(detail, format!("primary_color must be one of: {ALL_COLORS}"));
    let detail = bad(&app, "/api/kits?design=Polka%20dots").await;
    assert!(detail.starts_with("design must be one of: Plain, Stripes,") && detail.ends_with("Quarters"), "{detail}");
}

#[tokio::test]
async fn a_kit_given_a_secondary_colour_joins_the_filtered_list_at_once() {
    let app = TestApp::spawn().await;
    app.without_change_notifications().await;
    let kit =
        app.id(&format!("SELECT k.id FROM kits k WHERE NOT {} ORDER BY k.id LIMIT 1", has_secondary("Pink"))).await;
    let path = format!(
        "/api/kits?secondary_color=Pink&club={}&page_size=100",
        app.id(&format!("SELECT team_id AS id FROM kits WHERE id = {kit}")).await
    );
    ok(&app, &path).await;
    let (before, cache) = ok(&app, &path).await;
    assert_eq!(cache, "HIT");
    assert!(!ids_of(&before).contains(&kit));
    let pink = app.id("SELECT id FROM colors WHERE name = 'Pink'").await;
    send(&app, Method::PATCH, &format!("/api/kits/{kit}"), &json!({ "secondary_color_ids": [pink] })).await;
    let (after, _) = ok(&app, &path).await;
    assert!(ids_of(&after).contains(&kit), "{after}");
}

// ---------------------------------------------------------- random kits --

const RANDOM_KIT_KEYS: [&str; 11] = [
    "brand_name",
    "colors",
    "design",
    "id",
    "main_img_url",
    "name",
    "rating",
    "season_year",
    "slug",
    "team_name",
    "type_name",
];

/// Every page of one shuffle, in order.
async fn whole_shuffle(app: &TestApp, list: &str, field: &str, seed: i64, page_size: i64) -> Vec<i32> {
    let mut ids = Vec::new();
    let mut page = 1;
    loop {
        let (body, _) = ok(app, &format!("/api/{list}/?seed={seed}&page={page}&page_size={page_size}")).await;
        ids.extend(ids_of(&body[field]));
        assert_eq!(body["pagination"]["current_page"], page);
        if body["pagination"]["has_next"] == false {
            return ids;
        }
        page += 1;
    }
}

#[tokio::test]
async fn random_kits_have_fkapis_shape_and_only_kits_with_an_image() {
    let app = TestApp::spawn().await;
    app.sql_through_feed("UPDATE kits SET main_img_url = '' WHERE id > 230 OR id IN (3, 5)").await;
    let with_image: BTreeSet<i32> = app.ids("SELECT id FROM kits WHERE main_img_url <> ''").await.into_iter().collect();
    assert_eq!(with_image.len(), 228);

    let (body, cache) = ok(&app, "/api/random-kits/?page=1&page_size=20").await;
    assert_eq!(cache, "MISS");
    assert_eq!(keys(&body), ["kits", "pagination", "seed"]);
    assert_eq!(
        keys(&body["pagination"]),
        ["current_page", "has_next", "has_previous", "next_page", "previous_page", "total_count", "total_pages"]
    );
    assert_eq!(body["pagination"]["total_count"], 228);
    assert_eq!(body["pagination"]["total_pages"], 12);
    assert_eq!(
        (body["pagination"]["next_page"].clone(), body["pagination"]["previous_page"].clone()),
        (json!(2), json!(null))
    );
    for kit in body["kits"].as_array().unwrap() {
        assert_eq!(keys(kit), RANDOM_KIT_KEYS, "{kit}");
    }
    // The default seed is the current window of FKAPI_CACHE_TTL_SHORT seconds.
    let window = app.settings.cache.ttl.base(fkapi_cache::TtlClass::Short).as_secs();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let seed = body["seed"].as_u64().unwrap();
    assert!(seed == now / window || seed + 1 == now / window, "{seed}");

    // Without the slash, as FKApi's Django redirect allows: the same entry.
    let (slash, _) = ok(&app, "/api/random-kits/?page=1&page_size=20&seed=76").await;
    let (bare, cache) = ok(&app, "/api/random-kits?page=1&page_size=20&seed=76").await;
    assert_eq!((bare, cache.as_str()), (slash, "HIT"));

    // One shuffle: every kit with an image exactly once, none without.
    let shuffled = whole_shuffle(&app, "random-kits", "kits", 77, 50).await;
    assert_eq!(shuffled.len(), 228, "no kit twice");
    assert_eq!(shuffled.iter().copied().collect::<BTreeSet<_>>(), with_image);
    let sorted: Vec<i32> = with_image.iter().copied().collect();
    assert_ne!(shuffled, sorted, "shuffled, not in id order");
    // Another seed, another order; the same seed, the same order (from the cache).
    assert_ne!(whole_shuffle(&app, "random-kits", "kits", 78, 50).await, shuffled);
    let (page, cache) = ok(&app, "/api/random-kits/?seed=77&page=2&page_size=50").await;
    assert_eq!((ids_of(&page["kits"]), cache.as_str()), (shuffled[50..100].to_vec(), "HIT"));

    // A page past the last serves the last, as Django's paginator does.
    let (last, _) = ok(&app, "/api/random-kits/?seed=77&page=99&page_size=50").await;
    assert_eq!(last["pagination"]["current_page"], 5);
    assert_eq!(ids_of(&last["kits"]), shuffled[200..].to_vec());
    assert_eq!(last["pagination"]["has_next"], false);
    assert_eq!(last["pagination"]["next_page"], Value::Null);
    assert_eq!(last["pagination"]["previous_page"], 4);

    for path in [
        "/api/random-kits/?page=0",
        "/api/random-kits/?page_size=101",
        "/api/random-kits/?seed=-1",
        "/api/random-kits/?seed=2147483648",
        "/api/random-kits/?order=id",
    ] {
        bad(&app, path).await;
    }
}

#[tokio::test]
async fn random_kit_fields_are_what_fkapi_shows() {
    let app = TestApp::spawn().await;
    app.sql_through_feed("UPDATE kits SET main_img_url = '' WHERE id > 40").await;
    let (body, _) = ok(&app, "/api/random-kits/?seed=5&page_size=100").await;
    let kits = body["kits"].as_array().unwrap();
    assert_eq!(kits.len(), 40);
    for kit in kits {
        let id = kit["id"].as_i64().unwrap();
        let expected = app
            .text(&format!(
                "SELECT concat_ws('|', k.name, k.slug, c.name, s.year, t.name, b.name, coalesce(k.design, '-'), \
                   coalesce(CASE WHEN sc.name IS NULL THEN pc.name ELSE pc.name || ' / ' || sc.name END, '-')) AS value \
                 FROM kits k JOIN clubs c ON c.id = k.team_id JOIN seasons s ON s.id = k.season_id \
                 JOIN kit_types t ON t.id = k.type_id JOIN brands b ON b.id = k.brand_id \
                 LEFT JOIN colors pc ON pc.id = k.primary_color_id \
                 LEFT JOIN LATERAL (SELECT co.name FROM kit_secondary_colors x JOIN colors co ON co.id = x.color_id \
                                    WHERE x.kit_id = k.id ORDER BY co.id LIMIT 1) sc ON true \
                 WHERE k.id = {id}"
            ))
            .await;
        let shown = [
            kit["name"].as_str(),
            kit["slug"].as_str(),
            kit["team_name"].as_str(),
            kit["season_year"].as_str(),
            kit["type_name"].as_str(),
            kit["brand_name"].as_str(),
            kit["design"].as_str().or(Some("-")),
            kit["colors"].as_str().or(Some("-")),
        ]
        .map(Option::unwrap_or_default)
        .join("|");
        assert_eq!(shown, expected, "kit {id}");
    }
    let one = kits.iter().find(|k| k["id"] == 1).unwrap();
    assert_eq!(one["colors"], "Claret / White", "primary / first secondary");
    assert_eq!(one["rating"], json!(4.85));
}

#[tokio::test]
async fn random_kit_pages_are_cached_and_fresh_after_writes() {
    let app = TestApp::spawn().await;
    app.without_change_notifications().await;
    let path = "/api/random-kits/?seed=9&page=1&page_size=10";
    ok(&app, path).await;
    let (page, cache) = ok(&app, path).await;
    assert_eq!(cache, "HIT");
    assert_eq!(app.metric("fkapi_cache_loads_total", &[("cache_type", "random_kits")]).await, 1.0);
    let kit = page["kits"][0]["id"].as_i64().unwrap();
    let club = app.id(&format!("SELECT team_id AS id FROM kits WHERE id = {kit}")).await;

    send(&app, Method::PATCH, &format!("/api/kits/{kit}"), &json!({"name": "Renamed Random Kit"})).await;
    let (page, _) = ok(&app, path).await;
    assert_eq!(page["kits"][0]["name"], "Renamed Random Kit");
    send(&app, Method::PATCH, &format!("/api/clubs/{club}"), &json!({"name": "Renamed Random Club"})).await;
    let (page, _) = ok(&app, path).await;
    assert_eq!(page["kits"][0]["team_name"], "Renamed Random Club");
    // A kit deleted leaves the listing.
    let (status, body) = app.admin_json(Method::DELETE, &format!("/api/kits/{kit}"), &json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (page, _) = ok(&app, path).await;
    assert!(!ids_of(&page["kits"]).contains(&(kit as i32)), "{page}");
    assert_eq!(page["pagination"]["total_count"], 4999);
}

// ---------------------------------------------------------- random clubs --

#[tokio::test]
async fn random_clubs_have_fkapis_shape_real_logos_and_kit_counts() {
    let app = TestApp::spawn().await;
    // Clubs past 120 keep their logos only when they are real.
    app.sql_through_feed("UPDATE clubs SET logo = NULL WHERE id > 120 AND id % 3 = 0").await;
    app.sql_through_feed("UPDATE clubs SET logo = '' WHERE id > 120 AND id % 3 = 1").await;
    app.sql_through_feed(&format!(
        "UPDATE clubs SET logo = '{}' WHERE id > 120 AND id % 3 = 2",
        fkapi_clubs::PLACEHOLDER_LOGO
    ))
    .await;
    let real: BTreeSet<i32> = app.ids("SELECT id FROM clubs WHERE id <= 120").await.into_iter().collect();

    let (body, _) = ok(&app, "/api/random-clubs/?page=1&page_size=20").await;
    assert_eq!(keys(&body), ["clubs", "pagination", "seed"]);
    assert_eq!(body["pagination"]["total_count"], real.len());
    for club in body["clubs"].as_array().unwrap() {
        assert_eq!(keys(club), ["country", "id", "kit_count", "logo", "name", "slug"], "{club}");
        let id = club["id"].as_i64().unwrap();
        let expected = app
            .text(&format!(
                "SELECT concat_ws('|', c.name, c.slug, c.logo, coalesce(c.country, '-'), \
                   (SELECT count(*) FROM kits k WHERE k.team_id = c.id)) AS value FROM clubs c WHERE c.id = {id}"
            ))
            .await;
        let shown = format!(
            "{}|{}|{}|{}|{}",
            club["name"].as_str().unwrap(),
            club["slug"].as_str().unwrap(),
            club["logo"].as_str().unwrap(),
            club["country"].as_str().unwrap_or("-"),
            club["kit_count"]
        );
        assert_eq!(shown, expected);
    }
    let (bare, _) = ok(&app, &format!("/api/random-clubs?page=1&page_size=20&seed={}", body["seed"])).await;
    assert_eq!(bare, body);

    let shuffled = whole_shuffle(&app, "random-clubs", "clubs", 3, 25).await;
    assert_eq!(shuffled.len(), real.len(), "no club twice");
    assert_eq!(shuffled.into_iter().collect::<BTreeSet<_>>(), real);
}

#[tokio::test]
async fn random_club_kit_counts_are_fresh_after_kit_writes() {
    let app = TestApp::spawn().await;
    app.without_change_notifications().await;
    let path = "/api/random-clubs/?seed=11&page=1&page_size=5";
    ok(&app, path).await;
    let (page, cache) = ok(&app, path).await;
    assert_eq!(cache, "HIT");
    let club = page["clubs"][0]["id"].as_i64().unwrap();
    let count = page["clubs"][0]["kit_count"].as_i64().unwrap();
    // A kit moved into the club: its count, recorded per club shown, moves.
    let kit = app.id(&format!("SELECT id FROM kits WHERE team_id <> {club} ORDER BY id LIMIT 1")).await;
    send(&app, Method::PATCH, &format!("/api/kits/{kit}"), &json!({ "team_id": club })).await;
    let (page, _) = ok(&app, path).await;
    assert_eq!(page["clubs"][0]["id"], club);
    assert_eq!(page["clubs"][0]["kit_count"], count + 1);
}

// ------------------------------------------------------ user collection --

#[tokio::test]
async fn a_readable_collection_is_ready_and_pages_like_fkapis() {
    let app = TestApp::spawn().await;
    let (_, user) = app.admin_json(Method::POST, "/api/users", &json!({"username": "ready"})).await;
    let id = user["id"].as_i64().unwrap();
    for kit in 1..=3 {
        send(&app, Method::POST, &format!("/api/user-collection/{id}/kits"), &json!({ "kit_id": kit })).await;
    }
    let response =
        app.admin(Method::GET, &format!("/api/user-collection/{id}?page=7&page_size=2")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["data"]["success"], true);
    // Past the last page: the last page, as FKApi's paginator serves it.
    assert_eq!(
        body["pagination"],
        json!({"current_page": 2, "total_pages": 2, "total_count": 3, "has_next": false, "has_previous": true,
               "next_page": null, "previous_page": 1, "page_size": 2})
    );
    assert_eq!(body["data"]["entries"].as_array().unwrap().len(), 1);
}

// --------------------------------------------------------------- search --

#[tokio::test]
async fn kit_and_season_search_without_a_keyword_is_an_empty_list() {
    let app = TestApp::spawn().await;
    for path in
        ["/api/kits/search", "/api/kits/search?keyword=", "/api/seasons/search", "/api/seasons/search?keyword=%20"]
    {
        let (body, _) = ok(&app, path).await;
        assert_eq!(body, json!([]), "{path}");
    }
    for path in ["/api/clubs/search", "/api/brands/search?keyword=", "/api/competitions/search?keyword=%20"] {
        assert_eq!(bad(&app, path).await, "keyword is required");
    }
    let (found, _) = ok(&app, "/api/kits/search?keyword=arsenal%202005").await;
    assert!(!found.as_array().unwrap().is_empty());
}

// ------------------------------------------------- unknown query params --

#[tokio::test]
async fn unknown_query_parameters_are_refused_on_every_read() {
    let app = TestApp::spawn().await;
    let routes = [
        ("/api/clubs/1", ""),
        ("/api/clubs/1/kits", "season, season_id, page, page_size"),
        ("/api/seasons", "club_id, id"),
        (
            "/api/kits",
            "club, club_id, season, season_id, country, primary_color, design, year, first_year, second_year, brand, \
             secondary_color, page, page_size",
        ),
        ("/api/kits/1", ""),
        ("/api/kit-json/1", ""),
        ("/api/kits/bulk", "slugs"),
        ("/api/random-kits/", "page, page_size, seed"),
        ("/api/random-clubs/", "page, page_size, seed"),
        ("/api/clubs/search", "keyword"),
        ("/api/kits/search", "keyword"),
    ];
    for (route, accepted) in routes {
        let detail = bad(&app, &format!("{route}?primary_colour=Red")).await;
        let expected = if accepted.is_empty() {
            "unknown query parameter \"primary_colour\": this route takes no query parameters".to_string()
        } else {
            format!("unknown query parameter \"primary_colour\": this route accepts {accepted}")
        };
        assert_eq!(detail, expected, "{route}");
    }
    let response = app.admin(Method::GET, "/api/user-collection/1?sort=name").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // Every name and alias FKApi uses is accepted.
    for path in [
        "/api/kits?club=1&season=56&country=gb&primary_color=claret&secondary_color=White&design=plain&year=2005&first_year=2005&second_year=2006",
        "/api/kits?club_id=1&season_id=56&brand=2&page=1&page_size=5",
        "/api/clubs/1/kits?season=56&page=1&page_size=5",
        "/api/clubs/1/kits?season_id=56",
        "/api/seasons?id=1",
        "/api/seasons?club_id=1",
    ] {
        ok(&app, path).await;
    }
}

// ---------------- each FKApi parameter changes the result as in FKApi --

#[tokio::test]
async fn every_kit_list_parameter_filters_as_in_fkapi() {
    let app = TestApp::spawn().await;
    let unfiltered = expected_kits(&app, "true", 20, 0).await;
    let (body, _) = ok(&app, "/api/kits").await;
    assert_eq!(ids_of(&body), unfiltered, "defaults: page 1 of 20");
    let club = app.id("SELECT team_id AS id FROM kits WHERE id = 1").await;
    let season = app.id("SELECT season_id AS id FROM kits WHERE id = 1").await;
    let cases: Vec<(String, String, i64, i64)> = vec![
        (format!("club={club}"), format!("k.team_id = {club}"), 20, 0),
        (format!("season={season}"), format!("k.season_id = {season}"), 20, 0),
        ("country=ES".into(), "c.country = 'ES'".into(), 20, 0),
        ("primary_color=Red".into(), "k.primary_color_id = (SELECT id FROM colors WHERE name = 'Red')".into(), 20, 0),
        ("secondary_color=Navy".into(), has_secondary("Navy"), 20, 0),
        ("design=Stripes".into(), "k.design = 'Stripes'".into(), 20, 0),
        ("year=2010".into(), "(s.first_year = '2010' OR s.second_year = '2010')".into(), 20, 0),
        ("first_year=2010".into(), "s.first_year = '2010'".into(), 20, 0),
        ("second_year=2010".into(), "s.second_year = '2010'".into(), 20, 0),
        ("page=3".into(), "true".into(), 20, 40),
        ("page_size=7".into(), "true".into(), 7, 0),
    ];
    for (param, condition, limit, offset) in cases {
        let expected = expected_kits(&app, &condition, limit, offset).await;
        assert!(!expected.is_empty(), "{param}: the seed has matching kits");
        assert_ne!(expected, unfiltered, "{param} must change the result");
        let (body, _) = ok(&app, &format!("/api/kits?{param}")).await;
        assert_eq!(ids_of(&body), expected, "{param}");
    }
}

#[tokio::test]
async fn every_other_fkapi_parameter_changes_the_result() {
    let app = TestApp::spawn().await;
    let club = app
        .id("SELECT team_id AS id FROM kits GROUP BY team_id HAVING count(DISTINCT season_id) > 2 AND count(*) > 25 \
             ORDER BY team_id LIMIT 1")
        .await;
    let season = app.id(&format!("SELECT season_id AS id FROM kits WHERE team_id = {club} ORDER BY id LIMIT 1")).await;
    let of_club = |condition: &str| format!("k.team_id = {club}{condition}");
    let club_kits = [
        (String::new(), of_club(""), 20, 0),
        (format!("?season={season}"), of_club(&format!(" AND k.season_id = {season}")), 20, 0),
        ("?page=2".to_string(), of_club(""), 20, 20),
        ("?page_size=3".to_string(), of_club(""), 3, 0),
    ];
    let mut seen = Vec::new();
    for (query, condition, limit, offset) in club_kits {
        let (body, _) = ok(&app, &format!("/api/clubs/{club}/kits{query}")).await;
        assert_eq!(ids_of(&body), expected_kits(&app, &condition, limit, offset).await, "{query}");
        assert!(!seen.contains(&body), "{query} must change the result");
        seen.push(body);
    }

    // /api/seasons?id=: the seasons of that club.
    let other = app.id(&format!("SELECT team_id AS id FROM kits WHERE team_id <> {club} ORDER BY id LIMIT 1")).await;
    let (mine, _) = ok(&app, &format!("/api/seasons?id={club}")).await;
    let (theirs, _) = ok(&app, &format!("/api/seasons?id={other}")).await;
    let expected: BTreeSet<i32> = app
        .ids(&format!("SELECT DISTINCT season_id AS id FROM kits WHERE team_id = {club}"))
        .await
        .into_iter()
        .collect();
    assert_eq!(ids_of(&mine).into_iter().collect::<BTreeSet<_>>(), expected);
    assert_ne!(mine, theirs);

    // keyword, on each search.
    for (target, a, b) in [
        ("clubs", "arsenal", "chelsea"),
        ("brands", "nike", "adidas"),
        ("competitions", "premier", "liga"),
        ("seasons", "2005", "2010"),
        ("kits", "arsenal", "chelsea"),
    ] {
        let (first, _) = ok(&app, &format!("/api/{target}/search?keyword={a}")).await;
        let (second, _) = ok(&app, &format!("/api/{target}/search?keyword={b}")).await;
        assert!(!ids_of(&first).is_empty(), "{target} {a}");
        assert_ne!(first, second, "{target}");
    }

    // slugs, on the bulk read.
    let slugs = |ids: &str| format!("SELECT string_agg(slug, ',' ORDER BY id) AS value FROM kits WHERE id IN ({ids})");
    let (two, _) = ok(&app, &format!("/api/kits/bulk?slugs={}", app.text(&slugs("1, 2")).await)).await;
    let (three, _) = ok(&app, &format!("/api/kits/bulk?slugs={}", app.text(&slugs("1, 2, 3")).await)).await;
    assert_eq!((two.as_array().unwrap().len(), three.as_array().unwrap().len()), (2, 3));

    // page and page_size, on the random listings.
    for (list, field) in [("random-kits", "kits"), ("random-clubs", "clubs")] {
        let (one, _) = ok(&app, &format!("/api/{list}/?seed=1")).await;
        let (two, _) = ok(&app, &format!("/api/{list}/?seed=1&page=2")).await;
        let (small, _) = ok(&app, &format!("/api/{list}/?seed=1&page_size=3")).await;
        assert_eq!(ids_of(&one[field]).len(), 20, "{list}: page_size defaults to 20");
        assert_eq!(ids_of(&small[field]), ids_of(&one[field])[..3].to_vec(), "{list}");
        assert!(ids_of(&two[field]).iter().all(|id| !ids_of(&one[field]).contains(id)), "{list}");
        assert_eq!(two["pagination"]["current_page"], 2);
    }
}
