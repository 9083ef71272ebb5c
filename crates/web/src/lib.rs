//! The HTTP contract every domain crate shares: one error type mapped to
//! status codes and `{"detail": …}` bodies in one place, extractor settings
//! that turn malformed input into 400/422 instead of actix's plain text,
//! pagination bounds and FKApi's pagination object, query parameters
//! checked against what each route accepts, the seeded shuffle of the
//! random listings, the admin-key guard, and the
//! writer that sends a cached body as stored (with X-Cache, ETag/304 and
//! Cache-Control).

pub mod admin;
mod doc;
mod error;
mod extract;
mod query;
mod respond;
mod shuffle;

pub use doc::document_extractor_errors;
pub use error::{ApiError, ErrorBody};
pub use extract::{extractor_configs, AdminKey, JsonBody, PageLinks, Pagination, ValidatedJson, MAX_PAGE_SIZE};
pub use query::{param_names, QueryPairs};
pub use respond::{cached_response, json_bytes, Visibility};
pub use shuffle::{shuffled_order, ShuffleQuery, MAX_SEED};

use fkapi_cache::Cache;
use fkapi_db::PgPool;

/// What every handler needs, shared through `web::Data<AppContext>`.
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

/// A URL slug from a display name: lowercase ASCII words joined by `-`,
/// accents folded ("Málaga CF" → "malaga-cf").
pub fn slugify(name: &str) -> String {
    let mut slug = String::with_capacity(name.len());
    for c in name.chars() {
        let folded = fold_accent(c);
        if folded.is_ascii_alphanumeric() {
            slug.push(folded.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    while slug.ends_with('-') {
        slug.pop();
    }
    slug
}

fn fold_accent(c: char) -> char {
    match c {
        'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' | 'Á' | 'À' | 'Â' | 'Ä' | 'Ã' | 'Å' => 'a',
        'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => 'e',
        'í' | 'ì' | 'î' | 'ï' | 'Í' | 'Ì' | 'Î' | 'Ï' => 'i',
        'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'ø' | 'Ó' | 'Ò' | 'Ô' | 'Ö' | 'Õ' | 'Ø' => 'o',
        'ú' | 'ù' | 'û' | 'ü' | 'Ú' | 'Ù' | 'Û' | 'Ü' => 'u',
        'ç' | 'Ç' => 'c',
        'ñ' | 'Ñ' => 'n',
        'ß' => 's',
        other => other,
    }
}

/// Slug rule shared by every write body (matches the database CHECK).
pub fn is_slug(value: &str) -> bool {
    !value.is_empty()
        && !value.starts_with('-')
        && !value.ends_with('-')
        && !value.contains("--")
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `validator` adapter for [`is_slug`].
pub fn validate_slug(value: &str) -> Result<(), validator::ValidationError> {
    if is_slug(value) {
        Ok(())
    } else {
        Err(validator::ValidationError::new("slug")
            .with_message("must be lowercase words of a-z and 0-9 joined by single dashes".into()))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugify_folds_accents_and_punctuation() {
        assert_eq!(slugify("Málaga CF"), "malaga-cf");
        assert_eq!(slugify("  Bayern München -- 2005/06 "), "bayern-munchen-2005-06");
        assert!(is_slug(&slugify("São Paulo FC")));
        assert!(!is_slug("Bad Slug") && !is_slug("a--b") && !is_slug("-a"));
    }
}
