//! Operations routes: health, Prometheus metrics and FKApi's JSON view of
//! them, and the admin cache routes (stats, invalidate, warm).

use crate::http_metrics::{EndpointUsage, HttpMetrics};
use crate::invalidation;
use crate::state::AppState;
use crate::warm::{self, WarmOptions, WarmReport};
use actix_web::{get, post, web, HttpResponse};
use fkapi_cache::{LocalStats, OperatorScopeError, RedisStats, TypeStats};
use fkapi_web::{AdminKey, ApiError, AppContext, Cause, ErrorBody, JsonBody};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;
use utoipa::{OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    paths(health, metrics, endpoint_metrics, cache_stats, cache_invalidate, cache_warm),
    components(schemas(
        Health,
        EndpointMetrics,
        EndpointUsage,
        CacheStatsBody,
        InvalidateRequest,
        InvalidateResponse,
        WarmOptions,
        WarmReport,
        ErrorBody
    ))
)]
pub struct OpsApi;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(health)
        .service(metrics)
        .service(endpoint_metrics)
        .service(cache_stats)
        .service(cache_invalidate)
        .service(cache_warm);
}

/// Unknown paths answer in the API's error shape.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("Not Found".into()))
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// healthy or unhealthy (the database is down).
    #[schema(example = "healthy")]
    status: &'static str,
    timestamp: String,
    /// connected or disconnected.
    #[schema(example = "connected")]
    database: &'static str,
    /// connected, disconnected or disabled.
    #[schema(example = "connected")]
    cache: &'static str,
    /// Readiness of the cache tier: in_use, bypassed (Redis unreachable or
    /// circuit open: requests go to the database) or disabled.
    #[schema(example = "in_use")]
    cache_mode: &'static str,
}

/// Database and Redis status; 503 when the database is down.
#[utoipa::path(get, path = "/api/health", tag = "System",
    responses((status = 200, body = Health), (status = 503, description = "Database down", body = Health)))]
#[get("/api/health")]
pub async fn health(ctx: web::Data<AppContext>) -> HttpResponse {
    let database_ok = tokio::time::timeout(Duration::from_secs(2), async {
        use diesel_async::RunQueryDsl;
        let mut conn = fkapi_db::conn(&ctx.db).await.ok()?;
        diesel::sql_query("SELECT 1").execute(&mut conn).await.ok()
    })
    .await
    .ok()
    .flatten()
    .is_some();
    let cache = &ctx.cache;
    let (cache_state, cache_mode) = if !cache.is_enabled() {
        ("disabled", "disabled")
    } else if cache.ping().await {
        ("connected", if cache.is_bypassed() { "bypassed" } else { "in_use" })
    } else {
        ("disconnected", "bypassed")
    };
    let body = Health {
        status: if database_ok { "healthy" } else { "unhealthy" },
        timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        database: if database_ok { "connected" } else { "disconnected" },
        cache: cache_state,
        cache_mode,
    };
    if database_ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "System",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
#[get("/metrics")]
pub async fn metrics(registry: web::Data<prometheus::Registry>) -> Result<HttpResponse, ApiError> {
    let families = registry.gather();
    let text =
        prometheus::TextEncoder::new().encode_to_string(&families).map_err(|e| ApiError::Internal(Cause::new(e)))?;
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(text))
}

#[derive(Serialize, ToSchema)]
pub struct EndpointMetrics {
    /// Per `"<METHOD> <route pattern>"`, since this instance started.
    #[schema(value_type = BTreeMap<String, EndpointUsage>)]
    endpoints: BTreeMap<String, EndpointUsage>,
}

