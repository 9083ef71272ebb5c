//! Kits and their reference data (brands, competitions, kit types, colours):
//! models, cached reads, admin writes, and the scopes each change makes stale.

pub mod reference;
pub mod scopes;

pub use reference::{Brand, Color, Competition, KitType};
