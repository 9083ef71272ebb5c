//! Bench-only route (cargo feature `bench`): answers a fixed in-memory body
//! of the requested size through the same actix app, middleware included.
//! `make bench` measures cache hits against it as the physical limit of the
//! HTTP layer; it is never compiled into a normal build.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{get, web, HttpResponse};
use std::sync::OnceLock;

/// Largest body the route serves.
const MAX_BYTES: usize = 1 << 20;

fn body() -> &'static Bytes {
    static BODY: OnceLock<Bytes> = OnceLock::new();
    BODY.get_or_init(|| Bytes::from(vec![b'x'; MAX_BYTES]))
}

/// GET /bench/static/{bytes}: `bytes` bytes of a shared buffer, sliced
/// without copying (as a cache hit slices the stored value).
#[get("/bench/static/{bytes}")]
async fn static_body(bytes: web::Path<usize>) -> HttpResponse {
    let len = bytes.into_inner().min(MAX_BYTES);
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .insert_header(("x-cache", "BENCH"))
        .body(body().slice(..len))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(static_body);
}
