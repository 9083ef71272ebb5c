use crate::model::{
    AddError, AddKit, CollectionData, CollectionEntry, CollectionPage, IssuedToken, NewUser, PageInfo, User,
};
use crate::{scopes, token, Caller, TokenCache};
use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use fkapi_cache::{CachedQuery, LoadCtx, Scope};
use fkapi_db::PgPool;
use fkapi_kits::KitListItem;
use fkapi_web::{
    cached_response, json_bytes, param_names, AdminKey, ApiError, AppContext, ErrorBody, PageLinks, Pagination,
    QueryPairs, ValidatedJson, Visibility,
};
use utoipa::OpenApi;
use validator::Validate;

#[derive(OpenApi)]
#[openapi(
    paths(create_user, get_user, rotate_token, get_collection, add_to_collection, remove_from_collection),
    components(schemas(
        User,
        NewUser,
        IssuedToken,
        AddKit,
        CollectionEntry,
        CollectionData,
        CollectionPage,
        PageInfo,
        PageLinks,
        KitListItem,
        ErrorBody
    ))
)]
pub struct UsersApi;

/// Registers the user and collection routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_user)
        .service(get_user)
        .service(rotate_token)
        .service(get_collection)
        .service(add_to_collection)
        .service(remove_from_collection);
}

fn user_not_found(user_id: i32) -> ApiError {
    ApiError::NotFound(format!("User with ID {user_id} not found"))
}

