//! Clubs: the club model and its queries, `GET /api/clubs/{id}`, FKApi's
//! random clubs, the admin writes on `/api/clubs`, the scopes a club change
//! makes stale, and what the domain registers with the cache
//! (`cache::domain`).

pub mod cache;
pub mod model;
pub mod random;
mod routes;
pub mod scopes;

pub use cache::domain;
pub use model::{Club, ClubInput};
pub use random::{RandomClub, RandomClubsPage, PLACEHOLDER_LOGO};
pub use routes::{configure, ClubsApi};
