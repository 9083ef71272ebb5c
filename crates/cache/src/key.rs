//! Cache keys: FKApi's `generate_cache_key`, plus the namespace every Redis
//! key of ours lives under.

use md5::{Digest, Md5};
use std::fmt::{Display, Write};

/// Bumped whenever the stored entry format changes, so a deploy never reads
/// entries written by an older binary.
pub const FORMAT_VERSION: u32 = 1;

/// Keys longer than this are replaced by `prefix_<md5>` (as FKApi does).
const MAX_KEY_LEN: usize = 200;

/// FKApi's `generate_cache_key(prefix, *args, **kwargs)`: the parts joined
/// with `_`, kwargs sorted by name as `k=v`, and a key over 200 characters
/// replaced by `prefix_<md5 hex of the whole key>`.
pub fn generate_cache_key(prefix: &str, args: &[&dyn Display], kwargs: &[(&str, &dyn Display)]) -> String {
    let mut key = String::with_capacity(64);
    key.push_str(prefix);
    for arg in args {
        let _ = write!(key, "_{arg}");
    }
    let mut sorted: Vec<&(&str, &dyn Display)> = kwargs.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    for (name, value) in sorted {
        let _ = write!(key, "_{name}={value}");
    }
    if key.len() > MAX_KEY_LEN {
        let digest = Md5::digest(key.as_bytes());
        let mut hashed = String::with_capacity(prefix.len() + 33);
        hashed.push_str(prefix);
        hashed.push('_');
        for byte in digest {
            let _ = write!(hashed, "{byte:02x}");
        }
        return hashed;
    }
    key
}

/// Python's `str()` of an optional value, so keys match FKApi's (`None`).
pub struct PyOpt<'a, T: Display>(pub &'a Option<T>);

impl<T: Display> Display for PyOpt<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(value) => value.fmt(f),
            None => f.write_str("None"),
        }
    }
}

/// The prefix of every Redis key we write: `{<name>:v<FORMAT_VERSION>}:`.
///
/// The braces are a Redis Cluster hash tag: an entry and the generation
/// counters it is checked against share one slot, so the one-round-trip hit
/// check (a Lua script reading both) works unchanged on a cluster.
#[derive(Clone, Debug)]
pub struct Namespace {
    name: String,
    prefix: String,
    generation_prefix: String,
}

impl Namespace {
    pub fn new(name: &str) -> Self {
        let prefix = format!("{{{name}:v{FORMAT_VERSION}}}:");
        let generation_prefix = format!("{prefix}g:");
        Namespace { name: name.to_string(), prefix, generation_prefix }
    }

    /// `{fkapi:v1}:`
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The Redis key of a cached entry.
    pub fn entry_key(&self, cache_key: &str) -> String {
        let mut key = String::with_capacity(self.prefix.len() + cache_key.len());
        key.push_str(&self.prefix);
        key.push_str(cache_key);
        key
    }

    /// Prefix of generation counters; the hit-check script appends scope names.
    pub fn generation_prefix(&self) -> &str {
        &self.generation_prefix
    }

    pub fn generation_key(&self, scope: &str) -> String {
        format!("{}{scope}", self.generation_prefix)
    }

    /// A key of the L1 coherence protocol (stream, counter, leases): all
    /// share one hash tag of their own, `{<name>:v<N>:l1}`, so its scripts
    /// run on one slot of a cluster, apart from the entries.
    pub(crate) fn coherence_key(&self, key: &str) -> String {
        format!("{{{}:v{FORMAT_VERSION}:l1}}:{key}", self.name)
    }

    /// The hash of every instance's L1 lease.
    pub fn leases_key(&self) -> String {
        self.coherence_key("leases")
    }

    /// A key of ours that is neither an entry nor a generation (locks, counters).
    pub fn aux_key(&self, name: &str) -> String {
        format!("{}x:{name}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_args_and_sorted_kwargs_like_fkapi() {
        let key = generate_cache_key(
            "club_kits",
            &[&3, &"season", &PyOpt::<i32>(&None)],
            &[("page_size", &20), ("page", &1)],
        );
        assert_eq!(key, "club_kits_3_season_None_page=1_page_size=20");
    }

    #[test]
    fn long_keys_become_prefix_and_md5() {
        let long = "x".repeat(250);
        let key = generate_cache_key("search_kits", &[&long], &[]);
        // md5("search_kits_" + 250 x), as Python's hashlib gives it.
        let expected = format!("{:x}", Md5::digest(format!("search_kits_{long}").as_bytes()));
        assert_eq!(key, format!("search_kits_{expected}"));
        assert_eq!(key.len(), "search_kits_".len() + 32);
    }

    #[test]
    fn key_of_exactly_200_chars_is_kept() {
        let arg = "y".repeat(200 - "p_".len());
        assert_eq!(generate_cache_key("p", &[&arg], &[]).len(), 200);
    }

    #[test]
    fn namespace_shapes() {
        let ns = Namespace::new("fkapi");
        assert_eq!(ns.entry_key("kit_json_7"), "{fkapi:v1}:kit_json_7");
        assert_eq!(ns.generation_key("club:3"), "{fkapi:v1}:g:club:3");
        assert_eq!(ns.leases_key(), "{fkapi:v1:l1}:leases");
    }
}
