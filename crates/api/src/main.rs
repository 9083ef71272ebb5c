//! `fkapi`: serve the API, migrate, seed demo data, and operate the cache.

use anyhow::Context;
use clap::{Parser, Subcommand};
use fkapi_api::{config::Settings, invalidation, openapi, AppState};
use std::net::TcpListener;

mod feed_cli;
mod stats;

#[derive(Parser)]
#[command(name = "fkapi", version, about = "Football-kit catalogue API with a Redis cache that is never wrong")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (and Swagger UI at /swagger-ui/).
    Serve,
    /// Create the database if needed and apply pending migrations.
    Migrate,
    /// Write the deterministic demo catalogue (idempotent).
    Seed {
        /// small (200 clubs, 5,000 kits), medium (2,000 / 50,000) or large (10,000 / 500,000).
        #[arg(long, default_value = "medium")]
        scale: String,
        /// Do nothing when the database already has kits.
        #[arg(long)]
        if_empty: bool,
    },
    /// Invalidate a cache scope: all, club <id>, kit <id>, season <id>,
    /// brand <id>, competition <id>, or a table (clubs, kits, …).
    Invalidate { scope: String, id: Option<i32> },
    /// Fill the cache through the API's own handlers: busiest clubs, newest
    /// kits, most searched keywords.
    WarmCache {
        /// Seasons lists of the top clubs.
        #[arg(long)]
        seasons: bool,
        /// Details and kit lists of the N clubs with most kits.
        #[arg(long, value_name = "N")]
        clubs: Option<i64>,
        /// Details of the N most recently updated kits.
        #[arg(long, value_name = "N")]
        kits: Option<i64>,
        /// The most searched keywords (a built-in list when none is recorded).
        #[arg(long)]
        search: bool,
        /// All of the above (50 clubs, 1,000 kits).
        #[arg(long)]
        all: bool,
        /// Loads in flight at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// Hit rate and Redis memory of a running server (FKAPI_URL, with FKAPI_ADMIN_KEY).
    CacheStats {
        /// Redraw every --interval seconds, showing the rate over the last interval.
        #[arg(long)]
        watch: bool,
        #[arg(long, default_value_t = 5)]
        interval: u64,
        /// Print JSON (one document per interval with --watch).
        #[arg(long)]
        json: bool,
    },
    /// Print the OpenAPI document (as committed in openapi/openapi.json).
    Openapi,
    /// The change feed of this cache namespace (FKAPI_CACHE_NAMESPACE).
    Feed {
        #[command(subcommand)]
        command: feed_cli::FeedCommand,
    },
}

fn main() -> anyhow::Result<()> {
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    let settings = Settings::from_env()?;
    fkapi_api::init_tracing(settings.log_json);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        Command::Serve => runtime.block_on(serve(settings)),
        Command::Migrate => runtime.block_on(async {
            let applied = fkapi_api::migrate(&settings.database_url.0).await?;
            println!(
                "migrations applied: {}",
                if applied.is_empty() { "none pending".to_string() } else { applied.join(", ") }
            );
            Ok(())
        }),
        Command::Seed { scale, if_empty } => runtime.block_on(seed(settings, &scale, if_empty)),
        Command::Invalidate { scope, id } => runtime.block_on(invalidate(settings, &scope, id)),
        Command::WarmCache { seasons, clubs, kits, search, all, concurrency } => {
            let options =
                fkapi_api::warm::WarmOptions { seasons, clubs, kits, search, all, concurrency: Some(concurrency) };
            runtime.block_on(warm_cache(settings, options))
        }
        Command::CacheStats { watch, interval, json } => runtime.block_on(stats::show(settings, watch, interval, json)),
        Command::Feed { command } => runtime.block_on(feed_cli::run(settings, command)),
        Command::Openapi => {
            print!("{}", openapi::pretty_json()?);
            Ok(())
        }
    }
}

/// How long `serve` waits for the change feed before it starts answering.
const STARTUP_FEED_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let state = AppState::new(&settings)?;
    fkapi_api::check_redis_memory(state.cache()).await;
    let mut background = fkapi_api::spawn_background(&state, &settings)?;
    // Apply what changed while no instance ran before answering (bounded:
    // with PostgreSQL or Redis down, serve anyway, failing open).
    let caught_up = tokio::time::timeout(STARTUP_FEED_WAIT, background.ready.wait_for(|ready| *ready))
        .await
        .is_ok_and(|r| r.is_ok());
    if !caught_up {
        tracing::warn!("the change feed has not caught up after {STARTUP_FEED_WAIT:?}; serving anyway");
    }
    let listener = TcpListener::bind(&settings.bind).with_context(|| format!("binding {}", settings.bind))?;
    tracing::info!(address = %settings.bind, "serving; Swagger UI at /swagger-ui/");
    let served = fkapi_api::serve(listener, state, settings.workers)?.await;
    background.shutdown().await;
    Ok(served?)
}

async fn seed(settings: Settings, scale: &str, if_empty: bool) -> anyhow::Result<()> {
    use diesel_async::{AsyncConnection, AsyncPgConnection};
    let scale: fkapi_seed::Scale = scale.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut conn =
        AsyncPgConnection::establish(&settings.database_url.0).await.context("connecting to the database")?;
    if if_empty && fkapi_seed::has_kits(&mut conn).await? {
        println!("database already has kits; not seeding (drop --if-empty to top it up)");
        return Ok(());
    }
    let report = fkapi_seed::seed(&mut conn, scale).await?;
    println!(
        "seeded {scale:?}: {} clubs, {} seasons, {} brands, {} competitions, {} kits ({} new) in {:.1}s",
        report.clubs,
        report.seasons,
        report.brands,
        report.competitions,
        report.kits,
        report.inserted_kits,
        report.elapsed.as_secs_f64()
    );
    Ok(())
}

async fn warm_cache(settings: Settings, options: fkapi_api::warm::WarmOptions) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    options.validate().map_err(anyhow::Error::msg)?;
    let state = AppState::new(&settings)?;
    anyhow::ensure!(state.cache().ping().await, "Redis is not reachable at the configured REDIS_URL; nothing to warm");
    let bar =
        if std::io::stderr().is_terminal() { indicatif::ProgressBar::new(0) } else { indicatif::ProgressBar::hidden() };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} warming [{bar:40}] {pos}/{len} entries {per_sec} eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let report =
        fkapi_api::warm::warm(&state.ctx, &options, |total| bar.set_length(total as u64), || bar.inc(1)).await?;
    bar.finish_and_clear();
    println!(
        "warmed {} entries, skipped {} already cached, {} failed, in {:.1}s",
        report.warmed,
        report.skipped,
        report.failed,
        report.elapsed_ms as f64 / 1000.0
    );
    for failure in &report.failures {
        println!("  failed: {failure}");
    }
    anyhow::ensure!(report.failed == 0, "{} entries could not be warmed", report.failed);
    Ok(())
}

async fn invalidate(settings: Settings, scope: &str, id: Option<i32>) -> anyhow::Result<()> {
    let state = AppState::new(&settings)?;
    let done = invalidation::by_operator(&state.ctx, scope, id).await?;
    anyhow::ensure!(done.reached_redis, "could not reach Redis; nothing was invalidated");
    println!("invalidated: {}", done.scopes.join(", "));
    Ok(())
}
