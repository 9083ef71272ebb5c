//! The OpenAPI document: each domain crate describes its own routes; this
//! merges them and adds the admin-key security scheme.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as Document;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "fkapi",
        description = "Football-kit catalogue API (FKApi-compatible) with a Redis cache that is fresh after every write.\n\nCached responses carry `X-Cache` (HIT, MISS, STALE, BYPASS), a weak `ETag` (send `If-None-Match` for a 304) and `Cache-Control`. Errors are `{\"detail\": \"…\"}`. Write routes need the `X-API-Key` header; a user's own routes (`/api/users/{user_id}`, `/api/user-collection/…`) take `Authorization: Bearer <token>`. Requests are rate limited per client (FKAPI_RATE_LIMIT, 100/hour by default): responses carry `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`, and a client over the limit gets 429 with `Retry-After`.",
        license(name = "MIT")
    ),
    tags(
        (name = "Clubs"), (name = "Seasons"), (name = "Kits"), (name = "Brands"), (name = "Competitions"),
        (name = "Search"), (name = "Users"), (name = "System"), (name = "Cache")
    )
)]
struct Root;

pub fn document() -> Document {
    let mut doc = Root::openapi();
    doc.merge(crate::ops::OpsApi::openapi());
    doc.merge(fkapi_clubs::ClubsApi::openapi());
    doc.merge(fkapi_seasons::SeasonsApi::openapi());
    doc.merge(fkapi_kits::KitsApi::openapi());
    doc.merge(fkapi_kits::KitWritesApi::openapi());
    doc.merge(fkapi_search::SearchApi::openapi());
    doc.merge(fkapi_users::UsersApi::openapi());
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme("api_key", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))));
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("A user's token, from POST /api/users or POST /api/users/{user_id}/token"))
                .build(),
        ),
    );
    fkapi_web::document_extractor_errors(&mut doc);
    doc
}

/// The document as committed in `openapi/openapi.json`.
pub fn pretty_json() -> Result<String, serde_json::Error> {
    let mut text = document().to_pretty_json()?;
    text.push('\n');
    Ok(text)
}
