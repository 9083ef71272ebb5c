//! Who is calling: the admin (the `X-API-Key`, checked in constant time by
//! `fkapi_web::AdminKey`) or a user (`Authorization: Bearer <token>`).

use crate::token;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, ResponseError};
use fkapi_web::{AdminKey, ApiError, AppContext, Cause};
use futures::future::LocalBoxFuture;

/// The authenticated caller of a user route. Extract it before anything
/// else (in particular before any cache lookup): missing or wrong
/// credentials are a 401 whatever the rest of the request says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    Admin,
    User(i32),
}

impl Caller {
    /// The admin may act on any user; a user only on themself (403).
    pub fn require(self, user_id: i32) -> Result<(), ApiError> {
        match self {
            Caller::Admin => Ok(()),
            Caller::User(id) if id == user_id => Ok(()),
            Caller::User(_) => Err(ApiError::Forbidden("you may only access your own user data".into())),
        }
    }
}

impl FromRequest for Caller {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await })
    }
}

/// The token of an `Authorization: Bearer …` header; `Err` for another
/// scheme or an unreadable value. Never echoes the value.
pub fn bearer_token(req: &HttpRequest) -> Result<Option<&str>, ApiError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else { return Ok(None) };
    let invalid = || ApiError::Unauthorized("invalid Authorization header: expected `Bearer <token>`".into());
    let text = value.to_str().map_err(|_| invalid())?;
    let (scheme, token) = text.trim().split_once(' ').ok_or_else(invalid)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(invalid());
    }
    Ok(Some(token.trim()))
}

async fn authenticate(req: &HttpRequest) -> Result<Caller, actix_web::Error> {
    if req.headers().contains_key("x-api-key") {
        AdminKey::extract(req).await?;
        return Ok(Caller::Admin);
    }
    let Some(presented) = bearer_token(req).map_err(challenge)? else {
        return Err(challenge(ApiError::Unauthorized(
            "authentication required: send `Authorization: Bearer <token>` (or the admin X-API-Key)".into(),
        )));
    };
    let invalid = || challenge(ApiError::Unauthorized("invalid token".into()));
    if !token::well_formed(presented) {
        return Err(invalid());
    }
    let ctx = req
        .app_data::<web::Data<AppContext>>()
        .ok_or_else(|| ApiError::Internal(Cause::msg("application context missing")))?;
    // Always the database, never the limiter's short-lived cache: a rotated
    // token must stop working everywhere at once.
    let mut conn = fkapi_db::conn(&ctx.db).await.map_err(ApiError::from)?;
    let user = token::user_of_hash(&mut conn, &token::hash(presented)).await.map_err(ApiError::from)?;
    user.map(Caller::User).ok_or_else(invalid)
}

/// A 401 that names the bearer scheme in `WWW-Authenticate` (the shared
/// error writer names the admin key's).
fn challenge(err: ApiError) -> actix_web::Error {
    let mut response = err.error_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    actix_web::error::InternalError::from_response(err, response).into()
}
