//! The dependency scopes of season data.

use fkapi_cache::Scope;

/// One season row (its year text): kit details, kit lists.
pub fn season(id: i32) -> Scope {
    Scope::row("season", id)
}

/// Any season row: seasons lists (they show year text), season search.
pub const SEASONS: Scope = Scope::table("seasons");

/// What a change to season `id` makes stale.
pub fn on_season_change(id: i32) -> Vec<Scope> {
    vec![season(id), SEASONS]
}
