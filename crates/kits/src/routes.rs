use crate::bulk::{bulk_key, parse_slugs, BulkQuery};
use crate::filters::{club_kits_key, ClubKitsQuery, KitFilter, KitListQuery, SECONDARY_COLOR};
use crate::model::{BulkBrand, BulkRef, BulkSeason, BulkTeam, KitBulkItem, KitDetail, KitListItem, KitRefs};
use crate::random::{random_kits_key, random_kits_scopes, RandomKit, RandomKitsPage};
use crate::reference::{Brand, Color, Competition, KitType};
use crate::scopes;
use actix_web::{get, web, HttpRequest, HttpResponse};
use fkapi_cache::{generate_cache_key, CachedQuery, LoadCtx, TtlClass};
use fkapi_clubs::Club;
use fkapi_db::PgPool;
use fkapi_seasons::Season;
use fkapi_web::{
    cached_response, json_bytes, param_names, ApiError, AppContext, ErrorBody, PageLinks, Pagination, QueryPairs,
    ShuffleQuery, Visibility,
};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    paths(get_kit_json, get_kit, list_kits, list_club_kits, bulk_kits, random_kits),
    components(schemas(
        KitDetail,
        RandomKit,
        RandomKitsPage,
        PageLinks,
        KitListItem,
        KitBulkItem,
        BulkTeam,
        BulkSeason,
        BulkBrand,
        Club,
        Season,
        Competition,
        KitType,
        Brand,
        Color,
        ErrorBody
    ))
)]
pub struct KitsApi;

/// Registers the kit read routes. `/api/kits/bulk` comes before
/// `/api/kits/{kit_id}`, which would otherwise answer it with a 400; the
/// search routes (`/api/kits/search`) must be registered before these.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(bulk_kits).service(list_kits).service(get_kit).service(get_kit_json).service(list_club_kits);
    // FKApi's path ends in a slash; Django redirects the bare one to it, so
    // clients may send either.
    cfg.service(web::resource(["/api/random-kits/", "/api/random-kits"]).route(web::get().to(random_kits)));
}

fn kit_not_found(kit_id: i32) -> ApiError {
    ApiError::NotFound(format!("Kit with ID {kit_id} not found"))
}

fn club_not_found(club_id: i32) -> ApiError {
    ApiError::NotFound(format!("Club with ID {club_id} not found"))
}

/// Loads one kit's detail in two phases.
///
/// Why two phases (DESIGN.md, guarantee 1): the entry must record the
/// generations of every row it shows, read *before* those rows are read.
/// The kit's own scope (`kit:<id>`) is static and already recorded by the
/// cache before this runs; but which club, season, brand and competitions
/// the kit shows is only known from the kit row. So we first resolve those
/// ids with one small query, record their generations with `depend_on`,
/// and only then run the queries that build the response. A write that
/// lands after `depend_on` bumps a recorded generation, so the entry is dead
/// on arrival. A kit moved to another club (or season, brand…) between the
/// two phases bumps `kit:<id>`, recorded before phase one, so ids resolved
/// this way cannot go stale unnoticed; generations read after the building
/// query could.
async fn load_kit_detail(db: PgPool, load: LoadCtx, kit_id: i32) -> Result<Vec<u8>, ApiError> {
    let mut conn = fkapi_db::conn(&db).await?;
    let refs = KitRefs::of_kit(&mut conn, kit_id).await?.ok_or_else(|| kit_not_found(kit_id))?;
    load.depend_on(refs.scopes()).await;
    let kit = KitDetail::load(&mut conn, kit_id).await?.ok_or_else(|| kit_not_found(kit_id))?;
    json_bytes(&kit)
}

/// The cached detail behind both kit routes (one entry for both).
async fn kit_detail_response(req: &HttpRequest, ctx: &AppContext, kit_id: i32) -> Result<HttpResponse, ApiError> {
    let query = CachedQuery::new("kit_json", generate_cache_key("kit_json", &[&kit_id], &[]), TtlClass::VeryLong)
        .depends_on([scopes::kit(kit_id)])
        .allow_stale();
    let db = ctx.db.clone();
    let cached = ctx.cache.get_or_load(query, move |load| load_kit_detail(db, load, kit_id)).await?;
    Ok(cached_response(req, &cached, Visibility::Public))
}

/// One kit with its club, season, competitions, type, brand and colours (FKApi's `kit-json`).
#[utoipa::path(
    get,
    path = "/api/kit-json/{kit_id}",
    tag = "Kits",
    params(("kit_id" = i32, Path, description = "Kit ID", example = 1)),
    responses(
        (status = 200, description = "The kit", body = KitDetail,
         headers(("X-Cache" = String, description = "HIT, MISS, STALE or BYPASS"), ("ETag" = String))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "An id that is not a 32-bit integer", body = ErrorBody),
        (status = 404, description = "No such kit", body = ErrorBody, example = json!({"detail": "Kit with ID 999999 not found"})),
    )
)]
#[get("/api/kit-json/{kit_id}")]
pub async fn get_kit_json(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    kit_id: web::Path<i32>,
    query: QueryPairs,
) -> Result<HttpResponse, ApiError> {
    query.refuse_unknown(&[])?;
    kit_detail_response(&req, &ctx, kit_id.into_inner()).await
}

