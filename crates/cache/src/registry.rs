//! What a domain tells the cache about itself, typed, so the binary only
//! loops over it: its cache types (a name for metrics and the FKApi key
//! prefix every key of the type is built from, so the two cannot disagree),
//! the scopes a committed change to each of its tables makes stale, the
//! scopes an operator may invalidate by name, and its warm targets.
//!
//! `C` is the application context the domains share (the database pool and
//! the cache); this crate never looks inside it.

use crate::key::generate_cache_key;
use crate::scope::{Scope, EPOCH};
use crate::ttl::TtlClass;
use crate::CacheStatus;
use futures::future::BoxFuture;
use std::fmt::Display;

/// A kind of cached response.
#[derive(Debug, PartialEq, Eq)]
pub struct CacheType {
    /// The `cache_type` label of the metrics.
    pub name: &'static str,
    /// FKApi's key prefix: every key of this type starts with `<prefix>_`.
    pub prefix: &'static str,
    pub ttl: TtlClass,
    /// Routes of this type may answer with an expired (never an
    /// invalidated) entry while it refreshes.
    pub serves_stale: bool,
    /// The key of a request is a function of its target (path and query)
    /// alone, so an answer may be found again by target; false for types
    /// whose key also depends on the clock (a default seed that rotates).
    pub fixed_by_target: bool,
}

impl CacheType {
    pub const fn new(name: &'static str, prefix: &'static str, ttl: TtlClass) -> CacheType {
        CacheType { name, prefix, ttl, serves_stale: false, fixed_by_target: true }
    }

    pub const fn serving_stale(mut self) -> CacheType {
        self.serves_stale = true;
        self
    }

    /// The key of a request also depends on the clock: never answered by
    /// target ([`crate::Cache::answer_for_target`]).
    pub const fn chosen_by_clock(mut self) -> CacheType {
        self.fixed_by_target = false;
        self
    }

    /// FKApi's `generate_cache_key(prefix, args, kwargs)` with this type's prefix.
    pub fn key(&'static self, args: &[&dyn Display], kwargs: &[(&str, &dyn Display)]) -> CacheKey {
        CacheKey { cache_type: self, key: generate_cache_key(self.prefix, args, kwargs) }
    }

    /// Whether `key` (without the namespace) is one of this type's keys.
    fn owns(&self, key: &str) -> bool {
        key.strip_prefix(self.prefix).is_some_and(|rest| rest.starts_with('_'))
    }
}

/// A key built from its cache type: the only way to name an entry.
#[derive(Clone, Debug)]
pub struct CacheKey {
    pub cache_type: &'static CacheType,
    pub key: String,
}

/// One committed change as the database reports it: the table, the ids of
/// the changed rows, and the related ids its trigger computed (for kits:
/// their clubs before and after).
#[derive(Clone, Copy, Debug)]
pub struct RowChange<'a> {
    pub table: &'a str,
    pub ids: &'a [i32],
    pub related: &'a [i32],
}

/// A name `fkapi invalidate <name> [id]` accepts.
pub struct OperatorScope<C> {
    pub name: &'static str,
    pub target: OperatorTarget<C>,
}

/// The scopes to bump for an operator's name: exactly what an API write
/// of that row or table bumps.
pub enum OperatorTarget<C> {
    /// A whole table (`clubs`); takes no id.
    Table(Scope),
    /// One row (`club 3`); needs an id, and may look the row up (a kit's
    /// club) to know what a write to it would make stale.
    Row(RowScopes<C>),
}

impl<C> OperatorScope<C> {
    pub fn table(name: &'static str, scope: Scope) -> Self {
        OperatorScope { name, target: OperatorTarget::Table(scope) }
    }

    pub fn row(
        name: &'static str,
        scopes: for<'a> fn(&'a C, i32) -> BoxFuture<'a, anyhow::Result<Vec<Scope>>>,
    ) -> Self {
        OperatorScope { name, target: OperatorTarget::Row(scopes) }
    }
}

/// Why an operator's scope could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum OperatorScopeError {
    #[error("unknown scope {name:?}; known scopes: {known}")]
    Unknown { name: String, known: String },
    #[error("scope {0:?} needs an id")]
    NeedsId(&'static str),
    #[error("scope {0:?} takes no id")]
    TakesNoId(&'static str),
    /// Looking the row up failed (the database is down, say).
    #[error("could not look up what scope {name:?} {id} covers: {cause:#}")]
    Lookup { name: &'static str, id: i32, cause: anyhow::Error },
}

/// The operator name that bumps the epoch: every entry at once.
pub const ALL: &str = "all";

/// One cache entry to fill, as a request would fill it.
pub struct WarmTarget {
    /// What it is, for reports (`/api/kit-json/7`).
    pub label: String,
    pub fill: BoxFuture<'static, Result<CacheStatus, String>>,
}

/// Plans the targets of a warm option for a count (`None` for options without one).
pub type WarmPlan<C> = for<'a> fn(&'a C, Option<i64>) -> BoxFuture<'a, anyhow::Result<Vec<WarmTarget>>>;

/// Looks up what a write to row `id` would make stale.
pub type RowScopes<C> = for<'a> fn(&'a C, i32) -> BoxFuture<'a, anyhow::Result<Vec<Scope>>>;

/// Answers one warm option (`--kits N`, `--search`, …) with targets.
pub struct WarmSource<C> {
    /// The option it answers; several domains may answer the same one.
    pub option: &'static str,
    pub plan: WarmPlan<C>,
}

