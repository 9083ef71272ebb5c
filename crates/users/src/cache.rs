//! What the users domain tells the cache: the collection cache type, the
//! scopes a change to `collection_entries` makes stale, and the operator
//! scope. Collections are private and per user, so nothing is warmed.

use crate::scopes;
use fkapi_cache::{CacheKey, CacheType, Domain, OperatorScope, RowChange, Scope, TtlClass};
use fkapi_web::AppContext;

/// `GET /api/user-collection/{id}`; key `user_collection_<id>_page_<p>_page_size_<n>`.
pub static USER_COLLECTION: CacheType = CacheType::new("user_collection", "user_collection", TtlClass::VeryLong);

static CACHE_TYPES: [&CacheType; 1] = [&USER_COLLECTION];

pub fn domain() -> Domain<AppContext> {
    Domain {
        name: "users",
        cache_types: &CACHE_TYPES,
        on_change,
        operator_scopes: vec![OperatorScope::row("user_collection", |_, id| {
            Box::pin(async move { Ok(scopes::on_collection_change(id)) })
        })],
        warm: Vec::new(),
    }
}

/// Collection entry changes are reported with the user ids (see the
/// users_collections migration).
fn on_change(change: &RowChange<'_>) -> Option<Vec<Scope>> {
    (change.table == "collection_entries")
        .then(|| change.ids.iter().flat_map(|id| scopes::on_collection_change(*id)).collect())
}

pub fn collection_key(user_id: i32, page: i64, page_size: i64) -> CacheKey {
    USER_COLLECTION.key(&[&user_id, &"page", &page, &"page_size", &page_size], &[])
}
