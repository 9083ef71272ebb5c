use crate::model::{Club, ClubInput, ClubPatch};
use crate::scopes;
use actix_web::{delete, get, patch, post, put, web, HttpRequest, HttpResponse};
use fkapi_cache::{generate_cache_key, CachedQuery, TtlClass};
use fkapi_web::{
    cached_response, json_bytes, AdminKey, ApiError, AppContext, ErrorBody, JsonBody, ValidatedJson, Visibility,
};
use utoipa::OpenApi;
use validator::Validate;

#[derive(OpenApi)]
#[openapi(
    paths(get_club, create_club, replace_club, patch_club, delete_club),
    components(schemas(Club, ClubInput, ClubPatch, ErrorBody))
)]
pub struct ClubsApi;

/// Registers the club routes. Register search routes first:
/// `/api/clubs/search` must win over `/api/clubs/{club_id}`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_club).service(create_club).service(replace_club).service(patch_club).service(delete_club);
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
) -> Result<HttpResponse, ApiError> {
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

/// Create a club (admin).
#[utoipa::path(
    post,
    path = "/api/clubs",
    tag = "Clubs",
    request_body = ClubInput,
    security(("api_key" = [])),
    responses(
        (status = 201, description = "Created", body = Club),
        (status = 400, description = "Malformed JSON or a Content-Type other than application/json", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "Slug taken", body = ErrorBody),
        (status = 413, description = "Body larger than 64 KiB", body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
#[post("/api/clubs")]
pub async fn create_club(
    _: AdminKey,
    ctx: web::Data<AppContext>,
    body: ValidatedJson<ClubInput>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = fkapi_db::conn(&ctx.db).await?;
    let club = Club::insert(&mut conn, &body.0).await?;
    ctx.cache.invalidate(&scopes::on_club_change(club.id)).await;
    Ok(HttpResponse::Created().json(club))
}

/// Replace a club (admin).
#[utoipa::path(
    put,
    path = "/api/clubs/{club_id}",
    tag = "Clubs",
    params(("club_id" = i32, Path, description = "Club ID")),
    request_body = ClubInput,
    security(("api_key" = [])),
    responses(
        (status = 200, body = Club),
        (status = 400, description = "Malformed JSON, a Content-Type other than application/json, or an id that is not a 32-bit integer", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, description = "Body larger than 64 KiB", body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
#[put("/api/clubs/{club_id}")]
pub async fn replace_club(
    _: AdminKey,
    ctx: web::Data<AppContext>,
    club_id: web::Path<i32>,
    body: ValidatedJson<ClubInput>,
) -> Result<HttpResponse, ApiError> {
    let club_id = club_id.into_inner();
    let mut conn = fkapi_db::conn(&ctx.db).await?;
    let club = Club::update(&mut conn, club_id, &body.0).await?.ok_or_else(|| not_found(club_id))?;
    ctx.cache.invalidate(&scopes::on_club_change(club_id)).await;
    Ok(HttpResponse::Ok().json(club))
}

/// Change some fields of a club (admin).
#[utoipa::path(
    patch,
    path = "/api/clubs/{club_id}",
    tag = "Clubs",
    params(("club_id" = i32, Path, description = "Club ID")),
    request_body = ClubPatch,
    security(("api_key" = [])),
    responses(
        (status = 200, body = Club),
        (status = 400, description = "Malformed JSON, a Content-Type other than application/json, or an id that is not a 32-bit integer", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, description = "Body larger than 64 KiB", body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
#[patch("/api/clubs/{club_id}")]
pub async fn patch_club(
    _: AdminKey,
    ctx: web::Data<AppContext>,
    club_id: web::Path<i32>,
    body: JsonBody<ClubPatch>,
) -> Result<HttpResponse, ApiError> {
    let club_id = club_id.into_inner();
    let mut conn = fkapi_db::conn(&ctx.db).await?;
    let current = Club::find(&mut conn, club_id).await?.ok_or_else(|| not_found(club_id))?;
    let input = body.into_inner().apply_to(current);
    input.validate().map_err(|e| ApiError::Unprocessable(format!("invalid body: {e}")))?;
    let club = Club::update(&mut conn, club_id, &input).await?.ok_or_else(|| not_found(club_id))?;
    ctx.cache.invalidate(&scopes::on_club_change(club_id)).await;
    Ok(HttpResponse::Ok().json(club))
}

/// Delete a club (admin); 409 while kits still belong to it.
#[utoipa::path(
    delete,
    path = "/api/clubs/{club_id}",
    tag = "Clubs",
    params(("club_id" = i32, Path, description = "Club ID")),
    security(("api_key" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "An id that is not a 32-bit integer", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "Kits still refer to it", body = ErrorBody),
    )
)]
#[delete("/api/clubs/{club_id}")]
pub async fn delete_club(
    _: AdminKey,
    ctx: web::Data<AppContext>,
    club_id: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    let club_id = club_id.into_inner();
    let mut conn = fkapi_db::conn(&ctx.db).await?;
    if !Club::delete(&mut conn, club_id).await? {
        return Err(not_found(club_id));
    }
    ctx.cache.invalidate(&scopes::on_club_change(club_id)).await;
    Ok(HttpResponse::NoContent().finish())
}
