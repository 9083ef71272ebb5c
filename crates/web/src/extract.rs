use crate::{ApiError, AppContext};
use actix_web::dev::Payload;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::{web, FromRequest, HttpRequest};
use futures::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use validator::Validate;

pub const MAX_PAGE_SIZE: i64 = 100;
/// Write bodies larger than this get 413.
const MAX_JSON_BYTES: usize = 64 * 1024;

/// Extractor settings for the whole app: malformed path, query or body
/// input becomes a `{"detail"}` 400/413/422 instead of a plain-text error.
pub fn extractor_configs() -> (web::PathConfig, web::QueryConfig, web::JsonConfig) {
    let path = web::PathConfig::default().error_handler(|err, _| {
        let detail = match &err {
            PathError::Deserialize(e) => format!("invalid path parameter: {e}"),
            _ => "invalid path parameter".to_string(),
        };
        ApiError::BadRequest(detail).into()
    });
    let query = web::QueryConfig::default().error_handler(|err, _| {
        let detail = match &err {
            QueryPayloadError::Deserialize(e) => format!("invalid query parameter: {e}"),
            _ => "invalid query string".to_string(),
        };
        ApiError::BadRequest(detail).into()
    });
    let json = web::JsonConfig::default().limit(MAX_JSON_BYTES).error_handler(|err, _| {
        match &err {
            JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
                ApiError::PayloadTooLarge(format!("request body larger than {MAX_JSON_BYTES} bytes"))
            }
            JsonPayloadError::ContentType => ApiError::BadRequest("Content-Type must be application/json".into()),
            JsonPayloadError::Deserialize(e) if e.is_syntax() || e.is_eof() => {
                ApiError::BadRequest(format!("malformed JSON: {e}"))
            }
            JsonPayloadError::Deserialize(e) => ApiError::Unprocessable(format!("invalid body: {e}")),
            other => ApiError::BadRequest(format!("unreadable body: {other}")),
        }
        .into()
    });
    (path, query, json)
}

/// `page` (from 1) and `page_size` (1..=100, default 20), as FKApi has them.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Pagination {
    /// Page number, 1 to 1000000.
    #[param(minimum = 1, maximum = 1000000, example = 1)]
    pub page: Option<i64>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, example = 20)]
    pub page_size: Option<i64>,
}

impl Pagination {
    /// `(page, page_size)` after checking the bounds.
    pub fn resolve(self) -> Result<(i64, i64), ApiError> {
        let page = self.page.unwrap_or(1);
        let page_size = self.page_size.unwrap_or(20);
        if !(1..=1_000_000).contains(&page) {
            return Err(ApiError::BadRequest("page must be between 1 and 1000000".into()));
        }
        if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
            return Err(ApiError::BadRequest(format!("page_size must be between 1 and {MAX_PAGE_SIZE}")));
        }
        Ok((page, page_size))
    }
}

/// FKApi's `pagination` object, as Django's `Paginator.get_page` fills it:
/// at least one page even when empty, and a page past the last one serves
/// the last page (so `current_page` is the page actually served).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PageLinks {
    #[schema(example = 1)]
    pub current_page: i64,
    #[schema(example = 3)]
    pub total_pages: i64,
    #[schema(example = 42)]
    pub total_count: i64,
    pub has_next: bool,
    pub has_previous: bool,
    #[schema(example = 2)]
    pub next_page: Option<i64>,
    pub previous_page: Option<i64>,
}

impl PageLinks {
    /// The page served for `requested` (already checked by [`Pagination::resolve`]).
    pub fn new(requested: i64, page_size: i64, total_count: i64) -> PageLinks {
        let total_pages = ((total_count + page_size - 1) / page_size).max(1);
        let current_page = requested.clamp(1, total_pages);
        let has_next = current_page < total_pages;
        let has_previous = current_page > 1;
        PageLinks {
            current_page,
            total_pages,
            total_count,
            has_next,
            has_previous,
            next_page: has_next.then_some(current_page + 1),
            previous_page: has_previous.then_some(current_page - 1),
        }
    }

    /// Rows to skip for the page served.
    pub fn offset(&self, page_size: i64) -> i64 {
        (self.current_page - 1) * page_size
    }
}

