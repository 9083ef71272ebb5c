//! What a running server shares, built once at start. A leaf: the modules
//! that use it (assembly, middleware, operations routes, schedule) depend
//! on it, never the other way round.

use crate::config::Settings;
use crate::http_metrics::HttpMetrics;
use crate::rate_limit::Limiter;
use actix_web::web;
use fkapi_cache::Cache;
use fkapi_web::AppContext;
use std::sync::Arc;

/// Everything a running server shares.
#[derive(Clone)]
pub struct AppState {
    pub ctx: web::Data<AppContext>,
    pub registry: Arc<prometheus::Registry>,
    pub http: HttpMetrics,
    /// Rate-limiter settings and state (see `rate_limit`).
    pub limiter: Arc<Limiter>,
}

impl AppState {
    pub fn new(settings: &Settings) -> anyhow::Result<AppState> {
        let registry = prometheus::Registry::new();
        let db = fkapi_db::build_pool(&settings.database_url.0, settings.db_pool_size, settings.db_timeout)?;
        let cache = Cache::new(settings.cache.clone(), settings.redis_url.as_ref().map(|s| s.0.as_str()), &registry)?;
        let http = HttpMetrics::register(&registry)?;
        crate::db_queries::install()?;
        let ctx = AppContext { db, cache, admin_key: settings.admin_key.as_ref().map(|s| s.0.clone()) };
        let limiter =
            Limiter::new(settings.rate_limit, settings.rate_limit_whitelist.clone(), settings.trusted_proxies.clone());
        if settings.rate_limit.is_some() && !ctx.cache.is_enabled() {
            tracing::warn!("FKAPI_RATE_LIMIT is set but Redis is off: requests are not rate limited");
        }
        Ok(AppState { ctx: web::Data::new(ctx), registry: Arc::new(registry), http, limiter: Arc::new(limiter) })
    }

    pub fn cache(&self) -> &Cache {
        &self.ctx.cache
    }

    /// Whether requests pass through the rate limiter: a rate is set and
    /// Redis (where the buckets live) is configured.
    pub fn limiting(&self) -> bool {
        self.limiter.rate().is_some() && self.cache().is_enabled()
    }
}
