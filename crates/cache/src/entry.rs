//! The stored entry: a small text header (dependency generations, then
//! metadata) followed by the response body exactly as it will be sent.
//!
//! ```text
//! epoch=5f1c... club:3=9a0b... kit:7=...\n          <- read by the hit-check Lua script
//! 1 g W/"etag" <stored_ms> <expires_ms> <delta_ms>\n <- read by Rust
//! <body bytes, gzip when flag is g, raw when p>
//! ```
//! Decoding slices the body out of the value without copying it.

use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use md5::{Digest, Md5};
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    /// The body is gzip (served as-is to clients that accept gzip).
    pub compressed: bool,
    /// Weak validator over the uncompressed body.
    pub etag: Arc<str>,
    pub stored_at_ms: u64,
    /// Logical expiry; the Redis TTL runs a little longer so the entry can be
    /// served as STALE while it is refreshed.
    pub expires_at_ms: u64,
    /// How long the load took: XFetch refreshes slow entries earlier.
    pub delta_ms: u64,
}

#[derive(Clone, Debug)]
pub struct Entry {
    /// The `scope=generation …` line, parsed only when needed: a hit is
    /// checked by the Lua script and never looks at it.
    deps_line: Bytes,
    pub meta: Meta,
    pub body: Bytes,
}

impl Entry {
    /// The recorded `(scope, generation)` pairs; `None` when malformed.
    pub fn deps(&self) -> Option<Vec<(String, String)>> {
        std::str::from_utf8(&self.deps_line)
            .ok()?
            .split(' ')
            .filter(|part| !part.is_empty())
            .map(|part| part.split_once('=').map(|(s, g)| (s.to_string(), g.to_string())))
            .collect()
    }
}

/// The ETag of an uncompressed body.
pub fn etag_of(body: &[u8]) -> String {
    let digest = Md5::digest(body);
    let mut tag = String::with_capacity(22);
    tag.push_str("W/\"");
    for byte in &digest[..8] {
        let _ = write!(tag, "{byte:02x}");
    }
    tag.push('"');
    tag
}

/// Gzips `body` when it is at least `min_len` bytes and compression saves
/// space; returns the bytes to store and whether they are compressed.
pub fn maybe_compress(body: Vec<u8>, min_len: usize) -> (Vec<u8>, bool) {
    if min_len == 0 || body.len() < min_len {
        return (body, false);
    }
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 3), Compression::new(6));
    if encoder.write_all(&body).is_err() {
        return (body, false);
    }
    match encoder.finish() {
        Ok(gz) if gz.len() < body.len() => (gz, true),
        _ => (body, false),
    }
}

pub fn gunzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len() * 4);
    let mut decoder = flate2::write::GzDecoder::new(&mut out);
    decoder.write_all(body)?;
    decoder.finish()?;
    Ok(out)
}

pub fn encode(deps: &[(String, String)], meta: &Meta, body: &[u8]) -> Vec<u8> {
    let mut header = String::with_capacity(32 * deps.len() + 64);
    for (i, (scope, generation)) in deps.iter().enumerate() {
        if i > 0 {
            header.push(' ');
        }
        let _ = write!(header, "{scope}={generation}");
    }
    let _ = write!(
        header,
        "\n1 {} {} {} {} {}\n",
        if meta.compressed { 'g' } else { 'p' },
        meta.etag,
        meta.stored_at_ms,
        meta.expires_at_ms,
        meta.delta_ms
    );
    let mut out = Vec::with_capacity(header.len() + body.len());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(body);
    out
}

/// Parses a stored value; `None` for anything malformed (treated as a miss).
pub fn decode(raw: &Bytes) -> Option<Entry> {
    let first_nl = raw.iter().position(|b| *b == b'\n')?;
    let second_nl = first_nl + 1 + raw[first_nl + 1..].iter().position(|b| *b == b'\n')?;
    let meta_line = std::str::from_utf8(&raw[first_nl + 1..second_nl]).ok()?;
    let mut fields = meta_line.split(' ');
    if fields.next()? != "1" {
        return None;
    }
    let compressed = match fields.next()? {
        "g" => true,
        "p" => false,
        _ => return None,
    };
    let meta = Meta {
        compressed,
        etag: Arc::from(fields.next()?),
        stored_at_ms: fields.next()?.parse().ok()?,
        expires_at_ms: fields.next()?.parse().ok()?,
        delta_ms: fields.next()?.parse().ok()?,
    };
    Some(Entry { deps_line: raw.slice(..first_nl), meta, body: raw.slice(second_nl + 1..) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(compressed: bool) -> Meta {
        Meta { compressed, etag: etag_of(b"x").into(), stored_at_ms: 1, expires_at_ms: 2, delta_ms: 3 }
    }

    #[test]
    fn round_trips_header_and_body() {
        let deps = vec![("epoch".to_string(), "a1".to_string()), ("club:3".to_string(), "b2".to_string())];
        let raw = encode(&deps, &meta(false), b"{\"id\":1}\n");
        let entry = decode(&Bytes::from(raw)).expect("decodes");
        assert_eq!(entry.deps(), Some(deps));
        assert_eq!(entry.meta, meta(false));
        assert_eq!(&entry.body[..], b"{\"id\":1}\n");
    }

    #[test]
    fn entry_without_deps_decodes() {
        let raw = encode(&[], &meta(true), b"");
        let entry = decode(&Bytes::from(raw)).expect("decodes");
        assert_eq!(entry.deps(), Some(Vec::new()));
        assert!(entry.meta.compressed);
    }

    #[test]
    fn garbage_is_a_miss() {
        for raw in [&b""[..], b"no newline", b"a=b\n2 p x 1 2 3\n", b"a=b\n1 z x 1 2 3\n"] {
            assert!(decode(&Bytes::copy_from_slice(raw)).is_none(), "{raw:?}");
        }
        let bad_deps = decode(&Bytes::from_static(b"ab\n1 p x 1 2 3\n"));
        assert!(bad_deps.and_then(|entry| entry.deps()).is_none(), "malformed dependency line");
    }

    #[test]
    fn compression_only_when_it_pays() {
        let small = b"{}".to_vec();
        assert!(!maybe_compress(small, 1024).1);
        let big = br#"{"name":"Arsenal 2005-06 Home"}"#.repeat(100);
        let (gz, compressed) = maybe_compress(big.clone(), 1024);
        assert!(compressed && gz.len() < big.len() / 4);
        assert_eq!(gunzip(&gz).expect("gunzip"), big);
    }
}
