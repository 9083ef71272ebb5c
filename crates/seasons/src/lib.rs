//! Seasons: the season model, `GET /api/seasons` (the seasons a club has
//! kits in), the admin writes on `/api/seasons`, the scopes a season
//! change makes stale, and what the domain registers with the cache
//! (`cache::domain`).

pub mod cache;
pub mod model;
mod routes;
pub mod scopes;

pub use cache::domain;
pub use model::{Season, SeasonInput, SeasonPatch, SeasonSummary};
pub use routes::{configure, SeasonsApi, SeasonsQuery};
