//! The HTTP contract every domain crate shares: one error type mapped to
//! status codes and `{"detail": …}` bodies in one place, extractor settings
//! that turn malformed input into 400/422 instead of actix's plain text,
//! pagination bounds and FKApi's pagination object, query parameters
//! checked against what each route accepts, the seeded shuffle of the
//! random listings, the admin-key guard, the one slug rule, and the
//! writer that sends a cached body as stored (with X-Cache, ETag/304 and
//! Cache-Control).

pub mod admin;
mod doc;
mod error;
mod extract;
mod query;
mod respond;
mod shuffle;
mod slug;

pub use doc::document_extractor_errors;
pub use error::{ApiError, Cause, ErrorBody};
pub use extract::{extractor_configs, AdminKey, JsonBody, PageLinks, Pagination, ValidatedJson, MAX_PAGE_SIZE};
pub use query::{param_names, QueryPairs};
pub use respond::{cached_response, count_when_reused, json_bytes, Reusable, Visibility};
pub use shuffle::{shuffled_order, ShuffleQuery, MAX_SEED};
pub use slug::{is_slug, slugify, validate_slug};

use fkapi_cache::Cache;
use fkapi_db::PgPool;

/// What every handler needs, shared through `web::Data<AppContext>`.
/// Cheap to clone (the pool and the cache are handles).
#[derive(Clone)]
pub struct AppContext {
    pub db: PgPool,
    pub cache: Cache,
    /// `None` disables the write routes (403), rather than leaving them open.
    pub admin_key: Option<String>,
}

impl std::fmt::Debug for AppContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppContext")
            .field("admin_key", &self.admin_key.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// A warm target that fills one entry by calling the same cached function
/// the route calls, so its key and bytes are those of a client request.
pub fn warm_target(
    label: String,
    fill: impl std::future::Future<Output = Result<fkapi_cache::Cached, ApiError>> + Send + 'static,
) -> fkapi_cache::WarmTarget {
    fkapi_cache::WarmTarget {
        label,
        fill: Box::pin(async move { fill.await.map(|cached| cached.status).map_err(|e| e.to_string()) }),
    }
}

/// `validator` adapter for ISO 3166 alpha-2 country codes (upper case).
pub fn validate_country(value: &str) -> Result<(), validator::ValidationError> {
    if value.len() == 2 && value.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(validator::ValidationError::new("country")
            .with_message("must be an ISO 3166 alpha-2 code such as GB".into()))
    }
}

/// Treats an explicit JSON `null` as "set to null" and an absent field as
/// "leave as is", for PATCH bodies.
pub fn double_option<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
}
