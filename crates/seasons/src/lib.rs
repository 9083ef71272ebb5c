//! Seasons: the season model, `GET /api/seasons` (the seasons a club has
//! kits in), the admin writes on `/api/seasons`, and the scopes a season
//! change makes stale.

pub mod model;
mod routes;
pub mod scopes;

pub use model::{Season, SeasonInput, SeasonPatch, SeasonSummary};
pub use routes::{configure, SeasonsApi, SeasonsQuery};
