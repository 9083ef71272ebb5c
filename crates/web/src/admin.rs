//! Admin writes, one path for every resource: POST (201), PUT and PATCH
//! (200), DELETE (204), all behind [`AdminKey`](crate::AdminKey).
//!
//! A resource ([`AdminResource`]) runs its statements (in one transaction
//! where there is more than one) and names the scopes it made stale; the
//! shared handlers invalidate them once the write has committed and before
//! the response is sent, so no read that starts after the response can see
//! the old data. [`admin_routes!`](crate::admin_routes) writes the four
//! documented handlers of a resource.

use crate::{slugify, ApiError, AppContext};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use diesel::result::{DatabaseErrorKind, Error as DieselError, QueryResult};
use fkapi_cache::Scope;
use fkapi_db::PgConn;
use serde::Serialize;
use validator::{Validate, ValidationError};

/// What a write produced: the row to answer with and the scopes it made
/// stale (to invalidate after the commit).
pub struct Written<R> {
    pub record: R,
    pub stale: Vec<Scope>,
}

/// A resource with admin writes. Implementations run their statements and
/// report what went stale; they never touch the cache themselves.
#[allow(async_fn_in_trait)] // actix handlers run on single-threaded workers: no Send bound is needed
pub trait AdminResource: Serialize + Sized {
    /// "Brand", as in "Brand with ID 7 not found".
    const NOUN: &'static str;
    /// The whole resource (POST, PUT), validated by the extractor.
    type Input;
    /// Some fields (PATCH), merged into the current row and then validated.
    type Patch;

    async fn create(conn: &mut PgConn, input: Self::Input) -> Result<Written<Self>, ApiError>;
    async fn replace(conn: &mut PgConn, id: i32, input: Self::Input) -> Result<Written<Self>, ApiError>;
    async fn patch(conn: &mut PgConn, id: i32, patch: Self::Patch) -> Result<Written<Self>, ApiError>;
    /// Returns the scopes the deletion made stale.
    async fn delete(conn: &mut PgConn, id: i32) -> Result<Vec<Scope>, ApiError>;

    fn not_found(id: i32) -> ApiError {
        ApiError::NotFound(format!("{} with ID {id} not found", Self::NOUN))
    }
}

/// Invalidates what the committed write made stale, then answers.
#[tracing::instrument(skip_all, fields(scopes = written.stale.len()))]
pub async fn answer<R: Serialize>(ctx: &AppContext, status: StatusCode, written: Written<R>) -> HttpResponse {
    ctx.cache.invalidate(&written.stale).await;
    HttpResponse::build(status).json(written.record)
}

// The pooled connection is a temporary in each statement below, so it goes
// back to the pool before the Redis round trip of the invalidation.

#[tracing::instrument(skip(ctx, input), fields(resource = R::NOUN))]
pub async fn create<R: AdminResource>(ctx: &AppContext, input: R::Input) -> Result<HttpResponse, ApiError> {
    let written = R::create(&mut *fkapi_db::conn(&ctx.db).await?, input).await?;
    Ok(answer(ctx, StatusCode::CREATED, written).await)
}

#[tracing::instrument(skip(ctx, input), fields(resource = R::NOUN))]
pub async fn replace<R: AdminResource>(ctx: &AppContext, id: i32, input: R::Input) -> Result<HttpResponse, ApiError> {
    let written = R::replace(&mut *fkapi_db::conn(&ctx.db).await?, id, input).await?;
    Ok(answer(ctx, StatusCode::OK, written).await)
}

#[tracing::instrument(skip(ctx, patch), fields(resource = R::NOUN))]
pub async fn modify<R: AdminResource>(ctx: &AppContext, id: i32, patch: R::Patch) -> Result<HttpResponse, ApiError> {
    let written = R::patch(&mut *fkapi_db::conn(&ctx.db).await?, id, patch).await?;
    Ok(answer(ctx, StatusCode::OK, written).await)
}

#[tracing::instrument(skip(ctx), fields(resource = R::NOUN))]
pub async fn remove<R: AdminResource>(ctx: &AppContext, id: i32) -> Result<HttpResponse, ApiError> {
    let stale = R::delete(&mut *fkapi_db::conn(&ctx.db).await?, id).await?;
    ctx.cache.invalidate(&stale).await;
    Ok(HttpResponse::NoContent().finish())
}

