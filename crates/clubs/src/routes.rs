use crate::model::{Club, ClubInput, ClubPatch};
use crate::random::{random_clubs_key, RandomClub, RandomClubsPage, RANDOM_CLUBS_SCOPES};
use crate::scopes;
use actix_web::{get, web, HttpRequest, HttpResponse};
use fkapi_cache::{generate_cache_key, CachedQuery, Scope, TtlClass};
use fkapi_db::PgConn;
use fkapi_web::admin::{deleted, validate_merged, AdminResource, Written};
use fkapi_web::{
    cached_response, json_bytes, param_names, ApiError, AppContext, ErrorBody, PageLinks, Pagination, QueryPairs,
    ShuffleQuery, Visibility,
};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    paths(get_club, random_clubs, create_club, replace_club, patch_club, delete_club),
    components(schemas(Club, ClubInput, ClubPatch, RandomClub, RandomClubsPage, PageLinks, ErrorBody))
)]
pub struct ClubsApi;

/// Registers the club routes. Register search routes first:
/// `/api/clubs/search` must win over `/api/clubs/{club_id}`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_club).service(create_club).service(replace_club).service(patch_club).service(delete_club);
    // FKApi's path ends in a slash; Django redirects the bare one to it, so
    // clients may send either.
    cfg.service(web::resource(["/api/random-clubs/", "/api/random-clubs"]).route(web::get().to(random_clubs)));
}

fn not_found(club_id: i32) -> ApiError {
    ApiError::NotFound(format!("Club with ID {club_id} not found"))
}

/// One club.
#[utoipa::path(
    get,
    path = "/api/clubs/{club_id}",
    tag = "Clubs",
    params(("club_id" = i32, Path, description = "Club ID", example = 1)),
    responses(
        (status = 200, description = "The club", body = Club,
         headers(("X-Cache" = String, description = "HIT, MISS, STALE or BYPASS"), ("ETag" = String))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "An id that is not a 32-bit integer", body = ErrorBody),
        (status = 404, description = "No such club", body = ErrorBody),
    )
)]
#[get("/api/clubs/{club_id}")]
pub async fn get_club(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    club_id: web::Path<i32>,
    query: QueryPairs,
) -> Result<HttpResponse, ApiError> {
    query.refuse_unknown(&[])?;
    let club_id = club_id.into_inner();
    let query = CachedQuery::new("club", generate_cache_key("club", &[&club_id], &[]), TtlClass::VeryLong)
        .depends_on([scopes::club(club_id)])
        .allow_stale();
    let db = ctx.db.clone();
    let cached = ctx
        .cache
        .get_or_load(query, move |_| async move {
            let mut conn = fkapi_db::conn(&db).await?;
            let club = Club::find(&mut conn, club_id).await?.ok_or_else(|| not_found(club_id))?;
            json_bytes(&club)
        })
        .await?;
    Ok(cached_response(&req, &cached, Visibility::Public))
}

/// Random clubs with a real logo, paged through one shuffle, in FKApi's
/// shape (`{clubs, pagination}`, plus the `seed` of the shuffle).
///
/// Pages of one seed never repeat a club. Without `seed` the shuffle is the
/// current one, which changes every SHORT TTL; each page is cached and
/// refreshed by any club change and by kit changes of the clubs it shows
/// (their `kit_count`). A page past the last serves the last one, as
/// FKApi's paginator does. `/api/random-clubs` (no slash) answers too.
#[utoipa::path(
    get,
    path = "/api/random-clubs/",
    tag = "Clubs",
    params(Pagination, ShuffleQuery),
    responses(
        (status = 200, description = "One page of the shuffle", body = RandomClubsPage,
         headers(("X-Cache" = String, description = "HIT, MISS, STALE or BYPASS"), ("ETag" = String))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "page, page_size or seed out of range, or an unknown parameter", body = ErrorBody,
         example = json!({"detail": "seed must be between 0 and 2147483647"})),
    )
)]
pub async fn random_clubs(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    paging: web::Query<Pagination>,
    shuffle: web::Query<ShuffleQuery>,
    query: QueryPairs,
) -> Result<HttpResponse, ApiError> {
    query.refuse_unknown(&[param_names::<Pagination>(), param_names::<ShuffleQuery>()])?;
    let (page, page_size) = paging.into_inner().resolve()?;
    let seed = shuffle.into_inner().resolve(ctx.cache.config().ttl.base(TtlClass::Short))?;
    let query = CachedQuery::new("random_clubs", random_clubs_key(seed, page, page_size), TtlClass::Short)
        .depends_on(RANDOM_CLUBS_SCOPES)
        .allow_stale();
    let db = ctx.db.clone();
    let cached = ctx
        .cache
        .get_or_load(query, move |load| async move {
            let mut conn = fkapi_db::conn(&db).await?;
            json_bytes(&RandomClubsPage::load(&mut conn, &load, seed, page, page_size).await?)
        })
        .await?;
    Ok(cached_response(&req, &cached, Visibility::Public))
}

/// Club writes go through the shared admin path: the row changes, then
/// what it made stale is invalidated before the response is sent.
impl AdminResource for Club {
    const NOUN: &'static str = "Club";
    type Input = ClubInput;
    type Patch = ClubPatch;

    async fn create(conn: &mut PgConn, input: ClubInput) -> Result<Written<Self>, ApiError> {
        let record = Club::insert(conn, &input).await?;
        Ok(Written { stale: scopes::on_club_change(record.id), record })
    }

    async fn replace(conn: &mut PgConn, id: i32, input: ClubInput) -> Result<Written<Self>, ApiError> {
        let record = Club::update(conn, id, &input).await?.ok_or_else(|| Self::not_found(id))?;
        Ok(Written { stale: scopes::on_club_change(id), record })
    }

    async fn patch(conn: &mut PgConn, id: i32, patch: ClubPatch) -> Result<Written<Self>, ApiError> {
        let current = Club::find(conn, id).await?.ok_or_else(|| Self::not_found(id))?;
        let input = patch.apply_to(current);
        validate_merged(&input)?;
        Self::replace(conn, id, input).await
    }

    async fn delete(conn: &mut PgConn, id: i32) -> Result<Vec<Scope>, ApiError> {
        deleted::<Self>(id, Club::delete(conn, id).await.map(usize::from))?;
        Ok(scopes::on_club_change(id))
    }
}

fkapi_web::admin_routes! {
    Club ("club", tag "Clubs"),
    input ClubInput, patch ClubPatch,
    collection "/api/clubs", item "/api/clubs/{club_id}", id "club_id",
    handlers [create_club, replace_club, patch_club, delete_club],
}
