//! Cache warming: decides which entries are worth filling (busiest clubs,
//! newest kits, most searched keywords) and fills them by calling the very
//! handlers the API serves, in-process, so a warmed entry has the same key
//! and bytes as one filled by a client request.

use crate::app::{self, AppState};
use actix_web::dev::Service;
use actix_web::{test, web, App};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use fkapi_db::schema::kits;
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

/// Built-in keywords for `--search` when nobody has searched yet.
const DEFAULT_KEYWORDS: &[(&str, &[&str])] = &[
    ("clubs", &["arsenal", "manchester", "real", "barcelona", "bayern", "juventus", "liverpool", "milan"]),
    ("brands", &["adidas", "nike", "puma", "umbro", "kappa"]),
    ("competitions", &["premier league", "champions league", "la liga", "serie a", "bundesliga"]),
    ("seasons", &["2025", "2024", "2023", "2022"]),
    ("kits", &["arsenal 2005", "home", "away", "barcelona", "real madrid"]),
];

impl WarmOptions {
    /// Checks the options before any work starts.
    pub fn validate(&self) -> Result<(), String> {
        self.normalised().map(|_| ())
    }

    fn normalised(&self) -> Result<(bool, Option<i64>, Option<i64>, bool), String> {
        let clubs = self.clubs.or((self.all || self.seasons).then_some(DEFAULT_CLUBS));
        let kits = self.kits.or(self.all.then_some(DEFAULT_KITS));
        for (name, value) in [("clubs", clubs), ("kits", kits)] {
            if value.is_some_and(|n| !(1..=MAX_TARGETS).contains(&n)) {
                return Err(format!("{name} must be between 1 and {MAX_TARGETS}"));
            }
        }
        let seasons = self.seasons || self.all;
        let search = self.search || self.all;
        if !seasons && !search && clubs.is_none() && kits.is_none() {
            return Err("nothing to warm: choose seasons, clubs, kits, search or all".into());
        }
        Ok((seasons, clubs, kits, search))
    }
}

/// The request paths to fill, in order.
pub async fn plan(state: &AppState, options: &WarmOptions) -> anyhow::Result<Vec<String>> {
    let (seasons, clubs, kits_count, search) = options.normalised().map_err(anyhow::Error::msg)?;
    let mut conn = fkapi_db::conn(&state.ctx.db).await?;
    let mut paths = Vec::new();
    if let Some(limit) = clubs {
        let busiest: Vec<i32> = kits::table
            .group_by(kits::team_id)
            .select(kits::team_id)
            .order((diesel::dsl::count_star().desc(), kits::team_id))
            .limit(limit)
            .load(&mut conn)
            .await?;
        for club in &busiest {
            if clubs.is_some() && (options.clubs.is_some() || options.all) {
                paths.push(format!("/api/clubs/{club}"));
                paths.push(format!("/api/clubs/{club}/kits"));
                paths.push(format!("/api/kits?club_id={club}"));
            }
            if seasons {
                paths.push(format!("/api/seasons?id={club}"));
            }
        }
    }
    if let Some(limit) = kits_count {
        let newest: Vec<i32> = kits::table
            .select(kits::id)
            .order((kits::last_updated.desc(), kits::id.desc()))
            .limit(limit)
            .load(&mut conn)
            .await?;
        paths.extend(newest.iter().map(|id| format!("/api/kit-json/{id}")));
    }
    if search {
        for (kind, defaults) in DEFAULT_KEYWORDS {
            let mut keywords = state.cache().top_popular(&format!("search_{kind}"), 20).await;
            if keywords.is_empty() {
                keywords = defaults.iter().map(ToString::to_string).collect();
            }
            for keyword in keywords {
                let encoded: String = url_encode(&keyword);
                paths.push(format!("/api/{kind}/search?keyword={encoded}"));
            }
        }
    }
    Ok(paths)
}

fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Fills every path through the app's own handlers, `concurrency` at a
/// time. `progress` is called after each one.
pub async fn run(state: &AppState, paths: Vec<String>, concurrency: usize, progress: impl Fn()) -> WarmReport {
    let started = Instant::now();
    let (path_cfg, query_cfg, json_cfg) = fkapi_web::extractor_configs();
    let service = test::init_service(
        App::new()
            .app_data(state.ctx.clone())
            .app_data(web::Data::new(state.clone()))
            .app_data(path_cfg)
            .app_data(query_cfg)
            .app_data(json_cfg)
            .configure(app::routes),
    )
    .await;
    let service = &service;
    let mut report = WarmReport::default();
    let mut outcomes = futures::stream::iter(paths)
        .map(|path| async move {
            let request = test::TestRequest::get().uri(&path).to_request();
            let outcome = match service.call(request).await {
                Ok(response) if response.status().is_success() => {
                    let cache = response.headers().get("x-cache").and_then(|v| v.to_str().ok()).unwrap_or("");
                    match cache {
                        "HIT" | "STALE" => Ok(false),
                        "MISS" => Ok(true),
                        other => Err(format!("served without the cache ({other}): is Redis up?")),
                    }
                }
                Ok(response) => Err(format!("HTTP {}", response.status())),
                Err(e) => Err(e.to_string()),
            };
            (path, outcome)
        })
        .buffer_unordered(concurrency.clamp(1, 64));
    while let Some((path, outcome)) = outcomes.next().await {
        match outcome {
            Ok(true) => report.warmed += 1,
            Ok(false) => report.skipped += 1,
            Err(reason) => {
                report.failed += 1;
                if report.failures.len() < 10 {
                    report.failures.push(format!("{path}: {reason}"));
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
    state: &AppState,
    options: &WarmOptions,
    planned: impl FnOnce(usize),
    done: impl Fn(),
) -> anyhow::Result<WarmReport> {
    let paths = plan(state, options).await?;
    planned(paths.len());
    Ok(run(state, paths, options.concurrency.unwrap_or(8), done).await)
}