/// Validates a PATCH body merged into the current row (422 otherwise).
pub fn validate_merged(input: &impl Validate) -> Result<(), ApiError> {
    input.validate().map_err(|e| ApiError::Unprocessable(format!("invalid body: {e}")))
}

/// The slug a body names, or the one derived from its name plus `suffix`
/// (422 when the name gives no usable slug).
pub fn slug_or_default(slug: Option<String>, name: &str, suffix: &str, max_len: usize) -> Result<String, ApiError> {
    if let Some(slug) = slug {
        return Ok(slug);
    }
    let base = slugify(name);
    let slug = format!("{base}{suffix}");
    if base.is_empty() || slug.len() > max_len {
        return Err(ApiError::Unprocessable(format!(
            "invalid body: slug: cannot be derived from name {name:?}; send a slug (lowercase words of a-z and 0-9 joined by dashes, at most {max_len} characters)"
        )));
    }
    Ok(slug)
}

/// `validator` rule for names: not only white space (the database CHECK).
pub fn validate_name(name: &str) -> Result<(), ValidationError> {
    if name.trim().is_empty() {
        Err(ValidationError::new("blank").with_message("must not be blank".into()))
    } else {
        Ok(())
    }
}

/// `validator` rule for id lists: no id twice.
pub fn validate_distinct(ids: &[i32]) -> Result<(), ValidationError> {
    let mut seen = std::collections::BTreeSet::new();
    if ids.iter().all(|id| seen.insert(*id)) {
        Ok(())
    } else {
        Err(ValidationError::new("distinct").with_message("must not list an id twice".into()))
    }
}

/// Deletes one row of a table that kits refer to with ON DELETE RESTRICT:
/// 404 when absent, 409 (naming the row) while kits still use it.
pub fn deleted<R: AdminResource>(id: i32, result: QueryResult<usize>) -> Result<(), ApiError> {
    match result {
        Ok(0) => Err(R::not_found(id)),
        Ok(_) => Ok(()),
        Err(DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)) => {
            Err(ApiError::Conflict(format!("{} with ID {id} is still used by kits", R::NOUN)))
        }
        Err(other) => Err(other.into()),
    }
}

