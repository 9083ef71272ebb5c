//! The dependency scopes of club data. Other crates name club scopes only
//! through these functions.

use fkapi_cache::Scope;

/// One club row (name, logo, country): club detail, kit details, kit lists.
pub fn club(id: i32) -> Scope {
    Scope::row("club", id)
}

/// The set of kits a club has and their list fields: the club's kit lists
/// and seasons list. Bumped by kit writes, for the old and the new club.
pub fn club_kits(id: i32) -> Scope {
    Scope::row("club_kits", id)
}

/// Any club row: club search, and lists that show club names unfiltered.
pub const CLUBS: Scope = Scope::table("clubs");

/// What a change to club `id` makes stale.
pub fn on_club_change(id: i32) -> Vec<Scope> {
    vec![club(id), CLUBS]
}
