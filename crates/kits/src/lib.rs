//! Kits and their reference data (brands, competitions, kit types, colours):
//! models, cached reads (detail, lists, bulk, FKApi's random kits), admin
//! writes, the scopes each change makes stale, and what the domain
//! registers with the cache (`cache::domain`).

pub mod bulk;
pub mod cache;
pub mod filters;
pub mod model;
pub mod random;
pub mod reference;
mod routes;
pub mod scopes;
pub mod vocabulary;

pub use cache::domain;
pub use filters::{ClubKitsQuery, KitFilter, KitListQuery, SECONDARY_COLOR};
pub use model::{BulkBrand, BulkSeason, BulkTeam, KitBulkItem, KitDetail, KitListItem};
pub use random::{RandomKit, RandomKitsPage};
pub use reference::{Brand, Color, Competition, KitType};
pub use routes::{configure, KitsApi};

pub mod writes;
pub use writes::{configure_writes, KitWritesApi};
