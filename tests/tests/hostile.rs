//! Hostile input: whatever a client sends, the answer is a 4xx with a
//! `{"detail": "…"}` body, never a 5xx. Out-of-range and malformed ids,
//! pages and filters; NUL bytes and invalid UTF-8 in paths, query strings
//! and bodies (PostgreSQL refuses NUL in text, so it must be stopped first);
//! bodies that are not JSON, have the wrong Content-Type or types, nest too
//! deep, are too large (413) or carry unknown fields (422). Search keywords
//! full of LIKE, glob and quote characters are plain text: they find exactly
//! what an ordinary punctuation character in their place finds, and every
//! Redis key they lead to lives in the server's namespace.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fkapi_tests::{json, StatusCode, TestApp, Value};
use reqwest::Method;

/// Asserts a 4xx `{"detail": string}` answer with `status`; returns the detail.
async fn expect_detail(response: reqwest::Response, status: StatusCode, what: &str) -> String {
    let got = response.status();
    let content_type = fkapi_tests::header(&response, "content-type");
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{what}: expected {status}, got {got}: {text}");
    assert!(content_type.starts_with("application/json"), "{what}: content type {content_type:?}");
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: body {text:?} is not JSON: {e}"));
    let detail = body.get("detail").and_then(Value::as_str);
    assert!(detail.is_some_and(|d| !d.is_empty()), "{what}: no detail in {body}");
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{what}: only `detail` in {body}");
    detail.unwrap_or_default().to_string()
}

async fn get_detail(app: &TestApp, path: &str, status: StatusCode) -> String {
    expect_detail(app.get(path).await, status, &format!("GET {path}")).await
}