/// One kit; the same body as `/api/kit-json/{kit_id}`.
#[utoipa::path(
    get,
    path = "/api/kits/{kit_id}",
    tag = "Kits",
    params(("kit_id" = i32, Path, description = "Kit ID", example = 1)),
    responses(
        (status = 200, description = "The kit", body = KitDetail,
         headers(("X-Cache" = String, description = "HIT, MISS, STALE or BYPASS"), ("ETag" = String))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "An id that is not a 32-bit integer", body = ErrorBody),
        (status = 404, description = "No such kit", body = ErrorBody, example = json!({"detail": "Kit with ID 999999 not found"})),
    )
)]
#[get("/api/kits/{kit_id}")]
pub async fn get_kit(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    kit_id: web::Path<i32>,
    query: QueryPairs,
) -> Result<HttpResponse, ApiError> {
    query.refuse_unknown(&[])?;
    kit_detail_response(&req, &ctx, kit_id.into_inner()).await
}

/// Kits, filtered and paged: newest season first, then by kit type
/// (category, priority), then id. A plain JSON array, as FKApi returns.
#[utoipa::path(
    get,
    path = "/api/kits",
    tag = "Kits",
    params(
        KitListQuery,
        ("secondary_color" = Option<Vec<String>>, Query, style = Form, explode,
         description = "Secondary colour name (any case), repeatable: kits that have *all* the named secondary colours \
                        (`?secondary_color=White&secondary_color=Blue`). Same names as `primary_color`."),
        Pagination
    ),
    responses(
        (status = 200, description = "One page of kits", body = [KitListItem],
         headers(("X-Cache" = String, description = "HIT, MISS, STALE or BYPASS"), ("ETag" = String))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "A parameter is malformed, out of range, not one of its options (the detail lists \
                                      them) or unknown", body = ErrorBody,
         example = json!({"detail": "secondary_color must be one of: White, Red, Blue, Black, Yellow, Green, Sky blue, Navy, Orange, Gray, Claret, Purple, Pink, Brown, Gold, Silver, Off-white"})),
    )
)]
#[get("/api/kits")]
pub async fn list_kits(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    params: web::Query<KitListQuery>,
    paging: web::Query<Pagination>,
    query: QueryPairs,
) -> Result<HttpResponse, ApiError> {
    query.refuse_unknown(&[param_names::<KitListQuery>(), &[SECONDARY_COLOR], param_names::<Pagination>()])?;
    let filter = params.into_inner().into_filter(query.all(SECONDARY_COLOR))?;
    let (page, page_size) = paging.into_inner().resolve()?;
    let query = CachedQuery::new("kits", filter.list_key(page, page_size), TtlClass::Medium)
        .depends_on(filter.scopes())
        .allow_stale();
    let db = ctx.db.clone();
    let cached = ctx
        .cache
        .get_or_load(query, move |_| async move {
            let mut conn = fkapi_db::conn(&db).await?;
            json_bytes(&KitListItem::list(&mut conn, &filter, page, page_size).await?)
        })
        .await?;
    Ok(cached_response(&req, &cached, Visibility::Public))
}

/// The kits of one club, paged, optionally of one season; same order as `/api/kits`.
#[utoipa::path(
    get,
    path = "/api/clubs/{club_id}/kits",
    tag = "Kits",
    params(("club_id" = i32, Path, description = "Club ID", example = 1), ClubKitsQuery, Pagination),
    responses(
        (status = 200, description = "One page of the club's kits", body = [KitListItem],
         headers(("X-Cache" = String, description = "HIT, MISS, STALE or BYPASS"), ("ETag" = String))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "A parameter is malformed or out of range", body = ErrorBody),
        (status = 404, description = "No such club", body = ErrorBody, example = json!({"detail": "Club with ID 999999 not found"})),
    )
)]
#[get("/api/clubs/{club_id}/kits")]
pub async fn list_club_kits(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    club_id: web::Path<i32>,
    params: web::Query<ClubKitsQuery>,
    paging: web::Query<Pagination>,
    query: QueryPairs,
) -> Result<HttpResponse, ApiError> {
    query.refuse_unknown(&[param_names::<ClubKitsQuery>(), param_names::<Pagination>()])?;
    let club_id = club_id.into_inner();
    let season = params.into_inner().season;
    let (page, page_size) = paging.into_inner().resolve()?;
    let filter = KitFilter { club: Some(club_id), season, ..KitFilter::default() };
    let query = CachedQuery::new("club_kits", club_kits_key(club_id, season, page, page_size), TtlClass::Medium)
        .depends_on(filter.scopes())
        .allow_stale();
    let db = ctx.db.clone();
    let cached = ctx
        .cache
        .get_or_load(query, move |_| async move {
            let mut conn = fkapi_db::conn(&db).await?;
            if !Club::exists(&mut conn, club_id).await? {
                return Err(club_not_found(club_id));
            }
            json_bytes(&KitListItem::list(&mut conn, &filter, page, page_size).await?)
        })
        .await?;
    Ok(cached_response(&req, &cached, Visibility::Public))
}

