//! The five keyword searches (`/api/{clubs,brands,competitions,seasons,kits}/search`):
//! keyword rules, one ranked query shared by all five, and their cache
//! rules (short TTL, stale allowed, keyed by the normalised keyword and
//! invalidated through the table scopes of everything a result shows), and
//! what the domain registers with the cache (`cache::domain`).

pub mod cache;
pub mod keyword;
pub mod query;
mod routes;
pub mod targets;

pub use cache::domain;
pub use keyword::{Keyword, SeasonToken, MAX_KEYWORD_CHARS};
pub use routes::{cached_search, configure, OptionalSearchParams, SearchApi, SearchParams};
pub use targets::{Brands, ClubSearchResult, Clubs, Competitions, KitSearchResult, Kits, Search, Seasons};
