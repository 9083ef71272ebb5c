use crate::model::{Season, SeasonInput, SeasonPatch, SeasonSummary};
use crate::scopes;
use actix_web::{delete, get, patch, post, put, web, HttpRequest, HttpResponse};
use fkapi_cache::{generate_cache_key, CachedQuery, TtlClass};
use fkapi_clubs::Club;
use fkapi_web::{cached_response, json_bytes, AdminKey, ApiError, AppContext, ErrorBody, ValidatedJson, Visibility};
use serde::Deserialize;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    paths(list_seasons, create_season, replace_season, patch_season, delete_season),
    components(schemas(Season, SeasonSummary, SeasonInput, SeasonPatch, ErrorBody))
)]
pub struct SeasonsApi;

/// Registers the season routes. Register search routes first:
/// `/api/seasons/search` is the search crate's.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_seasons)
        .service(create_season)
        .service(replace_season)
        .service(patch_season)
        .service(delete_season);
}

fn not_found(season_id: i32) -> ApiError {
    ApiError::NotFound(format!("Season with ID {season_id} not found"))
}

/// Query of `GET /api/seasons`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SeasonsQuery {
    /// Club ID (required). FKApi clients send it as `id`, which is accepted too.
    #[serde(alias = "id")]
    #[param(required = true, example = 1)]
    pub club_id: Option<i32>,
}

/// The seasons a club has kits in, newest first.
#[utoipa::path(
    get,
    path = "/api/seasons",
    tag = "Seasons",
    params(SeasonsQuery),
    responses(
        (status = 200, description = "Seasons of the club's kits, newest first", body = [SeasonSummary],
         headers(("X-Cache" = String, description = "HIT, MISS, STALE or BYPASS"), ("ETag" = String)),
         example = json!([{"id": 12, "year": "2024-25"}, {"id": 11, "year": "2023-24"}])),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "club_id missing or not a number", body = ErrorBody,
         example = json!({"detail": "club_id is required"})),
        (status = 404, description = "No such club", body = ErrorBody,
         example = json!({"detail": "Club with ID 999999 not found"})),
    )
)]
#[get("/api/seasons")]
pub async fn list_seasons(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    params: web::Query<SeasonsQuery>,
) -> Result<HttpResponse, ApiError> {
    let club_id = params.into_inner().club_id.ok_or_else(|| ApiError::BadRequest("club_id is required".into()))?;
    // FKApi's key for this list; the entry goes stale when the club row,
    // the club's set of kits, or any season's text changes.
    let query = CachedQuery::new("seasons", generate_cache_key("season", &[&"club", &club_id], &[]), TtlClass::Long)
        .depends_on([fkapi_clubs::scopes::club(club_id), fkapi_clubs::scopes::club_kits(club_id), scopes::SEASONS])
        .allow_stale();
    let db = ctx.db.clone();
    let cached = ctx
        .cache
        .get_or_load(query, move |_| async move {
            let mut conn = fkapi_db::conn(&db).await?;
            if !Club::exists(&mut conn, club_id).await? {
                return Err(ApiError::NotFound(format!("Club with ID {club_id} not found")));
            }
            json_bytes(&SeasonSummary::of_club(&mut conn, club_id).await?)
        })
        .await?;
    Ok(cached_response(&req, &cached, Visibility::Public))
}

/// `first_year`/`second_year` derived and checked against `year` (422 otherwise).
fn resolve(input: &SeasonInput) -> Result<crate::model::SeasonRow, ApiError> {
    input.resolve().map_err(|reason| ApiError::Unprocessable(format!("invalid body: {reason}")))
}

/// Create a season (admin).
#[utoipa::path(
    post,
    path = "/api/seasons",
    tag = "Seasons",
    request_body(content = SeasonInput, example = json!({"year": "2024-25"})),
    security(("api_key" = [])),
    responses(
        (status = 201, description = "Created", body = Season,
         example = json!({"id": 40, "year": "2024-25", "first_year": "2024", "second_year": "2025"})),
        (status = 400, description = "Malformed JSON or a Content-Type other than application/json", body = ErrorBody),
        (status = 401, description = "Missing or wrong X-API-Key", body = ErrorBody),
        (status = 403, description = "Writes disabled on this server", body = ErrorBody),
        (status = 409, description = "A season with this year exists", body = ErrorBody,
         example = json!({"detail": "a row with this year already exists"})),
        (status = 413, description = "Body larger than 64 KiB", body = ErrorBody),
        (status = 422, description = "Invalid body", body = ErrorBody,
         example = json!({"detail": "invalid body: year: 2024-26 must span consecutive years (2024-25 or 2024-2025)"})),
    )
)]
#[post("/api/seasons")]
pub async fn create_season(
    _: AdminKey,
    ctx: web::Data<AppContext>,
    body: ValidatedJson<SeasonInput>,
) -> Result<HttpResponse, ApiError> {
    let row = resolve(&body.0)?;
    let mut conn = fkapi_db::conn(&ctx.db).await?;
    let season = Season::insert(&mut conn, &row).await?;
    ctx.cache.invalidate(&scopes::on_season_change(season.id)).await;
    Ok(HttpResponse::Created().json(season))
}

