//! Assembly: the actix app from the domain crates' `configure` functions,
//! the middleware and the documentation routes. No routes of the catalogue
//! live here.

use crate::by_target::ByTarget;
use crate::observe::Observe;
use crate::rate_limit::RateLimit;
use crate::state::AppState;
use crate::{openapi, ops};
use actix_web::dev::Server;
use actix_web::middleware::Condition;
use actix_web::{guard, web, App, HttpServer};
use std::net::TcpListener;
use utoipa_swagger_ui::SwaggerUi;

/// The routes of the whole API, in matching order: search first so
/// `/api/clubs/search` wins over `/api/clubs/{club_id}`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(fkapi_search::configure)
        .configure(ops::configure)
        .configure(fkapi_clubs::configure)
        .configure(fkapi_seasons::configure)
        .configure(fkapi_kits::configure)
        .configure(fkapi_kits::configure_writes)
        .configure(fkapi_users::configure);
    #[cfg(feature = "bench")]
    cfg.configure(crate::bench_route::configure);
}

type Routes = fn(&mut web::ServiceConfig);

/// Which `configure` functions serve each path prefix, in [`routes`]'
/// order. actix tries a request against every route pattern in
/// registration order (a regex per pattern with a `{param}`), so without
/// this a route registered late would pay for some thirty patterns first;
/// with it, a request is tried only against the routes of its prefix. A
/// path no prefix claims is tried against all of [`routes`], so a route
/// missing here is slower, never lost; a route added under a listed prefix
/// by a crate not listed for it would be, which the test walking every
/// documented operation (tests/tests/ops.rs) catches.
const ROUTE_GROUPS: &[(&str, &[Routes])] = &[
    // First, as the hottest route would be: `make bench` compares it with
    // a bare actix-web server as the cost of fkapi's request path.
    #[cfg(feature = "bench")]
    ("/bench", &[crate::bench_route::configure]),
    ("/api/kit-json", &[fkapi_kits::configure]),
    ("/api/kits", &[fkapi_search::configure, fkapi_kits::configure, fkapi_kits::configure_writes]),
    ("/api/clubs", &[fkapi_search::configure, fkapi_clubs::configure, fkapi_kits::configure]),
    ("/api/seasons", &[fkapi_search::configure, fkapi_seasons::configure]),
    ("/api/brands", &[fkapi_search::configure, fkapi_kits::configure_writes]),
    ("/api/competitions", &[fkapi_search::configure, fkapi_kits::configure_writes]),
    ("/api/user-collection", &[fkapi_users::configure]),
    ("/api/users", &[fkapi_users::configure]),
    ("/api/admin", &[ops::configure]),
    ("/api/health", &[ops::configure]),
    ("/api/metrics", &[ops::configure]),
    ("/metrics", &[ops::configure]),
];

/// True for `prefix` itself and paths below it (`/api/kits`,
/// `/api/kits/7`, not `/api/kitsch`).
fn is_under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// [`routes`], grouped by [`ROUTE_GROUPS`]: one guarded scope per prefix
/// (the scope adds no path prefix, so the routes keep their own paths),
/// then every route for the paths no group claims.
fn grouped_routes(cfg: &mut web::ServiceConfig) {
    for (prefix, parts) in ROUTE_GROUPS {
        let prefix: &'static str = prefix;
        let mut scope = web::scope("").guard(guard::fn_guard(move |ctx| is_under(ctx.head().uri.path(), prefix)));
        for part in *parts {
            scope = scope.configure(*part);
        }
        cfg.service(scope);
    }
    cfg.configure(routes);
}

/// Swagger UI and the OpenAPI document, at fkapi's paths (`/swagger-ui/`,
/// `/api-docs/openapi.json`) and FKApi's (`/api/docs`, `/api/openapi.json`);
/// the UI paths without their slash redirect to it.
fn docs(cfg: &mut web::ServiceConfig, document: utoipa::openapi::OpenApi) {
    cfg.service(web::redirect("/swagger-ui", "/swagger-ui/").permanent())
        .service(web::redirect("/api/docs", "/api/docs/").permanent())
        .service(SwaggerUi::new("/swagger-ui/{_:.*}").url("/api-docs/openapi.json", document.clone()))
        .service(SwaggerUi::new("/api/docs/{_:.*}").url("/api/openapi.json", document));
}

/// Starts the HTTP server on `listener` (port 0 in tests).
pub fn serve(listener: TcpListener, state: AppState, workers: usize) -> std::io::Result<Server> {
    let (path_cfg, query_cfg, json_cfg) = fkapi_web::extractor_configs();
    let document = openapi::document();
    let limiting = state.limiting();
    let server = HttpServer::new(move || {
        App::new()
            .wrap(ByTarget::new(state.cache().clone()))
            .wrap(Condition::new(limiting, RateLimit::new(state.limiter.clone(), state.ctx.clone())))
            .wrap(Observe::new(state.http.clone()))
            .app_data(state.ctx.clone())
            .app_data(web::Data::new(state.clone()))
            .app_data(web::Data::from(state.registry.clone()))
            .app_data(web::Data::new(state.http.clone()))
            .app_data(web::Data::from(state.limiter.tokens.clone()))
            .app_data(path_cfg.clone())
            .app_data(query_cfg.clone())
            .app_data(json_cfg.clone())
            .configure(grouped_routes)
            .configure(|cfg| docs(cfg, document.clone()))
            .default_service(web::to(ops::not_found))
    })
    .workers(workers.max(1))
    .listen(listener)?
    .run();
    Ok(server)
}

#[cfg(test)]
mod tests {
    use super::is_under;

    #[test]
    fn a_prefix_claims_itself_and_what_is_below_it() {
        assert!(is_under("/api/kits", "/api/kits"));
        assert!(is_under("/api/kits/7", "/api/kits"));
        assert!(is_under("/api/kits/", "/api/kits"));
        assert!(!is_under("/api/kitsch", "/api/kits"));
        assert!(!is_under("/api/kit-json/1", "/api/kits"));
        assert!(!is_under("/api", "/api/kits"));
    }
}
