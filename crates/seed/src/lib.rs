//! The deterministic demo-data seeder behind `fkapi seed` and the tests'
//! template database.
//!
//! [`generate`] builds a complete, believable catalogue (clubs, seasons,
//! brands, competitions, kit types, colours and kits) from the name lists
//! and weights in `crates/seed/data/*.txt`, FKApi's colours and designs
//! (the kits crate's vocabulary) and the one slug rule (`fkapi_web::slugify`,
//! so the API derives the same slug from the same name). It is pure,
//! deterministic and prefix-stable: the small catalogue is the first rows of
//! the medium one, ids included.
//!
//! [`seed`] inserts whatever of a catalogue is missing in one transaction of
//! bulk statements, so it is idempotent; seeding small then medium yields
//! exactly the medium catalogue.

mod data;
mod generate;
mod insert;

pub use data::DataError;
pub use generate::{generate, BrandRow, Catalogue, ClubRow, ColorRow, CompetitionRow, KitRow, KitTypeRow, SeasonRow};
pub use insert::{has_kits, insert_catalogue, seed};

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How much demo data to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scale {
    /// 200 clubs, 5,000 kits.
    Small,
    /// 2,000 clubs, 50,000 kits.
    Medium,
    /// 10,000 clubs, 500,000 kits.
    Large,
}

impl Scale {
    /// Every scale, smallest first.
    pub const ALL: [Scale; 3] = [Scale::Small, Scale::Medium, Scale::Large];

    /// Number of clubs in the catalogue.
    pub fn clubs(self) -> usize {
        match self {
            Scale::Small => 200,
            Scale::Medium => 2_000,
            Scale::Large => 10_000,
        }
    }

    /// Number of kits in the catalogue (exact).
    pub fn kits(self) -> usize {
        match self {
            Scale::Small => 5_000,
            Scale::Medium => 50_000,
            Scale::Large => 500_000,
        }
    }

    /// The lowercase name accepted by [`FromStr`].
    pub fn as_str(self) -> &'static str {
        match self {
            Scale::Small => "small",
            Scale::Medium => "medium",
            Scale::Large => "large",
        }
    }
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error returned when parsing an unknown [`Scale`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseScaleError(String);

impl fmt::Display for ParseScaleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown scale {:?}: expected one of small, medium, large", self.0)
    }
}

impl std::error::Error for ParseScaleError {}

impl FromStr for Scale {
    type Err = ParseScaleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "small" => Ok(Scale::Small),
            "medium" => Ok(Scale::Medium),
            "large" => Ok(Scale::Large),
            _ => Err(ParseScaleError(s.to_string())),
        }
    }
}

/// What the database holds after seeding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedReport {
    pub clubs: usize,
    pub seasons: usize,
    pub brands: usize,
    pub competitions: usize,
    pub kit_types: usize,
    pub colors: usize,
    /// Kits in the database after seeding.
    pub kits: usize,
    /// Kits this run inserted (0 when the catalogue was already there).
    pub inserted_kits: usize,
    /// Wall time of the whole run (generation, insertion and ANALYZE).
    pub elapsed: Duration,
}

/// Why seeding failed.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// A data file under `crates/seed/data/` is malformed.
    #[error("demo data: {0}")]
    Data(#[from] DataError),
    #[error(transparent)]
    Db(#[from] fkapi_db::DbError),
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn scales_parse_and_size() {
        assert_eq!("small".parse::<Scale>(), Ok(Scale::Small));
        assert_eq!(" Medium ".parse::<Scale>(), Ok(Scale::Medium));
        assert_eq!("LARGE".parse::<Scale>(), Ok(Scale::Large));
        let err = "huge".parse::<Scale>().unwrap_err().to_string();
        assert!(err.contains("small") && err.contains("medium") && err.contains("large"), "{err}");
        for scale in Scale::ALL {
            assert_eq!(scale.as_str().parse::<Scale>(), Ok(scale));
        }
        assert_eq!((Scale::Small.clubs(), Scale::Small.kits()), (200, 5_000));
        assert_eq!((Scale::Medium.clubs(), Scale::Medium.kits()), (2_000, 50_000));
        assert_eq!((Scale::Large.clubs(), Scale::Large.kits()), (10_000, 500_000));
    }
}
