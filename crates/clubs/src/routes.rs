use crate::model::{Club, ClubInput, ClubPatch};
use crate::scopes;
use actix_web::{get, web, HttpRequest, HttpResponse};
use fkapi_cache::Scope;
use fkapi_db::PgConn;
use fkapi_web::admin::{deleted, validate_merged, AdminResource, Written};
use fkapi_web::{cached_response, ApiError, AppContext, ErrorBody, Visibility};
use utoipa::OpenApi;

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
    let cached = crate::cache::cached_club(&ctx, club_id.into_inner()).await?;
    Ok(cached_response(&req, &cached, Visibility::Public))
}

/// Club writes go through the shared admin path: the row changes, then
/// what it made stale is invalidated before the response is sent.
impl AdminResource for Club {
    const NOUN: &'static str = "Club";
    type Input = ClubInput;
    type Patch = ClubPatch;

    async fn create(conn: &mut PgConn, input: ClubInput) -> Result<Written<Self>, ApiError> {
        let record = Club::insert(conn, &input.into_row()?).await?;
        Ok(Written { stale: scopes::on_club_change(record.id), record })
    }

    async fn replace(conn: &mut PgConn, id: i32, input: ClubInput) -> Result<Written<Self>, ApiError> {
        let record = Club::update(conn, id, &input.into_row()?).await?.ok_or_else(|| Self::not_found(id))?;
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