/// Everything one domain contributes.
pub struct Domain<C> {
    pub name: &'static str,
    pub cache_types: &'static [&'static CacheType],
    /// The scopes a change to one of this domain's tables makes stale;
    /// `None` when the table is not this domain's.
    pub on_change: fn(&RowChange<'_>) -> Option<Vec<Scope>>,
    pub operator_scopes: Vec<OperatorScope<C>>,
    pub warm: Vec<WarmSource<C>>,
}

/// All domains of the application, in assembly order.
pub struct Registry<C> {
    domains: Vec<Domain<C>>,
}

impl<C> Registry<C> {
    pub fn new(domains: Vec<Domain<C>>) -> Registry<C> {
        Registry { domains }
    }

    pub fn cache_types(&self) -> impl Iterator<Item = &'static CacheType> + '_ {
        self.domains.iter().flat_map(|d| d.cache_types.iter().copied())
    }

    /// The cache type a key (without the namespace) belongs to: the longest
    /// matching prefix, so `kits_bulk_…` is not counted as `kits`.
    pub fn type_of_key(&self, key: &str) -> Option<&'static CacheType> {
        self.cache_types().filter(|t| t.owns(key)).max_by_key(|t| t.prefix.len())
    }

    /// The scopes a committed change makes stale, sorted and deduplicated;
    /// empty for a table no domain caches.
    pub fn scopes_for_change(&self, change: &RowChange<'_>) -> Vec<Scope> {
        let mut scopes: Vec<Scope> = self.domains.iter().filter_map(|d| (d.on_change)(change)).flatten().collect();
        scopes.sort();
        scopes.dedup();
        scopes
    }

    /// What `fkapi invalidate <name> [id]` bumps: `all` is the epoch,
    /// every other name is a domain's.
    pub async fn operator_scopes(
        &self,
        ctx: &C,
        name: &str,
        id: Option<i32>,
    ) -> Result<Vec<Scope>, OperatorScopeError> {
        if name == ALL {
            return match id {
                None => Ok(vec![EPOCH]),
                Some(_) => Err(OperatorScopeError::TakesNoId(ALL)),
            };
        }
        let Some(scope) = self.domains.iter().flat_map(|d| &d.operator_scopes).find(|s| s.name == name) else {
            return Err(OperatorScopeError::Unknown {
                name: name.chars().take(40).collect(),
                known: self.operator_scope_names().join(", "),
            });
        };
        match (&scope.target, id) {
            (OperatorTarget::Table(table), None) => Ok(vec![table.clone()]),
            (OperatorTarget::Table(_), Some(_)) => Err(OperatorScopeError::TakesNoId(scope.name)),
            (OperatorTarget::Row(_), None) => Err(OperatorScopeError::NeedsId(scope.name)),
            (OperatorTarget::Row(resolve), Some(id)) => {
                resolve(ctx, id).await.map_err(|cause| OperatorScopeError::Lookup { name: scope.name, id, cause })
            }
        }
    }

    /// Every name `operator_scopes` accepts, `all` first.
    pub fn operator_scope_names(&self) -> Vec<&'static str> {
        std::iter::once(ALL).chain(self.domains.iter().flat_map(|d| &d.operator_scopes).map(|s| s.name)).collect()
    }

    /// The sources answering `option`, in assembly order.
    pub fn warm_sources<'r>(&'r self, option: &'r str) -> impl Iterator<Item = &'r WarmSource<C>> + 'r {
        self.domains.iter().flat_map(|d| &d.warm).filter(move |s| s.option == option)
    }

    pub fn warm_options(&self) -> Vec<&'static str> {
        let mut options: Vec<&'static str> = Vec::new();
        for source in self.domains.iter().flat_map(|d| &d.warm) {
            if !options.contains(&source.option) {
                options.push(source.option);
            }
        }
        options
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static KITS: CacheType = CacheType::new("kits", "kits", TtlClass::Medium);
    static KITS_BULK: CacheType = CacheType::new("kits_bulk", "kits_bulk", TtlClass::Medium);
    static SEASONS: CacheType = CacheType::new("seasons", "season", TtlClass::Long);
    static TYPES: [&CacheType; 3] = [&KITS, &KITS_BULK, &SEASONS];

    fn registry() -> Registry<()> {
        Registry::new(vec![Domain {
            name: "test",
            cache_types: &TYPES,
            on_change: |change| (change.table == "kits").then(|| vec![Scope::table("kits")]),
            operator_scopes: Vec::new(),
            warm: Vec::new(),
        }])
    }

    #[test]
    fn keys_are_built_from_the_prefix_and_found_by_it() {
        let key = SEASONS.key(&[&"club", &3], &[]);
        assert_eq!(key.key, "season_club_3");
        let registry = registry();
        assert_eq!(registry.type_of_key(&key.key).map(|t| t.name), Some("seasons"));
        assert_eq!(registry.type_of_key("kits_bulk_a,b").map(|t| t.name), Some("kits_bulk"));
        assert_eq!(registry.type_of_key("kits_None_page=1").map(|t| t.name), Some("kits"));
        assert_eq!(registry.type_of_key("kitsx_1"), None);
    }

    #[test]
    fn changes_map_through_the_domains() {
        let registry = registry();
        let change = RowChange { table: "kits", ids: &[1], related: &[] };
        assert_eq!(registry.scopes_for_change(&change), vec![Scope::table("kits")]);
        assert!(registry.scopes_for_change(&RowChange { table: "users", ids: &[1], related: &[] }).is_empty());
    }
}
