//! The dependency scopes of kits and their reference data.

use fkapi_cache::Scope;
use fkapi_clubs::scopes::club_kits;

/// One kit row and its many-to-many rows: that kit's detail.
pub fn kit(id: i32) -> Scope {
    Scope::row("kit", id)
}

/// Any kit row: unfiltered kit lists, kit search, bulk lookups by slug.
pub const KITS: Scope = Scope::table("kits");

pub fn brand(id: i32) -> Scope {
    Scope::row("brand", id)
}

/// Any brand row: brand search.
pub const BRANDS: Scope = Scope::table("brands");

pub fn competition(id: i32) -> Scope {
    Scope::row("competition", id)
}

/// Any competition row: competition search.
pub const COMPETITIONS: Scope = Scope::table("competitions");

/// Kit types and colours have no write routes; out-of-band changes bump
/// these whole-table scopes.
pub const KIT_TYPES: Scope = Scope::table("kit_types");
pub const COLORS: Scope = Scope::table("colors");

/// What a change to kit `id` makes stale. `clubs` are the kit's club before
/// and after the change (the same one twice when it did not move).
pub fn on_kit_change(id: i32, clubs: &[i32]) -> Vec<Scope> {
    let mut scopes = vec![kit(id), KITS];
    for club in clubs {
        let scope = club_kits(*club);
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    scopes
}

pub fn on_brand_change(id: i32) -> Vec<Scope> {
    vec![brand(id), BRANDS]
}

pub fn on_competition_change(id: i32) -> Vec<Scope> {
    vec![competition(id), COMPETITIONS]
}
