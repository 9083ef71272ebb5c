//! Counts the statements each request sends to PostgreSQL, for
//! `fkapi_http_db_queries_total` and the `avg_queries` of `GET /api/metrics`.
//!
//! diesel's instrumentation, installed as the default of every connection
//! the process opens, adds one per statement to the current request's
//! origin account ([`fkapi_cache::origin`]), which follows the request into
//! the cache loads it leads in their own tasks. Every statement counts: the
//! queries, `BEGIN`/`COMMIT` of a transaction, and the `SELECT 1` with which
//! the pool checks a connection it hands out. A request answered from the
//! cache sends none.

use diesel::connection::{Instrumentation, InstrumentationEvent};

struct CountStatements;

impl Instrumentation for CountStatements {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::StartQuery { .. } = event {
            fkapi_cache::origin::record();
        }
    }
}

fn counting() -> Option<Box<dyn Instrumentation>> {
    Some(Box::new(CountStatements))
}

/// Makes every connection opened from now on count its statements.
pub fn install() -> anyhow::Result<()> {
    diesel::connection::set_default_instrumentation(counting)
        .map_err(|e| anyhow::anyhow!("installing the database statement counter: {e}"))
}
