//! Users and their kit collections (FKApi's `user-collection`).
//!
//! A user is created by the admin and gets a bearer token once; only its
//! SHA-256 is stored. The [`Caller`] extractor authenticates a request (the
//! admin key or a user's token) before any cache lookup, and a collection is
//! only ever served to its owner or the admin. Collections are cached per
//! user and page, privately, and depend on the collection's own scope and on
//! every kit, club and season row a page shows; `cache::domain` is what
//! the domain registers with the cache.

mod auth;
pub mod cache;
pub mod model;
mod routes;
pub mod scopes;
pub mod token;

pub use auth::{bearer_token, Caller};
pub use cache::domain;
pub use routes::{configure, UsersApi};
pub use token::TokenCache;
