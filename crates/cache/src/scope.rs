//! Dependency scopes: named sets of rows whose change makes entries stale.
//!
//! Domain crates name their scopes (`club:3`, `clubs`, `kit:7`); this crate
//! only stores a generation counter per scope.

use std::borrow::Cow;
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope(Cow<'static, str>);

/// Every entry depends on the epoch; bumping it invalidates everything.
pub const EPOCH: Scope = Scope(Cow::Borrowed("epoch"));

#[derive(Debug, thiserror::Error)]
#[error(
    "invalid scope {0:?}: expected a name of a-z and _ (at most 40), optionally followed by :<id> (digits, at most 19)"
)]
pub struct InvalidScope(pub String);

impl Scope {
    /// A whole table or other global set, e.g. `clubs`.
    pub const fn table(name: &'static str) -> Scope {
        Scope(Cow::Borrowed(name))
    }

    /// One row or row-set, e.g. `club:3`.
    pub fn row(kind: &'static str, id: impl fmt::Display) -> Scope {
        Scope(Cow::Owned(format!("{kind}:{id}")))
    }

    /// Parses a scope typed by an operator; the strict grammar keeps anything
    /// odd (spaces, `=`, glob characters) out of Redis keys and entry headers.
    pub fn parse(text: &str) -> Result<Scope, InvalidScope> {
        let (name, id) = match text.split_once(':') {
            Some((name, id)) => (name, Some(id)),
            None => (text, None),
        };
        let name_ok = !name.is_empty() && name.len() <= 40 && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
        let id_ok = id.is_none_or(|id| !id.is_empty() && id.len() <= 19 && id.bytes().all(|b| b.is_ascii_digit()));
        if name_ok && id_ok {
            Ok(Scope(Cow::Owned(text.to_string())))
        } else {
            Err(InvalidScope(text.chars().take(80).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before `:`, used as a low-cardinality metrics label.
    pub fn kind(&self) -> &str {
        self.0.split(':').next().unwrap_or("")
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_names_and_ids_only() {
        assert_eq!(Scope::parse("club:3").map(|s| s.to_string()).ok(), Some("club:3".into()));
        assert!(Scope::parse("clubs").is_ok());
        for bad in ["", "Club:3", "club:", "club:3x", "club:*", "a b", "club=1", "club:1:2", "k*"] {
            assert!(Scope::parse(bad).is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn kind_is_the_prefix() {
        assert_eq!(Scope::row("club", 3).kind(), "club");
        assert_eq!(Scope::table("clubs").kind(), "clubs");
    }
}
