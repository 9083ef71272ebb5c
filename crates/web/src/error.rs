use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use fkapi_cache::CacheError;
use fkapi_db::DbError;
use serde::Serialize;
use std::fmt;
use std::sync::Arc;

/// Every error body: `{"detail": "<message>"}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    #[schema(example = "Kit with ID 999999 not found")]
    pub detail: String,
}

/// The cause of a 500 or 503, kept whole for the log: the error and its
/// source chain (`Display` prints `error: source: source…`). Never sent to
/// the client. Shared, so one failed load can answer every waiting request.
#[derive(Clone)]
pub struct Cause(Arc<dyn std::error::Error + Send + Sync>);

impl Cause {
    pub fn new(err: impl std::error::Error + Send + Sync + 'static) -> Cause {
        Cause(Arc::new(err))
    }

    /// A cause that is only a sentence (no error value to keep).
    pub fn msg(text: impl Into<String>) -> Cause {
        #[derive(Debug, thiserror::Error)]
        #[error("{0}")]
        struct Message(String);
        Cause::new(Message(text.into()))
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(err) = source {
            write!(f, ": {err}")?;
            source = err.source();
        }
        Ok(())
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Errors a request can end in. Cloneable so one failed load can answer
/// every request that waited for it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{detail}")]
    TooManyRequests { detail: String, retry_after_secs: u64 },
    /// The cause is logged, never sent.
    #[error("dependency unavailable: {0}")]
    Unavailable(Cause),
    /// The cause is logged, never sent.
    #[error("internal error: {0}")]
    Internal(Cause),
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let detail = match self {
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                "An internal error occurred.".to_string()
            }
            ApiError::Unavailable(cause) => {
                tracing::warn!(%cause, "dependency unavailable");
                "The service is temporarily unavailable; try again shortly.".to_string()
            }
            other => other.to_string(),
        };
        let mut response = HttpResponse::build(self.status_code());
        if let ApiError::TooManyRequests { retry_after_secs, .. } = self {
            response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
        }
        if matches!(self, ApiError::Unauthorized(_)) {
            response.insert_header((header::WWW_AUTHENTICATE, "ApiKey header=\"X-API-Key\""));
        }
        response.json(ErrorBody { detail })
    }
}

impl From<DbError> for ApiError {
    fn from(err: DbError) -> Self {
        match err {
            err @ DbError::Unavailable(_) => ApiError::Unavailable(Cause::new(err)),
            DbError::Query(DieselError::NotFound) => ApiError::NotFound("Not found".into()),
            DbError::Query(DieselError::DatabaseError(kind, info)) => match kind {
                DatabaseErrorKind::UniqueViolation => ApiError::Conflict(format!(
                    "a row with this {} already exists",
                    info.constraint_name().map_or("value".to_string(), unique_field)
                )),
                DatabaseErrorKind::ForeignKeyViolation => ApiError::Conflict(
                    "the row is referenced by other rows, or refers to a row that does not exist".into(),
                ),
                DatabaseErrorKind::CheckViolation | DatabaseErrorKind::NotNullViolation => {
                    ApiError::Unprocessable(format!("the values break a rule of the catalogue: {}", info.message()))
                }
                DatabaseErrorKind::ClosedConnection => ApiError::Unavailable(Cause::msg(info.message())),
                _ => ApiError::Internal(Cause::msg(info.message())),
            },
            other => ApiError::Internal(Cause::new(other)),
        }
    }
}

impl From<DieselError> for ApiError {
    fn from(err: DieselError) -> Self {
        DbError::from(err).into()
    }
}

/// `clubs_slug_key` → `slug`.
fn unique_field(constraint: &str) -> String {
    let trimmed = constraint.strip_suffix("_key").unwrap_or(constraint);
    trimmed.split_once('_').map_or(trimmed, |(_, field)| field).to_string()
}

impl From<CacheError> for ApiError {
    fn from(err: CacheError) -> Self {
        ApiError::Internal(Cause::new(err))
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(err: serde_json::Error) -> Self {
        ApiError::Internal(Cause::new(err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("pool timed out")]
    struct PoolTimedOut(#[source] std::io::Error);

    #[test]
    fn a_cause_keeps_its_chain_for_the_log_and_the_body_stays_opaque() {
        let db = DbError::Unavailable(Box::new(PoolTimedOut(std::io::Error::other("connection refused"))));
        let err = ApiError::from(db);
        assert_eq!(err.to_string(), "dependency unavailable: database unavailable: pool timed out: connection refused");
        let response = err.error_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = actix_web::body::MessageBody::try_into_bytes(response.into_body()).unwrap_or_default();
        assert_eq!(&body[..], br#"{"detail":"The service is temporarily unavailable; try again shortly."}"#);
    }
}
