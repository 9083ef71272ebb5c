//! The `slugs` parameter of `GET /api/kits/bulk`: parsed and checked before
//! anything touches the cache.

use crate::cache::KITS_BULK;
use fkapi_cache::CacheKey;
use fkapi_web::{is_slug, ApiError};
use serde::Deserialize;

pub const MIN_BULK_KITS: usize = 2;
pub const MAX_BULK_KITS: usize = 30;
/// `kits.slug` is varchar(300).
const MAX_SLUG_LEN: usize = 300;

/// Query of `GET /api/kits/bulk`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BulkQuery {
    /// 2 to 30 kit slugs separated by commas; each may also be a kit page
    /// URL (its last path segment is used).
    #[param(
        required = true,
        example = "arsenal-2005-06-home-kit,https://www.footballkitarchive.com/chelsea-2005-06-home-kit/"
    )]
    pub slugs: Option<String>,
}

/// `https://www.footballkitarchive.com/arsenal-2005-06-home-kit/?x=1` →
/// `arsenal-2005-06-home-kit`; a bare slug is returned as it is.
fn slug_of(item: &str) -> &str {
    let without_query = item.split(['?', '#']).next().unwrap_or(item);
    without_query.rsplit('/').find(|segment| !segment.is_empty()).unwrap_or(without_query)
}

/// The requested slugs in input order, each once. FKApi's limits apply to
/// the items as sent (blank items dropped): fewer than 2 or more than 30 is
/// a 400, as is any item that is not a slug once its URL is stripped.
pub fn parse_slugs(raw: Option<&str>) -> Result<Vec<String>, ApiError> {
    let raw = raw.ok_or_else(|| ApiError::BadRequest("slugs is required: 2 to 30 comma-separated kit slugs".into()))?;
    let items: Vec<&str> = raw.split(',').map(str::trim).filter(|item| !item.is_empty()).collect();
    if items.len() < MIN_BULK_KITS {
        return Err(ApiError::BadRequest(format!("Minimum {MIN_BULK_KITS} kits required")));
    }
    if items.len() > MAX_BULK_KITS {
        return Err(ApiError::BadRequest(format!("Maximum {MAX_BULK_KITS} kits allowed")));
    }
    let mut slugs: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let slug = slug_of(item);
        if slug.len() > MAX_SLUG_LEN {
            return Err(ApiError::BadRequest(format!("a slug is at most {MAX_SLUG_LEN} characters")));
        }
        if !is_slug(slug) {
            let shown: String = slug.chars().take(80).collect();
            return Err(ApiError::BadRequest(format!(
                "invalid slug {shown:?}: expected lowercase words of a-z and 0-9 joined by dashes"
            )));
        }
        if !slugs.iter().any(|s| s == slug) {
            slugs.push(slug.to_string());
        }
    }
    Ok(slugs)
}

/// FKApi's key of a bulk read (over 200 characters it becomes an md5).
pub fn bulk_key(slugs: &[String]) -> CacheKey {
    KITS_BULK.key(&[&slugs.join(",")], &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(result: Result<Vec<String>, ApiError>) -> String {
        match result {
            Err(ApiError::BadRequest(detail)) => detail,
            other => panic!("expected 400, got {other:?}"),
        }
    }

    #[test]
    fn urls_become_their_last_path_segment() {
        assert_eq!(slug_of("https://www.footballkitarchive.com/arsenal-2005-06-home-kit/"), "arsenal-2005-06-home-kit");
        assert_eq!(slug_of("https://www.footballkitarchive.com/arsenal-2005-06-home-kit"), "arsenal-2005-06-home-kit");
        assert_eq!(slug_of("footballkitarchive.com/a/b-c//?ref=x#top"), "b-c");
        assert_eq!(slug_of("plain-slug"), "plain-slug");
    }

    #[test]
    fn keeps_input_order_trims_and_deduplicates() {
        let slugs = parse_slugs(Some(" b-kit , a-kit,,https://x.com/b-kit/ , c-kit ")).ok();
        assert_eq!(slugs, Some(vec!["b-kit".to_string(), "a-kit".into(), "c-kit".into()]));
    }

    #[test]
    fn enforces_fkapi_limits() {
        assert!(detail(parse_slugs(None)).starts_with("slugs is required"));
        assert_eq!(detail(parse_slugs(Some(""))), "Minimum 2 kits required");
        assert_eq!(detail(parse_slugs(Some("a-kit, ,"))), "Minimum 2 kits required");
        let thirty: Vec<String> = (0..30).map(|i| format!("kit-{i}")).collect();
        assert_eq!(parse_slugs(Some(&thirty.join(","))).map(|s| s.len()).ok(), Some(30));
        let thirty_one: Vec<String> = (0..31).map(|i| format!("kit-{i}")).collect();
        assert_eq!(detail(parse_slugs(Some(&thirty_one.join(",")))), "Maximum 30 kits allowed");
    }

    #[test]
    fn refuses_non_slugs_and_long_slugs() {
        for bad in
            ["a-kit,Bad Slug", "a-kit,UPPER", "a-kit,a--b", "a-kit,https://www.footballkitarchive.com/", "a-kit,é"]
        {
            assert!(detail(parse_slugs(Some(bad))).starts_with("invalid slug"), "{bad}");
        }
        let long = format!("a-kit,{}", "a".repeat(301));
        assert!(detail(parse_slugs(Some(&long))).contains("at most 300"));
        let limit = format!("a-kit,{}", "a".repeat(300));
        assert!(parse_slugs(Some(&limit)).is_ok());
    }

    #[test]
    fn key_joins_slugs_and_hashes_long_ones() {
        assert_eq!(bulk_key(&["a-kit".into(), "b-kit".into()]).key, "kits_bulk_a-kit,b-kit");
        let many: Vec<String> = (0..30).map(|i| format!("some-long-kit-slug-{i}")).collect();
        let key = bulk_key(&many).key;
        assert_eq!(key.len(), "kits_bulk_".len() + 32);
    }
}