/// Loads bulk items in two phases, for the reason given on
/// [`load_kit_detail`]: resolve the kits' club, season and brand ids, record
/// those rows' generations, then build. The static `kits` scope (recorded
/// before this runs) covers any kit row changing between the phases.
async fn load_bulk(db: PgPool, load: LoadCtx, slugs: Vec<String>) -> Result<Vec<u8>, ApiError> {
    let mut conn = fkapi_db::conn(&db).await?;
    let refs = BulkRef::of_slugs(&mut conn, &slugs).await?;
    load.depend_on(BulkRef::scopes(&refs)).await;
    let ids: Vec<i32> = refs.iter().map(|r| r.id).collect();
    json_bytes(&KitBulkItem::load(&mut conn, &ids, &slugs).await?)
}

/// Several kits by slug (or kit page URL), in the order asked; unknown slugs are skipped.
#[utoipa::path(
    get,
    path = "/api/kits/bulk",
    tag = "Kits",
    params(BulkQuery),
    responses(
        (status = 200, description = "The kits found, in input order", body = [KitBulkItem],
         headers(("X-Cache" = String, description = "HIT, MISS, STALE or BYPASS"), ("ETag" = String))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "slugs missing, fewer than 2, more than 30, or not slugs", body = ErrorBody,
         example = json!({"detail": "Minimum 2 kits required"})),
    )
)]
#[get("/api/kits/bulk")]
pub async fn bulk_kits(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    params: web::Query<BulkQuery>,
    query: QueryPairs,
) -> Result<HttpResponse, ApiError> {
    query.refuse_unknown(&[param_names::<BulkQuery>()])?;
    let slugs = parse_slugs(params.slugs.as_deref())?;
    let query =
        CachedQuery::new("kits_bulk", bulk_key(&slugs), TtlClass::Medium).depends_on([scopes::KITS]).allow_stale();
    let db = ctx.db.clone();
    let cached = ctx.cache.get_or_load(query, move |load| load_bulk(db, load, slugs)).await?;
    Ok(cached_response(&req, &cached, Visibility::Public))
}

/// Random kits with an image, paged through one shuffle, in FKApi's shape
/// (`{kits, pagination}`, plus the `seed` of the shuffle).
///
/// Pages of one seed never repeat a kit. Without `seed` the shuffle is the
/// current one, which changes every SHORT TTL; each page is cached and
/// refreshed by any change to the kits, clubs, seasons, types, brands or
/// colours it shows. A page past the last serves the last one, as FKApi's
/// paginator does. `/api/random-kits` (no slash) answers too.
#[utoipa::path(
    get,
    path = "/api/random-kits/",
    tag = "Kits",
    params(Pagination, ShuffleQuery),
    responses(
        (status = 200, description = "One page of the shuffle", body = RandomKitsPage,
         headers(("X-Cache" = String, description = "HIT, MISS, STALE or BYPASS"), ("ETag" = String))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "page, page_size or seed out of range, or an unknown parameter", body = ErrorBody,
         example = json!({"detail": "page_size must be between 1 and 100"})),
    )
)]
pub async fn random_kits(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    paging: web::Query<Pagination>,
    shuffle: web::Query<ShuffleQuery>,
    query: QueryPairs,
) -> Result<HttpResponse, ApiError> {
    query.refuse_unknown(&[param_names::<Pagination>(), param_names::<ShuffleQuery>()])?;
    let (page, page_size) = paging.into_inner().resolve()?;
    let seed = shuffle.into_inner().resolve(ctx.cache.config().ttl.base(TtlClass::Short))?;
    let query = CachedQuery::new("random_kits", random_kits_key(seed, page, page_size), TtlClass::Short)
        .depends_on(random_kits_scopes())
        .allow_stale();
    let db = ctx.db.clone();
    let cached = ctx
        .cache
        .get_or_load(query, move |_| async move {
            let mut conn = fkapi_db::conn(&db).await?;
            json_bytes(&RandomKitsPage::load(&mut conn, seed, page, page_size).await?)
        })
        .await?;
    Ok(cached_response(&req, &cached, Visibility::Public))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_documents_every_read_route_and_fkapi_field_names() {
        let doc = KitsApi::openapi();
        let paths: Vec<&str> = doc.paths.paths.keys().map(String::as_str).collect();
        for path in [
            "/api/kit-json/{kit_id}",
            "/api/kits/{kit_id}",
            "/api/kits",
            "/api/clubs/{club_id}/kits",
            "/api/kits/bulk",
            "/api/random-kits/",
        ] {
            assert!(paths.contains(&path), "{path} missing from {paths:?}");
        }
        let json = doc.to_json().unwrap_or_default();
        assert!(json.contains("\"type\""), "KitDetail's kit type is named `type`");
        assert!(!json.contains("kit_type"), "no Rust-side field name leaks into the document");
        for param in
            ["club_id", "season_id", "primary_color", "secondary_color", "design", "page_size", "slugs", "seed"]
        {
            assert!(json.contains(&format!("\"name\":\"{param}\"")), "parameter {param} undocumented");
        }
    }
}
