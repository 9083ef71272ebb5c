//! Clubs: the club model and its queries, `GET /api/clubs/{id}`, the admin
//! writes on `/api/clubs`, and the scopes a club change makes stale.

pub mod model;
mod routes;
pub mod scopes;

pub use model::{Club, ClubInput};
pub use routes::{configure, ClubsApi};
