//! Seasons: `GET /api/seasons?club_id=` (the seasons a club has kits in)
//! and the admin writes on `/api/seasons`, with their cache effect. The
//! cache tests switch the database's change notifications off, so only the
//! write path's own invalidation can make them pass.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diesel::sql_types::{Integer, Text};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use fkapi_tests::{json, StatusCode, TestApp, Value};
use reqwest::Method;

#[derive(QueryableByName)]
struct SeasonRow {
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Text)]
    year: String,
}

/// The seasons of a club as the database has them, newest first.
async fn seasons_of(app: &TestApp, club: i32) -> Value {
    let rows = diesel::sql_query(format!(
        "SELECT id, year FROM seasons s WHERE EXISTS (SELECT 1 FROM kits k WHERE k.season_id = s.id AND k.team_id = {club}) \
         ORDER BY first_year DESC, year DESC"
    ))
    .load::<SeasonRow>(&mut app.db().await)
    .await
    .unwrap();
    Value::Array(rows.into_iter().map(|r| json!({"id": r.id, "year": r.year})).collect())
}

fn detail(body: &Value) -> String {
    body["detail"].as_str().unwrap_or_default().to_string()
}

async fn ok(app: &TestApp, path: &str) -> (Value, String) {
    let (status, body, cache) = app.get_json(path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    (body, cache)
}

async fn send(app: &TestApp, method: Method, path: &str, body: &Value) -> (StatusCode, Value) {
    app.admin_json(method, path, body).await
}

async fn delete(app: &TestApp, path: &str) -> (StatusCode, Value) {
    let response = app.admin(Method::DELETE, path).send().await.unwrap();
    let status = response.status();
    (status, response.json::<Value>().await.unwrap_or(Value::Null))
}

/// A club with kits in several seasons.
async fn club_with_seasons(app: &TestApp) -> i32 {
    app.id(
        "SELECT team_id AS id FROM kits GROUP BY team_id HAVING count(DISTINCT season_id) > 3 ORDER BY team_id LIMIT 1",
    )
    .await
}

// ------------------------------------------------------------------ reads --

#[tokio::test]
async fn seasons_of_a_club_newest_first() {
    let app = TestApp::spawn().await;
    let club = club_with_seasons(&app).await;
    let (body, cache) = ok(&app, &format!("/api/seasons?club_id={club}")).await;
    assert_eq!(cache, "MISS");
    let expected = seasons_of(&app, club).await;
    assert!(expected.as_array().unwrap().len() > 3);
    assert_eq!(body, expected, "exactly [{{id, year}}], newest first, each season once");
    for season in body.as_array().unwrap() {
        let mut keys: Vec<&String> = season.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["id", "year"]);
    }
    // FKApi's clients send the club as `id`: the same entry answers.
    let (aliased, cache) = ok(&app, &format!("/api/seasons?id={club}")).await;
    assert_eq!((aliased, cache.as_str()), (body.clone(), "HIT"));
    assert_eq!(app.metric("fkapi_cache_loads_total", &[("cache_type", "seasons")]).await, 1.0);

    // Arsenal (club 1) starts in 2005-06 in the seed; its oldest season is last.
    let (arsenal, _) = ok(&app, "/api/seasons?club_id=1").await;
    assert_eq!(arsenal.as_array().unwrap().last().unwrap()["year"], "2005-06");
}

