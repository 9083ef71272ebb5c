//! Out-of-band invalidation: listens on the `fkapi_changes` channel that the
//! database triggers notify, and bumps the scopes of every changed row, so
//! a write made with psql or by another service shows within a second.

use crate::invalidation;
use fkapi_cache::Cache;
use futures::StreamExt;
use std::time::Duration;
use tokio_postgres::AsyncMessage;

pub const CHANNEL: &str = "fkapi_changes";

/// Runs forever. Each (re)connection first bumps the epoch: changes made
/// while nobody listened cannot be known, so every older entry is dropped.
/// `ready` turns true once the first LISTEN is in place.
pub async fn run(database_url: String, cache: Cache, ready: tokio::sync::watch::Sender<bool>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match listen_once(&database_url, &cache, &ready).await {
            Ok(()) => tracing::warn!("change listener connection closed; reconnecting"),
            Err(e) => tracing::warn!(error = %e, "change listener failed; reconnecting"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn listen_once(
    database_url: &str,
    cache: &Cache,
    ready: &tokio::sync::watch::Sender<bool>,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls).await?;
    let (sender, mut notifications) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(note)) => {
                    if sender.send(note.payload().to_string()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "change listener connection error");
                    break;
                }
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    if !cache.invalidate_all().await {
        tracing::warn!("could not bump the epoch after (re)connecting the change listener");
    }
    ready.send_replace(true);
    tracing::info!(channel = CHANNEL, "listening for out-of-band changes");
    while let Some(payload) = notifications.recv().await {
        apply(cache, &payload).await;
    }
    driver.abort();
    Ok(())
}

async fn apply(cache: &Cache, payload: &str) {
    match invalidation::scopes_for_notification(payload) {
        Ok(None) => {
            cache.invalidate_all().await;
        }
        Ok(Some(scopes)) if scopes.is_empty() => {}
        Ok(Some(scopes)) => {
            cache.invalidate(&scopes).await;
        }
        Err(e) => {
            tracing::warn!(error = %e, "unreadable change notification; invalidating everything");
            cache.invalidate_all().await;
        }
    }
}
