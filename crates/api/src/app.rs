//! Assembly: builds the shared state and the actix app from the domain
//! crates' `configure` functions. No routes of the catalogue live here.

use crate::config::Settings;
use crate::{http_metrics, openapi, ops};
use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use fkapi_cache::Cache;
use fkapi_web::AppContext;
use std::net::TcpListener;
use std::sync::Arc;
use tracing_actix_web::TracingLogger;
use utoipa_swagger_ui::SwaggerUi;

/// Everything a running server shares.
#[derive(Clone)]
pub struct AppState {
    pub ctx: web::Data<AppContext>,
    pub registry: Arc<prometheus::Registry>,
    pub http: http_metrics::HttpMetrics,
    /// Rate-limiter settings and state (see `rate_limit`).
    pub limiter: Arc<crate::rate_limit::Limiter>,
}

impl AppState {
    pub fn new(settings: &Settings) -> anyhow::Result<AppState> {
        let registry = prometheus::Registry::new();
        let db = fkapi_db::build_pool(&settings.database_url.0, settings.db_pool_size, settings.db_timeout)?;
        let cache = Cache::new(settings.cache.clone(), settings.redis_url.as_ref().map(|s| s.0.as_str()), &registry)?;
        let http = http_metrics::HttpMetrics::register(&registry)?;
        let ctx = AppContext { db, cache, admin_key: settings.admin_key.as_ref().map(|s| s.0.clone()) };
        let limiter = crate::rate_limit::Limiter::new(
            settings.rate_limit,
            settings.rate_limit_whitelist.clone(),
            settings.trusted_proxies.clone(),
        );
        if settings.rate_limit.is_some() && !ctx.cache.is_enabled() {
            tracing::warn!("FKAPI_RATE_LIMIT is set but Redis is off: requests are not rate limited");
        }
        Ok(AppState { ctx: web::Data::new(ctx), registry: Arc::new(registry), http, limiter: Arc::new(limiter) })
    }

    pub fn cache(&self) -> &Cache {
        &self.ctx.cache
    }
}

/// The routes of the whole API, in matching order: search first so
/// `/api/clubs/search` wins over `/api/clubs/{club_id}`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(fkapi_search::configure)
        .configure(ops::configure)
        .configure(fkapi_clubs::configure)
        .configure(fkapi_seasons::configure)
        .configure(fkapi_kits::configure)
        .configure(fkapi_kits::configure_writes)
        .configure(fkapi_users::configure);
    #[cfg(feature = "bench")]
    cfg.configure(crate::bench_route::configure);
}

/// Starts the HTTP server on `listener` (port 0 in tests).
pub fn serve(listener: TcpListener, state: AppState, workers: usize) -> std::io::Result<Server> {
    let (path_cfg, query_cfg, json_cfg) = fkapi_web::extractor_configs();
    let document = openapi::document();
    let server = HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(crate::rate_limit::limit))
            .wrap(actix_web::middleware::from_fn(http_metrics::record))
            .wrap(TracingLogger::default())
            .app_data(state.ctx.clone())
            .app_data(web::Data::new(state.clone()))
            .app_data(web::Data::from(state.limiter.tokens.clone()))
            .app_data(path_cfg.clone())
            .app_data(query_cfg.clone())
            .app_data(json_cfg.clone())
            .configure(routes)
            .service(SwaggerUi::new("/swagger-ui/{_:.*}").url("/api-docs/openapi.json", document.clone()))
            .default_service(web::to(ops::not_found))
    })
    .workers(workers.max(1))
    .listen(listener)?
    .run();
    Ok(server)
}
