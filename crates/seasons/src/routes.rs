use crate::model::{Season, SeasonInput, SeasonPatch, SeasonSummary};
use crate::scopes;
use actix_web::{get, web, HttpRequest, HttpResponse};
use fkapi_cache::Scope;
use fkapi_db::PgConn;
use fkapi_web::admin::{deleted, validate_merged, AdminResource, Written};
use fkapi_web::{cached_response, param_names, ApiError, AppContext, ErrorBody, QueryPairs, Visibility};
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
        (status = 400, description = "club_id missing or not a number, or an unknown parameter", body = ErrorBody,
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
    query: QueryPairs,
) -> Result<HttpResponse, ApiError> {
    query.refuse_unknown(&[param_names::<SeasonsQuery>()])?;
    let club_id = params.into_inner().club_id.ok_or_else(|| ApiError::BadRequest("club_id is required".into()))?;
    let cached = crate::cache::cached_seasons(&ctx, club_id).await?;
    Ok(cached_response(&req, &cached, Visibility::Public))
}

/// `first_year`/`second_year` derived and checked against `year` (422 otherwise).
fn resolve(input: &SeasonInput) -> Result<crate::model::SeasonRow, ApiError> {
    input.resolve().map_err(|reason| ApiError::Unprocessable(format!("invalid body: {reason}")))
}

/// Season writes go through the shared admin path: the row changes, then
/// what it made stale is invalidated before the response is sent.
impl AdminResource for Season {
    const NOUN: &'static str = "Season";
    type Input = SeasonInput;
    type Patch = SeasonPatch;

    async fn create(conn: &mut PgConn, input: SeasonInput) -> Result<Written<Self>, ApiError> {
        let record = Season::insert(conn, &resolve(&input)?).await?;
        Ok(Written { stale: scopes::on_season_change(record.id), record })
    }

    async fn replace(conn: &mut PgConn, id: i32, input: SeasonInput) -> Result<Written<Self>, ApiError> {
        let record = Season::update(conn, id, &resolve(&input)?).await?.ok_or_else(|| Self::not_found(id))?;
        Ok(Written { stale: scopes::on_season_change(id), record })
    }

    async fn patch(conn: &mut PgConn, id: i32, patch: SeasonPatch) -> Result<Written<Self>, ApiError> {
        let current = Season::find(conn, id).await?.ok_or_else(|| Self::not_found(id))?;
        let input = patch.apply_to(current);
        validate_merged(&input)?;
        Self::replace(conn, id, input).await
    }

    async fn delete(conn: &mut PgConn, id: i32) -> Result<Vec<Scope>, ApiError> {
        deleted::<Self>(id, Season::delete(conn, id).await.map(usize::from))?;
        Ok(scopes::on_season_change(id))
    }
}

fkapi_web::admin_routes! {
    Season ("season", tag "Seasons"),
    input SeasonInput, patch SeasonPatch,
    collection "/api/seasons", item "/api/seasons/{season_id}", id "season_id",
    handlers [create_season, replace_season, patch_season, delete_season],
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
