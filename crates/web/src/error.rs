use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use fkapi_cache::CacheError;
use fkapi_db::DbError;
use serde::Serialize;

/// Every error body: `{"detail": "<message>"}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    #[schema(example = "Kit with ID 999999 not found")]
    pub detail: String,
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
    #[error("{0}")]
    Unavailable(String),
    /// The cause is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
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
            DbError::Unavailable(cause) => ApiError::Unavailable(cause),
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
                DatabaseErrorKind::ClosedConnection => ApiError::Unavailable(info.message().to_string()),
                _ => ApiError::Internal(info.message().to_string()),
            },
            other => ApiError::Internal(other.to_string()),
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
        ApiError::Internal(err.to_string())
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(err: serde_json::Error) -> Self {
        ApiError::Internal(format!("serialisation failed: {err}"))
    }
}
