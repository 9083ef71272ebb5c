//! Bearer tokens: 32 random bytes shown once as 64 hex characters; only
//! their SHA-256 is stored.
//!
//! Verification hashes the presented token and looks the hash up (a unique
//! index). Timing attacks on the comparison are moot: what the database
//! compares is a hash the caller cannot steer byte by byte, so a lookup's
//! timing reveals nothing about any stored token.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use fkapi_db::schema::users;
use fkapi_db::{PgConn, PgPool};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Length of a token as we issue it (hex of 32 bytes).
pub const TOKEN_LEN: usize = 64;

/// SHA-256 of a token.
pub type TokenHash = [u8; 32];

/// A fresh token and its hash. `rand::rng()` is a CSPRNG seeded from the OS.
pub fn generate() -> (String, TokenHash) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let mut token = String::with_capacity(TOKEN_LEN);
    for byte in bytes {
        let _ = write!(token, "{byte:02x}");
    }
    let hash = hash(&token);
    (token, hash)
}

pub fn hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// Whether `text` has the shape of a token we issue; anything else is
/// refused without a database lookup.
pub fn well_formed(text: &str) -> bool {
    text.len() == TOKEN_LEN && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The user a token hash belongs to.
pub async fn user_of_hash(conn: &mut PgConn, hash: &TokenHash) -> QueryResult<Option<i32>> {
    users::table.filter(users::token_hash.eq(hash.as_slice())).select(users::id).first(conn).await.optional()
}

/// A small in-process map token hash → user id (or "no user"), for the rate
/// limiter, which must tell a user from an anonymous client on every
/// request without a database query each time.
///
/// Only the limiter uses it: an entry may outlive a token rotation on
/// *another* instance for up to the TTL, which only means that requests
/// with the old token are counted in the user's bucket for that long (they
/// are still refused by the routes, which always check the database). The
/// instance that rotates a token forgets the old hash at once. Unknown
/// tokens are remembered too, so a client repeating a bad token costs one
/// query per TTL; a new token can never be cached as unknown, since nobody
/// could present it before it was issued.
pub struct TokenCache {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<TokenHash, (Option<i32>, Instant)>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache").field("ttl", &self.ttl).field("capacity", &self.capacity).finish_non_exhaustive()
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache::new(Duration::from_secs(30), 10_000)
    }
}

impl TokenCache {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        TokenCache { ttl, capacity: capacity.max(1), entries: Mutex::new(HashMap::new()) }
    }

    /// The user `token` authenticates, if any. A database error answers
    /// `None` (anonymous) and is not remembered.
    pub async fn user_of(&self, db: &PgPool, token: &str) -> Option<i32> {
        if !well_formed(token) {
            return None;
        }
        let hash = hash(token);
        if let Some(known) = self.get(&hash) {
            return known;
        }
        let mut conn = fkapi_db::conn(db).await.ok()?;
        let user = user_of_hash(&mut conn, &hash).await.ok()?;
        self.put(hash, user);
        user
    }

    /// Drops what is known of a token (after its rotation).
    pub fn forget(&self, hash: &TokenHash) {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).remove(hash);
    }

    fn get(&self, hash: &TokenHash) -> Option<Option<i32>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.get(hash).filter(|(_, at)| at.elapsed() < self.ttl).map(|(user, _)| *user)
    }

    /// Bounded: when full, expired entries go first, then everything (a
    /// flood of random tokens must not grow memory).
    fn put(&self, hash: TokenHash, user: Option<i32>) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity {
            let ttl = self.ttl;
            entries.retain(|_, (_, at)| at.elapsed() < ttl);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(hash, (user, Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_64_hex_and_distinct() {
        let (a, hash_a) = generate();
        let (b, _) = generate();
        assert!(well_formed(&a) && well_formed(&b));
        assert_ne!(a, b);
        assert_eq!(hash(&a), hash_a);
        assert!(!well_formed(&a.to_uppercase()) && !well_formed(&a[1..]) && !well_formed(""));
    }

    #[test]
    fn cache_is_bounded_and_forgets() {
        let cache = TokenCache::new(Duration::from_secs(60), 2);
        cache.put([1; 32], Some(1));
        cache.put([2; 32], None);
        assert_eq!(cache.get(&[1; 32]), Some(Some(1)));
        assert_eq!(cache.get(&[2; 32]), Some(None));
        cache.put([3; 32], Some(3));
        assert!(cache.entries.lock().map(|e| e.len()).unwrap_or(0) <= 2);
        cache.forget(&[3; 32]);
        assert_eq!(cache.get(&[3; 32]), None);
    }
}