/// The four admin handlers of one resource, with their OpenAPI docs.
#[macro_export]
macro_rules! admin_routes {
    (
        $record:ident ($noun:literal, tag $tag:literal),
        input $input:ident, patch $patch:ident,
        collection $collection:literal, item $item:literal, id $id:literal,
        handlers [$create:ident, $replace:ident, $modify:ident, $delete:ident] $(,)?
    ) => {
        #[::utoipa::path(
            post,
            path = $collection,
            tag = $tag,
            summary = concat!("Create a ", $noun, " (admin)"),
            request_body = $input,
            security(("api_key" = [])),
            responses(
                (status = 201, description = "Created", body = $record),
                (status = 400, description = "Malformed JSON or a Content-Type other than application/json", body = $crate::ErrorBody),
                (status = 401, description = "Missing or wrong X-API-Key", body = $crate::ErrorBody),
                (status = 403, description = "Writes are disabled: the server has no admin key", body = $crate::ErrorBody),
                (status = 409, description = "Slug already taken", body = $crate::ErrorBody),
                (status = 413, description = "Body larger than 64 KiB", body = $crate::ErrorBody),
                (status = 422, description = "Invalid body, or a referenced row does not exist", body = $crate::ErrorBody),
            )
        )]
        #[::actix_web::post($collection)]
        pub async fn $create(_: $crate::AdminKey, ctx: ::actix_web::web::Data<$crate::AppContext>, body: $crate::ValidatedJson<$input>) -> Result<::actix_web::HttpResponse, $crate::ApiError> {
            $crate::admin::create::<$record>(&ctx, body.0).await
        }

        #[::utoipa::path(
            put,
            path = $item,
            tag = $tag,
            summary = concat!("Replace a ", $noun, " (admin)"),
            params(($id = i32, Path, description = concat!($noun, " ID"), example = 1)),
            request_body = $input,
            security(("api_key" = [])),
            responses(
                (status = 200, description = "Replaced", body = $record),
                (status = 400, description = "Malformed JSON, a Content-Type other than application/json, or an id that is not a 32-bit integer", body = $crate::ErrorBody),
                (status = 401, description = "Missing or wrong X-API-Key", body = $crate::ErrorBody),
                (status = 403, description = "Writes are disabled: the server has no admin key", body = $crate::ErrorBody),
                (status = 404, description = "No such row", body = $crate::ErrorBody),
                (status = 409, description = "Slug already taken", body = $crate::ErrorBody),
                (status = 413, description = "Body larger than 64 KiB", body = $crate::ErrorBody),
                (status = 422, description = "Invalid body, or a referenced row does not exist", body = $crate::ErrorBody),
            )
        )]
        #[::actix_web::put($item)]
        pub async fn $replace(
            _: $crate::AdminKey,
            ctx: ::actix_web::web::Data<$crate::AppContext>,
            id: ::actix_web::web::Path<i32>,
            body: $crate::ValidatedJson<$input>,
        ) -> Result<::actix_web::HttpResponse, $crate::ApiError> {
            $crate::admin::replace::<$record>(&ctx, id.into_inner(), body.0).await
        }

        #[::utoipa::path(
            patch,
            path = $item,
            tag = $tag,
            summary = concat!("Change some fields of a ", $noun, " (admin)"),
            description = "Absent fields keep their value, `null` clears an optional field; the merged whole is validated.",
            params(($id = i32, Path, description = concat!($noun, " ID"), example = 1)),
            request_body = $patch,
            security(("api_key" = [])),
            responses(
                (status = 200, description = "Changed", body = $record),
                (status = 400, description = "Malformed JSON, a Content-Type other than application/json, or an id that is not a 32-bit integer", body = $crate::ErrorBody),
                (status = 401, description = "Missing or wrong X-API-Key", body = $crate::ErrorBody),
                (status = 403, description = "Writes are disabled: the server has no admin key", body = $crate::ErrorBody),
                (status = 404, description = "No such row", body = $crate::ErrorBody),
                (status = 409, description = "Slug already taken", body = $crate::ErrorBody),
                (status = 413, description = "Body larger than 64 KiB", body = $crate::ErrorBody),
                (status = 422, description = "Invalid body, or a referenced row does not exist", body = $crate::ErrorBody),
            )
        )]
        #[::actix_web::patch($item)]
        pub async fn $modify(
            _: $crate::AdminKey,
            ctx: ::actix_web::web::Data<$crate::AppContext>,
            id: ::actix_web::web::Path<i32>,
            body: $crate::JsonBody<$patch>,
        ) -> Result<::actix_web::HttpResponse, $crate::ApiError> {
            $crate::admin::modify::<$record>(&ctx, id.into_inner(), body.into_inner()).await
        }

        #[::utoipa::path(
            delete,
            path = $item,
            tag = $tag,
            summary = concat!("Delete a ", $noun, " (admin)"),
            params(($id = i32, Path, description = concat!($noun, " ID"), example = 1)),
            security(("api_key" = [])),
            responses(
                (status = 204, description = "Deleted"),
                (status = 400, description = "An id that is not a 32-bit integer", body = $crate::ErrorBody),
                (status = 401, description = "Missing or wrong X-API-Key", body = $crate::ErrorBody),
                (status = 403, description = "Writes are disabled: the server has no admin key", body = $crate::ErrorBody),
                (status = 404, description = "No such row", body = $crate::ErrorBody),
                (status = 409, description = "Still referenced by other rows", body = $crate::ErrorBody),
            )
        )]
        #[::actix_web::delete($item)]
        pub async fn $delete(_: $crate::AdminKey, ctx: ::actix_web::web::Data<$crate::AppContext>, id: ::actix_web::web::Path<i32>) -> Result<::actix_web::HttpResponse, $crate::ApiError> {
            $crate::admin::remove::<$record>(&ctx, id.into_inner()).await
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_slugs_come_from_the_name() {
        assert_eq!(slug_or_default(None, "Adidas", "-kits", 200).ok().as_deref(), Some("adidas-kits"));
        assert_eq!(slug_or_default(Some("own".into()), "Adidas", "-kits", 200).ok().as_deref(), Some("own"));
        assert!(slug_or_default(None, "¡¿!", "", 300).is_err());
        assert!(slug_or_default(None, &"a".repeat(200), "-kits", 200).is_err());
    }

    #[test]
    fn id_lists_must_be_distinct() {
        assert!(validate_distinct(&[1, 2, 3]).is_ok());
        assert!(validate_distinct(&[1, 2, 1]).is_err());
        assert!(validate_name(" \t").is_err() && validate_name("Nike").is_ok());
    }
}
