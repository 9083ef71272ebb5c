//! Cache warming: FKApi's options (`--seasons`, `--clubs N`, `--kits N`,
//! `--search`, `--all`) answered by the domains' warm sources, which fill
//! entries through the same cached functions their routes call, so a
//! warmed entry has the same key and bytes as one filled by a request.

use crate::domains::registry;
use fkapi_cache::{CacheStatus, WarmTarget};
use fkapi_web::AppContext;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::time::Instant;
use utoipa::ToSchema;

/// What to warm (FKApi's `warm_cache` options).
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WarmOptions {
    /// Seasons lists of the top clubs.
    #[serde(default)]
    pub seasons: bool,
    /// Details and kit lists of the N clubs with most kits.
    pub clubs: Option<i64>,
    /// Details of the N most recently updated kits.
    pub kits: Option<i64>,
    /// The most searched keywords (or a built-in list when none is recorded).
    #[serde(default)]
    pub search: bool,
    /// Everything above with defaults (50 clubs, 1,000 kits).
    #[serde(default)]
    pub all: bool,
    /// Loads in flight at once (default 8, at most 64).
    pub concurrency: Option<usize>,
}

pub const DEFAULT_CLUBS: i64 = 50;
pub const DEFAULT_KITS: i64 = 1000;
const MAX_TARGETS: i64 = 100_000;

#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct WarmReport {
    /// Entries loaded into the cache now.
    pub warmed: usize,
    /// Entries that were already cached.
    pub skipped: usize,
    pub failed: usize,
    pub elapsed_ms: u128,
    /// The first few failures, as `<path>: <reason>`.
    pub failures: Vec<String>,
}

impl WarmOptions {
    /// Checks the options before any work starts.
    pub fn validate(&self) -> Result<(), String> {
        self.normalised().map(|_| ())
    }

    /// The registry's warm options to run, with their counts: FKApi's
    /// `--seasons` warms the seasons lists of the busiest clubs, `--all`
    /// everything with the defaults.
    fn normalised(&self) -> Result<Vec<(&'static str, Option<i64>)>, String> {
        let clubs = self.clubs.or(self.all.then_some(DEFAULT_CLUBS));
        let kits = self.kits.or(self.all.then_some(DEFAULT_KITS));
        for (name, value) in [("clubs", clubs), ("kits", kits)] {
            if value.is_some_and(|n| !(1..=MAX_TARGETS).contains(&n)) {
                return Err(format!("{name} must be between 1 and {MAX_TARGETS}"));
            }
        }
        let mut chosen = Vec::new();
        if let Some(count) = clubs {
            chosen.push(("clubs", Some(count)));
        }
        if self.seasons || self.all {
            chosen.push(("seasons", Some(self.clubs.unwrap_or(DEFAULT_CLUBS))));
        }
        if let Some(count) = kits {
            chosen.push(("kits", Some(count)));
        }
        if self.search || self.all {
            chosen.push(("search", None));
        }
        if chosen.is_empty() {
            return Err("nothing to warm: choose seasons, clubs, kits, search or all".into());
        }
        Ok(chosen)
    }
}

/// The entries to fill, in order: every domain's answer to each option.
pub async fn plan(ctx: &AppContext, options: &WarmOptions) -> anyhow::Result<Vec<WarmTarget>> {
    let mut targets = Vec::new();
    for (option, count) in options.normalised().map_err(anyhow::Error::msg)? {
        for source in registry().warm_sources(option) {
            targets.extend((source.plan)(ctx, count).await?);
        }
    }
    Ok(targets)
}

/// Fills every target, `concurrency` at a time, through the same cached
/// functions the routes call. `progress` is called after each one.
pub async fn run(targets: Vec<WarmTarget>, concurrency: usize, progress: impl Fn()) -> WarmReport {
    let started = Instant::now();
    let mut report = WarmReport::default();
    let mut outcomes = futures::stream::iter(targets)
        .map(|target| async move {
            let outcome = match target.fill.await {
                Ok(CacheStatus::Miss) => Ok(true),
                Ok(CacheStatus::Hit | CacheStatus::Stale) => Ok(false),
                Ok(CacheStatus::Bypass) => Err("served without the cache (BYPASS): is Redis up?".to_string()),
                Err(reason) => Err(reason),
            };
            (target.label, outcome)
        })
        .buffer_unordered(concurrency.clamp(1, 64));
    while let Some((label, outcome)) = outcomes.next().await {
        match outcome {
            Ok(true) => report.warmed += 1,
            Ok(false) => report.skipped += 1,
            Err(reason) => {
                report.failed += 1;
                if report.failures.len() < 10 {
                    report.failures.push(format!("{label}: {reason}"));
                }
            }
        }
        progress();
    }
    report.elapsed_ms = started.elapsed().as_millis();
    report
}

/// Plans and runs a warm-up; what the CLI, the admin route and the
/// schedule call. `planned` learns the number of entries, `done` ticks.
pub async fn warm(
    ctx: &AppContext,
    options: &WarmOptions,
    planned: impl FnOnce(usize),
    done: impl Fn(),
) -> anyhow::Result<WarmReport> {
    let targets = plan(ctx, options).await?;
    planned(targets.len());
    Ok(run(targets, options.concurrency.unwrap_or(8), done).await)
}