#[tokio::test]
async fn seasons_errors() {
    let app = TestApp::spawn().await;
    let (status, body, _) = app.get_json("/api/seasons").await;
    assert_eq!((status, detail(&body).as_str()), (StatusCode::BAD_REQUEST, "club_id is required"));
    for path in
        ["/api/seasons?club_id=abc", "/api/seasons?id=1.5", "/api/seasons?club_id=", "/api/seasons?club_id=1&id=1"]
    {
        let (status, body, _) = app.get_json(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(!detail(&body).is_empty(), "{body}");
    }
    let (status, body, _) = app.get_json("/api/seasons?club_id=999999").await;
    assert_eq!((status, detail(&body).as_str()), (StatusCode::NOT_FOUND, "Club with ID 999999 not found"));
    // A club without kits has no seasons.
    let (status, club) =
        send(&app, Method::POST, "/api/clubs", &json!({"name": "Seasonless", "slug": "seasonless"})).await;
    assert_eq!(status, StatusCode::CREATED, "{club}");
    let (body, _) = ok(&app, &format!("/api/seasons?club_id={}", club["id"])).await;
    assert_eq!(body, json!([]));
}

// ----------------------------------------------------------------- writes --

#[tokio::test]
async fn season_create_derives_years_and_refuses_bad_ones() {
    let app = TestApp::spawn().await;
    for (year, first, second) in
        [("2150-51", "2150", json!("2151")), ("2152", "2152", Value::Null), ("2153-2154", "2153", json!("2154"))]
    {
        let (status, body) = send(&app, Method::POST, "/api/seasons", &json!({"year": year})).await;
        assert_eq!(status, StatusCode::CREATED, "{year}: {body}");
        assert_eq!(body["year"], year);
        assert_eq!(body["first_year"], first);
        assert_eq!(body["second_year"], second);
        assert!(body["id"].as_i64().is_some());
        let mut keys: Vec<&String> = body.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["first_year", "id", "second_year", "year"]);
    }
    // Years given explicitly must agree with `year`.
    let (status, body) = send(
        &app,
        Method::POST,
        "/api/seasons",
        &json!({"year": "2155-56", "first_year": "2155", "second_year": "2156"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let (status, body) = send(&app, Method::POST, "/api/seasons", &json!({"year": "2150-51"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    for bad in [
        json!({"year": "2160-62"}),
        json!({"year": "2160-2162"}),
        json!({"year": "21600"}),
        json!({"year": "2160/61"}),
        json!({"year": ""}),
        json!({"year": "2160-61", "first_year": "2159"}),
        json!({"year": "2160-61", "second_year": "2162"}),
        json!({"year": "2160", "second_year": "2161"}),
        json!({"year": "2160", "first_year": "216"}),
        json!({"year": "2160", "colour": "red"}),
        json!({"first_year": "2160"}),
        json!({"year": 2160}),
    ] {
        let (status, body) = send(&app, Method::POST, "/api/seasons", &bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert!(!detail(&body).is_empty(), "{body}");
    }
    // Writes need the key.
    let response = app.client.post(app.url("/api/seasons")).json(&json!({"year": "2170"})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn season_replace_patch_and_delete() {
    let app = TestApp::spawn().await;
    let (_, created) = send(&app, Method::POST, "/api/seasons", &json!({"year": "2150-51"})).await;
    let item = format!("/api/seasons/{}", created["id"]);

    let (status, body) = send(&app, Method::PUT, &item, &json!({"year": "2151"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"id": created["id"], "year": "2151", "first_year": "2151", "second_year": null}));

    let (status, body) = send(&app, Method::PATCH, &item, &json!({"year": "2160-61"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"id": created["id"], "year": "2160-61", "first_year": "2160", "second_year": "2161"}));
    // An empty patch keeps it as it is.
    let (status, same) = send(&app, Method::PATCH, &item, &json!({})).await;
    assert_eq!((status, same), (StatusCode::OK, body));
    for bad in [json!({"year": "2160-63"}), json!({"first_year": "2159"}), json!({"id": 3}), json!({"year": "x"})] {
        let (status, body) = send(&app, Method::PATCH, &item, &bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
    // A year another season has.
    let (status, body) = send(&app, Method::PATCH, &item, &json!({"year": "2005-06"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    for (method, body) in [(Method::PUT, json!({"year": "2180"})), (Method::PATCH, json!({"year": "2180"}))] {
        let (status, response) = send(&app, method.clone(), "/api/seasons/999999", &body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method}: {response}");
        assert_eq!(detail(&response), "Season with ID 999999 not found");
    }
    let (status, _) = send(&app, Method::PUT, "/api/seasons/abc", &json!({"year": "2180"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, _) = delete(&app, &item).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = delete(&app, &item).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // A season kits use cannot go.
    let used = app.id("SELECT season_id AS id FROM kits WHERE id = 1").await;
    let (status, body) = delete(&app, &format!("/api/seasons/{used}")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(!detail(&body).is_empty());
}

// -------------------------------------------------------------- the cache --

/// A season's year text shows in the seasons list, kit details and kit
/// lists; a change through the API shows in all of them at once.
#[tokio::test]
async fn a_season_change_shows_at_once_everywhere() {
    let app = TestApp::spawn().await;
    app.without_change_notifications().await;
    let season = app.id("SELECT season_id AS id FROM kits WHERE id = 1").await;
    let club = app.id("SELECT team_id AS id FROM kits WHERE id = 1").await;
    let paths = [
        format!("/api/seasons?club_id={club}"),
        "/api/kit-json/1".to_string(),
        format!("/api/kits?club_id={club}&page_size=100"),
        format!("/api/clubs/{club}/kits?page_size=100"),
        format!("/api/kits/bulk?slugs=arsenal-2005-06-home-kit,{}", "no-such-kit"),
    ];
    for path in &paths {
        ok(&app, path).await;
        let (_, cache) = ok(&app, path).await;
        assert_eq!(cache, "HIT", "{path}");
    }
    // Free the year first: nothing else may hold 2199-00.
    let (status, body) =
        send(&app, Method::PATCH, &format!("/api/seasons/{season}"), &json!({"year": "2199-00"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (list, _) = ok(&app, &paths[0]).await;
    assert_eq!(list[0], json!({"id": season, "year": "2199-00"}), "now the newest season of the club");
    let (kit, _) = ok(&app, &paths[1]).await;
    assert_eq!(kit["season"], json!({"id": season, "year": "2199-00", "first_year": "2199", "second_year": "2200"}));
    for path in &paths[2..4] {
        let (body, _) = ok(&app, path).await;
        let item = body.as_array().unwrap().iter().find(|k| k["id"] == 1).cloned().unwrap_or(Value::Null);
        assert_eq!(item["season_year"], "2199-00", "{path}");
        assert_eq!(body[0]["season_id"], season, "{path}: the newest season now sorts first");
    }
    let (bulk, _) = ok(&app, &paths[4]).await;
    assert_eq!(bulk[0]["season"]["year"], "2199-00");
}

/// The seasons list follows the club's kits: a kit moved into a new season
/// through the API shows there at once.
#[tokio::test]
async fn the_seasons_list_follows_kit_writes() {
    let app = TestApp::spawn().await;
    app.without_change_notifications().await;
    let club = app.id("SELECT team_id AS id FROM kits WHERE id = 1").await;
    let path = format!("/api/seasons?club_id={club}");
    ok(&app, &path).await;
    let (before, cache) = ok(&app, &path).await;
    assert_eq!(cache, "HIT");

    let (status, season) = send(&app, Method::POST, "/api/seasons", &json!({"year": "2190-91"})).await;
    assert_eq!(status, StatusCode::CREATED, "{season}");
    // A new season alone does not change the club's list…
    let (unchanged, _) = ok(&app, &path).await;
    assert_eq!(unchanged, before);
    // …a kit of the club in it does.
    let (status, body) = send(&app, Method::PATCH, "/api/kits/1", &json!({"season_id": season["id"]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (after, _) = ok(&app, &path).await;
    assert_eq!(after[0], json!({"id": season["id"], "year": "2190-91"}));
    assert_eq!(after, seasons_of(&app, club).await);
}