/// Create a user (admin). The token is in this response only; only its hash is stored.
#[utoipa::path(
    post,
    path = "/api/users",
    tag = "Users",
    request_body = NewUser,
    security(("api_key" = [])),
    responses(
        (status = 201, description = "Created; store the token now", body = IssuedToken),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "Username taken", body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
#[post("/api/users")]
pub async fn create_user(
    _: AdminKey,
    ctx: web::Data<AppContext>,
    body: ValidatedJson<NewUser>,
) -> Result<HttpResponse, ApiError> {
    let (token, hash) = token::generate();
    let mut conn = fkapi_db::conn(&ctx.db).await?;
    let user = User::insert(&mut conn, &body.0.username, &hash).await?;
    Ok(HttpResponse::Created().insert_header(("cache-control", "no-store")).json(IssuedToken {
        id: user.id,
        username: user.username,
        token,
    }))
}

/// One user (the user themself or the admin); never shows the token.
#[utoipa::path(
    get,
    path = "/api/users/{user_id}",
    tag = "Users",
    params(("user_id" = i32, Path, description = "User ID", example = 1)),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = User), (status = 401, body = ErrorBody),
        (status = 403, description = "Another user", body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
#[get("/api/users/{user_id}")]
pub async fn get_user(
    caller: Caller,
    ctx: web::Data<AppContext>,
    user_id: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    let user_id = user_id.into_inner();
    caller.require(user_id)?;
    let mut conn = fkapi_db::conn(&ctx.db).await?;
    let user = User::find(&mut conn, user_id).await?.ok_or_else(|| user_not_found(user_id))?;
    Ok(HttpResponse::Ok().insert_header(("cache-control", "private, no-store")).json(user))
}

/// Replace a user's token (the user themself or the admin): the old one stops working at once.
#[utoipa::path(
    post,
    path = "/api/users/{user_id}/token",
    tag = "Users",
    params(("user_id" = i32, Path, description = "User ID", example = 1)),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The new token; store it now", body = IssuedToken),
        (status = 401, body = ErrorBody), (status = 403, description = "Another user", body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
#[post("/api/users/{user_id}/token")]
pub async fn rotate_token(
    caller: Caller,
    ctx: web::Data<AppContext>,
    tokens: Option<web::Data<TokenCache>>,
    user_id: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    let user_id = user_id.into_inner();
    caller.require(user_id)?;
    let (token, hash) = token::generate();
    let mut conn = fkapi_db::conn(&ctx.db).await?;
    let (user, old) = User::rotate(&mut conn, user_id, &hash).await?.ok_or_else(|| user_not_found(user_id))?;
    if let (Some(tokens), Ok(old)) = (tokens, token::TokenHash::try_from(old.as_slice())) {
        tokens.forget(&old);
    }
    Ok(HttpResponse::Ok().insert_header(("cache-control", "no-store")).json(IssuedToken {
        id: user.id,
        username: user.username,
        token,
    }))
}

/// Builds one collection page in three phases, so the entry records the
/// generation of every row it shows *before* reading that row (DESIGN.md,
/// guarantee 1; the same discipline as the kit detail):
///
/// 1. which kits are on the page: covered by `user_collection:<id>`,
///    recorded by the cache before this runs;
/// 2. `kit:<id>` of each, recorded, then which club and season each kit
///    points at (a kit moved after this bumps `kit:<id>`);
/// 3. `club:<id>` and `season:<id>` recorded, then the rows that build the
///    response.
///
/// Resolving the club ids in phase one instead would read the kit rows
/// before their generation was taken: a kit moved to another club in
/// between would leave the entry blind to renames of the new club.
#[tracing::instrument(skip(db, load))]
async fn load_collection(
    db: PgPool,
    load: LoadCtx,
    user_id: i32,
    page: i64,
    page_size: i64,
) -> Result<Vec<u8>, ApiError> {
    let mut conn = fkapi_db::conn(&db).await?;
    if !User::exists(&mut conn, user_id).await? {
        return Err(user_not_found(user_id));
    }
    let total = CollectionEntry::count(&mut conn, user_id).await?;
    // A page past the last serves the last, as FKApi's paginator does.
    let links = PageLinks::new(page, page_size, total);
    let kit_ids = CollectionEntry::page_kit_ids(&mut conn, user_id, links.current_page, page_size).await?;
    load.depend_on(kit_ids.iter().map(|id| fkapi_kits::scopes::kit(*id))).await;
    let refs = CollectionEntry::kit_refs(&mut conn, &kit_ids).await?;
    let mut shown: Vec<Scope> = Vec::with_capacity(refs.len() * 2);
    for (club, season) in refs {
        for scope in [fkapi_clubs::scopes::club(club), fkapi_seasons::scopes::season(season)] {
            if !shown.contains(&scope) {
                shown.push(scope);
            }
        }
    }
    load.depend_on(shown).await;
    let entries = CollectionEntry::load(&mut conn, user_id, &kit_ids).await?;
    json_bytes(&CollectionPage {
        status: "ready",
        data: CollectionData { success: true, entries, total_entries: total },
        pagination: PageInfo { links, page_size },
    })
}

/// A user's kit collection, newest first (the user themself or the admin),
/// in FKApi's shape with `"status": "ready"`. A page past the last serves
/// the last one, as FKApi's paginator does.
///
/// Cached per user and page for a day (VERY_LONG), `Cache-Control: private`;
/// adding or removing a kit, or a change to a kit, club or season shown,
/// is visible on the next read.
#[utoipa::path(
    get,
    path = "/api/user-collection/{user_id}",
    tag = "Users",
    params(("user_id" = i32, Path, description = "User ID", example = 1), Pagination),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "One page of the collection", body = CollectionPage,
         headers(("X-Cache" = String, description = "HIT, MISS, STALE or BYPASS"), ("ETag" = String),
                 ("Cache-Control" = String, description = "private"))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "A parameter is malformed, out of range or unknown", body = ErrorBody),
        (status = 401, description = "No or invalid credentials", body = ErrorBody),
        (status = 403, description = "Another user's collection", body = ErrorBody),
        (status = 404, description = "No such user (admin)", body = ErrorBody),
    )
)]
#[get("/api/user-collection/{user_id}")]
pub async fn get_collection(
    caller: Caller,
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    user_id: web::Path<i32>,
    paging: web::Query<Pagination>,
    query: QueryPairs,
) -> Result<HttpResponse, ApiError> {
    query.refuse_unknown(&[param_names::<Pagination>()])?;
    let user_id = user_id.into_inner();
    // Authorisation before the cache is even asked: the key names the user,
    // but only the owner (or the admin) ever gets to look it up.
    caller.require(user_id)?;
    let (page, page_size) = paging.into_inner().resolve()?;
    let query = CachedQuery::new(crate::cache::collection_key(user_id, page, page_size))
        .depends_on([scopes::user_collection(user_id)]);
    let db = ctx.db.clone();
    let cached = ctx.cache.get_or_load(query, move |load| load_collection(db, load, user_id, page, page_size)).await?;
    Ok(cached_response(&req, &cached, Visibility::Private))
}