/// Replace a season (admin).
#[utoipa::path(
    put,
    path = "/api/seasons/{season_id}",
    tag = "Seasons",
    params(("season_id" = i32, Path, description = "Season ID", example = 1)),
    request_body(content = SeasonInput, example = json!({"year": "2024-25", "first_year": "2024", "second_year": "2025"})),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The season as stored", body = Season),
        (status = 400, description = "Malformed JSON, a Content-Type other than application/json, or an id that is not a 32-bit integer", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, description = "Body larger than 64 KiB", body = ErrorBody),
        (status = 404, description = "No such season", body = ErrorBody,
         example = json!({"detail": "Season with ID 999999 not found"})),
        (status = 409, description = "Year taken by another season", body = ErrorBody),
        (status = 422, description = "Invalid body", body = ErrorBody),
    )
)]
#[put("/api/seasons/{season_id}")]
pub async fn replace_season(
    _: AdminKey,
    ctx: web::Data<AppContext>,
    season_id: web::Path<i32>,
    body: ValidatedJson<SeasonInput>,
) -> Result<HttpResponse, ApiError> {
    let season_id = season_id.into_inner();
    let row = resolve(&body.0)?;
    let mut conn = fkapi_db::conn(&ctx.db).await?;
    let season = Season::update(&mut conn, season_id, &row).await?.ok_or_else(|| not_found(season_id))?;
    ctx.cache.invalidate(&scopes::on_season_change(season_id)).await;
    Ok(HttpResponse::Ok().json(season))
}

/// Change some fields of a season (admin). Changing `year` re-derives
/// `first_year` and `second_year`.
#[utoipa::path(
    patch,
    path = "/api/seasons/{season_id}",
    tag = "Seasons",
    params(("season_id" = i32, Path, description = "Season ID", example = 1)),
    request_body(content = SeasonPatch, example = json!({"year": "2024-2025"})),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The season as stored", body = Season),
        (status = 400, description = "Malformed JSON, a Content-Type other than application/json, or an id that is not a 32-bit integer", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, description = "Body larger than 64 KiB", body = ErrorBody),
        (status = 404, description = "No such season", body = ErrorBody),
        (status = 409, description = "Year taken by another season", body = ErrorBody),
        (status = 422, description = "Invalid body", body = ErrorBody),
    )
)]
#[patch("/api/seasons/{season_id}")]
pub async fn patch_season(
    _: AdminKey,
    ctx: web::Data<AppContext>,
    season_id: web::Path<i32>,
    body: ValidatedJson<SeasonPatch>,
) -> Result<HttpResponse, ApiError> {
    let season_id = season_id.into_inner();
    let mut conn = fkapi_db::conn(&ctx.db).await?;
    let current = Season::find(&mut conn, season_id).await?.ok_or_else(|| not_found(season_id))?;
    let row = resolve(&body.0.apply_to(current))?;
    let season = Season::update(&mut conn, season_id, &row).await?.ok_or_else(|| not_found(season_id))?;
    ctx.cache.invalidate(&scopes::on_season_change(season_id)).await;
    Ok(HttpResponse::Ok().json(season))
}

/// Delete a season (admin); 409 while kits still belong to it.
#[utoipa::path(
    delete,
    path = "/api/seasons/{season_id}",
    tag = "Seasons",
    params(("season_id" = i32, Path, description = "Season ID", example = 1)),
    security(("api_key" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "An id that is not a 32-bit integer", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "No such season", body = ErrorBody),
        (status = 409, description = "Kits still refer to it", body = ErrorBody),
    )
)]
#[delete("/api/seasons/{season_id}")]
pub async fn delete_season(
    _: AdminKey,
    ctx: web::Data<AppContext>,
    season_id: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    let season_id = season_id.into_inner();
    let mut conn = fkapi_db::conn(&ctx.db).await?;
    if !Season::delete(&mut conn, season_id).await? {
        return Err(not_found(season_id));
    }
    ctx.cache.invalidate(&scopes::on_season_change(season_id)).await;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_documents_every_route() {
        let doc = SeasonsApi::openapi();
        let seasons = doc.paths.paths.get("/api/seasons");
        assert!(seasons.is_some_and(|p| p.get.is_some() && p.post.is_some()));
        let item = doc.paths.paths.get("/api/seasons/{season_id}");
        assert!(item.is_some_and(|p| p.put.is_some() && p.patch.is_some() && p.delete.is_some()));
        let json = doc.to_json().unwrap_or_default();
        assert!(json.contains("\"name\":\"club_id\""), "club_id parameter undocumented");
    }
}
