//! Assembly of what each domain registers with the cache. The binary only
//! loops over this registry: cache types for the entries gauge, table
//! changes for out-of-band invalidation, operator scopes for
//! `fkapi invalidate`, warm sources for `warm-cache`.

use fkapi_cache::Registry;
use fkapi_web::AppContext;
use std::sync::LazyLock;

static REGISTRY: LazyLock<Registry<AppContext>> = LazyLock::new(|| {
    Registry::new(vec![
        fkapi_clubs::domain(),
        fkapi_seasons::domain(),
        fkapi_kits::domain(),
        fkapi_search::domain(),
        fkapi_users::domain(),
    ])
});

/// The registry of every domain (immutable, built on first use).
pub fn registry() -> &'static Registry<AppContext> {
    &REGISTRY
}
