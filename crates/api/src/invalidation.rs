//! Maps an operator's "invalidate <scope> [id]" onto the domain crates'
//! invalidation rules, so a manual invalidation of club 3 drops exactly
//! what a write to club 3 would.

use fkapi_cache::Scope;
use fkapi_clubs::scopes as clubs;
use fkapi_kits::scopes as kits;
use fkapi_seasons::scopes as seasons;
use fkapi_users::scopes as users;

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
    "user_collection",
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
        "user_collection" => Ok(Some(users::on_collection_change(row(kind)?))),
        other => Err(format!(
            "unknown scope {:?}; known scopes: {}",
            other.chars().take(40).collect::<String>(),
            KNOWN.join(", ")
        )),
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

/// The scopes made stale by a change notified by the database triggers
/// (`<table>|<ids>|<club ids>`, see the change_notifications migration).
/// `None` means "everything in that table" (TRUNCATE): bump the epoch.
pub fn scopes_for_notification(payload: &str) -> Result<Option<Vec<Scope>>, String> {
    let mut parts = payload.splitn(3, '|');
    let table = parts.next().unwrap_or_default();
    let ids_text = parts.next().ok_or_else(|| format!("malformed change notification {payload:?}"))?;
    if ids_text == "*" {
        return Ok(None);
    }
    let numbers = |text: &str| -> Result<Vec<i32>, String> {
        text.split(',').filter(|t| !t.is_empty()).map(|t| t.parse::<i32>().map_err(|e| format!("{t:?}: {e}"))).collect()
    };
    let ids = numbers(ids_text)?;
    let clubs = numbers(parts.next().unwrap_or_default())?;
    let mut scopes: Vec<Scope> = match table {
        "clubs" => ids.iter().flat_map(|id| clubs::on_club_change(*id)).collect(),
        "seasons" => ids.iter().flat_map(|id| seasons::on_season_change(*id)).collect(),
        "brands" => ids.iter().flat_map(|id| kits::on_brand_change(*id)).collect(),
        "competitions" => ids.iter().flat_map(|id| kits::on_competition_change(*id)).collect(),
        "kit_types" => vec![kits::KIT_TYPES],
        "colors" => vec![kits::COLORS],
        "kits" => {
            let mut scopes: Vec<Scope> = ids.iter().flat_map(|id| kits::on_kit_change(*id, &[])).collect();
            scopes.extend(clubs.iter().map(|club| clubs::club_kits(*club)));
            if ids.is_empty() {
                scopes.push(kits::KITS);
            }
            scopes
        }
        // Ids are user ids (see the users_collections migration).
        "collection_entries" => ids.iter().flat_map(|id| users::on_collection_change(*id)).collect(),
        // A table we do not cache: nothing to do.
        _ => Vec::new(),
    };
    scopes.sort();
    scopes.dedup();
    Ok(Some(scopes))
}

#[cfg(test)]
mod notification_tests {
    use super::*;

    fn names(payload: &str) -> Vec<String> {
        scopes_for_notification(payload).ok().flatten().unwrap_or_default().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_moved_kit_touches_both_clubs() {
        assert_eq!(names("kits|5|1,2"), ["club_kits:1", "club_kits:2", "kit:5", "kits"]);
    }

    #[test]
    fn rows_map_to_their_domain_rules() {
        assert_eq!(names("clubs|3|"), ["club:3", "clubs"]);
        assert_eq!(names("brands|1,2|"), ["brand:1", "brand:2", "brands"]);
        assert_eq!(names("colors|4|"), ["colors"]);
        assert!(names("users|1|").is_empty());
        assert_eq!(names("collection_entries|4,2|"), ["user_collection:2", "user_collection:4"]);
    }

    #[test]
    fn truncate_means_everything_and_garbage_is_refused() {
        assert!(scopes_for_notification("kits|*|").is_ok_and(|s| s.is_none()));
        assert!(scopes_for_notification("kits").is_err());
        assert!(scopes_for_notification("kits|1,x|").is_err());
    }
}
