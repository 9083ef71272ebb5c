//! Cache keys: FKApi's `generate_cache_key`, plus the namespace every Redis
//! key of ours lives under.

use md5::{Digest, Md5};
use std::fmt::{Display, Write};

/// Bumped whenever the stored entry format changes, so a deploy never reads
/// entries written by an older binary.
pub const FORMAT_VERSION: u32 = 2;

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

/// Copies of the epoch counter on a cluster: a hit reads the copy whose
/// slot range holds its entry (so usually on the entry's own master), and
/// `invalidate all` bumps every copy, so no one key carries every hit.
pub const EPOCH_COPIES: usize = 16;

/// The Redis Cluster slot of a key (CRC16/XMODEM of the key, or of its
/// `{hash tag}` when it has one, mod 16384). Used only to choose hash tags
/// that spread over the slots and to pick a key's epoch copy; routing is
/// redis-rs' business.
pub fn slot_of(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        rest.iter().position(|&b| b == b'}').filter(|&close| close > 0).map(|close| &rest[..close])
    });
    crc16_xmodem(tagged.unwrap_or(key)) % 16384
}

fn crc16_xmodem(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc
}

/// The prefix of every Redis key we write: `<name>:v<FORMAT_VERSION>:`.
///
/// No hash tag: on a Redis Cluster entries and generation counters spread
/// over every slot (and so every master). Keys that a multi-key script
/// needs together carry a tag of their own (the L1 coherence keys).
#[derive(Clone, Debug)]
pub struct Namespace {
    name: String,
    prefix: String,
    generation_prefix: String,
    /// `EPOCH_COPIES` keys, copy `i` on a slot of the i-th sixteenth of the slot space.
    epoch_copies: Vec<String>,
}

impl Namespace {
    pub fn new(name: &str) -> Self {
        let prefix = format!("{name}:v{FORMAT_VERSION}:");
        let generation_prefix = format!("{prefix}g:");
        let width = 16384 / EPOCH_COPIES;
        let epoch_copies = (0..EPOCH_COPIES)
            .map(|i| {
                // The first tag whose slot falls in copy i's range (found in
                // about `EPOCH_COPIES` tries; the bound only guards the loop).
                let tag = (0..1_000_000u32)
                    .map(|j| format!("{name}:e{i}.{j}"))
                    .find(|tag| usize::from(slot_of(tag.as_bytes())) / width == i)
                    .unwrap_or_else(|| format!("{name}:e{i}"));
                format!("{generation_prefix}epoch:{{{tag}}}")
            })
            .collect();
        Namespace { name: name.to_string(), prefix, generation_prefix, epoch_copies }
    }

    /// `fkapi:v2:`
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

    /// Every copy of the epoch counter (cluster mode).
    pub fn epoch_copies(&self) -> &[String] {
        &self.epoch_copies
    }

    /// The epoch copy an entry is checked against on a cluster: the one
    /// whose slot range holds the entry's slot, so both are usually on one
    /// master and the hit touches no extra node.
    pub fn epoch_copy_for(&self, entry_key: &str) -> &str {
        let index = usize::from(slot_of(entry_key.as_bytes())) * EPOCH_COPIES / 16384;
        self.epoch_copies.get(index).map_or(self.generation_prefix.as_str(), String::as_str)
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

    /// A key of ours that is neither an entry nor a generation (locks,
    /// counters, rate-limit buckets, the feed's record): each is used alone,
    /// so they spread over the slots too.
    pub fn aux_key(&self, name: &str) -> String {
        format!("{}x:{name}", self.prefix)
    }

    /// The SCAN patterns that cover every key of this namespace.
    pub fn scan_patterns(&self) -> [String; 2] {
        [
            format!("{}*", glob_escape(&self.prefix)),
            format!("{}*", glob_escape(&format!("{{{}:v{FORMAT_VERSION}:l1}}", self.name))),
        ]
    }
}

/// Escapes glob metacharacters so a namespace can never widen a SCAN match.
pub fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
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
        assert_eq!(ns.entry_key("kit_json_7"), "fkapi:v2:kit_json_7");
        assert_eq!(ns.generation_key("club:3"), "fkapi:v2:g:club:3");
        assert_eq!(ns.leases_key(), "{fkapi:v2:l1}:leases");
    }

    #[test]
    fn slots_match_redis_cluster_keyslot() {
        // CLUSTER KEYSLOT answers, from a Redis 7 server.
        assert_eq!(slot_of(b"foo"), 12182);
        assert_eq!(slot_of(b"bar"), 5061);
        assert_eq!(slot_of(b"{user1000}.following"), slot_of(b"user1000"));
        assert_eq!(slot_of(b"foo{}{bar}"), slot_of(b"foo{}{bar}"));
    }

    #[test]
    fn epoch_copies_cover_the_slot_space() {
        let ns = Namespace::new("fkapi");
        let copies = ns.epoch_copies();
        assert_eq!(copies.len(), EPOCH_COPIES);
        for (i, copy) in copies.iter().enumerate() {
            assert_eq!(usize::from(slot_of(copy.as_bytes())) * EPOCH_COPIES / 16384, i, "{copy}");
            assert!(copy.starts_with("fkapi:v2:g:epoch:{"), "{copy}");
        }
        let entry = ns.entry_key("kit_json_7");
        let copy = ns.epoch_copy_for(&entry);
        assert_eq!(usize::from(slot_of(copy.as_bytes())) / 1024, usize::from(slot_of(entry.as_bytes())) / 1024);
    }
}
