//! Admin writes for kits, brands and competitions: POST (201), PUT and PATCH
//! (200), DELETE (204), all behind [`AdminKey`].
//!
//! Every write follows one path ([`AdminResource`]): the resource runs its
//! statements (in one transaction where there is more than one) and names
//! the scopes it made stale; the handler invalidates them once the
//! transaction has committed and before the response is sent, so no read
//! that starts after the response can see the old data.

mod kit;
mod reference;

pub use kit::{KitInput, KitPatch, KitRecord};
pub use reference::{BrandInput, BrandPatch, CompetitionInput, CompetitionPatch};

use crate::reference::{Brand, Competition};
use actix_web::web;
use fkapi_web::ErrorBody;
use utoipa::OpenApi;

fkapi_web::admin_routes! {
    KitRecord ("kit", tag "Kits"),
    input KitInput, patch KitPatch,
    collection "/api/kits", item "/api/kits/{kit_id}", id "kit_id",
    handlers [create_kit, replace_kit, patch_kit, delete_kit],
}

fkapi_web::admin_routes! {
    Brand ("brand", tag "Brands"),
    input BrandInput, patch BrandPatch,
    collection "/api/brands", item "/api/brands/{brand_id}", id "brand_id",
    handlers [create_brand, replace_brand, patch_brand, delete_brand],
}

fkapi_web::admin_routes! {
    Competition ("competition", tag "Competitions"),
    input CompetitionInput, patch CompetitionPatch,
    collection "/api/competitions", item "/api/competitions/{competition_id}", id "competition_id",
    handlers [create_competition, replace_competition, patch_competition, delete_competition],
}

/// The admin write routes for kits, brands and competitions. Register the
/// read routes first (`/api/kits/bulk` and the search routes must win over
/// `/api/kits/{kit_id}`); methods keep the two sets apart either way.
pub fn configure_writes(cfg: &mut web::ServiceConfig) {
    cfg.service(create_kit)
        .service(replace_kit)
        .service(patch_kit)
        .service(delete_kit)
        .service(create_brand)
        .service(replace_brand)
        .service(patch_brand)
        .service(delete_brand)
        .service(create_competition)
        .service(replace_competition)
        .service(patch_competition)
        .service(delete_competition);
}

#[derive(OpenApi)]
#[openapi(
    paths(
        create_kit,
        replace_kit,
        patch_kit,
        delete_kit,
        create_brand,
        replace_brand,
        patch_brand,
        delete_brand,
        create_competition,
        replace_competition,
        patch_competition,
        delete_competition,
    ),
    components(schemas(
        KitInput,
        KitPatch,
        KitRecord,
        BrandInput,
        BrandPatch,
        Brand,
        CompetitionInput,
        CompetitionPatch,
        Competition,
        ErrorBody
    ))
)]
pub struct KitWritesApi;