/// A JSON body for the write routes. Limits, Content-Type and syntax are
/// checked as for `web::Json` (400/413); then, since PostgreSQL refuses NUL
/// in text, any string or key holding U+0000 is a 422 rather than a failed
/// statement; then the body is read into `T` (422 on a wrong type, a value
/// out of range or an unknown field).
pub struct JsonBody<T>(pub T);

impl<T> JsonBody<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = web::Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move {
            let value = json.await?.into_inner();
            if contains_nul(&value) {
                return Err(ApiError::Unprocessable("invalid body: text must not contain NUL characters".into()).into());
            }
            let body = serde_json::from_value::<T>(value)
                .map_err(|e| ApiError::Unprocessable(format!("invalid body: {e}")))?;
            Ok(JsonBody(body))
        })
    }
}

/// Whether any string or object key in `value` holds U+0000. Depth is
/// bounded by the JSON parser's recursion limit.
fn contains_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => text.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(contains_nul),
        serde_json::Value::Object(fields) => fields.iter().any(|(key, item)| key.contains('\0') || contains_nul(item)),
        _ => false,
    }
}

/// A JSON body ([`JsonBody`]) that has also passed its `validator` rules
/// (422 otherwise).
pub struct ValidatedJson<T>(pub T);

impl<T: DeserializeOwned + Validate + 'static> FromRequest for ValidatedJson<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = JsonBody::<T>::from_request(req, payload);
        Box::pin(async move {
            let body = json.await?.into_inner();
            body.validate().map_err(|errors| ApiError::Unprocessable(describe_validation(&errors)))?;
            Ok(ValidatedJson(body))
        })
    }
}

/// `name: length must be 1 to 200; country: …`, fields in a stable order.
fn describe_validation(errors: &validator::ValidationErrors) -> String {
    let mut parts: Vec<String> = errors
        .field_errors()
        .iter()
        .map(|(field, errs)| {
            let reasons: Vec<String> =
                errs.iter().map(|e| e.message.as_ref().map_or_else(|| e.code.to_string(), |m| m.to_string())).collect();
            format!("{field}: {}", reasons.join(", "))
        })
        .collect();
    parts.sort();
    format!("invalid body: {}", parts.join("; "))
}

/// Proof that the request carried the admin key in `X-API-Key`.
pub struct AdminKey;

impl FromRequest for AdminKey {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(check_admin(req).map(|()| AdminKey).map_err(Into::into))
    }
}

fn check_admin(req: &HttpRequest) -> Result<(), ApiError> {
    let ctx = req
        .app_data::<web::Data<AppContext>>()
        .ok_or_else(|| ApiError::Internal(crate::Cause::msg("application context missing")))?;
    let Some(expected) = ctx.admin_key.as_deref() else {
        return Err(ApiError::Forbidden("write routes are disabled: FKAPI_ADMIN_KEY is not set on the server".into()));
    };
    let given = req.headers().get("x-api-key").map(|v| v.as_bytes()).unwrap_or_default();
    if given.is_empty() {
        return Err(ApiError::Unauthorized("missing X-API-Key header".into()));
    }
    if bool::from(given.ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized("invalid API key".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::{contains_nul, PageLinks};
    use serde_json::json;

    #[test]
    fn pages_follow_djangos_get_page() {
        let empty = PageLinks::new(1, 20, 0);
        assert_eq!((empty.total_pages, empty.current_page, empty.has_next, empty.has_previous), (1, 1, false, false));
        let middle = PageLinks::new(2, 20, 41);
        assert_eq!((middle.total_pages, middle.next_page, middle.previous_page), (3, Some(3), Some(1)));
        assert_eq!(middle.offset(20), 20);
        let past_the_end = PageLinks::new(9, 20, 41);
        assert_eq!((past_the_end.current_page, past_the_end.next_page, past_the_end.offset(20)), (3, None, 40));
        assert_eq!(PageLinks::new(5, 20, 0).current_page, 1);
    }

    #[test]
    fn nul_is_found_in_any_string_or_key() {
        assert!(!contains_nul(&json!({"name": "Arsenal", "ids": [1, 2], "logo": null, "x": {"y": "\\u0000"}})));
        assert!(contains_nul(&json!("a\u{0}b")));
        assert!(contains_nul(&json!({"name": ["ok", {"deep": "\u{0}"}]})));
        assert!(contains_nul(&json!({"na\u{0}me": 1})));
    }
}
