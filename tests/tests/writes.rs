//! The admin writes on clubs, kits, brands and competitions: status codes,
//! bodies and errors, and their cache effect: what a write changed shows on
//! the very next read of every endpoint that shows it, where the entry was
//! a HIT before. The cache-effect tests switch the database's change
//! notifications off first, so only the write path's own invalidation can
//! make them pass.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fkapi_tests::{json, StatusCode, TestApp, Value};
use reqwest::Method;

async fn send(app: &TestApp, method: Method, path: &str, body: &Value) -> (StatusCode, Value) {
    app.admin_json(method, path, body).await
}

async fn delete(app: &TestApp, path: &str) -> (StatusCode, Value) {
    let response = app.admin(Method::DELETE, path).send().await.unwrap();
    let status = response.status();
    (status, response.json::<Value>().await.unwrap_or(Value::Null))
}

/// A GET twice, asserting the second is served from the cache.
async fn warm(app: &TestApp, path: &str) -> Value {
    let (status, _, _) = app.get_json(path).await;
    assert_eq!(status, StatusCode::OK, "{path}");
    let (status, body, cache) = app.get_json(path).await;
    assert_eq!((status, cache.as_str()), (StatusCode::OK, "HIT"), "{path} should be cached first");
    body
}

fn keys(body: &Value) -> Vec<String> {
    let mut keys: Vec<String> = body.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    keys.sort();
    keys
}

fn detail(body: &Value) -> String {
    body["detail"].as_str().unwrap_or_default().to_string()
}

fn has_kit(list: &Value, kit: i32) -> bool {
    list.as_array().unwrap().iter().any(|k| k["id"] == kit)
}

/// Rows a new kit can point at.
struct Refs {
    club: i32,
    season: i32,
    kind: i32,
    brand: i32,
    colors: Vec<i32>,
    competitions: Vec<i32>,
}

async fn refs(app: &TestApp) -> Refs {
    Refs {
        club: app.id("SELECT id FROM clubs ORDER BY id LIMIT 1").await,
        season: app.id("SELECT id FROM seasons ORDER BY id DESC LIMIT 1").await,
        kind: app.id("SELECT id FROM kit_types ORDER BY id LIMIT 1").await,
        brand: app.id("SELECT id FROM brands ORDER BY id LIMIT 1").await,
        colors: app.ids("SELECT id FROM colors ORDER BY id LIMIT 4").await,
        competitions: app.ids("SELECT id FROM competitions ORDER BY id LIMIT 3").await,
    }
}

fn kit_body(r: &Refs, name: &str) -> Value {
    json!({
        "name": name,
        "team_id": r.club,
        "season_id": r.season,
        "type_id": r.kind,
        "brand_id": r.brand,
        "design": "Hoops",
        "main_img_url": "https://example.com/kits/test.jpg",
        "rating": 4.125,
        "primary_color_id": r.colors[0],
        "secondary_color_ids": [r.colors[3], r.colors[1]],
        "competition_ids": [r.competitions[2], r.competitions[0]],
    })
}

// ---------------------------------------------------------------- auth --

/// Every write route, with a body that would be valid.
fn write_routes() -> Vec<(Method, &'static str, Value)> {
    let brand = json!({"name": "Auth Brand"});
    let club = json!({"name": "Auth Club", "slug": "auth-club"});
    let kit = json!({"name": "Auth Kit", "team_id": 1, "season_id": 1, "type_id": 1, "brand_id": 1,
                     "main_img_url": "https://example.com/a.jpg"});
    let mut routes = Vec::new();
    for (collection, item, body) in [
        ("/api/brands", "/api/brands/1", &brand),
        ("/api/competitions", "/api/competitions/1", &brand),
        ("/api/kits", "/api/kits/1", &kit),
        ("/api/clubs", "/api/clubs/1", &club),
    ] {
        routes.push((Method::POST, collection, body.clone()));
        routes.push((Method::PUT, item, body.clone()));
        routes.push((Method::PATCH, item, json!({"name": "Auth"})));
        routes.push((Method::DELETE, item, Value::Null));
    }
    routes
}

