//! `fkapi feed status | prune`: the change feed seen from outside a server.

use clap::Subcommand;
use fkapi_api::config::Settings;
use fkapi_cache::Cache;
use fkapi_feed::FeedStatus;

#[derive(Subcommand)]
pub enum FeedCommand {
    /// Position, lag and consumer of the namespace, and every namespace
    /// consuming this database.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Prune applied records, and those older than FKAPI_FEED_RETENTION_SECS,
    /// now (`fkapi serve` does it every FKAPI_FEED_PRUNE_SECS; run this from
    /// cron when no instance runs for days).
    Prune,
}

pub async fn run(settings: Settings, command: FeedCommand) -> anyhow::Result<()> {
    match command {
        FeedCommand::Status { json } => {
            let registry = prometheus::Registry::new();
            let cache =
                Cache::new(settings.cache.clone(), settings.redis_url.as_ref().map(|s| s.0.as_str()), &registry)?;
            let status = fkapi_feed::status(&settings.database_url.0, &cache).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print!("{}", render(&status));
            }
        }
        FeedCommand::Prune => {
            let report = fkapi_feed::prune(&settings.database_url.0, settings.feed.retention).await?;
            if report.ran {
                println!(
                    "pruned {} records (below xid {}); forgot {} idle consumers",
                    report.deleted, report.pruned_below, report.forgotten_consumers
                );
            } else {
                println!("another pruner is running; nothing done");
            }
        }
    }
    Ok(())
}

fn render(status: &FeedStatus) -> String {
    let mut out = format!("change feed of cache namespace {:?}\n", status.namespace);
    let position = match (&status.position, &status.position_error) {
        (Some(position), _) => match &position.batch {
            None => format!("applied through snapshot {}", position.applied),
            Some(batch) => format!(
                "applied through snapshot {}; batch to {} done up to xid {} record {}",
                position.applied, batch.target, batch.after_xid, batch.after_id
            ),
        },
        (None, Some(error)) => format!("unusable ({error}); the next consumer bumps the epoch"),
        (None, None) => "none saved; the first consumer bumps the epoch once".into(),
    };
    out.push_str(&format!("position:  {position}\n"));
    let consumer = match &status.consumer {
        Some(owner) if status.lease_left_ms > 0 => format!("{owner} (lease {} ms left)", status.lease_left_ms),
        Some(owner) => format!("none (last: {owner}, lease lapsed)"),
        None => "none".into(),
    };
    out.push_str(&format!("consumer:  {consumer}\n"));
    out.push_str(&format!("lag:       {} records, oldest {:.2} s\n", status.lag_records, status.lag_seconds));
    out.push_str(&format!("table:     {} records; pruned below xid {}\n", status.records, status.pruned_below));
    if !status.consumers.is_empty() {
        out.push_str("\nnamespaces consuming this database:\n");
        for row in &status.consumers {
            out.push_str(&format!(
                "  {:<30} applied below xid {:<12} {:>8.1} s ago by {}\n",
                row.namespace, row.applied_xmin, row.updated_secs_ago, row.owner
            ));
        }
    }
    out
}