/// An admin request with a raw body and Content-Type.
async fn send_raw(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> reqwest::Response {
    let mut request = app.admin(method, path).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.send().await.unwrap()
}

async fn send_json_text(app: &TestApp, method: Method, path: &str, body: &str) -> reqwest::Response {
    send_raw(app, method, path, Some("application/json"), body.as_bytes().to_vec()).await
}

const BAD_IDS: [&str; 10] =
    ["2147483648", "-2147483649", "99999999999999999999", "1.5", "1e3", "abc", "%FF", "1%00", "%00", "%C3%28"];

#[tokio::test]
async fn malformed_and_out_of_range_path_ids_are_400() {
    let app = TestApp::spawn().await;
    let reads = ["/api/clubs/{}", "/api/clubs/{}/kits", "/api/kits/{}", "/api/kit-json/{}"];
    let writes = ["/api/clubs/{}", "/api/seasons/{}", "/api/kits/{}", "/api/brands/{}", "/api/competitions/{}"];
    for id in BAD_IDS {
        for template in reads {
            let path = template.replace("{}", id);
            let detail = get_detail(&app, &path, StatusCode::BAD_REQUEST).await;
            assert!(detail.contains("path parameter"), "{path}: {detail}");
        }
        for template in writes {
            let path = template.replace("{}", id);
            let response = app.admin(Method::DELETE, &path).send().await.unwrap();
            expect_detail(response, StatusCode::BAD_REQUEST, &format!("DELETE {path}")).await;
            let response = app.admin(Method::PATCH, &path).json(&json!({})).send().await.unwrap();
            expect_detail(response, StatusCode::BAD_REQUEST, &format!("PATCH {path}")).await;
        }
    }
    // In range but absent: 404, whatever the sign.
    for id in ["-1", "0", "2147483647", "-2147483648"] {
        get_detail(&app, &format!("/api/clubs/{id}"), StatusCode::NOT_FOUND).await;
        get_detail(&app, &format!("/api/kits/{id}"), StatusCode::NOT_FOUND).await;
        get_detail(&app, &format!("/api/clubs/{id}/kits"), StatusCode::NOT_FOUND).await;
    }
    // Unknown paths, including invalid UTF-8 in them, answer in the API's shape.
    get_detail(&app, "/api/%FF", StatusCode::NOT_FOUND).await;
    get_detail(&app, "/api/clubs/1/%00", StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn query_parameters_have_bounds() {
    let app = TestApp::spawn().await;
    let long = "a".repeat(5000);
    let thirty_one: Vec<String> = (0..31).map(|i| format!("kit-{i}")).collect();
    let thirty_one = thirty_one.join(",");
    let cases: Vec<String> = vec![
        // Pages: from 1 to 1,000,000; page_size 1 to 100.
        "/api/kits?page=0".into(),
        "/api/kits?page=-1".into(),
        "/api/kits?page=1000001".into(),
        "/api/kits?page=99999999999999999999".into(),
        "/api/kits?page=abc".into(),
        "/api/kits?page=%FF".into(),
        "/api/kits?page_size=0".into(),
        "/api/kits?page_size=101".into(),
        "/api/kits?page_size=-5".into(),
        "/api/kits?page_size=1e2".into(),
        "/api/clubs/1/kits?page=0".into(),
        "/api/clubs/1/kits?page_size=101".into(),
        "/api/clubs/1/kits?season=2147483648".into(),
        "/api/clubs/1/kits?season=%FF".into(),
        // Ids and years.
        "/api/kits?club_id=2147483648".into(),
        "/api/kits?club=-2147483649".into(),
        "/api/kits?season_id=1%00".into(),
        "/api/kits?brand=abc".into(),
        "/api/kits?year=99999".into(),
        "/api/kits?first_year=-1".into(),
        "/api/kits?second_year=2101".into(),
        // Text filters: closed lists, never free text into SQL.
        "/api/kits?country=G%00".into(),
        "/api/kits?country=%FF%FF".into(),
        format!("/api/kits?country={long}"),
        "/api/kits?design=Plain%00".into(),
        format!("/api/kits?design={long}"),
        "/api/kits?primary_color=%FF".into(),
        "/api/kits?primary_color=Red%25".into(),
        // The same parameter twice (or under its alias) is ambiguous.
        "/api/kits?page=1&page=2".into(),
        "/api/kits?club=1&club_id=2".into(),
        "/api/seasons?id=1&club_id=2".into(),
        // Seasons need a valid club id.
        "/api/seasons".into(),
        "/api/seasons?club_id=%FF".into(),
        "/api/seasons?club_id=2147483648".into(),
        // Bulk: 2 to 30 slugs, each a slug of at most 300 characters.
        "/api/kits/bulk".into(),
        "/api/kits/bulk?slugs=a-kit".into(),
        format!("/api/kits/bulk?slugs={thirty_one}"),
        "/api/kits/bulk?slugs=a-kit,b%00kit".into(),
        "/api/kits/bulk?slugs=a-kit,%FF".into(),
        "/api/kits/bulk?slugs=a-kit,b-kit*".into(),
        "/api/kits/bulk?slugs=a-kit,%25".into(),
        format!("/api/kits/bulk?slugs=a-kit,{}", "b".repeat(301)),
        // Keywords: 1 to 100 characters, no NUL.
        "/api/clubs/search".into(),
        "/api/clubs/search?keyword=".into(),
        "/api/clubs/search?keyword=%20%09".into(),
        "/api/kits/search?keyword=ars%00enal".into(),
        "/api/seasons/search?keyword=%00".into(),
        format!("/api/brands/search?keyword={}", "x".repeat(101)),
        format!("/api/competitions/search?keyword={long}"),
        "/api/clubs/search?keyword=a&keyword=b".into(),
    ];
    for path in &cases {
        get_detail(&app, path, StatusCode::BAD_REQUEST).await;
    }
    // The bounds themselves are accepted.
    for path in [
        "/api/kits?page=1000000&page_size=100",
        "/api/kits?page_size=1",
        "/api/kits?year=1800&second_year=2100",
        "/api/kits?club_id=-2147483648",
    ] {
        let (status, body, _) = app.get_json(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert!(body.is_array(), "{path}: {body}");
    }
}

/// Every write body, valid as far as the fields go, per route.
fn write_routes() -> Vec<(Method, &'static str, Value)> {
    let club = json!({"name": "Hostile FC", "slug": "hostile-fc"});
    let season = json!({"year": "2091-92"});
    let brand = json!({"name": "Hostile Brand"});
    let competition = json!({"name": "Hostile Cup", "country": "GB"});
    let kit = json!({"name": "Hostile Kit", "team_id": 1, "season_id": 1, "type_id": 1, "brand_id": 1,
                     "main_img_url": "https://example.com/k.jpg"});
    vec![
        (Method::POST, "/api/clubs", club.clone()),
        (Method::PUT, "/api/clubs/1", club),
        (Method::PATCH, "/api/clubs/1", json!({"name": "Hostile FC"})),
        (Method::POST, "/api/seasons", season.clone()),
        (Method::PUT, "/api/seasons/1", season),
        (Method::PATCH, "/api/seasons/1", json!({"year": "2091-92"})),
        (Method::POST, "/api/brands", brand.clone()),
        (Method::PUT, "/api/brands/1", brand),
        (Method::PATCH, "/api/brands/1", json!({"name": "Hostile Brand"})),
        (Method::POST, "/api/competitions", competition.clone()),
        (Method::PUT, "/api/competitions/1", competition),
        (Method::PATCH, "/api/competitions/1", json!({"name": "Hostile Cup"})),
        (Method::POST, "/api/kits", kit.clone()),
        (Method::PUT, "/api/kits/1", kit),
        (Method::PATCH, "/api/kits/1", json!({"name": "Hostile Kit"})),
        (Method::POST, "/api/admin/cache/invalidate", json!({"scope": "club", "id": 1})),
        (Method::POST, "/api/admin/cache/warm", json!({"seasons": true})),
    ]
}

#[tokio::test]
async fn malformed_bodies_are_400_and_unknown_fields_422() {
    let app = TestApp::spawn().await;
    let clubs_before = app.get_json("/api/clubs/1").await.1;
    let nested = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let nested_object = format!("{}1{}", "{\"a\":".repeat(200), "}".repeat(200));
    for (method, path, body) in write_routes() {
        let what = |case: &str| format!("{method} {path} ({case})");
        let valid = serde_json::to_vec(&body).unwrap();
        // Not JSON, empty, truncated, or not UTF-8.
        for (case, raw) in [
            ("not json", b"hello".to_vec()),
            ("empty", Vec::new()),
            ("truncated", valid[..valid.len() - 1].to_vec()),
            ("invalid utf-8", b"{\"name\": \"\xff\xfe\"}".to_vec()),
            ("lone surrogate", br#"{"name": "\ud800"}"#.to_vec()),
            ("nested arrays", nested.clone().into_bytes()),
            ("nested objects", nested_object.clone().into_bytes()),
            ("number out of f64 range", br#"{"rating": 1e400}"#.to_vec()),
        ] {
            let response = send_raw(&app, method.clone(), path, Some("application/json"), raw).await;
            expect_detail(response, StatusCode::BAD_REQUEST, &what(case)).await;
        }
        // A valid body under the wrong Content-Type, or none.
        for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
            let response = send_raw(&app, method.clone(), path, content_type, valid.clone()).await;
            let detail = expect_detail(response, StatusCode::BAD_REQUEST, &what("content type")).await;
            assert!(detail.contains("Content-Type"), "{}: {detail}", what("content type"));
        }
        // Unknown fields, at the top level.
        let mut extra = body.clone();
        extra["unexpected_field"] = json!(1);
        let response = app.admin(method.clone(), path).json(&extra).send().await.unwrap();
        let detail = expect_detail(response, StatusCode::UNPROCESSABLE_ENTITY, &what("unknown field")).await;
        assert!(detail.contains("unknown field"), "{}: {detail}", what("unknown field"));
        // JSON of the wrong shape.
        for (case, wrong) in
            [("array", json!([1, 2])), ("string", json!("x")), ("number", json!(1)), ("null", Value::Null)]
        {
            let response = app.admin(method.clone(), path).json(&wrong).send().await.unwrap();
            expect_detail(response, StatusCode::UNPROCESSABLE_ENTITY, &what(case)).await;
        }
    }
    assert_eq!(app.get_json("/api/clubs/1").await.1, clubs_before, "no hostile body changed the club");
}

#[tokio::test]
async fn wrong_types_and_out_of_range_numbers_are_422() {
    let app = TestApp::spawn().await;
    let kit = json!({"name": "Hostile Kit", "team_id": 1, "season_id": 1, "type_id": 1, "brand_id": 1,
                     "main_img_url": "https://example.com/k.jpg"});
    let cases: Vec<(Method, &str, Value)> = vec![
        (Method::POST, "/api/clubs", json!({"name": 1, "slug": "x"})),
        (Method::POST, "/api/clubs", json!({"name": "X", "slug": "x", "id_fka": 2147483648_i64})),
        (Method::POST, "/api/clubs", json!({"name": "X", "slug": "x", "id_fka": -1})),
        (Method::PATCH, "/api/clubs/1", json!({"id_fka": 1e10})),
        (Method::PATCH, "/api/clubs/1", json!({"name": ["Arsenal"]})),
        (Method::PATCH, "/api/clubs/1", json!({"name": ""})),
        (Method::PATCH, "/api/clubs/1", json!({"name": "x".repeat(201)})),
        (Method::PATCH, "/api/clubs/1", json!({"logo": format!("https://example.com/{}", "a".repeat(500))})),
        (Method::PATCH, "/api/kits/1", json!({"team_id": 2147483648_i64})),
        (Method::PATCH, "/api/kits/1", json!({"team_id": -2147483649_i64})),
        (Method::PATCH, "/api/kits/1", json!({"team_id": 1.5})),
        (Method::PATCH, "/api/kits/1", json!({"team_id": "1"})),
        (Method::PATCH, "/api/kits/1", json!({"rating": "4"})),
        (Method::PATCH, "/api/kits/1", json!({"rating": 5.01})),
        (Method::PATCH, "/api/kits/1", json!({"rating": -0.01})),
        (Method::PATCH, "/api/kits/1", json!({"competition_ids": (1..=21).collect::<Vec<i32>>()})),
        (Method::PATCH, "/api/kits/1", json!({"secondary_color_ids": [1, 1]})),
        (Method::PATCH, "/api/kits/1", json!({"design": "Polka dots"})),
        (Method::PATCH, "/api/kits/1", json!({"team_id": 2147483647})),
        (Method::POST, "/api/kits", {
            let mut k = kit.clone();
            k["main_img_url"] = json!("not a url");
            k
        }),
        (Method::POST, "/api/seasons", json!({"year": "2024-26"})),
        (Method::POST, "/api/seasons", json!({"year": 2024})),
        (Method::POST, "/api/competitions", json!({"name": "X", "country": "gbr"})),
        (Method::POST, "/api/admin/cache/invalidate", json!({"scope": "club", "id": 2147483648_i64})),
    ];
    for (method, path, body) in cases {
        let response = app.admin(method.clone(), path).json(&body).send().await.unwrap();
        expect_detail(response, StatusCode::UNPROCESSABLE_ENTITY, &format!("{method} {path} {body}")).await;
    }
    // Admin cache options out of range are bad parameters.
    for body in [json!({"clubs": -5}), json!({"kits": 0}), json!({"clubs": 99999999999_i64})] {
        let response = app.admin(Method::POST, "/api/admin/cache/warm").json(&body).send().await.unwrap();
        let status = response.status();
        assert!(status.is_client_error(), "warm {body}: {status}");
        expect_detail(response, status, &format!("warm {body}")).await;
    }
}

#[tokio::test]
async fn nul_in_any_body_string_is_422_and_never_reaches_postgres() {
    let app = TestApp::spawn().await;
    let before = app.get_json("/api/kits/1").await.1;
    for (method, path, body) in write_routes() {
        let Value::Object(fields) = body.clone() else { unreachable!() };
        for (field, value) in &fields {
            if let Value::String(text) = value {
                let mut poisoned = body.clone();
                poisoned[field] = json!(format!("{text}\u{0}"));
                let response = app.admin(method.clone(), path).json(&poisoned).send().await.unwrap();
                expect_detail(response, StatusCode::UNPROCESSABLE_ENTITY, &format!("{method} {path} NUL in {field}"))
                    .await;
            }
        }
        // In a field the route does not check itself (URLs), and in a key.
        for poisoned in [
            json!({"logo": "https://example.com/\u{0}.png"}),
            json!({"main_img_url": "https://example.com/\u{0}.png"}),
            json!({"na\u{0}me": "x"}),
        ] {
            let mut merged = body.clone();
            for (k, v) in poisoned.as_object().unwrap() {
                merged[k] = v.clone();
            }
            let response = app.admin(method.clone(), path).json(&merged).send().await.unwrap();
            expect_detail(response, StatusCode::UNPROCESSABLE_ENTITY, &format!("{method} {path} {poisoned}")).await;
        }
    }
    // `\\u0000` in JSON is a backslash followed by text, not NUL: stored as such.
    let response = send_json_text(&app, Method::PATCH, "/api/brands/1", r#"{"name": "Back\\u0000slash"}"#).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["name"], "Back\\u0000slash");
    assert_eq!(app.get_json("/api/kits/1").await.1, before, "no NUL write touched the kit");
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let app = TestApp::spawn().await;
    for (method, path, body) in write_routes() {
        let mut big = body.clone();
        big["name"] = json!("x".repeat(70 * 1024));
        let response = app.admin(method.clone(), path).json(&big).send().await.unwrap();
        let detail = expect_detail(response, StatusCode::PAYLOAD_TOO_LARGE, &format!("{method} {path}")).await;
        assert!(detail.contains("larger than"), "{detail}");
        // Also when the length is not announced up front (chunked).
        let (status, text) = chunked_request(&app, method.as_str(), path, 70 * 1024).await;
        assert_eq!(status, 413, "{method} {path} chunked: {text}");
        assert!(text.contains("\"detail\""), "{method} {path} chunked: {text}");
    }
}

/// Sends a JSON body of about `size` bytes with `Transfer-Encoding: chunked`
/// over a raw connection; returns the status and the response text.
async fn chunked_request(app: &TestApp, method: &str, path: &str, size: usize) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = app.address.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        fkapi_tests::ADMIN_KEY
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut body = b"{\"name\": \"".to_vec();
    body.extend(std::iter::repeat_n(b'y', size));
    body.extend(b"\"}");
    // The server may answer (and close) before it has read everything.
    for chunk in body.chunks(8192) {
        if stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await.is_err()
            || stream.write_all(chunk).await.is_err()
            || stream.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

/// The search results (ids) of one keyword, sent as raw (already encoded) query text.
async fn search_ids(app: &TestApp, target: &str, encoded_keyword: &str) -> Vec<i64> {
    let path = format!("/api/{target}/search?keyword={encoded_keyword}");
    let (status, body, _) = app.get_json(&path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body.as_array()
        .unwrap_or_else(|| panic!("{path}: {body}"))
        .iter()
        .map(|item| item["id"].as_i64().unwrap())
        .collect()
}

/// Every key of the whole Redis (SCAN; fine in a test) containing `marker`.
async fn redis_keys_containing(marker: &str) -> Vec<String> {
    let client = redis::Client::open(fkapi_tests::redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    // Bytes, not String: a key may hold invalid UTF-8 a client sent.
    let keys: Vec<Vec<u8>> = fkapi_cache::scan_keys(&mut conn, "*", 1000).await.unwrap();
    keys.into_iter().map(|k| String::from_utf8_lossy(&k).into_owned()).filter(|k| k.contains(marker)).collect()
}

#[tokio::test]
async fn search_metacharacters_are_plain_text() {
    let app = TestApp::spawn().await;
    // LIKE (`%`, `_`, `\`), glob (`*`, `?`, `[`), quotes, and invalid UTF-8
    // (read as U+FFFD), percent-encoded as a client would send them.
    let metas = ["%25", "_", "%5C", "*", "%3F", "%5B", "%5B-%5D*", "%27", "%22", "%25%25", "_%25_", "%FF", "%C3%28"];
    // pg_trgm and the LIKE patterns see a metacharacter as they see any
    // other punctuation: `~` in its place must find exactly the same rows.
    let plain = "~";
    let targets = ["clubs", "brands", "competitions", "seasons", "kits"];
    for target in targets {
        for base in ["ars", "united", "2005", "nike"] {
            for meta in metas {
                for (with_meta, with_plain) in [
                    (format!("{base}{meta}"), format!("{base}{plain}")),
                    (format!("{meta}{base}"), format!("{plain}{base}")),
                    (format!("{}{meta}{}", &base[..2], &base[2..]), format!("{}{plain}{}", &base[..2], &base[2..])),
                ] {
                    assert_eq!(
                        search_ids(&app, target, &with_meta).await,
                        search_ids(&app, target, &with_plain).await,
                        "{target}: {with_meta:?} must find what {with_plain:?} finds"
                    );
                }
            }
        }
        // Nothing but metacharacters finds nothing (no seeded name holds them).
        for meta in ["%25", "_", "%25%25", "_%25_", "*", "%3F", "%5B", "%5B-%5D*", "%FF", "%5C"] {
            assert_eq!(search_ids(&app, target, meta).await, Vec::<i64>::new(), "{target} {meta}");
        }
    }
    // A plain search does find rows, so the comparisons above are not all empty.
    assert!(!search_ids(&app, "clubs", "ars").await.is_empty());

    // Keys built from hostile keywords stay inside this server's namespace.
    let marker = "zq9hostile";
    for keyword in ["*", "?", "[", "%25", "_", "%27", "%22", "%FF", "%5C", "*%3F%5B%5D%7B%7D", "%7B"] {
        for target in targets {
            search_ids(&app, target, &format!("{marker}{keyword}")).await;
            search_ids(&app, target, &format!("{keyword}{marker}")).await;
        }
    }
    let keys = redis_keys_containing(marker).await;
    assert!(!keys.is_empty(), "searches were cached");
    let prefix = fkapi_cache::Namespace::new(&app.db_name).prefix().to_string();
    for key in &keys {
        assert!(key.starts_with(&prefix), "key {key:?} is outside the namespace {prefix}");
    }
}
