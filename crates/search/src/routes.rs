use crate::keyword::Keyword;
use crate::query::search;
use crate::targets::{Brands, ClubSearchResult, Clubs, Competitions, KitSearchResult, Kits, Search, Seasons};
use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use fkapi_cache::{Cached, CachedQuery};
use fkapi_kits::{Brand, Competition};
use fkapi_seasons::SeasonSummary;
use fkapi_web::{
    cached_response, count_when_reused, json_bytes, param_names, ApiError, AppContext, ErrorBody, QueryPairs,
    Visibility,
};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};

#[derive(OpenApi)]
#[openapi(
    paths(search_clubs, search_brands, search_competitions, search_seasons, search_kits),
    components(schemas(ClubSearchResult, KitSearchResult, Brand, Competition, SeasonSummary, ErrorBody))
)]
pub struct SearchApi;

/// Registers the search routes. Register them before the club, season and
/// kit routes so `/api/clubs/search` wins over `/api/clubs/{club_id}`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(search_clubs)
        .service(search_brands)
        .service(search_competitions)
        .service(search_seasons)
        .service(search_kits);
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Text to look for, 1 to 100 characters once surrounding whitespace is
    /// trimmed; case and accents are ignored, and `%`, `_`, `*` and the like
    /// are plain text.
    #[param(required = true, min_length = 1, max_length = 100, example = "arsenal")]
    pub keyword: Option<String>,
}

/// `keyword` of the kit and season searches: optional there, as in FKApi.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OptionalSearchParams {
    /// Text to look for, at most 100 characters once surrounding whitespace
    /// is trimmed; case and accents are ignored, and `%`, `_`, `*` and the
    /// like are plain text. Absent or blank: the answer is `[]`.
    #[param(max_length = 100, example = "arsenal 2005")]
    pub keyword: Option<String>,
}

/// Answers one search from the cache, loading it on a miss; also what
/// `warm-cache --search` fills.
#[tracing::instrument(skip(ctx), fields(search = S::CACHE_TYPE.name))]
pub async fn cached_search<S: Search>(ctx: &AppContext, keyword: Keyword) -> Result<Cached, ApiError> {
    let query = CachedQuery::new(S::CACHE_TYPE.key(&[&keyword], &[])).depends_on(S::scopes());
    let db = ctx.db.clone();
    ctx.cache
        .get_or_load(query, move |_| async move {
            let target = S::TARGET;
            let mut conn = fkapi_db::conn(&db).await?;
            let rows: Vec<S::Row> = search(&mut conn, &target, &keyword).await?;
            json_bytes(&rows.into_iter().map(S::Item::from).collect::<Vec<_>>())
        })
        .await
}

async fn respond<S: Search>(req: &HttpRequest, ctx: &AppContext, keyword: Keyword) -> Result<HttpResponse, ApiError> {
    // Counted in memory and flushed in the background: `warm-cache --search`
    // warms the most searched keywords.
    ctx.cache.count_popular(S::CACHE_TYPE.name, keyword.as_str());
    let cached = cached_search::<S>(ctx, keyword.clone()).await?;
    let mut response = cached_response(req, &cached, Visibility::Public);
    count_when_reused(&mut response, S::CACHE_TYPE.name, keyword.as_str());
    Ok(response)
}

/// A search whose keyword is required (clubs, brands, competitions).
async fn required<S: Search>(
    req: &HttpRequest,
    ctx: &AppContext,
    params: SearchParams,
    query: &QueryPairs,
) -> Result<HttpResponse, ApiError> {
    query.refuse_unknown(&[param_names::<SearchParams>()])?;
    respond::<S>(req, ctx, Keyword::parse(params.keyword.as_deref())?).await
}

/// A search whose keyword is optional (kits, seasons): none, or a blank
/// one, answers `[]` without asking the cache or the database.
async fn optional<S: Search>(
    req: &HttpRequest,
    ctx: &AppContext,
    params: OptionalSearchParams,
    query: &QueryPairs,
) -> Result<HttpResponse, ApiError> {
    query.refuse_unknown(&[param_names::<OptionalSearchParams>()])?;
    match Keyword::parse_optional(params.keyword.as_deref())? {
        Some(keyword) => respond::<S>(req, ctx, keyword).await,
        None => Ok(HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "public, max-age=0, must-revalidate"))
            .json(Vec::<S::Item>::new())),
    }
}