/// Add a kit to a collection (the user themself or the admin).
#[utoipa::path(
    post,
    path = "/api/user-collection/{user_id}/kits",
    tag = "Users",
    params(("user_id" = i32, Path, description = "User ID", example = 1)),
    request_body = AddKit,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "Added", body = CollectionEntry),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "No such user (admin)", body = ErrorBody),
        (status = 409, description = "Already in the collection", body = ErrorBody),
        (status = 422, description = "Unknown kit, or a bad size, condition or notes", body = ErrorBody),
    )
)]
#[post("/api/user-collection/{user_id}/kits")]
#[tracing::instrument(skip_all, fields(user_id = %user_id))]
pub async fn add_to_collection(
    caller: Caller,
    ctx: web::Data<AppContext>,
    user_id: web::Path<i32>,
    body: web::Json<AddKit>,
) -> Result<HttpResponse, ApiError> {
    let user_id = user_id.into_inner();
    caller.require(user_id)?;
    let input = body.into_inner();
    input.validate().map_err(|e| ApiError::Unprocessable(format!("invalid body: {e}")))?;
    let mut conn = fkapi_db::conn(&ctx.db).await?;
    let entry = match CollectionEntry::add(&mut conn, user_id, &input).await {
        Ok(entry) => entry,
        Err(AddError::AlreadyThere) => {
            return Err(ApiError::Conflict(format!("Kit with ID {} is already in the collection", input.kit_id)))
        }
        Err(AddError::NoSuchKit) => {
            return Err(ApiError::Unprocessable(format!("Kit with ID {} not found", input.kit_id)))
        }
        Err(AddError::NoSuchUser) => return Err(user_not_found(user_id)),
        Err(AddError::Query(err)) => return Err(err.into()),
    };
    ctx.cache.invalidate(&scopes::on_collection_change(user_id)).await;
    Ok(HttpResponse::Created().json(entry))
}

/// Remove a kit from a collection (the user themself or the admin).
#[utoipa::path(
    delete,
    path = "/api/user-collection/{user_id}/kits/{kit_id}",
    tag = "Users",
    params(("user_id" = i32, Path, description = "User ID", example = 1),
           ("kit_id" = i32, Path, description = "Kit ID", example = 1)),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "Not in the collection", body = ErrorBody),
    )
)]
#[delete("/api/user-collection/{user_id}/kits/{kit_id}")]
#[tracing::instrument(skip_all, fields(path = ?path))]
pub async fn remove_from_collection(
    caller: Caller,
    ctx: web::Data<AppContext>,
    path: web::Path<(i32, i32)>,
) -> Result<HttpResponse, ApiError> {
    let (user_id, kit_id) = path.into_inner();
    caller.require(user_id)?;
    let mut conn = fkapi_db::conn(&ctx.db).await?;
    if !CollectionEntry::remove(&mut conn, user_id, kit_id).await? {
        return Err(ApiError::NotFound(format!("Kit with ID {kit_id} is not in the collection of user {user_id}")));
    }
    ctx.cache.invalidate(&scopes::on_collection_change(user_id)).await;
    Ok(HttpResponse::NoContent().finish())
}