#[tokio::test]
async fn writes_need_the_admin_key() {
    let app = TestApp::spawn().await;
    for (method, path, body) in write_routes() {
        for key in [None, Some("wrong-key")] {
            let mut request = app.client.request(method.clone(), app.url(path)).json(&body);
            if let Some(key) = key {
                request = request.header("X-API-Key", key);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{method} {path} with key {key:?}");
            let body: Value = response.json().await.unwrap();
            assert!(!detail(&body).is_empty(), "{body}");
        }
        // The key is checked before the body.
        let response = app.client.request(method.clone(), app.url(path)).json(&json!({})).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{method} {path} with an empty body");
    }
    // Nothing was written.
    let (status, _, _) = app.get_json("/api/kit-json/1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.ids("SELECT id FROM brands WHERE name = 'Auth Brand'").await, Vec::<i32>::new());
}

#[tokio::test]
async fn writes_are_forbidden_when_the_server_has_no_key() {
    let app = TestApp::spawn_with(|settings| settings.admin_key = None).await;
    for (method, path, body) in write_routes() {
        let (status, body) = send(&app, method.clone(), path, &body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
    }
}

// ------------------------------------------------- brands, competitions --

/// Create, duplicate, replace, patch, errors and delete on a brand-like
/// collection. `extra` is added to every full body.
async fn reference_lifecycle(app: &TestApp, collection: &str, extra: &Value, expected_keys: &[&str]) {
    let with_extra = |mut body: Value| {
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let (status, created) = send(app, Method::POST, collection, &with_extra(json!({"name": "Zyxw Cötton"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(keys(&created), expected_keys, "{created}");
    assert_eq!(created["name"], "Zyxw Cötton");
    assert_eq!(created["slug"], "zyxw-cotton-kits", "slug defaults to slugify(name) + -kits");
    assert_eq!(created["logo"], Value::Null);
    let id = created["id"].as_i64().unwrap();
    let item = format!("{collection}/{id}");

    // Same default slug again: conflict.
    let (status, body) = send(app, Method::POST, collection, &json!({"name": "Zyxw Cotton"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(detail(&body).contains("slug"), "{body}");

    let full = with_extra(json!({"name": "Zyxw Renamed", "slug": "zyxw-renamed",
                                  "logo": "https://example.com/logo.png", "logo_dark": "https://example.com/dark.png"}));
    let (status, replaced) = send(app, Method::PUT, &item, &full).await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["id"], id);
    assert_eq!(replaced["slug"], "zyxw-renamed");
    assert_eq!(replaced["logo"], "https://example.com/logo.png");

    let (status, patched) = send(app, Method::PATCH, &item, &json!({"logo": null, "name": "Zyxw Patched"})).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["name"], "Zyxw Patched");
    assert_eq!(patched["slug"], "zyxw-renamed", "a PATCH keeps the slug it does not name");
    assert_eq!(patched["logo"], Value::Null);
    assert_eq!(patched["logo_dark"], "https://example.com/dark.png");

    // Invalid bodies: 422 with the field named.
    for (method, body, field) in [
        (Method::POST, json!({"name": ""}), "name"),
        (Method::POST, json!({"name": "   "}), "name"),
        (Method::POST, json!({"name": "Ok", "slug": "Not A Slug"}), "slug"),
        (Method::POST, json!({"name": "Ok", "logo": "not a url"}), "logo"),
        (Method::POST, json!({"name": "Ok", "colour": "red"}), "colour"),
        (Method::POST, json!({"slug": "no-name"}), "name"),
        (Method::PUT, json!({"name": "x".repeat(201)}), "name"),
        (Method::PATCH, json!({"slug": "Bad Slug"}), "slug"),
        (Method::PATCH, json!({"name": ""}), "name"),
        (Method::PATCH, json!({"id": 5}), "id"),
    ] {
        let path = if method == Method::POST { collection.to_string() } else { item.clone() };
        let (status, response) = send(app, method.clone(), &path, &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{method} {body}: {response}");
        assert!(detail(&response).contains(field), "{method} {body}: {response}");
    }
    // A slug taken by another row.
    let (_, other) = send(app, Method::POST, collection, &json!({"name": "Zyxw Other"})).await;
    let (status, body) = send(app, Method::PATCH, &item, &json!({"slug": other["slug"]})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // Unknown ids.
    let missing = format!("{collection}/999999");
    let (status, body) = send(app, Method::PUT, &missing, &full).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(detail(&body).contains("999999"), "{body}");
    let (status, _) = send(app, Method::PATCH, &missing, &json!({"name": "Nope"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = delete(app, &missing).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = send(app, Method::PATCH, &format!("{collection}/abc"), &json!({"name": "Nope"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, body) = delete(app, &item).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _) = delete(app, &item).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "deleted twice");
}

#[tokio::test]
async fn brand_lifecycle() {
    let app = TestApp::spawn().await;
    reference_lifecycle(&app, "/api/brands", &json!({}), &["id", "logo", "logo_dark", "name", "slug"]).await;
    // A competition-only field is unknown to brands.
    let (status, _) = send(&app, Method::POST, "/api/brands", &json!({"name": "Brand X", "country": "GB"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn competition_lifecycle() {
    let app = TestApp::spawn().await;
    reference_lifecycle(
        &app,
        "/api/competitions",
        &json!({"country": "GB"}),
        &["country", "id", "logo", "logo_dark", "name", "slug"],
    )
    .await;
    for country in ["gb", "GBR", "G1"] {
        let (status, body) =
            send(&app, Method::POST, "/api/competitions", &json!({"name": "Cup", "country": country})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{country}: {body}");
        assert!(detail(&body).contains("country"), "{body}");
    }
    let (status, created) =
        send(&app, Method::POST, "/api/competitions", &json!({"name": "Cup", "country": "ES"})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["country"], "ES");
    let (status, patched) =
        send(&app, Method::PATCH, &format!("/api/competitions/{}", created["id"]), &json!({"country": null})).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["country"], Value::Null);
}

#[tokio::test]
async fn rows_kits_use_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    let brand = app.id("SELECT brand_id AS id FROM kits ORDER BY id LIMIT 1").await;
    let competition = app.id("SELECT competition_id AS id FROM kit_competitions ORDER BY kit_id LIMIT 1").await;
    let club = app.id("SELECT team_id AS id FROM kits ORDER BY id LIMIT 1").await;
    for path in
        [format!("/api/brands/{brand}"), format!("/api/competitions/{competition}"), format!("/api/clubs/{club}")]
    {
        let (status, body) = delete(&app, &path).await;
        assert_eq!(status, StatusCode::CONFLICT, "{path}: {body}");
        assert!(!detail(&body).is_empty());
    }
    assert_eq!(app.ids(&format!("SELECT id FROM brands WHERE id = {brand}")).await, vec![brand]);
}

// ---------------------------------------------------------------- kits --

#[tokio::test]
async fn kit_lifecycle() {
    let app = TestApp::spawn().await;
    let r = refs(&app).await;
    let (status, kit) = send(&app, Method::POST, "/api/kits", &kit_body(&r, "Zyxw FC 2099 Home")).await;
    assert_eq!(status, StatusCode::CREATED, "{kit}");
    assert_eq!(
        keys(&kit),
        [
            "brand_id",
            "competition_ids",
            "design",
            "id",
            "last_updated",
            "main_img_url",
            "name",
            "primary_color_id",
            "rating",
            "season_id",
            "secondary_color_ids",
            "slug",
            "team_id",
            "type_id"
        ]
    );
    assert_eq!(kit["slug"], "zyxw-fc-2099-home", "slug defaults to slugify(name)");
    assert_eq!(kit["rating"], 4.13, "rounded half up to two decimals");
    assert_eq!(kit["design"], "Hoops");
    assert_eq!(kit["team_id"], r.club);
    assert_eq!(kit["secondary_color_ids"], json!([r.colors[1], r.colors[3]]));
    assert_eq!(kit["competition_ids"], json!([r.competitions[0], r.competitions[2]]));
    assert!(kit["last_updated"].as_str().is_some_and(|t| t.contains('T')), "{kit}");
    let id = kit["id"].as_i64().unwrap();
    let item = format!("/api/kits/{id}");

    // The detail endpoints show it.
    let (status, detail_body, _) = app.get_json(&format!("/api/kit-json/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{detail_body}");
    assert_eq!(detail_body["name"], "Zyxw FC 2099 Home");
    assert_eq!(detail_body["competition"].as_array().map(Vec::len), Some(2));

    // Same slug again.
    let (status, body) = send(&app, Method::POST, "/api/kits", &kit_body(&r, "Zyxw FC 2099 Home")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // PUT: the whole kit; lists and optional fields absent → empty / null.
    let put = json!({"name": "Zyxw FC 2099 Away", "slug": "zyxw-away", "team_id": r.club, "season_id": r.season,
                     "type_id": r.kind, "brand_id": r.brand, "main_img_url": "https://example.com/away.jpg"});
    let (status, replaced) = send(&app, Method::PUT, &item, &put).await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["slug"], "zyxw-away");
    assert_eq!(replaced["rating"], Value::Null);
    assert_eq!(replaced["design"], Value::Null);
    assert_eq!(replaced["competition_ids"], json!([]));
    assert_eq!(replaced["secondary_color_ids"], json!([]));

    // PATCH: only what it names; lists replace the whole list.
    let (status, patched) = send(
        &app,
        Method::PATCH,
        &item,
        &json!({"rating": 5, "design": "Sash", "competition_ids": [r.competitions[1]]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["rating"], 5.0);
    assert_eq!(patched["design"], "Sash");
    assert_eq!(patched["competition_ids"], json!([r.competitions[1]]));
    assert_eq!(patched["name"], "Zyxw FC 2099 Away");
    assert_eq!(patched["slug"], "zyxw-away");
    let (status, patched) = send(&app, Method::PATCH, &item, &json!({"rating": null, "primary_color_id": null})).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!((patched["rating"].clone(), patched["primary_color_id"].clone()), (Value::Null, Value::Null));
    assert_eq!(patched["design"], "Sash");

    // Unknown ids.
    let (status, body) = send(&app, Method::PUT, "/api/kits/999999", &put).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(detail(&body), "Kit with ID 999999 not found");
    let (status, _) = send(&app, Method::PATCH, "/api/kits/999999", &json!({"name": "Nope"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = delete(&app, "/api/kits/999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = delete(&app, &item).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = app.get_json(&format!("/api/kit-json/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = delete(&app, &item).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.ids(&format!("SELECT kit_id AS id FROM kit_competitions WHERE kit_id = {id}")).await,
        Vec::<i32>::new()
    );
}

#[tokio::test]
async fn invalid_kit_bodies_get_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let r = refs(&app).await;
    let valid = kit_body(&r, "Zyxw Invalid");
    let with = |field: &str, value: Value| {
        let mut body = valid.clone();
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = valid.clone();
        body.as_object_mut().unwrap().remove(field);
        body
    };
    for (body, expected) in [
        (with("design", json!("Polka dots")), "design"),
        (with("rating", json!(5.01)), "rating"),
        (with("rating", json!(-1)), "rating"),
        (with("main_img_url", json!("no url")), "main_img_url"),
        (with("name", json!("")), "name"),
        (with("slug", json!("Bad--slug")), "slug"),
        (with("competition_ids", json!([r.competitions[0], r.competitions[0]])), "competition_ids"),
        (with("secondary_color_ids", json!((1..=11).collect::<Vec<i32>>())), "secondary_color_ids"),
        (with("colour", json!("red")), "colour"),
        // serde names no field for a wrong type; the status is what counts.
        (with("team_id", json!("one")), "invalid body"),
        (without("main_img_url"), "main_img_url"),
        (without("team_id"), "team_id"),
        (with("team_id", json!(999999)), "team_id 999999 does not exist"),
        (with("season_id", json!(999999)), "season_id 999999 does not exist"),
        (with("type_id", json!(999999)), "type_id 999999 does not exist"),
        (with("brand_id", json!(999999)), "brand_id 999999 does not exist"),
        (with("primary_color_id", json!(999999)), "primary_color_id 999999 does not exist"),
        (with("secondary_color_ids", json!([r.colors[0], 999999])), "secondary_color_ids 999999 does not exist"),
        (
            with("competition_ids", json!([999998, r.competitions[0], 999999])),
            "competition_ids 999998, 999999 do not exist",
        ),
    ] {
        let (status, response) = send(&app, Method::POST, "/api/kits", &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{expected}: {response}");
        assert!(detail(&response).contains(expected), "{expected}: {response}");
    }
    // Several missing references are all named at once.
    let mut body = with("team_id", json!(999999));
    body["brand_id"] = json!(999998);
    let (_, response) = send(&app, Method::POST, "/api/kits", &body).await;
    assert!(
        detail(&response).contains("team_id 999999") && detail(&response).contains("brand_id 999998"),
        "{response}"
    );
    assert_eq!(app.ids("SELECT id FROM kits WHERE name = 'Zyxw Invalid'").await, Vec::<i32>::new());

    // On an existing kit: PATCH merges, then validates the whole; nothing is written on failure.
    let kit = app.id("SELECT id FROM kits ORDER BY id LIMIT 1").await;
    let item = format!("/api/kits/{kit}");
    for (body, expected) in [
        (json!({"team_id": 999999}), "team_id 999999 does not exist"),
        (json!({"competition_ids": [999999]}), "competition_ids 999999 does not exist"),
        (json!({"rating": 7}), "rating"),
        (json!({"design": "Spots"}), "design"),
        (json!({"id": 3}), "id"),
    ] {
        let (status, response) = send(&app, Method::PATCH, &item, &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {response}");
        assert!(detail(&response).contains(expected), "{body}: {response}");
    }
    let (status, response) = send(&app, Method::PUT, &item, &with("brand_id", json!(999999))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{response}");
    let (_, detail_body, _) = app.get_json(&format!("/api/kit-json/{kit}")).await;
    assert_ne!(detail_body["brand"]["id"], 999999);
}

// -------------------------------------------------------------- clubs --

#[tokio::test]
async fn club_lifecycle() {
    let app = TestApp::spawn().await;
    let body = json!({"name": "Zyxw Athletic", "slug": "zyxw-athletic", "country": "ES"});
    let (status, club) = send(&app, Method::POST, "/api/clubs", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{club}");
    assert_eq!(keys(&club), ["country", "id", "id_fka", "logo", "logo_dark", "name", "slug"]);
    assert_eq!(club["country"], "ES");
    let item = format!("/api/clubs/{}", club["id"]);
    let (status, _) = send(&app, Method::POST, "/api/clubs", &body).await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (status, replaced) =
        send(&app, Method::PUT, &item, &json!({"name": "Zyxw United", "slug": "zyxw-united", "country": "PT"})).await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!((replaced["name"].as_str(), replaced["country"].as_str()), (Some("Zyxw United"), Some("PT")));
    let (status, patched) = send(&app, Method::PATCH, &item, &json!({"country": null})).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!((patched["name"].as_str(), patched["country"].clone()), (Some("Zyxw United"), Value::Null));
    let (_, fetched, _) = app.get_json(&item).await;
    assert_eq!(fetched, patched);

    for (method, path, body) in [
        (Method::POST, "/api/clubs", json!({"name": "¡¿!"})),
        (Method::POST, "/api/clubs", json!({"name": "X", "slug": "x", "country": "es"})),
        (Method::POST, "/api/clubs", json!({"name": "X", "slug": "x", "stadium": "Y"})),
        (Method::PATCH, item.as_str(), json!({"slug": "Not a slug"})),
    ] {
        let (status, response) = send(&app, method.clone(), path, &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{method} {body}: {response}");
    }
    for method in [Method::PUT, Method::PATCH] {
        let (status, _) = send(&app, method, "/api/clubs/999999", &json!({"name": "N", "slug": "n"})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (status, _) = delete(&app, "/api/clubs/999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = delete(&app, &item).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = app.get_json(&item).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

// --------------------------------------------------------------- slugs --

/// One slug rule: a kit or club created without a slug gets the slug the
/// seeder gives the same name, also for letters an accent table misses
/// (ß → ss, Ł → l, ø → o, æ → ae).
#[tokio::test]
async fn default_slugs_are_the_seeders() {
    let app = TestApp::spawn().await;
    // Seeded kits with such letters, re-created through the API under the
    // same name: the same slug as the seeder gave them.
    let seeded = app.ids("SELECT id FROM kits WHERE name ~ '[ßłŁøØæÆ]' ORDER BY id LIMIT 4").await;
    assert!(seeded.len() >= 2, "the small catalogue has kit names with ß, ł or ø: {seeded:?}");
    for id in seeded {
        let (status, kit, _) = app.get_json(&format!("/api/kit-json/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{kit}");
        let (status, _) = delete(&app, &format!("/api/kits/{id}")).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let body = json!({
            "name": kit["name"],
            "team_id": kit["team"]["id"],
            "season_id": kit["season"]["id"],
            "type_id": kit["type"]["id"],
            "brand_id": kit["brand"]["id"],
            "main_img_url": kit["main_img_url"],
        });
        let (status, created) = send(&app, Method::POST, "/api/kits", &body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["slug"], kit["slug"], "API and seeder disagree on the slug of {}", kit["name"]);
    }

    // A new club and its kit: the seeder's slugs for these names.
    let (status, club) = send(&app, Method::POST, "/api/clubs", &json!({"name": "Preußen Münster Łódź"})).await;
    assert_eq!(status, StatusCode::CREATED, "{club}");
    assert_eq!(club["slug"], "preussen-munster-lodz");
    let r = refs(&app).await;
    let body = json!({"name": "Preußen Münster Łódź 2024-25 Home Kit", "team_id": club["id"], "season_id": r.season,
                      "type_id": r.kind, "brand_id": r.brand, "main_img_url": "https://example.com/k.jpg"});
    let (status, kit) = send(&app, Method::POST, "/api/kits", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{kit}");
    assert_eq!(kit["slug"], "preussen-munster-lodz-2024-25-home-kit");
    let (status, brand) = send(&app, Method::POST, "/api/brands", &json!({"name": "Ærø Sport"})).await;
    assert_eq!(status, StatusCode::CREATED, "{brand}");
    assert_eq!(brand["slug"], "aero-sport-kits");
    let (status, club) =
        send(&app, Method::PUT, &format!("/api/clubs/{}", club["id"]), &json!({"name": "St. Pauli"})).await;
    assert_eq!((status, club["slug"].as_str()), (StatusCode::OK, Some("st-pauli")), "{club}");
}

// ------------------------------------------------------- cache effect --

/// A kit with at least one competition, and its brand, club, season and
/// first competition.
struct SeededKit {
    id: i32,
    brand: i32,
    club: i32,
    season: i32,
    competition: i32,
}

async fn seeded_kit(app: &TestApp) -> SeededKit {
    let id = app.id("SELECT kit_id AS id FROM kit_competitions ORDER BY kit_id LIMIT 1").await;
    let one = |column: &str| format!("SELECT {column} AS id FROM kits WHERE id = {id}");
    SeededKit {
        id,
        brand: app.id(&one("brand_id")).await,
        club: app.id(&one("team_id")).await,
        season: app.id(&one("season_id")).await,
        competition: app
            .id(&format!("SELECT competition_id AS id FROM kit_competitions WHERE kit_id = {id} ORDER BY 1 LIMIT 1"))
            .await,
    }
}

#[tokio::test]
async fn brand_and_competition_writes_show_in_kit_details_at_once() {
    let app = TestApp::spawn().await;
    app.without_change_notifications().await;
    let kit = seeded_kit(&app).await;
    let path = format!("/api/kit-json/{}", kit.id);
    let before = warm(&app, &path).await;
    assert_eq!(before["brand"]["id"], kit.brand);

    let (status, _) =
        send(&app, Method::PATCH, &format!("/api/brands/{}", kit.brand), &json!({"name": "Zyxw Renamed Brand"})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, after, cache) = app.get_json(&path).await;
    assert_eq!(after["brand"]["name"], "Zyxw Renamed Brand", "x-cache {cache}: the old brand name was served");
    let after = warm(&app, &path).await;

    let (status, _) = send(
        &app,
        Method::PATCH,
        &format!("/api/competitions/{}", kit.competition),
        &json!({"name": "Zyxw Renamed Cup"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, renamed, cache) = app.get_json(&path).await;
    let names: Vec<&str> =
        renamed["competition"].as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
    assert!(names.contains(&"Zyxw Renamed Cup"), "x-cache {cache}: {names:?} (before: {after})");
}

#[tokio::test]
async fn brand_and_competition_creates_show_in_search_at_once() {
    let app = TestApp::spawn().await;
    app.without_change_notifications().await;
    for (collection, search) in
        [("/api/brands", "/api/brands/search"), ("/api/competitions", "/api/competitions/search")]
    {
        let path = format!("{search}?keyword=qwzx");
        let empty = warm(&app, &path).await;
        assert_eq!(empty, json!([]), "{path}");
        let (status, created) = send(&app, Method::POST, collection, &json!({"name": "Qwzx Sport"})).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let (_, found, cache) = app.get_json(&path).await;
        assert_eq!(found.as_array().map(Vec::len), Some(1), "x-cache {cache}: {found}");
        let (status, _) = delete(&app, &format!("{collection}/{}", created["id"])).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (_, gone, cache) = app.get_json(&path).await;
        assert_eq!(gone, json!([]), "x-cache {cache}: a deleted row is still found");
    }
}

#[tokio::test]
async fn a_kit_moved_to_another_club_leaves_the_old_list_and_joins_the_new() {
    let app = TestApp::spawn().await;
    app.without_change_notifications().await;
    let kit = seeded_kit(&app).await;
    let other = app.id(&format!("SELECT id FROM clubs WHERE id <> {} ORDER BY id LIMIT 1", kit.club)).await;
    let old_list = format!("/api/clubs/{}/kits?season={}&page_size=100", kit.club, kit.season);
    let new_list = format!("/api/clubs/{other}/kits?season={}&page_size=100", kit.season);
    let old_seasons = format!("/api/seasons?club_id={}", kit.club);
    let new_seasons = format!("/api/seasons?club_id={other}");
    let detail_path = format!("/api/kit-json/{}", kit.id);
    assert!(has_kit(&warm(&app, &old_list).await, kit.id));
    assert!(!has_kit(&warm(&app, &new_list).await, kit.id));
    warm(&app, &old_seasons).await;
    warm(&app, &new_seasons).await;
    warm(&app, &detail_path).await;

    let (status, moved) = send(&app, Method::PATCH, &format!("/api/kits/{}", kit.id), &json!({"team_id": other})).await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["team_id"], other);

    let (_, list, cache) = app.get_json(&old_list).await;
    assert!(!has_kit(&list, kit.id), "x-cache {cache}: the kit is still in its old club's list");
    let (_, list, cache) = app.get_json(&new_list).await;
    assert!(has_kit(&list, kit.id), "x-cache {cache}: the kit is missing from its new club's list");
    let (_, seasons, cache) = app.get_json(&new_seasons).await;
    assert!(seasons.as_array().unwrap().iter().any(|s| s["id"] == kit.season), "x-cache {cache}: {seasons}");
    let (_, _, cache) = app.get_json(&old_seasons).await;
    assert_ne!(cache, "HIT", "the old club's seasons list must be rebuilt");
    let (_, detail_body, cache) = app.get_json(&detail_path).await;
    assert_eq!(detail_body["team"]["id"], other, "x-cache {cache}");

    // And back with PUT, which reads the old club under lock the same way.
    let mut body = kit_body(&refs(&app).await, "Zyxw Moved Back");
    body["team_id"] = json!(kit.club);
    body["season_id"] = json!(kit.season);
    warm(&app, &new_list).await;
    warm(&app, &old_list).await;
    let (status, _) = send(&app, Method::PUT, &format!("/api/kits/{}", kit.id), &body).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!has_kit(&app.get_json(&new_list).await.1, kit.id));
    let (_, list, _) = app.get_json(&old_list).await;
    let item = list.as_array().unwrap().iter().find(|k| k["id"] == kit.id).cloned().unwrap_or(Value::Null);
    assert_eq!(item["name"], "Zyxw Moved Back", "{list}");
}

#[tokio::test]
async fn kit_create_update_and_delete_show_in_lists_and_details_at_once() {
    let app = TestApp::spawn().await;
    app.without_change_notifications().await;
    let r = refs(&app).await;
    let club_list = format!("/api/clubs/{}/kits?season={}&page_size=100", r.club, r.season);
    let all_list = format!("/api/kits?club_id={}&season_id={}&page_size=100", r.club, r.season);
    let before = warm(&app, &club_list).await;
    warm(&app, &all_list).await;

    let (status, kit) = send(&app, Method::POST, "/api/kits", &kit_body(&r, "Zyxw Fresh Kit")).await;
    assert_eq!(status, StatusCode::CREATED, "{kit}");
    let id = kit["id"].as_i64().unwrap() as i32;
    let (_, list, cache) = app.get_json(&club_list).await;
    assert!(has_kit(&list, id), "x-cache {cache}: a new kit is missing from its club's list (before: {before})");
    let (_, list, cache) = app.get_json(&all_list).await;
    assert!(has_kit(&list, id), "x-cache {cache}: a new kit is missing from /api/kits");

    // Only the many-to-many rows change: the kit's detail still refreshes.
    let detail_path = format!("/api/kit-json/{id}");
    let detail_before = warm(&app, &detail_path).await;
    assert_eq!(detail_before["competition"].as_array().map(Vec::len), Some(2));
    let (status, _) = send(&app, Method::PATCH, &format!("/api/kits/{id}"), &json!({"competition_ids": []})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, detail_after, cache) = app.get_json(&detail_path).await;
    assert_eq!(detail_after["competition"], json!([]), "x-cache {cache}");
    let (status, _) = send(&app, Method::PATCH, &format!("/api/kits/{id}"), &json!({"secondary_color_ids": []})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, detail_after, cache) = app.get_json(&detail_path).await;
    assert_eq!(detail_after["secondary_color"], json!([]), "x-cache {cache}");

    // A rename shows in the detail and in the lists.
    warm(&app, &detail_path).await;
    warm(&app, &club_list).await;
    let (status, _) = send(&app, Method::PATCH, &format!("/api/kits/{id}"), &json!({"name": "Zyxw Renamed Kit"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.get_json(&detail_path).await.1["name"], "Zyxw Renamed Kit");
    let (_, list, _) = app.get_json(&club_list).await;
    assert!(list.as_array().unwrap().iter().any(|k| k["name"] == "Zyxw Renamed Kit"), "{list}");

    // Delete: gone from the detail and the lists.
    warm(&app, &detail_path).await;
    warm(&app, &club_list).await;
    warm(&app, &all_list).await;
    let (status, _) = delete(&app, &format!("/api/kits/{id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, cache) = app.get_json(&detail_path).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "x-cache {cache}");
    assert!(!has_kit(&app.get_json(&club_list).await.1, id));
    assert!(!has_kit(&app.get_json(&all_list).await.1, id));
}

#[tokio::test]
async fn a_club_rename_shows_in_its_kit_details_at_once() {
    let app = TestApp::spawn().await;
    app.without_change_notifications().await;
    let kit = seeded_kit(&app).await;
    let detail_path = format!("/api/kit-json/{}", kit.id);
    warm(&app, &detail_path).await;
    warm(&app, &format!("/api/clubs/{}", kit.club)).await;
    let (status, _) =
        send(&app, Method::PATCH, &format!("/api/clubs/{}", kit.club), &json!({"name": "Zyxw Renamed Club"})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, detail_body, cache) = app.get_json(&detail_path).await;
    assert_eq!(detail_body["team"]["name"], "Zyxw Renamed Club", "x-cache {cache}");
    assert_eq!(app.get_json(&format!("/api/clubs/{}", kit.club)).await.1["name"], "Zyxw Renamed Club");
}