/// Search clubs by name or slug.
///
/// At most 10 clubs, best first: exact name or slug, then names starting
/// with the keyword, then containing it, then similar names (typos), ties by
/// shorter name. Case- and accent-insensitive ("malaga" finds "Málaga").
#[utoipa::path(
    get,
    path = "/api/clubs/search",
    tag = "Search",
    params(SearchParams),
    responses(
        (status = 200, description = "Matching clubs, best first", body = Vec<ClubSearchResult>,
         headers(("X-Cache" = String, description = "HIT, MISS, STALE or BYPASS"), ("ETag" = String))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Keyword missing, empty, longer than 100 characters or containing NUL, or an unknown parameter", body = ErrorBody),
    )
)]
#[get("/api/clubs/search")]
pub async fn search_clubs(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    params: web::Query<SearchParams>,
    query: QueryPairs,
) -> Result<HttpResponse, ApiError> {
    required::<Clubs>(&req, &ctx, params.into_inner(), &query).await
}

/// Search brands by name or slug, ranked as club search.
#[utoipa::path(
    get,
    path = "/api/brands/search",
    tag = "Search",
    params(SearchParams),
    responses(
        (status = 200, description = "Matching brands, best first", body = Vec<Brand>,
         headers(("X-Cache" = String, description = "HIT, MISS, STALE or BYPASS"), ("ETag" = String))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Keyword missing, empty, longer than 100 characters or containing NUL, or an unknown parameter", body = ErrorBody),
    )
)]
#[get("/api/brands/search")]
pub async fn search_brands(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    params: web::Query<SearchParams>,
    query: QueryPairs,
) -> Result<HttpResponse, ApiError> {
    required::<Brands>(&req, &ctx, params.into_inner(), &query).await
}

/// Search competitions by name or slug, ranked as club search.
#[utoipa::path(
    get,
    path = "/api/competitions/search",
    tag = "Search",
    params(SearchParams),
    responses(
        (status = 200, description = "Matching competitions, best first", body = Vec<Competition>,
         headers(("X-Cache" = String, description = "HIT, MISS, STALE or BYPASS"), ("ETag" = String))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Keyword missing, empty, longer than 100 characters or containing NUL, or an unknown parameter", body = ErrorBody),
    )
)]
#[get("/api/competitions/search")]
pub async fn search_competitions(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    params: web::Query<SearchParams>,
    query: QueryPairs,
) -> Result<HttpResponse, ApiError> {
    required::<Competitions>(&req, &ctx, params.into_inner(), &query).await
}

/// Search seasons by year.
///
/// "2025" finds the season "2025" first, then the seasons starting or ending
/// in 2025 ("2025-26", "2024-25"), newest first; "2024-25" (or "2024/25")
/// finds that season. Other matches follow, newest first. Without a
/// keyword (or with a blank one) the answer is `[]`, as in FKApi.
#[utoipa::path(
    get,
    path = "/api/seasons/search",
    tag = "Search",
    params(OptionalSearchParams),
    responses(
        (status = 200, description = "Matching seasons, best first", body = Vec<SeasonSummary>,
         headers(("X-Cache" = String, description = "HIT, MISS, STALE or BYPASS"), ("ETag" = String))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Keyword longer than 100 characters or containing NUL, or an unknown parameter", body = ErrorBody),
    )
)]
#[get("/api/seasons/search")]
pub async fn search_seasons(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    params: web::Query<OptionalSearchParams>,
    query: QueryPairs,
) -> Result<HttpResponse, ApiError> {
    optional::<Seasons>(&req, &ctx, params.into_inner(), &query).await
}

/// Search kits by name or slug, optionally within a season.
///
/// A year in the keyword ("Arsenal 2005") searches the rest within the
/// seasons of that year: those starting in it first (2005-06), then those
/// ending in it (2004-05), then the single-year season (2005); "2005-06"
/// names one season. A keyword that is only a year lists that season's kits
/// by name. Without a keyword (or with a blank one) the answer is `[]`, as
/// in FKApi.
#[utoipa::path(
    get,
    path = "/api/kits/search",
    tag = "Search",
    params(OptionalSearchParams),
    responses(
        (status = 200, description = "Matching kits, best first", body = Vec<KitSearchResult>,
         headers(("X-Cache" = String, description = "HIT, MISS, STALE or BYPASS"), ("ETag" = String))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Keyword longer than 100 characters or containing NUL, or an unknown parameter", body = ErrorBody),
    )
)]
#[get("/api/kits/search")]
pub async fn search_kits(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    params: web::Query<OptionalSearchParams>,
    query: QueryPairs,
) -> Result<HttpResponse, ApiError> {
    optional::<Kits>(&req, &ctx, params.into_inner(), &query).await
}