/// API usage per endpoint (FKApi's `GET /api/metrics`), read from the same
/// counters as `/metrics`: request count, mean duration in seconds, mean
/// number of database statements (counted; a cache hit sends none) and the
/// status codes answered. Routes are named by pattern, not by raw path.
#[utoipa::path(get, path = "/api/metrics", tag = "System", responses((status = 200, body = EndpointMetrics)))]
#[get("/api/metrics")]
pub async fn endpoint_metrics(http: web::Data<HttpMetrics>) -> HttpResponse {
    HttpResponse::Ok().json(EndpointMetrics { endpoints: http.usage() })
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct CacheStatsBody {
    pub enabled: bool,
    pub bypassed: bool,
    pub hits: u64,
    /// Of `hits`, those answered by the in-process tier (L1).
    #[serde(default)]
    pub local_hits: u64,
    pub misses: u64,
    pub hit_rate: f64,
    #[schema(value_type = Object)]
    pub per_type: BTreeMap<String, TypeStats>,
    #[schema(value_type = Option<Object>)]
    pub redis: Option<RedisStats>,
    /// The in-process tier of this instance; absent when off.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub local: Option<LocalStats>,
}

/// Hit rate per cache type (this instance, since start) and Redis memory.
#[utoipa::path(get, path = "/api/admin/cache/stats", tag = "Cache", security(("api_key" = [])),
    responses((status = 200, body = CacheStatsBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
#[get("/api/admin/cache/stats")]
pub async fn cache_stats(_: AdminKey, ctx: web::Data<AppContext>) -> HttpResponse {
    HttpResponse::Ok().json(stats_body(&ctx.cache).await)
}

pub async fn stats_body(cache: &fkapi_cache::Cache) -> CacheStatsBody {
    let per_type = cache.type_stats();
    let hits: u64 = per_type.values().map(|t| t.hits + t.stale).sum();
    let misses: u64 = per_type.values().map(|t| t.misses).sum();
    let local_hits: u64 = per_type.values().map(|t| t.local_hits).sum();
    CacheStatsBody {
        enabled: cache.is_enabled(),
        bypassed: cache.is_bypassed(),
        hits,
        local_hits,
        misses,
        hit_rate: if hits + misses == 0 { 0.0 } else { hits as f64 / (hits + misses) as f64 },
        per_type,
        redis: cache.redis_stats().await,
        local: cache.local_stats().await,
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvalidateRequest {
    /// all, club, kit, season, brand, competition (with id), or a table:
    /// clubs, kits, seasons, brands, competitions, kit_types, colors.
    #[schema(example = "club")]
    scope: String,
    #[schema(example = 3)]
    id: Option<i32>,
}

#[derive(Serialize, ToSchema)]
pub struct InvalidateResponse {
    /// The generation counters bumped.
    invalidated: Vec<String>,
    /// False when Redis could not be reached (the epoch is bumped when it returns).
    reached_redis: bool,
}

/// Invalidate one scope (O(1): bumps its generation counters).
#[utoipa::path(post, path = "/api/admin/cache/invalidate", tag = "Cache", security(("api_key" = [])),
    request_body = InvalidateRequest,
    responses((status = 200, body = InvalidateResponse), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/api/admin/cache/invalidate")]
pub async fn cache_invalidate(
    _: AdminKey,
    ctx: web::Data<AppContext>,
    body: JsonBody<InvalidateRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = body.into_inner();
    let done = invalidation::by_operator(&ctx, &request.scope, request.id).await.map_err(|e| match e {
        OperatorScopeError::Lookup { .. } => ApiError::Unavailable(Cause::new(e)),
        other => ApiError::BadRequest(other.to_string()),
    })?;
    Ok(HttpResponse::Ok().json(InvalidateResponse { invalidated: done.scopes, reached_redis: done.reached_redis }))
}

/// Warm the cache now, through the same handlers clients use.
#[utoipa::path(post, path = "/api/admin/cache/warm", tag = "Cache", security(("api_key" = [])),
    request_body = WarmOptions,
    responses((status = 200, description = "Done; `failed` counts entries that could not be filled", body = WarmReport),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
#[post("/api/admin/cache/warm")]
pub async fn cache_warm(
    _: AdminKey,
    state: web::Data<AppState>,
    body: JsonBody<WarmOptions>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    body.validate().map_err(ApiError::BadRequest)?;
    let report = warm::warm(&state.ctx, &body, |_| {}, || {})
        .await
        .map_err(|e| ApiError::Unavailable(Cause::msg(format!("{e:#}"))))?;
    Ok(HttpResponse::Ok().json(report))
}
