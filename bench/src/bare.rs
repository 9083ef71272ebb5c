//! `fkapi-bench-bare`: the bare actix-web reference server of `make bench`.
//!
//! The same actix-web build as fkapi (the workspace dependency, so the same
//! features), the same worker count, no middleware and one route,
//! `GET /bench/static/{bytes}`, answering `bytes` bytes of a shared
//! in-memory buffer with the headers fkapi's own bench route sends. It is
//! the ceiling of the HTTP layer: fkapi's in-memory route is measured
//! against it in the same run.
//!
//! Usage: `fkapi-bench-bare 127.0.0.1:18190 [workers]`

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{web, App, HttpResponse, HttpServer};
use std::sync::OnceLock;

/// Largest body the route serves (as fkapi's bench route).
const MAX_BYTES: usize = 1 << 20;

fn body() -> &'static Bytes {
    static BODY: OnceLock<Bytes> = OnceLock::new();
    BODY.get_or_init(|| Bytes::from(vec![b'x'; MAX_BYTES]))
}

async fn static_body(bytes: web::Path<usize>) -> HttpResponse {
    let len = bytes.into_inner().min(MAX_BYTES);
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .insert_header(("x-cache", "BENCH"))
        .body(body().slice(..len))
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let bind = args.next().unwrap_or_else(|| "127.0.0.1:18190".to_string());
    let workers = args
        .next()
        .and_then(|w| w.parse::<usize>().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from));
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(|| App::new().route("/bench/static/{bytes}", web::get().to(static_body)))
            .workers(workers.max(1))
            .bind(&bind)?
            .run()
            .await
    })
}
