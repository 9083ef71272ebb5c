//! The fkapi binary as a library, so tests can start the real server
//! in-process: configuration, app assembly, operations routes, OpenAPI.

pub mod app;
#[cfg(feature = "bench")]
mod bench_route;
mod by_target;
pub mod config;
mod db_queries;
pub mod domains;
pub mod feed;
pub mod http_metrics;
pub mod invalidation;
mod observe;
pub mod openapi;
pub mod ops;
pub mod rate_limit;
pub mod schedule;
pub mod state;
pub mod warm;

pub use app::serve;
pub use config::Settings;
pub use state::AppState;

use std::time::Duration;

/// Logs to stderr; `RUST_LOG` filters (default info), JSON when asked.
pub fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,actix_server=warn,tokio_postgres=warn,redis::cluster_handling=error")
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}

/// Creates the database when missing and applies pending migrations.
pub async fn migrate(database_url: &str) -> anyhow::Result<Vec<String>> {
    if fkapi_db::create_database_if_missing(database_url).await? {
        tracing::info!("created database");
    }
    Ok(fkapi_db::run_migrations(database_url).await?)
}

/// Warns when Redis would refuse writes when full (noeviction) or has no
/// memory limit: fkapi expects an LRU/LFU policy so a full Redis simply
/// evicts entries, which then become misses.
pub async fn check_redis_memory(cache: &fkapi_cache::Cache) {
    let Some(stats) = cache.redis_stats().await else {
        if cache.is_enabled() {
            tracing::warn!("redis is not reachable at start; serving from the database until it is");
        }
        return;
    };
    if stats.maxmemory_bytes == 0 {
        tracing::warn!(
            "redis has no maxmemory set: it will grow without bound; set maxmemory and maxmemory-policy allkeys-lru"
        );
    }
    if stats.maxmemory_policy == "noeviction" {
        tracing::warn!(
            "redis maxmemory-policy is noeviction: a full redis refuses new entries; use allkeys-lru or allkeys-lfu"
        );
    }
}

/// Background work of a serving instance; `shutdown` ends it cleanly.
pub struct Background {
    /// Turns true once the change feed has taken its first step (caught up,
    /// or another instance consumes), so a starting instance serves no
    /// entry older than a change made while it was down.
    pub ready: tokio::sync::watch::Receiver<bool>,
    feed: Option<fkapi_feed::FeedHandle>,
}

impl Background {
    /// Gives up the change-feed lease, so another instance takes over at once.
    pub async fn shutdown(self) {
        if let Some(feed) = self.feed {
            feed.shutdown().await;
        }
    }
}

/// Background upkeep of a serving instance: the change feed, popularity
/// counts, the warm schedule and sampling of the entries gauge.
pub fn spawn_background(state: &AppState, settings: &Settings) -> anyhow::Result<Background> {
    if !state.cache().is_enabled() {
        let (_, ready) = tokio::sync::watch::channel(true);
        return Ok(Background { ready, feed: None });
    }
    let feed = feed::spawn(state, settings)?;
    let background = Background { ready: feed.ready.clone(), feed: Some(feed) };
    // Keeps this instance's L1 coherent (stream reader and lease); without
    // it the instance never holds a lease and L1 never serves.
    tokio::spawn(state.cache().clone().run_coherence());
    let popular = state.cache().clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(10)).await;
            popular.flush_popular().await;
        }
    });
    if let Some(cron) = &settings.warm_schedule {
        schedule::spawn(state.clone(), cron.clone());
    }
    if settings.entries_sample_secs == 0 {
        return Ok(background);
    }
    let cache = state.cache().clone();
    let every = Duration::from_secs(settings.entries_sample_secs);
    tokio::spawn(async move {
        loop {
            let _ = cache.count_entries(domains::registry()).await;
            let _ = cache.redis_stats().await;
            tokio::time::sleep(every).await;
        }
    });
    Ok(background)
}
