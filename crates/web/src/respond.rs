use crate::ApiError;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use fkapi_cache::{Cached, LocalAnswer};
use serde::Serialize;
use std::sync::Arc;

/// Put in a response's extensions by [`cached_response`] when the answer
/// came from an L1 entry the next request for the same target may be
/// answered from (public data only); the app's answer-by-target middleware
/// takes it out and remembers the target.
pub struct Reusable {
    pub answer: LocalAnswer,
    /// The popularity count the route made, which an answer by target must
    /// make too (see [`count_when_reused`]).
    pub popular: Option<(&'static str, Arc<str>)>,
}

/// Marks `response` so an answer by target also counts one use of `member`
/// in the popularity list `list`, as the route itself did.
pub fn count_when_reused(response: &mut HttpResponse, list: &'static str, member: &str) {
    if let Some(reusable) = response.extensions_mut().get_mut::<Reusable>() {
        reusable.popular = Some((list, Arc::from(member)));
    }
}

/// Who may store a response: catalogue data is public, user data private.
#[derive(Clone, Copy, Debug)]
pub enum Visibility {
    Public,
    Private,
}

impl Visibility {
    /// Clients may keep the body but must revalidate (a cheap 304) before
    /// reusing it, so no client cache outlives a write either.
    fn cache_control(self) -> HeaderValue {
        match self {
            Visibility::Public => HeaderValue::from_static("public, max-age=0, must-revalidate"),
            Visibility::Private => HeaderValue::from_static("private, max-age=0, must-revalidate"),
        }
    }
}

/// Serialises a response body once, on a miss.
pub fn json_bytes<T: Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    Ok(serde_json::to_vec(value)?)
}

fn accepts_gzip(req: &HttpRequest) -> bool {
    req.headers().get_all(header::ACCEPT_ENCODING).filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let refused =
                parts.any(|p| matches!(p.trim().replace(' ', "").as_str(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        },
    )
}

fn etag_matches(req: &HttpRequest, etag: &str) -> bool {
    let bare = etag.trim_start_matches("W/");
    req.headers().get_all(header::IF_NONE_MATCH).filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |candidate| {
            let candidate = candidate.trim();
            candidate == "*" || candidate.trim_start_matches("W/") == bare
        },
    )
}

/// Sends a cached body as stored: no parse, no re-serialisation. Answers
/// If-None-Match with 304 and passes stored gzip through to clients that
/// accept it.
pub fn cached_response(req: &HttpRequest, cached: &Cached, visibility: Visibility) -> HttpResponse {
    // Static names and values: a `&str` pair would be parsed and copied into
    // a new header on every hit.
    const X_CACHE: HeaderName = HeaderName::from_static("x-cache");
    const ACCEPT_ENCODING: HeaderValue = HeaderValue::from_static("Accept-Encoding");
    const JSON: HeaderValue = HeaderValue::from_static("application/json");
    const GZIP: HeaderValue = HeaderValue::from_static("gzip");
    let etag = HeaderValue::from_str(&cached.etag).ok();
    let not_modified = etag.is_some() && etag_matches(req, &cached.etag);
    let mut response = if not_modified { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response
        .insert_header((X_CACHE, HeaderValue::from_static(cached.status.as_str())))
        .insert_header((header::CACHE_CONTROL, visibility.cache_control()))
        .insert_header((header::VARY, ACCEPT_ENCODING));
    if let Some(etag) = etag {
        response.insert_header((header::ETAG, etag));
    }
    if let (Visibility::Public, Some(answer)) = (visibility, &cached.local) {
        response.extensions_mut().insert(Reusable { answer: answer.clone(), popular: None });
    }
    if not_modified {
        return response.finish();
    }
    let (body, gzip) = cached.body_for(accepts_gzip(req));
    response.insert_header((header::CONTENT_TYPE, JSON));
    if gzip {
        response.insert_header((header::CONTENT_ENCODING, GZIP));
    }
    response.body(body)
}
