//! Operations: health, metrics, OpenAPI document and Swagger UI, errors for
//! unknown routes, migrations that reverse cleanly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fkapi_tests::{header, StatusCode, TestApp, Value};

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
