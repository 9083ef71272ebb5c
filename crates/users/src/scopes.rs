//! The dependency scopes of user data. Other crates name them only through
//! these functions.

use fkapi_cache::Scope;

/// The set of entries in one user's collection and their own fields (size,
/// condition, notes): every cached page of that collection. The kit, club
/// and season rows a page shows have their own scopes.
pub fn user_collection(user_id: i32) -> Scope {
    Scope::row("user_collection", user_id)
}

/// What a change to user `user_id`'s collection makes stale.
pub fn on_collection_change(user_id: i32) -> Vec<Scope> {
    vec![user_collection(user_id)]
}
