//! Database access for fkapi: the diesel schema, the async connection pool
//! and the embedded migrations. Domain crates own their queries (and
//! crates/seed the demo data); this crate owns how we reach PostgreSQL.

pub mod schema;

use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::{Object, Pool, PoolError};
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::time::Duration;

pub use diesel_async::AsyncPgConnection as PgConn;

/// The migrations under `migrations/`, compiled into the binary so a deploy
/// needs nothing but the executable.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

pub type PgPool = Pool<AsyncPgConnection>;
pub type PooledConn = Object<AsyncPgConnection>;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The pool, the connection or the server failed; the cause is kept
    /// as the error's source, for the log.
    #[error("database unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("invalid database url: {0}")]
    InvalidUrl(String),
}

impl From<PoolError> for DbError {
    fn from(err: PoolError) -> Self {
        DbError::Unavailable(Box::new(err))
    }
}

impl DbError {
    /// True when the row asked for does not exist (so callers answer 404).
    pub fn is_not_found(&self) -> bool {
        matches!(self, DbError::Query(diesel::result::Error::NotFound))
    }
}

/// The application name the API's pool connects with. The change triggers
/// do not notify changes made under it: the API invalidates its own writes
/// before answering, and a second invalidation would only cost a hit.
pub const API_APPLICATION_NAME: &str = "fkapi";

/// `database_url` with `application_name=fkapi` (unless it names one).
fn tagged(database_url: &str) -> String {
    match url::Url::parse(database_url) {
        Ok(mut url) if !url.query_pairs().any(|(k, _)| k == "application_name") => {
            url.query_pairs_mut().append_pair("application_name", API_APPLICATION_NAME);
            url.to_string()
        }
        _ => database_url.to_string(),
    }
}

/// Builds the pool; connections are opened lazily, so this succeeds even when
/// the database is down (requests then get 503, and the health check says so).
pub fn build_pool(database_url: &str, max_size: usize, timeout: Duration) -> Result<PgPool, DbError> {
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(tagged(database_url));
    Pool::builder(manager)
        .max_size(max_size)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| DbError::Unavailable(Box::new(e)))
}

/// Takes a pooled connection, mapping pool exhaustion and a down database to
/// [`DbError::Unavailable`].
pub async fn conn(pool: &PgPool) -> Result<PooledConn, DbError> {
    Ok(pool.get().await?)
}

/// Creates the database named in `database_url` when it does not exist yet,
/// connecting to the `postgres` maintenance database to do so.
pub async fn create_database_if_missing(database_url: &str) -> Result<bool, DbError> {
    let mut url = url::Url::parse(database_url).map_err(|e| DbError::InvalidUrl(e.to_string()))?;
    let name = url.path().trim_start_matches('/').to_string();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(DbError::InvalidUrl(format!("database name {name:?} must be [A-Za-z0-9_]+")));
    }
    url.set_path("/postgres");
    let mut admin = AsyncPgConnection::establish(url.as_str()).await.map_err(|e| DbError::Unavailable(Box::new(e)))?;
    let exists: i64 = diesel::sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
        .bind::<diesel::sql_types::Text, _>(&name)
        .get_result::<Count>(&mut admin)
        .await?
        .n;
    if exists > 0 {
        return Ok(false);
    }
    diesel::sql_query(format!("CREATE DATABASE \"{name}\"")).execute(&mut admin).await?;
    Ok(true)
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Runs every pending migration and returns the names of those applied.
pub async fn run_migrations(database_url: &str) -> Result<Vec<String>, DbError> {
    let url = database_url.to_string();
    tokio::task::spawn_blocking(move || {
        let mut conn = <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(&url)
            .map_err(|e| DbError::Unavailable(Box::new(e)))?;
        let applied = conn.run_pending_migrations(MIGRATIONS).map_err(|e| DbError::Migration(e.to_string()))?;
        Ok(applied.iter().map(|m| m.to_string()).collect())
    })
    .await
    .map_err(|e| DbError::Migration(e.to_string()))?
}

/// Reverts every applied migration (used by the test that checks each
/// migration reverses cleanly).
pub async fn revert_all_migrations(database_url: &str) -> Result<usize, DbError> {
    let url = database_url.to_string();
    tokio::task::spawn_blocking(move || {
        let mut conn = <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(&url)
            .map_err(|e| DbError::Unavailable(Box::new(e)))?;
        let reverted = conn.revert_all_migrations(MIGRATIONS).map_err(|e| DbError::Migration(e.to_string()))?;
        Ok(reverted.len())
    })
    .await
    .map_err(|e| DbError::Migration(e.to_string()))?
}
