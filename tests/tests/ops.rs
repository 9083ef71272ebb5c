//! Operations: health, metrics, OpenAPI document and Swagger UI, errors for
//! unknown routes, migrations that reverse cleanly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fkapi_tests::{header, json, StatusCode, TestApp, Value};

#[tokio::test]
async fn health_reports_database_and_cache() {
    let app = TestApp::spawn().await;
    let (status, body, _) = app.get_json("/api/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["database"], "connected");
    assert_eq!(body["cache"], "connected");
    assert_eq!(body["cache_mode"], "in_use");
    assert!(body["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
}

#[tokio::test]
async fn health_is_503_when_the_database_is_down() {
    let app = TestApp::spawn_with(|s| {
        s.database_url = fkapi_api::config::Secret("postgres://postgres:postgres@127.0.0.1:1/nowhere".into());
        s.db_timeout = std::time::Duration::from_millis(300);
    })
    .await;
    let (status, body, _) = app.get_json("/api/health").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["database"], "disconnected");
    // And catalogue reads answer 503 with a detail, not 500.
    let (status, body, _) = app.get_json("/api/clubs/1").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body["detail"].is_string());
}

#[tokio::test]
async fn metrics_expose_cache_and_http_series() {
    let app = TestApp::spawn().await;
    app.get("/api/clubs/1").await;
    app.get("/api/clubs/1").await;
    let response = app.get("/metrics").await;
    assert!(header(&response, "content-type").starts_with("text/plain"));
    let text = response.text().await.unwrap();
    for name in [
        "fkapi_cache_hits_total",
        "fkapi_cache_misses_total",
        "fkapi_cache_loads_total",
        "fkapi_cache_load_duration_seconds_bucket",
        "fkapi_http_requests_total",
        "fkapi_http_request_duration_seconds_bucket",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
    assert_eq!(
        fkapi_tests::metric_in(
            &text,
            "fkapi_http_requests_total",
            &[("route", "/api/clubs/{club_id}"), ("status", "200")]
        ),
        2.0
    );
}

#[tokio::test]
async fn unknown_routes_and_bad_ids_answer_in_the_error_shape() {
    let app = TestApp::spawn().await;
    let (status, body, _) = app.get_json("/api/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["detail"].is_string());
    let (status, body, _) = app.get_json("/api/clubs/abc").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["detail"].as_str().unwrap().contains("invalid path parameter"), "{body}");
    let (status, _, _) = app.get_json("/api/clubs/99999999999999").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_committed_openapi_document_is_current() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json")).unwrap_or_default();
    let generated = fkapi_api::openapi::pretty_json().unwrap();
    assert!(committed == generated, "openapi/openapi.json is out of date: run `make openapi`");
}

#[tokio::test]
async fn swagger_ui_and_document_are_served() {
    let app = TestApp::spawn().await;
    let ui = app.get("/swagger-ui/").await;
    assert_eq!(ui.status(), StatusCode::OK);
    assert!(ui.text().await.unwrap().contains("swagger"));
    let (status, doc, _) = app.get_json("/api-docs/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/clubs/{club_id}",
        "/api/clubs/{club_id}/kits",
        "/api/seasons",
        "/api/kits",
        "/api/kit-json/{kit_id}",
        "/api/kits/{kit_id}",
        "/api/kits/bulk",
        "/api/clubs/search",
        "/api/brands/search",
        "/api/competitions/search",
        "/api/seasons/search",
        "/api/kits/search",
        "/api/health",
        "/api/admin/cache/invalidate",
    ] {
        assert!(paths.contains_key(path), "{path} missing from the OpenAPI document");
    }
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
    let _: &Value = &doc;
}

#[tokio::test]
async fn migrations_reverse_cleanly() {
    let db = fkapi_tests::EmptyDatabase::create("migrations").await;
    let applied = fkapi_db::run_migrations(&db.url).await.unwrap();
    assert!(!applied.is_empty());
    let reverted = fkapi_db::revert_all_migrations(&db.url).await.unwrap();
    assert_eq!(reverted, applied.len());
    let again = fkapi_db::run_migrations(&db.url).await.unwrap();
    assert_eq!(again.len(), applied.len());
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let mut seen = std::collections::HashSet::new();
    for path in ["/api/clubs/1", "/api/clubs/1", "/api/nothing-here", "/api/clubs/abc", "/metrics"] {
        let response = app.get(path).await;
        let id = header(&response, "x-request-id");
        assert!(!id.is_empty() && id.len() <= 64, "{path}: {id:?}");
        assert!(seen.insert(id.clone()), "{path}: request id {id} given twice");
    }
    // A sane id from the client is echoed, anything else replaced.
    let given = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
    let response = app.client.get(app.url("/api/clubs/1")).header("x-request-id", given).send().await.unwrap();
    assert_eq!(header(&response, "x-request-id"), given);
    for bad in ["has spaces", &"x".repeat(200), "semi;colon"] {
        let response = app.client.get(app.url("/api/clubs/1")).header("x-request-id", bad).send().await.unwrap();
        let id = header(&response, "x-request-id");
        assert!(!id.is_empty() && id != bad, "{bad:?} came back as {id:?}");
    }
}

#[tokio::test]
async fn docs_are_served_at_fkapi_and_fkapis_paths() {
    let app = TestApp::spawn().await;
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for (path, target) in [("/swagger-ui", "/swagger-ui/"), ("/api/docs", "/api/docs/")] {
        let response = no_redirects.get(app.url(path)).send().await.unwrap();
        assert!(response.status().is_redirection(), "{path}: {}", response.status());
        assert_eq!(header(&response, "location"), target);
        let ui = app.get(target).await;
        assert_eq!(ui.status(), StatusCode::OK, "{target}");
        assert!(ui.text().await.unwrap().contains("swagger"), "{target}");
    }
    let (status, fkapis, _) = app.get_json("/api/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let (_, ours, _) = app.get_json("/api-docs/openapi.json").await;
    assert_eq!(fkapis, ours);
    assert!(fkapis["paths"]["/api/metrics"].is_object());
    // The UI at /api/docs/ loads the document from FKApi's path.
    let config = app.get("/api/docs/swagger-initializer.js").await.text().await.unwrap();
    assert!(config.contains("/api/openapi.json"), "{config}");
}

/// `GET /api/metrics`, as JSON.
async fn endpoint_metrics(app: &TestApp) -> Value {
    let (status, body, _) = app.get_json("/api/metrics").await;
    assert_eq!(status, StatusCode::OK);
    body
}

#[tokio::test]
async fn api_metrics_count_requests_durations_and_database_statements() {
    let app = TestApp::spawn().await;
    let (status, _, cache) = app.get_json("/api/kit-json/5").await;
    assert_eq!((status, cache.as_str()), (StatusCode::OK, "MISS"));
    let endpoint = "GET /api/kit-json/{kit_id}";
    let once = endpoint_metrics(&app).await["endpoints"][endpoint].clone();
    assert_eq!(once["count"], 1, "{once}");
    assert_eq!(once["status_codes"], json!({"200": 1}));
    assert!(once["avg_duration"].as_f64().unwrap() > 0.0, "{once}");
    // The miss loaded the kit in a task of its own; its statements count
    // for the request that started the load.
    let miss_statements = once["avg_queries"].as_f64().unwrap();
    assert!(miss_statements >= 1.0, "a miss reads the database: {once}");
    assert_eq!(
        app.metric("fkapi_http_db_queries_total", &[("method", "GET"), ("route", "/api/kit-json/{kit_id}")]).await,
        miss_statements,
        "the same counter as /metrics"
    );

    // Hits send no statement: the mean falls to a quarter.
    for _ in 0..3 {
        assert_eq!(app.get_json("/api/kit-json/5").await.2, "HIT");
    }
    assert_eq!(app.get_json("/api/kit-json/99999999").await.0, StatusCode::NOT_FOUND);
    let after = endpoint_metrics(&app).await["endpoints"][endpoint].clone();
    assert_eq!(after["count"], 5, "{after}");
    assert_eq!(after["status_codes"], json!({"200": 4, "404": 1}));
    let not_found_statements =
        app.metric("fkapi_http_db_queries_total", &[("route", "/api/kit-json/{kit_id}")]).await - miss_statements;
    assert!(not_found_statements >= 1.0, "the unknown kit was looked up");
    let expected = (miss_statements + not_found_statements) / 5.0;
    assert!((after["avg_queries"].as_f64().unwrap() - expected).abs() < 0.006, "{after}, expected {expected}");
}

#[tokio::test]
async fn every_documented_operation_reaches_its_route() {
    let app = TestApp::spawn().await;
    let (_, doc, _) = app.get_json("/api-docs/openapi.json").await;
    let mut expected = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete: String = path
            .split('/')
            .map(|segment| if segment.starts_with('{') { "1" } else { segment })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().unwrap().keys() {
            let Ok(verb) = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else { continue };
            let response = app.client.request(verb.clone(), app.url(&concrete)).send().await.unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{verb} {concrete}");
            // The router's own 404 (no route matched), not a handler's.
            assert!(
                !(status == StatusCode::NOT_FOUND && body["detail"] == "Not Found"),
                "{verb} {concrete} matched no route"
            );
            expected.push(format!("{verb} {path}"));
        }
    }
    assert!(expected.len() > 20, "{expected:?}");
    let served = endpoint_metrics(&app).await;
    for endpoint in expected {
        assert!(served["endpoints"].get(&endpoint).is_some(), "{endpoint} was not counted under its route: {served}");
    }
}
