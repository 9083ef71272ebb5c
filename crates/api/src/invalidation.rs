//! Maps an operator's "invalidate <scope> [id]" onto the domain crates'
//! invalidation rules, so a manual invalidation of club 3 drops exactly
//! what a write to club 3 would.

use fkapi_cache::Scope;
use fkapi_clubs::scopes as clubs;
use fkapi_kits::scopes as kits;
use fkapi_seasons::scopes as seasons;

/// The scope names an operator may use.
pub const KNOWN: &[&str] = &[
    "all",
    "club",
    "kit",
    "season",
    "brand",
    "competition",
    "clubs",
    "kits",
    "seasons",
    "brands",
    "competitions",
    "kit_types",
    "colors",
];

/// `None` for `all` (bump the epoch); otherwise the scopes to bump.
pub fn scopes_for(kind: &str, id: Option<i32>) -> Result<Option<Vec<Scope>>, String> {
    let row = |kind: &str| id.ok_or_else(|| format!("scope {kind:?} needs an id"));
    let table_only = |scope: Scope| match id {
        None => Ok(Some(vec![scope])),
        Some(_) => Err(format!("scope {kind:?} takes no id")),
    };
    match kind {
        "all" => match id {
            None => Ok(None),
            Some(_) => Err("scope \"all\" takes no id".into()),
        },
        "club" => {
            let id = row(kind)?;
            let mut scopes = clubs::on_club_change(id);
            scopes.push(clubs::club_kits(id));
            Ok(Some(scopes))
        }
        "kit" => Ok(Some(kits::on_kit_change(row(kind)?, &[]))),
        "season" => Ok(Some(seasons::on_season_change(row(kind)?))),
        "brand" => Ok(Some(kits::on_brand_change(row(kind)?))),
        "competition" => Ok(Some(kits::on_competition_change(row(kind)?))),
        "clubs" => table_only(clubs::CLUBS),
        "kits" => table_only(kits::KITS),
        "seasons" => table_only(seasons::SEASONS),
        "brands" => table_only(kits::BRANDS),
        "competitions" => table_only(kits::COMPETITIONS),
        "kit_types" => table_only(kits::KIT_TYPES),
        "colors" => table_only(kits::COLORS),
        other => Err(format!("unknown scope {:?}; known scopes: {}", other.chars().take(40).collect::<String>(), KNOWN.join(", "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn club_expands_to_its_rows_lists_and_search() {
        let scopes = scopes_for("club", Some(3)).ok().flatten().unwrap_or_default();
        let names: Vec<String> = scopes.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["club:3", "clubs", "club_kits:3"]);
    }

    #[test]
    fn ids_are_required_or_refused() {
        assert!(scopes_for("club", None).is_err());
        assert!(scopes_for("clubs", Some(1)).is_err());
        assert!(scopes_for("all", None).is_ok_and(|s| s.is_none()));
        assert!(scopes_for("club*", None).is_err());
    }
}
