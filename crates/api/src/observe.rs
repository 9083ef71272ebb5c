//! The one middleware every request passes through: its id, its span and
//! access log line, and its metrics (count, latency and database
//! statements per route).
//!
//! Each costs what it must: the id is a worker prefix and a counter (no
//! UUID, no syscall), the span and the log line cost a level check when
//! their level is off, and the metric handles of a route are resolved once
//! per worker (see [`crate::http_metrics`]).

use crate::http_metrics::{HttpMetrics, RoutePattern, RouteTable, UNMATCHED};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::Error;
use futures::future::LocalBoxFuture;
use std::cell::Cell;
use std::hash::BuildHasher;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// The request id header: echoed when the client sent a sane one, made up
/// otherwise, on every response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-sent request id kept (longer ones are replaced).
const MAX_REQUEST_ID: usize = 128;

/// The middleware (`App::wrap(Observe::new(metrics))`, outermost).
pub struct Observe {
    metrics: HttpMetrics,
}

impl Observe {
    pub fn new(metrics: HttpMetrics) -> Observe {
        Observe { metrics }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Observe
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = ObserveService<S>;
    type InitError = ();
    type Future = std::future::Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        std::future::ready(Ok(ObserveService {
            service: Rc::new(service),
            worker: Rc::new(Worker { routes: self.metrics.routes(), ids: RequestIds::new() }),
        }))
    }
}

/// Per-worker state: resolved metric handles and the id counter.
struct Worker {
    routes: RouteTable,
    ids: RequestIds,
}

pub struct ObserveService<S> {
    service: Rc<S>,
    worker: Rc<Worker>,
}

impl<S, B> Service<ServiceRequest> for ObserveService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let started = Instant::now();
        let worker = Rc::clone(&self.worker);
        let method = req.method().clone();
        let id = match req.headers().get(&REQUEST_ID) {
            Some(given) if sane_request_id(given.as_bytes()) => given.clone(),
            _ => worker.ids.next(),
        };
        let span = tracing::info_span!(
            "request",
            method = %method,
            path = %req.path(),
            request_id = id.to_str().unwrap_or_default(),
            route = tracing::field::Empty,
            status = tracing::field::Empty,
        );
        let answer = fkapi_cache::origin::counted(self.service.call(req)).instrument(span.clone());
        Box::pin(async move {
            let (outcome, queries) = answer.await;
            let elapsed = started.elapsed();
            match outcome {
                Ok(mut response) => {
                    let relabelled = response.response().extensions().get::<RoutePattern>().map(|p| Arc::clone(&p.0));
                    let route = match relabelled {
                        Some(label) => worker.routes.by_pattern(&label),
                        None => worker.routes.of(response.request()),
                    };
                    let status = response.status();
                    route.record(&method, status, elapsed, queries);
                    response.headers_mut().insert(REQUEST_ID, id);
                    access_log(&span, route.label(), status.as_u16(), elapsed, queries);
                    Ok(response)
                }
                // A middleware answered with an error (the rate limiter
                // refusing a read before its handler finished): counted under
                // the label its response names, if any.
                Err(err) => {
                    let mut response = err.error_response();
                    let label = response.extensions().get::<RoutePattern>().map(|p| Arc::clone(&p.0));
                    let route = worker.routes.by_pattern(label.as_deref().unwrap_or(UNMATCHED));
                    let status = response.status();
                    route.record(&method, status, elapsed, queries);
                    response.headers_mut().insert(REQUEST_ID, id);
                    access_log(&span, route.label(), status.as_u16(), elapsed, queries);
                    Err(InternalError::from_response(err, response).into())
                }
            }
        })
    }
}

/// One line per request at DEBUG (`RUST_LOG=fkapi::access=debug`), with
/// the span's fields; nothing but a level check when off.
fn access_log(span: &tracing::Span, route: &str, status: u16, elapsed: std::time::Duration, queries: u32) {
    if !span.is_disabled() {
        span.record("route", route);
        span.record("status", status);
    }
    tracing::debug!(
        target: "fkapi::access",
        parent: span,
        route,
        status,
        micros = elapsed.as_micros() as u64,
        db_queries = queries,
        "answered"
    );
}

/// A client's id is kept when it is short and made of URL-safe characters
/// (UUIDs, ULIDs, base64 and the like), so it cannot smuggle anything into
/// logs or headers.
fn sane_request_id(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':' | b'+' | b'/' | b'='))
}

/// Ids unique across workers, restarts and instances: a random 64-bit
/// prefix per worker and a counter, `<16 hex>-<hex>`.
struct RequestIds {
    prefix: u64,
    next: Cell<u64>,
}

impl RequestIds {
    fn new() -> RequestIds {
        let seed = (std::process::id(), Instant::now(), std::thread::current().id());
        let prefix = std::collections::hash_map::RandomState::new().hash_one(format!("{seed:?}"));
        RequestIds { prefix, next: Cell::new(0) }
    }

    fn next(&self) -> HeaderValue {
        let n = self.next.get();
        self.next.set(n.wrapping_add(1));
        let mut id = Vec::with_capacity(33);
        push_hex(&mut id, self.prefix, 16);
        id.push(b'-');
        push_hex(&mut id, n, 1);
        HeaderValue::from_maybe_shared(actix_web::web::Bytes::from(id))
            .unwrap_or_else(|_| HeaderValue::from_static("0"))
    }
}

/// Appends `value` in lower-case hex, at least `min_digits` long.
fn push_hex(out: &mut Vec<u8>, value: u64, min_digits: u32) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digits = (64 - value.leading_zeros()).div_ceil(4).max(min_digits);
    for shift in (0..digits).rev() {
        out.push(DIGITS[((value >> (shift * 4)) & 0xf) as usize]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let ids = RequestIds::new();
        let (a, b) = (ids.next(), ids.next());
        assert_ne!(a, b);
        for id in [a, b] {
            let text = id.to_str().unwrap_or_default();
            assert!(sane_request_id(id.as_bytes()), "{text}");
            let (prefix, counter) = text.split_once('-').unwrap_or_default();
            assert_eq!(prefix.len(), 16, "{text}");
            assert!(!counter.is_empty());
        }
        assert_ne!(RequestIds::new().prefix, ids.prefix, "workers get their own prefix");
    }

    #[test]
    fn hex_is_padded_and_exact() {
        let mut out = Vec::new();
        push_hex(&mut out, 0x1a2b, 1);
        assert_eq!(out, b"1a2b");
        out.clear();
        push_hex(&mut out, 0, 1);
        assert_eq!(out, b"0");
        out.clear();
        push_hex(&mut out, 0xff, 16);
        assert_eq!(out, b"00000000000000ff");
    }

    #[test]
    fn only_short_url_safe_ids_are_kept() {
        assert!(sane_request_id(b"3fa85f64-5717-4562-b3fc-2c963f66afa6"));
        assert!(sane_request_id(b"01ARZ3NDEKTSV4RRFFQ69G5FAV"));
        assert!(!sane_request_id(b""));
        assert!(!sane_request_id(b"a b"));
        assert!(!sane_request_id(b"x\r\nset-cookie: a=b"));
        assert!(!sane_request_id(&[b'a'; MAX_REQUEST_ID + 1]));
    }
}
