//! Clubs: the club model and its queries, `GET /api/clubs/{id}`, the admin
//! writes on `/api/clubs`, the scopes a club change makes stale, and what
//! the domain registers with the cache (`cache::domain`).

pub mod cache;
pub mod model;
mod routes;
pub mod scopes;

pub use cache::domain;
pub use model::{Club, ClubInput};
pub use routes::{configure, ClubsApi};
