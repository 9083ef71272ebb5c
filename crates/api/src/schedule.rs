//! Scheduled warming inside `fkapi serve` (FKAPI_WARM_SCHEDULE, a cron
//! expression). With several instances on one Redis, each tick is claimed
//! with SET NX, so exactly one instance warms.

use crate::state::AppState;
use crate::warm::{self, WarmOptions};
use chrono::Utc;
use croner::Cron;
use std::time::Duration;

/// Parses a cron expression: 5 fields ("0 2 * * *"), or 6 with seconds first.
pub fn parse(expression: &str) -> Result<Cron, String> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .build()
        .parse(expression)
        .map_err(|e| format!("invalid cron expression {expression:?}: {e}"))
}

/// Runs forever on its own thread: warming builds the app in-process,
/// which is not `Send`, so it gets a single-threaded runtime of its own.
pub fn spawn(state: AppState, cron: Cron) {
    let spawned = std::thread::Builder::new().name("fkapi-warm-schedule".into()).spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(e) => {
                tracing::error!(error = %e, "could not start the warm scheduler");
                return;
            }
        };
        let local = tokio::task::LocalSet::new();
        local.block_on(&runtime, run(state, cron));
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start the warm scheduler");
    }
}

async fn run(state: AppState, cron: Cron) {
    loop {
        let now = Utc::now();
        let Ok(next) = cron.find_next_occurrence(&now, false) else {
            tracing::warn!("warm schedule has no next occurrence; stopping it");
            return;
        };
        let wait = (next - now).to_std().unwrap_or(Duration::ZERO);
        tokio::time::sleep(wait).await;
        let tick = format!("warm-lock:{}", next.timestamp());
        if !state.cache().try_claim(&tick, Duration::from_secs(3600)).await {
            tracing::info!(%next, "scheduled warm-up claimed by another instance (or redis is down); skipping");
            continue;
        }
        let options = WarmOptions { all: true, ..WarmOptions::default() };
        match warm::warm(&state.ctx, &options, |_| {}, || {}).await {
            Ok(report) => tracing::info!(
                warmed = report.warmed,
                skipped = report.skipped,
                failed = report.failed,
                elapsed_ms = report.elapsed_ms as u64,
                "scheduled warm-up done"
            ),
            Err(e) => tracing::warn!(error = %e, "scheduled warm-up failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_field_expressions_parse_and_garbage_does_not() {
        assert!(parse("0 2 * * *").is_ok());
        assert!(parse("*/5 * * * *").is_ok());
        assert!(parse("*/2 * * * * *").is_ok(), "seconds are optional");
        assert!(parse("not cron").is_err());
    }
}
