//! The deterministic demo-data seeder.
//!
//! [`generate`] builds a complete, believable catalogue (clubs, seasons,
//! brands, competitions, kit types, colours and kits) as plain rows that refer
//! to each other by natural key (slug or name). It is pure: the same [`Scale`]
//! always yields identical rows, on every machine and with every crate
//! version, because the only randomness is a hand-written splitmix64 stream
//! seeded from a constant and the club index.
//!
//! The scales are prefix-stable: club `i` and its kits depend only on `i` (and
//! on clubs `0..i` for name/slug collision handling), and the kit total of the
//! first `n` clubs is exactly the kit total of the scale with `n` clubs. So the
//! small catalogue is literally the first rows of the medium one, and seeding
//! small then medium yields exactly the medium catalogue, ids included.
//!
//! [`seed`] inserts a catalogue in one transaction with a handful of bulk
//! `INSERT ... SELECT FROM unnest(...)` statements, skipping rows that already
//! exist, so it is idempotent and never burns identity values on rows it skips.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use bigdecimal::BigDecimal;
use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Numeric, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, RunQueryDsl};

use crate::{DbError, PgConn};

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

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

/// A generated catalogue: one plain row struct per table row, in insertion
/// order. On an empty database row `n` of each vector gets id `n + 1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Catalogue {
    pub colors: Vec<ColorRow>,
    pub kit_types: Vec<KitTypeRow>,
    pub brands: Vec<BrandRow>,
    pub competitions: Vec<CompetitionRow>,
    pub seasons: Vec<SeasonRow>,
    pub clubs: Vec<ClubRow>,
    pub kits: Vec<KitRow>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColorRow {
    pub name: String,
    /// `#RRGGBB`.
    pub color: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KitTypeRow {
    pub name: String,
    /// One of `match`, `prematch`, `preseason`, `training`, `travel`, `jacket`.
    pub category: String,
    /// 1..=6, in the order of the categories above.
    pub category_order: i32,
    pub order_priority: i32,
    pub is_goalkeeper: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrandRow {
    pub name: String,
    pub slug: String,
    pub logo: Option<String>,
    pub logo_dark: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompetitionRow {
    pub name: String,
    pub slug: String,
    pub logo: Option<String>,
    pub logo_dark: Option<String>,
    /// ISO 3166-1 alpha-2, `None` for international competitions.
    pub country: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeasonRow {
    /// `YYYY-YY` or `YYYY`.
    pub year: String,
    pub first_year: String,
    pub second_year: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClubRow {
    pub id_fka: i32,
    pub name: String,
    pub slug: String,
    pub logo: Option<String>,
    pub logo_dark: Option<String>,
    /// ISO 3166-1 alpha-2, uppercase.
    pub country: Option<String>,
}

/// A kit, referring to everything else by natural key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KitRow {
    pub name: String,
    pub slug: String,
    /// [`ClubRow::slug`].
    pub club_slug: String,
    /// [`SeasonRow::year`].
    pub season_year: String,
    /// [`KitTypeRow::name`].
    pub type_name: String,
    /// [`BrandRow::slug`].
    pub brand_slug: String,
    pub design: Option<String>,
    pub main_img_url: String,
    /// 0.00..=5.00, two decimals.
    pub rating: Option<BigDecimal>,
    /// [`ColorRow::name`].
    pub primary_color: Option<String>,
    /// [`ColorRow::name`]s, distinct, never the primary colour.
    pub secondary_colors: Vec<String>,
    /// [`CompetitionRow::slug`]s, distinct.
    pub competitions: Vec<String>,
    pub last_updated: DateTime<Utc>,
}

/// Turns a display name into a slug matching `^[a-z0-9]+(-[a-z0-9]+)*$`:
/// accents are folded ("Málaga" → "malaga", "München" → "munchen",
/// "Preußen" → "preussen"), apostrophes and dots vanish ("St. Pauli" →
/// "st-pauli"), and every other run of non-alphanumerics becomes one dash.
pub fn slugify(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut dash = false;
    for ch in s.chars() {
        if matches!(ch, '\'' | '\u{2019}' | '.') {
            continue;
        }
        let lower = ch.to_lowercase().next().unwrap_or(ch);
        let folded = fold_char(lower);
        if folded.is_empty() {
            dash = true;
            continue;
        }
        if dash && !out.is_empty() {
            out.push('-');
        }
        dash = false;
        out.push_str(folded);
    }
    out
}

/// The ASCII spelling of a lowercase character, or "" for a separator.
fn fold_char(c: char) -> &'static str {
    const ASCII: [&str; 36] = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l",
        "m", "n", "o", "p", "q", "r", "s", "t", "u", "v", "w", "x", "y", "z",
    ];
    match c {
        '0'..='9' => ASCII[(c as usize) - ('0' as usize)],
        'a'..='z' => ASCII[10 + (c as usize) - ('a' as usize)],
        'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'ç' | 'ć' | 'č' => "c",
        'ď' | 'đ' => "d",
        'é' | 'è' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => "e",
        'ğ' => "g",
        'í' | 'ì' | 'î' | 'ï' | 'ı' | 'ī' => "i",
        'ł' => "l",
        'ñ' | 'ń' | 'ň' => "n",
        'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'ø' | 'ő' | 'ō' => "o",
        'ř' => "r",
        'ś' | 'š' | 'ş' | 'ș' => "s",
        'ť' | 'ţ' | 'ț' => "t",
        'ú' | 'ù' | 'û' | 'ü' | 'ů' | 'ű' | 'ū' => "u",
        'ý' | 'ÿ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        'ß' => "ss",
        'æ' => "ae",
        'œ' => "oe",
        'þ' => "th",
        _ => "",
    }
}

// ---------------------------------------------------------------------------
// Reference data
// ---------------------------------------------------------------------------

/// FKApi's seventeen colours, in id order.
const COLORS: [(&str, &str); 17] = [
    ("White", "#FFFFFF"),
    ("Red", "#D71920"),
    ("Blue", "#1C4FA1"),
    ("Black", "#000000"),
    ("Yellow", "#FFD100"),
    ("Green", "#00843D"),
    ("Sky blue", "#6CABDD"),
    ("Navy", "#0B1F41"),
    ("Orange", "#F58220"),
    ("Gray", "#8C8C8C"),
    ("Claret", "#7A003C"),
    ("Purple", "#5B2C83"),
    ("Pink", "#F4A6C6"),
    ("Brown", "#6B4226"),
    ("Gold", "#C9A227"),
    ("Silver", "#C0C0C0"),
    ("Off-white", "#F4F1E6"),
];
const WHITE: usize = 0;
const RED: usize = 1;
const BLUE: usize = 2;
const BLACK: usize = 3;
const YELLOW: usize = 4;
const GREEN: usize = 5;
const SKY: usize = 6;
const NAVY: usize = 7;
const ORANGE: usize = 8;
const GRAY: usize = 9;
const CLARET: usize = 10;
const PURPLE: usize = 11;
const GOLD: usize = 14;

/// How likely each colour is as a club's home colour (indexed like COLORS).
const CLUB_PRIMARY_WEIGHTS: [u32; 17] = [14, 20, 17, 6, 7, 9, 6, 6, 3, 1, 4, 3, 0, 0, 1, 0, 1];
/// ... as the trim colour next to a home colour.
const SECONDARY_WEIGHTS: [u32; 17] = [40, 8, 8, 16, 6, 4, 3, 8, 2, 2, 2, 1, 1, 0, 5, 2, 2];
/// ... as the main colour of an away/third/special shirt.
const CHANGE_WEIGHTS: [u32; 17] = [24, 6, 6, 14, 10, 5, 6, 10, 4, 5, 2, 4, 3, 1, 2, 2, 3];
/// ... as a goalkeeper shirt colour.
const GOALKEEPER_WEIGHTS: [u32; 17] = [1, 1, 1, 10, 10, 12, 3, 1, 9, 8, 0, 6, 4, 0, 1, 1, 0];
/// ... as a training / travel / jacket colour (the club colour is added too).
const TRAINING_WEIGHTS: [u32; 17] = [6, 2, 2, 12, 1, 1, 2, 14, 1, 8, 1, 1, 0, 0, 0, 1, 1];

/// Kit types: name, category, category order, goalkeeper? (order_priority is
/// the position + 1).
const KIT_TYPES: [(&str, &str, i32, bool); 14] = [
    ("Home", "match", 1, false),
    ("Away", "match", 1, false),
    ("Third", "match", 1, false),
    ("Fourth", "match", 1, false),
    ("Goalkeeper Home", "match", 1, true),
    ("Goalkeeper Away", "match", 1, true),
    ("Goalkeeper Third", "match", 1, true),
    ("Pre-Match", "prematch", 2, false),
    ("Warm-up", "preseason", 3, false),
    ("Training", "training", 4, false),
    ("Travel", "travel", 5, false),
    ("Anthem Jacket", "jacket", 6, false),
    ("Rain Jacket", "jacket", 6, false),
    ("Special", "match", 1, false),
];
const HOME: usize = 0;
const AWAY: usize = 1;
const THIRD: usize = 2;
const FOURTH: usize = 3;
const GK_HOME: usize = 4;
const GK_AWAY: usize = 5;
const GK_THIRD: usize = 6;
const PRE_MATCH: usize = 7;
const WARM_UP: usize = 8;
const TRAINING: usize = 9;
const TRAVEL: usize = 10;
const ANTHEM: usize = 11;
const RAIN: usize = 12;
const SPECIAL: usize = 13;

/// FKApi's design names.
const DESIGNS: [&str; 16] = [
    "Plain",
    "Stripes",
    "Graphic",
    "Chest band",
    "Contrasting sleeves",
    "Pinstripes",
    "Hoops",
    "Single stripe",
    "Half-and-half",
    "Sash",
    "Chevron",
    "Checkers",
    "Gradient",
    "Diagonal",
    "Cross",
    "Quarters",
];
const PLAIN: usize = 0;
const STRIPES: usize = 1;
const CHEST_BAND: usize = 3;
const SLEEVES: usize = 4;
const HOOPS: usize = 6;
const SINGLE_STRIPE: usize = 7;
const HALF: usize = 8;
const SASH: usize = 9;
const CHEVRON: usize = 10;
const DIAGONAL: usize = 13;
/// A club's usual home design.
const CLUB_DESIGN_WEIGHTS: [u32; 16] = [45, 20, 0, 5, 7, 2, 8, 3, 5, 5, 1, 1, 0, 1, 0, 2];
/// Any kit's design.
const KIT_DESIGN_WEIGHTS: [u32; 16] = [30, 10, 14, 4, 5, 5, 4, 3, 3, 3, 3, 2, 5, 4, 1, 2];

/// A kit maker: name, first and last season it made kits, weight, and the
/// nations (keys) it is limited to (empty = everywhere).
struct Brand {
    name: &'static str,
    from: u16,
    to: u16,
    weight: u32,
    nations: &'static [&'static str],
}

const fn brand(name: &'static str, from: u16, to: u16, weight: u32, nations: &'static [&'static str]) -> Brand {
    Brand { name, from, to, weight, nations }
}

const BRANDS: [Brand; 43] = [
    brand("Adidas", 1950, 2100, 30, &[]),
    brand("Nike", 1975, 2100, 24, &[]),
    brand("Puma", 1960, 2100, 15, &[]),
    brand("Umbro", 1950, 2100, 12, &[]),
    brand("Kappa", 1978, 2100, 8, &[]),
    brand("Hummel", 1975, 2100, 6, &[]),
    brand("Le Coq Sportif", 1950, 2100, 6, &[]),
    brand("Macron", 1975, 2100, 8, &[]),
    brand("Joma", 1970, 2100, 8, &[]),
    brand("New Balance", 2015, 2100, 4, &[]),
    brand("Errea", 1988, 2100, 6, &[]),
    brand("Lotto", 1973, 2100, 5, &[]),
    brand("Diadora", 1977, 2100, 5, &[]),
    brand("Castore", 2016, 2100, 3, &[]),
    brand("Mizuno", 1980, 2100, 4, &[]),
    brand("Under Armour", 2012, 2100, 3, &[]),
    brand("Reebok", 1985, 2014, 4, &[]),
    brand("Asics", 1977, 2100, 3, &[]),
    brand("Admiral", 1960, 2100, 3, &[]),
    brand("Bukta", 1950, 1995, 3, &[]),
    brand("Uhlsport", 1975, 2100, 3, &[]),
    brand("Jako", 1989, 2100, 4, &[]),
    brand("Erima", 1960, 2100, 2, &[]),
    brand("Legea", 1990, 2100, 3, &["IT", "GR", "RO"]),
    brand("Givova", 2008, 2100, 2, &["IT"]),
    brand("Kelme", 1977, 2100, 4, &["ES", "MX", "AR"]),
    brand("Penalty", 1970, 2100, 6, &["BR", "AR", "UY"]),
    brand("Topper", 1975, 2100, 4, &["BR", "AR"]),
    brand("Olympikus", 1985, 2100, 4, &["BR"]),
    brand("Athleta", 1950, 2000, 3, &["BR", "AR"]),
    brand("Patrick", 1950, 2100, 2, &["FR", "BE", "NL", "ENG", "SCO"]),
    brand("Pony", 1972, 1999, 2, &[]),
    brand("Saller", 1960, 2100, 2, &["DE", "AT", "CH"]),
    brand("Stanno", 1995, 2100, 2, &["NL", "BE"]),
    brand("Craft", 1977, 2100, 3, &["SE", "NO", "DK"]),
    brand("Select", 1950, 2100, 3, &["DK", "SE", "NO"]),
    brand("Zeus", 2000, 2100, 2, &["GR", "IT"]),
    brand("Capelli Sport", 2011, 2100, 1, &[]),
    brand("Charly", 1997, 2100, 6, &["MX"]),
    brand("Warrior", 2012, 2015, 2, &[]),
    brand("Fila", 1973, 2100, 2, &[]),
    brand("Hungaria", 1950, 1990, 1, &[]),
    brand("Marathon", 1980, 2100, 2, &["CL", "CO", "UY", "AR"]),
];
const NIKE: usize = 1;

/// Continental confederations.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Conf {
    Uefa,
    Conmebol,
    Concacaf,
    Afc,
}

/// What a competition is, for picking the ones a kit was worn in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// A domestic league of the given tier (0 = top flight).
    League(u8),
    /// A domestic cup (0 = the main cup, 1 = the league cup).
    Cup(u8),
    /// A continental club competition (0 = the top one, 1 = the second,
    /// 2 = the third / cup winners', 3 = the super cup).
    Continental(Conf, u8),
    /// The world club title.
    World,
}

struct Competition {
    name: &'static str,
    /// The nation key (see NATIONS), `None` for international ones.
    nation: Option<&'static str>,
    kind: Kind,
    from: u16,
    to: u16,
}

const fn comp(name: &'static str, nation: &'static str, kind: Kind, from: u16, to: u16) -> Competition {
    Competition { name, nation: Some(nation), kind, from, to }
}

const fn intl(name: &'static str, kind: Kind, from: u16, to: u16) -> Competition {
    Competition { name, nation: None, kind, from, to }
}

const L0: Kind = Kind::League(0);
const L1: Kind = Kind::League(1);
const C0: Kind = Kind::Cup(0);
const C1: Kind = Kind::Cup(1);
const NOW: u16 = 2100;

const COMPETITIONS: [Competition; 72] = [
    comp("Premier League", "ENG", L0, 1992, NOW),
    comp("Football League First Division", "ENG", L0, 1950, 1991),
    comp("EFL Championship", "ENG", L1, 2004, NOW),
    comp("FA Cup", "ENG", C0, 1950, NOW),
    comp("EFL Cup", "ENG", C1, 1960, NOW),
    comp("La Liga", "ES", L0, 1950, NOW),
    comp("Segunda División", "ES", L1, 1950, NOW),
    comp("Copa del Rey", "ES", C0, 1950, NOW),
    comp("Serie A", "IT", L0, 1950, NOW),
    comp("Serie B", "IT", L1, 1950, NOW),
    comp("Coppa Italia", "IT", C0, 1958, NOW),
    comp("Bundesliga", "DE", L0, 1963, NOW),
    comp("2. Bundesliga", "DE", L1, 1974, NOW),
    comp("DFB-Pokal", "DE", C0, 1952, NOW),
    comp("Ligue 1", "FR", L0, 2002, NOW),
    comp("Division 1", "FR", L0, 1950, 2001),
    comp("Ligue 2", "FR", L1, 2002, NOW),
    comp("Coupe de France", "FR", C0, 1950, NOW),
    comp("Scottish Premiership", "SCO", L0, 2013, NOW),
    comp("Scottish Premier League", "SCO", L0, 1998, 2012),
    comp("Scottish Premier Division", "SCO", L0, 1975, 1997),
    comp("Scottish Cup", "SCO", C0, 1950, NOW),
    comp("Scottish League Cup", "SCO", C1, 1950, NOW),
    comp("Primeira Liga", "PT", L0, 1950, NOW),
    comp("Taça de Portugal", "PT", C0, 1950, NOW),
    comp("Eredivisie", "NL", L0, 1956, NOW),
    comp("Eerste Divisie", "NL", L1, 1956, NOW),
    comp("KNVB Beker", "NL", C0, 1950, NOW),
    comp("Belgian Pro League", "BE", L0, 1950, NOW),
    comp("Belgian Cup", "BE", C0, 1954, NOW),
    comp("Süper Lig", "TR", L0, 1959, NOW),
    comp("Türkiye Kupası", "TR", C0, 1962, NOW),
    comp("Super League Greece", "GR", L0, 1959, NOW),
    comp("Austrian Bundesliga", "AT", L0, 1974, NOW),
    comp("Swiss Super League", "CH", L0, 2003, NOW),
    comp("Danish Superliga", "DK", L0, 1991, NOW),
    comp("Allsvenskan", "SE", L0, 1950, NOW),
    comp("Eliteserien", "NO", L0, 1963, NOW),
    comp("Ekstraklasa", "PL", L0, 1950, NOW),
    comp("Czech First League", "CZ", L0, 1993, NOW),
    comp("HNL", "HR", L0, 1992, NOW),
    comp("Serbian SuperLiga", "RS", L0, 2006, NOW),
    comp("Ukrainian Premier League", "UA", L0, 1992, NOW),
    comp("Liga I", "RO", L0, 1950, NOW),
    comp("League of Ireland Premier Division", "IE", L0, 1985, NOW),
    comp("Campeonato Brasileiro Série A", "BR", L0, 1971, NOW),
    comp("Copa do Brasil", "BR", C0, 1989, NOW),
    comp("Argentine Primera División", "AR", L0, 1950, NOW),
    comp("Copa Argentina", "AR", C0, 2011, NOW),
    comp("Liga MX", "MX", L0, 1950, NOW),
    comp("Major League Soccer", "US", L0, 1996, NOW),
    comp("U.S. Open Cup", "US", C0, 1950, NOW),
    comp("J1 League", "JP", L0, 1993, NOW),
    comp("Emperor's Cup", "JP", C0, 1950, NOW),
    comp("K League 1", "KR", L0, 1983, NOW),
    comp("A-League Men", "AU", L0, 2005, NOW),
    comp("Saudi Pro League", "SA", L0, 1976, NOW),
    comp("Chilean Primera División", "CL", L0, 1950, NOW),
    comp("Categoría Primera A", "CO", L0, 1950, NOW),
    comp("Uruguayan Primera División", "UY", L0, 1950, NOW),
    intl("European Cup", Kind::Continental(Conf::Uefa, 0), 1955, 1991),
    intl("UEFA Champions League", Kind::Continental(Conf::Uefa, 0), 1992, NOW),
    intl("UEFA Cup", Kind::Continental(Conf::Uefa, 1), 1971, 2008),
    intl("UEFA Europa League", Kind::Continental(Conf::Uefa, 1), 2009, NOW),
    intl("UEFA Cup Winners' Cup", Kind::Continental(Conf::Uefa, 2), 1960, 1998),
    intl("UEFA Europa Conference League", Kind::Continental(Conf::Uefa, 2), 2021, NOW),
    intl("UEFA Super Cup", Kind::Continental(Conf::Uefa, 3), 1973, NOW),
    intl("Copa Libertadores", Kind::Continental(Conf::Conmebol, 0), 1960, NOW),
    intl("Copa Sudamericana", Kind::Continental(Conf::Conmebol, 1), 2002, NOW),
    intl("CONCACAF Champions Cup", Kind::Continental(Conf::Concacaf, 0), 1962, NOW),
    intl("AFC Champions League", Kind::Continental(Conf::Afc, 0), 2002, NOW),
    intl("FIFA Club World Cup", Kind::World, 2000, NOW),
];

/// How generated club names are built in a nation; `{}` is the city.
#[derive(Clone, Copy)]
enum Style {
    English,
    American,
    Australian,
    Spanish,
    Hispanic,
    Italian,
    German,
    French,
    Belgian,
    Portuguese,
    Brazilian,
    Dutch,
    Nordic,
    Polish,
    Czech,
    Balkan,
    Ukrainian,
    Romanian,
    Turkish,
    Greek,
    Japanese,
    Korean,
    Arabic,
}

#[rustfmt::skip]
fn patterns(style: Style) -> &'static [&'static str] {
    match style {
        Style::English => &[
            "{} United", "{} City", "{} Town", "{} Rovers", "{} Athletic", "{} Wanderers", "{} Albion", "{} County",
            "{} FC", "{} Rangers", "{} Borough", "{} Villa", "{} Thistle", "{} Harriers", "AFC {}", "Sporting {}",
            "Real {}", "{} Dynamo", "{} Celtic", "{}",
        ],
        Style::American => &[
            "{} FC", "{} SC", "{} United", "Real {}", "Sporting {}", "{} City", "{} Athletic", "Inter {}", "{} Rovers",
            "{} Dynamo", "{} Union", "{} Fire", "{} Republic", "{} Independence", "{} Legion", "{} Battery",
        ],
        Style::Australian => &[
            "{} FC", "{} City", "{} United", "{} Victory", "{} Roar", "{} Glory", "{} Wanderers", "{} Jets",
            "{} Mariners", "{} Olympic",
        ],
        Style::Spanish => &[
            "Real {}", "{} CF", "CD {}", "UD {}", "Atlético {}", "Sporting {}", "Racing {}", "SD {}", "Deportivo {}",
            "CF {}", "Club Deportivo {}", "Unión Deportiva {}", "Arenas {}", "Gimnástica {}",
            "Real Club Deportivo {}",
        ],
        Style::Hispanic => &[
            "Club Atlético {}", "Deportivo {}", "Independiente {}", "Racing {}", "Unión {}", "Atlético {}",
            "Sportivo {}", "Gimnasia {}", "Estudiantes de {}", "Club {}", "Deportes {}", "Real {}", "Talleres de {}",
            "Defensores de {}", "Universidad de {}", "Olimpia {}",
        ],
        Style::Italian => &[
            "{} Calcio", "AC {}", "US {}", "AS {}", "SS {}", "FC {}", "Virtus {}", "{} FC", "Pro {}", "Atletico {}",
            "Sporting {}", "Unione Sportiva {}", "Juventus {}", "Real {}",
        ],
        Style::German => &[
            "FC {}", "SV {}", "VfB {}", "VfL {}", "1. FC {}", "Borussia {}", "Fortuna {}", "Eintracht {}", "SC {}",
            "TSV {}", "Dynamo {}", "Union {}", "Rot-Weiss {}", "Kickers {}", "SpVgg {}", "Alemannia {}",
            "Preußen {}", "Arminia {}", "Hansa {}", "Sportfreunde {}", "Wacker {}", "Austria {}", "Admira {}",
        ],
        Style::French => &[
            "{} FC", "AS {}", "Olympique {}", "Stade {}", "RC {}", "FC {}", "SC {}", "US {}", "Racing {}", "AJ {}",
            "En Avant {}", "Red Star {}", "Sporting {}", "Étoile {}", "Olympique de {}", "Girondins de {}",
            "Stade de {}",
        ],
        Style::Belgian => &[
            "KV {}", "KRC {}", "Royal {}", "Standard {}", "Cercle {}", "Sporting {}", "RFC {}", "KAA {}",
            "Germinal {}", "Racing {}", "Excelsior {}", "RSC {}", "Union {}", "FC {}",
        ],
        Style::Portuguese => &[
            "Sporting {}", "FC {}", "SC {}", "CD {}", "Vitória {}", "Académico {}", "{} FC", "União {}",
            "Desportivo {}", "Atlético {}", "Clube Desportivo {}", "Estrela {}",
        ],
        Style::Brazilian => &[
            "{} FC", "{} EC", "Atlético {}", "Sport {}", "Grêmio {}", "América {}", "Esporte Clube {}",
            "Clube Atlético {}", "Ferroviário {}", "Internacional de {}", "Náutico {}", "Associação {}",
            "Botafogo {}", "Guarani {}", "Tupi {}", "União {}", "Operário {}", "Comercial {}", "Juventude {}",
        ],
        Style::Dutch => &[
            "FC {}", "{} FC", "SC {}", "Sparta {}", "Go Ahead {}", "VV {}", "Excelsior {}", "Fortuna {}",
            "Heracles {}", "SV {}", "RKC {}", "Roda {}", "Vitesse {}", "NAC {}", "HFC {}", "Telstar {}", "Quick {}",
        ],
        Style::Nordic => &[
            "{} IF", "{} BK", "{} FF", "{} IK", "IFK {}", "{} FK", "FC {}", "{} Boldklub", "{} SK", "{} AIK",
            "{} Fotball", "{} Idrettslag", "{} BoIS",
        ],
        Style::Polish => &[
            "Górnik {}", "Śląsk {}", "Lech {}", "Wisła {}", "Legia {}", "Ruch {}", "Polonia {}", "Pogoń {}",
            "Zagłębie {}", "Odra {}", "Warta {}", "Stal {}", "KS {}", "GKS {}", "Motor {}", "Jagiellonia {}",
            "Arka {}", "Lechia {}", "Widzew {}",
        ],
        Style::Czech => &[
            "Sparta {}", "Slavia {}", "Baník {}", "FK {}", "SK {}", "Viktoria {}", "Slovan {}", "Dukla {}",
            "Bohemians {}", "Sigma {}", "Zbrojovka {}", "FC {}", "Dynamo {}",
        ],
        Style::Balkan => &[
            "NK {}", "HNK {}", "FK {}", "Hajduk {}", "Dinamo {}", "Radnički {}", "Partizan {}", "OFK {}",
            "Slaven {}", "Inter {}", "Lokomotiva {}", "Sloga {}", "Borac {}", "Mladost {}", "Spartak {}",
            "Jedinstvo {}",
        ],
        Style::Ukrainian => &[
            "FC {}", "Dynamo {}", "Shakhtar {}", "Metalist {}", "Karpaty {}", "Chornomorets {}", "Zorya {}",
            "Vorskla {}", "Metalurh {}", "Arsenal {}", "Obolon {}", "Kryvbas {}", "Veres {}",
        ],
        Style::Romanian => &[
            "Dinamo {}", "Rapid {}", "Steaua {}", "Universitatea {}", "Politehnica {}", "CFR {}", "Petrolul {}",
            "Farul {}", "Gloria {}", "Oțelul {}", "FC {}", "CS {}", "ACS {}", "Sportul {}",
        ],
        Style::Turkish => &[
            "{}spor", "{} Spor", "{} Belediyespor", "{} FK", "{} Gençlerbirliği", "{} Demirspor",
            "{} Büyükşehir Belediyespor", "{} İdman Yurdu", "{}gücü",
        ],
        Style::Greek => &[
            "{} FC", "AE {}", "PAS {}", "Aris {}", "Atromitos {}", "Asteras {}", "Apollon {}", "Ethnikos {}",
            "Iraklis {}", "AO {}", "Panionios {}",
        ],
        Style::Japanese => &[
            "{} FC", "FC {}", "{} United", "{} City", "{} SC", "Albirex {}", "Sanfrecce {}", "Vegalta {}",
            "Consadole {}", "Montedio {}", "Fagiano {}", "Zweigen {}", "Blaublitz {}",
        ],
        Style::Korean => &[
            "{} FC", "{} United", "{} Citizen", "{} Hyundai", "FC {}", "{} City", "{} Samsung", "{} Steelers",
            "{} Dragons",
        ],
        Style::Arabic => &[
            "Al-{} FC", "{} Club", "Al-{} SC", "Al-Ittihad {}", "Al-Ahli {}", "Al-Shabab {}", "Al-Wehda {}",
        ],
    }
}

/// Suffixes for second teams, used once plain names start colliding.
const VARIANTS: [&str; 5] = [" II", " B", " U23", " Women", " Reserves"];

/// A football nation: its key (also used by brands and competitions), ISO
/// code, naming style, whether its seasons are calendar years, confederation,
/// how often generated clubs come from it, and its cities.
struct Nation {
    key: &'static str,
    iso: &'static str,
    style: Style,
    calendar: bool,
    conf: Conf,
    weight: u32,
    cities: &'static [&'static str],
}

#[rustfmt::skip]
const NATIONS: [Nation; 34] = [
    Nation {
        key: "ENG",
        iso: "GB",
        style: Style::English,
        calendar: false,
        conf: Conf::Uefa,
        weight: 14,
        cities: &[
            "London", "Manchester", "Liverpool", "Birmingham", "Leeds", "Sheffield", "Bristol", "Newcastle",
            "Nottingham", "Leicester", "Coventry", "Southampton", "Portsmouth", "Plymouth", "Norwich", "Ipswich",
            "Derby", "Stoke", "Wolverhampton", "Bolton", "Blackburn", "Preston", "Burnley", "Sunderland",
            "Middlesbrough", "Hull", "Reading", "Brighton", "Oxford", "Cambridge", "Luton", "Watford", "Swindon",
            "Exeter", "Carlisle", "York", "Bradford", "Huddersfield", "Wigan", "Blackpool", "Barnsley", "Doncaster",
            "Rotherham", "Northampton", "Peterborough", "Gillingham", "Crewe", "Chester", "Walsall", "Bury",
            "Rochdale", "Oldham", "Stockport", "Scunthorpe", "Grimsby", "Lincoln", "Mansfield", "Colchester",
            "Southend", "Bournemouth", "Cheltenham", "Shrewsbury", "Hereford", "Wycombe", "Maidstone", "Salford",
            "Harrogate",
        ],
    },
    Nation {
        key: "SCO",
        iso: "GB",
        style: Style::English,
        calendar: false,
        conf: Conf::Uefa,
        weight: 3,
        cities: &[
            "Glasgow", "Edinburgh", "Aberdeen", "Dundee", "Inverness", "Perth", "Kilmarnock", "Motherwell",
            "Hamilton", "Paisley", "Falkirk", "Dunfermline", "Livingston", "Ayr", "Greenock", "Stirling", "Arbroath",
            "Dumbarton", "Airdrie", "Montrose",
        ],
    },
    Nation {
        key: "ES",
        iso: "ES",
        style: Style::Spanish,
        calendar: false,
        conf: Conf::Uefa,
        weight: 10,
        cities: &[
            "Madrid", "Barcelona", "Sevilla", "Valencia", "Bilbao", "Málaga", "Zaragoza", "Oviedo", "Gijón", "Vigo",
            "Santander", "Córdoba", "Cádiz", "Almería", "Granada", "Murcia", "Alicante", "Elche", "Valladolid",
            "Salamanca", "Pamplona", "Logroño", "Huesca", "Lleida", "Girona", "Tarragona", "Castellón", "Albacete",
            "Jaén", "Huelva", "Burgos", "León", "Palencia", "Cartagena", "Mérida", "Badajoz", "Cáceres", "Ferrol",
            "Lugo", "Ourense", "Pontevedra", "Vitoria", "San Sebastián", "Éibar", "Getafe", "Leganés", "Alcorcón",
            "Fuenlabrada", "Mallorca", "Ibiza", "Las Palmas", "Tenerife", "Algeciras", "Marbella", "Ávila",
        ],
    },
    Nation {
        key: "IT",
        iso: "IT",
        style: Style::Italian,
        calendar: false,
        conf: Conf::Uefa,
        weight: 10,
        cities: &[
            "Milano", "Torino", "Roma", "Napoli", "Genova", "Firenze", "Bologna", "Verona", "Venezia", "Palermo",
            "Bari", "Catania", "Cagliari", "Parma", "Modena", "Reggio Emilia", "Brescia", "Bergamo", "Udine",
            "Lecce", "Pescara", "Perugia", "Ancona", "Livorno", "Pisa", "Empoli", "Cesena", "Ferrara", "Vicenza",
            "Padova", "Trieste", "Como", "Cremona", "Salerno", "Avellino", "Catanzaro", "Cosenza", "Crotone",
            "Foggia", "Sassuolo", "Spezia", "Monza", "Novara", "Ascoli", "Terni", "Siena", "Lucca", "Frosinone",
            "Benevento", "Messina", "Forlì",
        ],
    },
    Nation {
        key: "DE",
        iso: "DE",
        style: Style::German,
        calendar: false,
        conf: Conf::Uefa,
        weight: 10,
        cities: &[
            "Berlin", "Hamburg", "München", "Köln", "Frankfurt", "Stuttgart", "Düsseldorf", "Dortmund", "Essen",
            "Bremen", "Leipzig", "Dresden", "Hannover", "Nürnberg", "Duisburg", "Bochum", "Wuppertal", "Bielefeld",
            "Bonn", "Münster", "Mannheim", "Karlsruhe", "Augsburg", "Wiesbaden", "Gelsenkirchen", "Mönchengladbach",
            "Braunschweig", "Kiel", "Aachen", "Chemnitz", "Halle", "Magdeburg", "Freiburg", "Krefeld", "Lübeck",
            "Oberhausen", "Rostock", "Kassel", "Mainz", "Saarbrücken", "Osnabrück", "Paderborn", "Darmstadt",
            "Würzburg", "Regensburg", "Ingolstadt", "Fürth", "Offenbach", "Jena", "Cottbus", "Erfurt", "Heidenheim",
            "Sandhausen", "Elversberg", "Ulm",
        ],
    },
    Nation {
        key: "AT",
        iso: "AT",
        style: Style::German,
        calendar: false,
        conf: Conf::Uefa,
        weight: 2,
        cities: &[
            "Wien", "Graz", "Linz", "Salzburg", "Innsbruck", "Klagenfurt", "Villach", "Wels", "St. Pölten",
            "Dornbirn", "Altach", "Ried", "Hartberg", "Wolfsberg",
        ],
    },
    Nation {
        key: "CH",
        iso: "CH",
        style: Style::German,
        calendar: false,
        conf: Conf::Uefa,
        weight: 2,
        cities: &[
            "Zürich", "Genève", "Basel", "Bern", "Lausanne", "Luzern", "St. Gallen", "Lugano", "Sion", "Thun",
            "Aarau", "Winterthur", "Neuchâtel", "Schaffhausen",
        ],
    },
    Nation {
        key: "FR",
        iso: "FR",
        style: Style::French,
        calendar: false,
        conf: Conf::Uefa,
        weight: 8,
        cities: &[
            "Paris", "Marseille", "Lyon", "Toulouse", "Nice", "Nantes", "Strasbourg", "Montpellier", "Bordeaux",
            "Lille", "Rennes", "Reims", "Saint-Étienne", "Le Havre", "Toulon", "Grenoble", "Dijon", "Angers", "Nîmes",
            "Clermont", "Brest", "Le Mans", "Amiens", "Tours", "Limoges", "Metz", "Besançon", "Orléans", "Rouen",
            "Caen", "Nancy", "Sochaux", "Auxerre", "Lens", "Lorient", "Guingamp", "Valenciennes", "Troyes", "Ajaccio",
            "Bastia", "Niort", "Laval", "Châteauroux", "Créteil", "Béziers", "Sedan", "Annecy", "Dunkerque", "Pau",
        ],
    },
    Nation {
        key: "BE",
        iso: "BE",
        style: Style::Belgian,
        calendar: false,
        conf: Conf::Uefa,
        weight: 3,
        cities: &[
            "Brussel", "Antwerpen", "Gent", "Brugge", "Liège", "Charleroi", "Mechelen", "Genk", "Leuven", "Oostende",
            "Kortrijk", "Mouscron", "Sint-Truiden", "Waregem", "Lokeren", "Beveren", "Eupen", "Lommel", "Westerlo",
            "Seraing", "Namur",
        ],
    },
    Nation {
        key: "NL",
        iso: "NL",
        style: Style::Dutch,
        calendar: false,
        conf: Conf::Uefa,
        weight: 4,
        cities: &[
            "Amsterdam", "Rotterdam", "Den Haag", "Utrecht", "Eindhoven", "Groningen", "Tilburg", "Almere", "Breda",
            "Nijmegen", "Enschede", "Arnhem", "Zwolle", "Haarlem", "Leeuwarden", "Maastricht", "Heerenveen",
            "Alkmaar", "Deventer", "Venlo", "Sittard", "Kerkrade", "Emmen", "Waalwijk", "Volendam", "Dordrecht",
            "Helmond", "Den Bosch", "Oss", "Almelo",
        ],
    },
    Nation {
        key: "PT",
        iso: "PT",
        style: Style::Portuguese,
        calendar: false,
        conf: Conf::Uefa,
        weight: 4,
        cities: &[
            "Lisboa", "Porto", "Braga", "Guimarães", "Coimbra", "Setúbal", "Faro", "Aveiro", "Funchal", "Viseu",
            "Leiria", "Famalicão", "Barcelos", "Chaves", "Vizela", "Arouca", "Estoril", "Amadora", "Tondela",
            "Covilhã", "Penafiel", "Paços de Ferreira", "Vila do Conde", "Portimão", "Olhão",
        ],
    },
    Nation {
        key: "TR",
        iso: "TR",
        style: Style::Turkish,
        calendar: false,
        conf: Conf::Uefa,
        weight: 3,
        cities: &[
            "İstanbul", "Ankara", "İzmir", "Bursa", "Antalya", "Konya", "Trabzon", "Kayseri", "Adana", "Gaziantep",
            "Sivas", "Samsun", "Eskişehir", "Denizli", "Malatya", "Rize", "Manisa", "Sakarya", "Kocaeli", "Erzurum",
            "Hatay",
        ],
    },
    Nation {
        key: "GR",
        iso: "GR",
        style: Style::Greek,
        calendar: false,
        conf: Conf::Uefa,
        weight: 2,
        cities: &[
            "Athens", "Thessaloniki", "Piraeus", "Patras", "Heraklion", "Larissa", "Volos", "Ioannina", "Tripoli",
            "Xanthi", "Kalamata", "Chania", "Kavala", "Veria", "Lamia", "Drama", "Serres", "Rhodes",
        ],
    },
    Nation {
        key: "DK",
        iso: "DK",
        style: Style::Nordic,
        calendar: false,
        conf: Conf::Uefa,
        weight: 2,
        cities: &[
            "København", "Aarhus", "Odense", "Aalborg", "Esbjerg", "Randers", "Horsens", "Vejle", "Silkeborg",
            "Viborg", "Herning", "Lyngby", "Brøndby", "Hvidovre", "Næstved", "Sønderborg",
        ],
    },
    Nation {
        key: "SE",
        iso: "SE",
        style: Style::Nordic,
        calendar: true,
        conf: Conf::Uefa,
        weight: 2,
        cities: &[
            "Stockholm", "Göteborg", "Malmö", "Uppsala", "Norrköping", "Örebro", "Helsingborg", "Västerås",
            "Linköping", "Jönköping", "Umeå", "Kalmar", "Halmstad", "Sundsvall", "Östersund", "Trelleborg",
            "Degerfors", "Varberg", "Falkenberg", "Gävle",
        ],
    },
    Nation {
        key: "NO",
        iso: "NO",
        style: Style::Nordic,
        calendar: true,
        conf: Conf::Uefa,
        weight: 2,
        cities: &[
            "Oslo", "Bergen", "Trondheim", "Stavanger", "Tromsø", "Bodø", "Kristiansand", "Drammen", "Fredrikstad",
            "Sarpsborg", "Ålesund", "Molde", "Lillestrøm", "Haugesund", "Sandefjord", "Hamar", "Skien", "Moss",
        ],
    },
    Nation {
        key: "PL",
        iso: "PL",
        style: Style::Polish,
        calendar: false,
        conf: Conf::Uefa,
        weight: 3,
        cities: &[
            "Warszawa", "Kraków", "Łódź", "Wrocław", "Poznań", "Gdańsk", "Szczecin", "Lublin", "Katowice",
            "Białystok", "Gdynia", "Bydgoszcz", "Kielce", "Rzeszów", "Zabrze", "Chorzów", "Płock", "Lubin",
            "Bielsko-Biała", "Radom", "Gliwice", "Sosnowiec", "Olsztyn", "Opole", "Legnica",
        ],
    },
    Nation {
        key: "CZ",
        iso: "CZ",
        style: Style::Czech,
        calendar: false,
        conf: Conf::Uefa,
        weight: 2,
        cities: &[
            "Praha", "Brno", "Ostrava", "Plzeň", "Liberec", "Olomouc", "České Budějovice", "Hradec Králové",
            "Pardubice", "Zlín", "Jablonec", "Teplice", "Mladá Boleslav", "Karviná", "Příbram", "Opava", "Jihlava",
        ],
    },
    Nation {
        key: "HR",
        iso: "HR",
        style: Style::Balkan,
        calendar: false,
        conf: Conf::Uefa,
        weight: 2,
        cities: &[
            "Zagreb", "Split", "Rijeka", "Osijek", "Zadar", "Pula", "Šibenik", "Varaždin", "Karlovac", "Vukovar",
            "Dubrovnik", "Velika Gorica",
        ],
    },
    Nation {
        key: "RS",
        iso: "RS",
        style: Style::Balkan,
        calendar: false,
        conf: Conf::Uefa,
        weight: 2,
        cities: &[
            "Beograd", "Novi Sad", "Niš", "Kragujevac", "Subotica", "Čačak", "Kruševac", "Novi Pazar", "Zrenjanin",
            "Smederevo", "Jagodina", "Vranje",
        ],
    },
    Nation {
        key: "UA",
        iso: "UA",
        style: Style::Ukrainian,
        calendar: false,
        conf: Conf::Uefa,
        weight: 2,
        cities: &[
            "Kyiv", "Kharkiv", "Odesa", "Dnipro", "Donetsk", "Zaporizhzhia", "Lviv", "Kryvyi Rih", "Mykolaiv",
            "Luhansk", "Vinnytsia", "Poltava", "Chernihiv", "Sumy", "Zhytomyr", "Ternopil", "Uzhhorod", "Kherson",
            "Oleksandriia",
        ],
    },
    Nation {
        key: "RO",
        iso: "RO",
        style: Style::Romanian,
        calendar: false,
        conf: Conf::Uefa,
        weight: 2,
        cities: &[
            "București", "Cluj-Napoca", "Timișoara", "Iași", "Constanța", "Craiova", "Brașov", "Galați", "Ploiești",
            "Oradea", "Arad", "Pitești", "Sibiu", "Bacău", "Botoșani", "Voluntari",
        ],
    },
    Nation {
        key: "IE",
        iso: "IE",
        style: Style::English,
        calendar: true,
        conf: Conf::Uefa,
        weight: 1,
        cities: &[
            "Dublin", "Cork", "Limerick", "Galway", "Waterford", "Drogheda", "Dundalk", "Sligo", "Bray", "Athlone",
            "Longford", "Wexford",
        ],
    },
    Nation {
        key: "BR",
        iso: "BR",
        style: Style::Brazilian,
        calendar: true,
        conf: Conf::Conmebol,
        weight: 7,
        cities: &[
            "São Paulo", "Rio de Janeiro", "Belo Horizonte", "Porto Alegre", "Salvador", "Recife", "Fortaleza",
            "Curitiba", "Goiânia", "Belém", "Manaus", "Florianópolis", "Natal", "Maceió", "João Pessoa", "Teresina",
            "São Luís", "Campinas", "Santos", "Ribeirão Preto", "Londrina", "Juiz de Fora", "Cuiabá",
            "Campo Grande", "Aracaju", "Caxias do Sul", "Joinville", "Criciúma", "Chapecó", "Bragança Paulista",
            "Sorocaba", "Pelotas", "Volta Redonda", "Uberlândia",
        ],
    },
    Nation {
        key: "AR",
        iso: "AR",
        style: Style::Hispanic,
        calendar: false,
        conf: Conf::Conmebol,
        weight: 5,
        cities: &[
            "Buenos Aires", "Córdoba", "Rosario", "Mendoza", "La Plata", "Tucumán", "Mar del Plata", "Salta",
            "Santa Fe", "San Juan", "Resistencia", "Neuquén", "Bahía Blanca", "Paraná", "Posadas",
            "Santiago del Estero", "Jujuy", "Lanús", "Banfield", "Quilmes", "Avellaneda", "Rafaela", "Junín",
        ],
    },
    Nation {
        key: "MX",
        iso: "MX",
        style: Style::Hispanic,
        calendar: false,
        conf: Conf::Concacaf,
        weight: 4,
        cities: &[
            "Ciudad de México", "Guadalajara", "Monterrey", "Puebla", "Toluca", "Tijuana", "León", "Querétaro",
            "San Luis Potosí", "Mérida", "Cancún", "Veracruz", "Torreón", "Pachuca", "Aguascalientes", "Morelia",
            "Culiacán", "Hermosillo", "Chihuahua", "Oaxaca", "Mazatlán", "Tampico", "Celaya", "Irapuato", "Zacatecas",
        ],
    },
    Nation {
        key: "US",
        iso: "US",
        style: Style::American,
        calendar: true,
        conf: Conf::Concacaf,
        weight: 5,
        cities: &[
            "New York", "Los Angeles", "Chicago", "Houston", "Philadelphia", "Phoenix", "San Antonio", "San Diego",
            "Dallas", "San Jose", "Austin", "Seattle", "Portland", "Denver", "Boston", "Atlanta", "Miami", "Orlando",
            "Nashville", "Charlotte", "Columbus", "Cincinnati", "Kansas City", "Salt Lake", "St. Louis",
            "Sacramento", "Tampa Bay", "Detroit", "Pittsburgh", "Louisville", "Indianapolis", "Las Vegas",
            "Albuquerque", "Memphis", "Oakland", "Rochester", "Richmond", "Tulsa", "El Paso",
        ],
    },
    Nation {
        key: "JP",
        iso: "JP",
        style: Style::Japanese,
        calendar: true,
        conf: Conf::Afc,
        weight: 3,
        cities: &[
            "Tokyo", "Yokohama", "Osaka", "Nagoya", "Sapporo", "Kobe", "Kyoto", "Fukuoka", "Kawasaki", "Saitama",
            "Hiroshima", "Sendai", "Chiba", "Kitakyushu", "Niigata", "Hamamatsu", "Kumamoto", "Shizuoka", "Kashima",
            "Kashiwa", "Iwata", "Shimizu", "Kofu", "Oita", "Tokushima", "Matsumoto", "Kanazawa", "Nagasaki",
            "Okayama", "Mito",
        ],
    },
    Nation {
        key: "KR",
        iso: "KR",
        style: Style::Korean,
        calendar: true,
        conf: Conf::Afc,
        weight: 2,
        cities: &[
            "Seoul", "Busan", "Incheon", "Daegu", "Daejeon", "Gwangju", "Ulsan", "Suwon", "Jeonbuk", "Pohang", "Jeju",
            "Gangwon", "Gimcheon", "Seongnam", "Anyang", "Bucheon", "Gyeongnam", "Cheonan", "Asan", "Gimpo",
        ],
    },
    Nation {
        key: "AU",
        iso: "AU",
        style: Style::Australian,
        calendar: false,
        conf: Conf::Afc,
        weight: 2,
        cities: &[
            "Sydney", "Melbourne", "Brisbane", "Perth", "Adelaide", "Newcastle", "Canberra", "Gold Coast",
            "Wollongong", "Geelong", "Hobart", "Darwin", "Townsville", "Central Coast", "Macarthur",
        ],
    },
    Nation {
        key: "SA",
        iso: "SA",
        style: Style::Arabic,
        calendar: false,
        conf: Conf::Afc,
        weight: 2,
        cities: &[
            "Riyadh", "Jeddah", "Dammam", "Mecca", "Medina", "Taif", "Abha", "Tabuk", "Buraidah", "Khobar", "Hail",
            "Najran", "Jubail", "Unaizah",
        ],
    },
    Nation {
        key: "CL",
        iso: "CL",
        style: Style::Hispanic,
        calendar: true,
        conf: Conf::Conmebol,
        weight: 2,
        cities: &[
            "Santiago", "Valparaíso", "Viña del Mar", "Concepción", "Antofagasta", "Temuco", "Rancagua",
            "La Serena", "Talca", "Iquique", "Puerto Montt", "Osorno", "Coquimbo", "Calama", "Chillán",
        ],
    },
    Nation {
        key: "CO",
        iso: "CO",
        style: Style::Hispanic,
        calendar: true,
        conf: Conf::Conmebol,
        weight: 2,
        cities: &[
            "Bogotá", "Medellín", "Cali", "Barranquilla", "Cartagena", "Bucaramanga", "Manizales", "Pereira",
            "Ibagué", "Cúcuta", "Santa Marta", "Pasto", "Tunja", "Neiva", "Montería", "Envigado",
        ],
    },
    Nation {
        key: "UY",
        iso: "UY",
        style: Style::Hispanic,
        calendar: false,
        conf: Conf::Conmebol,
        weight: 1,
        cities: &[
            "Montevideo", "Salto", "Paysandú", "Maldonado", "Rivera", "Las Piedras", "Tacuarembó", "Colonia",
            "Florida", "Durazno", "Minas", "Rocha", "Canelones", "Mercedes", "Melo",
        ],
    },
];

/// Real clubs that head the catalogue (club 0 is Arsenal), so demos and
/// searches like "Arsenal 2005" work on every scale.
struct Famous {
    name: &'static str,
    nation: &'static str,
    primary: usize,
    secondary: usize,
    design: usize,
}

const fn famous(name: &'static str, nation: &'static str, primary: usize, secondary: usize, design: usize) -> Famous {
    Famous { name, nation, primary, secondary, design }
}

const FAMOUS: [Famous; 91] = [
    famous("Arsenal", "ENG", RED, WHITE, SLEEVES),
    famous("Manchester United", "ENG", RED, WHITE, PLAIN),
    famous("Real Madrid", "ES", WHITE, GOLD, PLAIN),
    famous("FC Barcelona", "ES", CLARET, NAVY, STRIPES),
    famous("Juventus", "IT", WHITE, BLACK, STRIPES),
    famous("Bayern München", "DE", RED, WHITE, PLAIN),
    famous("Málaga CF", "ES", BLUE, WHITE, STRIPES),
    famous("Liverpool", "ENG", RED, WHITE, PLAIN),
    famous("Chelsea", "ENG", BLUE, WHITE, PLAIN),
    famous("Manchester City", "ENG", SKY, WHITE, PLAIN),
    famous("Tottenham Hotspur", "ENG", WHITE, NAVY, PLAIN),
    famous("Newcastle United", "ENG", BLACK, WHITE, STRIPES),
    famous("Everton", "ENG", BLUE, WHITE, PLAIN),
    famous("Aston Villa", "ENG", CLARET, SKY, SLEEVES),
    famous("Atlético Madrid", "ES", RED, WHITE, STRIPES),
    famous("Sevilla FC", "ES", WHITE, RED, PLAIN),
    famous("Real Betis", "ES", GREEN, WHITE, STRIPES),
    famous("Deportivo de La Coruña", "ES", BLUE, WHITE, STRIPES),
    famous("AC Milan", "IT", RED, BLACK, STRIPES),
    famous("Inter Milan", "IT", BLUE, BLACK, STRIPES),
    famous("AS Roma", "IT", CLARET, ORANGE, PLAIN),
    famous("SS Lazio", "IT", SKY, WHITE, PLAIN),
    famous("SSC Napoli", "IT", SKY, WHITE, PLAIN),
    famous("ACF Fiorentina", "IT", PURPLE, WHITE, PLAIN),
    famous("Borussia Dortmund", "DE", YELLOW, BLACK, PLAIN),
    famous("Bayer 04 Leverkusen", "DE", RED, BLACK, PLAIN),
    famous("FC Schalke 04", "DE", BLUE, WHITE, PLAIN),
    famous("1. FC Köln", "DE", WHITE, RED, PLAIN),
    famous("Hamburger SV", "DE", WHITE, BLACK, PLAIN),
    famous("SV Werder Bremen", "DE", GREEN, WHITE, PLAIN),
    famous("VfB Stuttgart", "DE", WHITE, RED, CHEST_BAND),
    famous("Paris Saint-Germain", "FR", NAVY, RED, SINGLE_STRIPE),
    famous("Olympique de Marseille", "FR", WHITE, SKY, PLAIN),
    famous("Olympique Lyonnais", "FR", WHITE, BLUE, PLAIN),
    famous("AS Monaco", "FR", RED, WHITE, DIAGONAL),
    famous("AS Saint-Étienne", "FR", GREEN, WHITE, PLAIN),
    famous("Girondins de Bordeaux", "FR", NAVY, WHITE, CHEVRON),
    famous("Ajax", "NL", WHITE, RED, SINGLE_STRIPE),
    famous("PSV Eindhoven", "NL", RED, WHITE, STRIPES),
    famous("Feyenoord", "NL", RED, WHITE, HALF),
    famous("SL Benfica", "PT", RED, WHITE, PLAIN),
    famous("FC Porto", "PT", BLUE, WHITE, STRIPES),
    famous("Sporting CP", "PT", GREEN, WHITE, HOOPS),
    famous("Celtic", "SCO", GREEN, WHITE, HOOPS),
    famous("Rangers", "SCO", BLUE, WHITE, PLAIN),
    famous("Club Brugge", "BE", BLUE, BLACK, STRIPES),
    famous("RSC Anderlecht", "BE", PURPLE, WHITE, PLAIN),
    famous("Galatasaray", "TR", RED, YELLOW, HALF),
    famous("Fenerbahçe", "TR", YELLOW, NAVY, STRIPES),
    famous("Beşiktaş", "TR", BLACK, WHITE, PLAIN),
    famous("Olympiacos", "GR", RED, WHITE, STRIPES),
    famous("São Paulo FC", "BR", WHITE, RED, CHEST_BAND),
    famous("Flamengo", "BR", RED, BLACK, HOOPS),
    famous("Corinthians", "BR", WHITE, BLACK, PLAIN),
    famous("Palmeiras", "BR", GREEN, WHITE, PLAIN),
    famous("Santos FC", "BR", WHITE, BLACK, PLAIN),
    famous("Grêmio", "BR", SKY, BLACK, STRIPES),
    famous("Boca Juniors", "AR", NAVY, YELLOW, CHEST_BAND),
    famous("River Plate", "AR", WHITE, RED, SASH),
    famous("Club América", "MX", YELLOW, NAVY, PLAIN),
    famous("LA Galaxy", "US", WHITE, NAVY, SASH),
    famous("Urawa Red Diamonds", "JP", RED, WHITE, PLAIN),
    famous("Al-Hilal", "SA", BLUE, WHITE, PLAIN),
    famous("Shakhtar Donetsk", "UA", ORANGE, BLACK, STRIPES),
    famous("Dynamo Kyiv", "UA", WHITE, BLUE, PLAIN),
    famous("Crvena zvezda", "RS", RED, WHITE, STRIPES),
    famous("Dinamo Zagreb", "HR", BLUE, WHITE, PLAIN),
    famous("FC København", "DK", WHITE, BLUE, PLAIN),
    famous("Malmö FF", "SE", SKY, WHITE, PLAIN),
    famous("Rosenborg BK", "NO", WHITE, BLACK, PLAIN),
    famous("Legia Warszawa", "PL", WHITE, GREEN, PLAIN),
    famous("Sparta Praha", "CZ", CLARET, WHITE, PLAIN),
    famous("Red Bull Salzburg", "AT", WHITE, RED, PLAIN),
    famous("FC Basel", "CH", RED, BLUE, HALF),
    famous("Leeds United", "ENG", WHITE, BLUE, PLAIN),
    famous("West Ham United", "ENG", CLARET, SKY, SLEEVES),
    famous("Athletic Club", "ES", RED, WHITE, STRIPES),
    famous("Real Sociedad", "ES", BLUE, WHITE, STRIPES),
    famous("Valencia CF", "ES", WHITE, BLACK, PLAIN),
    famous("Villarreal CF", "ES", YELLOW, BLUE, PLAIN),
    famous("Peñarol", "UY", YELLOW, BLACK, STRIPES),
    famous("Club Nacional de Football", "UY", WHITE, BLUE, PLAIN),
    famous("Colo-Colo", "CL", WHITE, BLACK, PLAIN),
    famous("Atlético Nacional", "CO", GREEN, WHITE, STRIPES),
    famous("Jeonbuk Hyundai Motors", "KR", GREEN, WHITE, PLAIN),
    famous("Melbourne Victory", "AU", NAVY, WHITE, CHEVRON),
    famous("Sydney FC", "AU", SKY, NAVY, PLAIN),
    famous("Shamrock Rovers", "IE", GREEN, WHITE, HOOPS),
    famous("FCSB", "RO", RED, BLUE, PLAIN),
    famous("Rapid Wien", "AT", GREEN, WHITE, PLAIN),
    famous("Hajduk Split", "HR", WHITE, NAVY, PLAIN),
];

// ---------------------------------------------------------------------------
// The generator
// ---------------------------------------------------------------------------

/// Mixed into every random stream; change it and every catalogue changes.
const SEED: u64 = 0x00F0_07BA_11C1_7A10;
const STREAM_CLUB: u64 = 1;
const STREAM_KIT_COUNT: u64 = 2;
/// 2023-01-01T00:00:00Z: `last_updated` is this plus up to three years.
const BASE_TIMESTAMP: i64 = 1_672_531_200;
const UPDATE_WINDOW_SECS: usize = 3 * 365 * 86_400;
const FIRST_YEAR: u16 = 1950;
/// The last two-year season is 2025-26, the last calendar one 2026.
const LAST_SPLIT_YEAR: u16 = 2025;
const LAST_CALENDAR_YEAR: u16 = 2026;
const CDN: &str = "https://cdn.fkapi.dev";

/// splitmix64: tiny, fast, good enough for demo data, and frozen here so the
/// catalogue never changes under a dependency upgrade.
struct Rng(u64);

impl Rng {
    fn new(stream: u64, index: u64) -> Self {
        let mut rng =
            Rng(SEED ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03) ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        rng.next_u64();
        rng
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// True with probability `per_mille / 1000`.
    fn chance(&mut self, per_mille: u32) -> bool {
        self.below(1000) < per_mille as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// An index drawn with the given weights (at least one must be > 0).
    fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u32 = weights.iter().sum();
        let mut roll = self.below(total as usize) as u32;
        for (i, &w) in weights.iter().enumerate() {
            if roll < w {
                return i;
            }
            roll -= w;
        }
        weights.len() - 1
    }
}

/// How many kits club `i` gets. The totals of the first 200, 2,000 and
/// 10,000 clubs are exactly 5,000, 50,000 and 500,000: clubs below 2,000
/// average 25 kits, the rest 56.25 (the large scale asks for 50 a club while
/// keeping the first 2,000 clubs identical to the medium scale). Pairs of
/// clubs get a random spread `+d` / `-d`, so counts vary but sums do not.
fn kit_count(i: usize) -> usize {
    // (`match` on remainders rather than `is_multiple_of`, which is newer
    // than the workspace's rust-version.)
    let (base, spread) = match i {
        0..2_000 => (25, 15),
        _ => match (i - 2_000) % 4 {
            0 => (57, 40),
            _ => (56, 40),
        },
    };
    let mut rng = Rng::new(STREAM_KIT_COUNT, (i / 2) as u64);
    let d = rng.below(2 * spread + 1);
    match i % 2 {
        0 => base + d - spread,
        _ => base + spread - d,
    }
}

/// Lookup tables derived once from the constant data.
struct Ctx {
    nation_by_key: HashMap<&'static str, usize>,
    nation_weights: Vec<u32>,
    /// Per nation: league competition indices by tier.
    leagues: Vec<[Vec<usize>; 2]>,
    /// Per nation: cup competition indices (main cup, league cup).
    cups: Vec<[Vec<usize>; 2]>,
    comp_slugs: Vec<String>,
    brand_slugs: Vec<String>,
    /// Season labels by `year - FIRST_YEAR`: "1950-51" and "1950".
    split_labels: Vec<String>,
    calendar_labels: Vec<String>,
}

impl Ctx {
    fn new() -> Self {
        let nation_by_key: HashMap<&'static str, usize> = NATIONS.iter().enumerate().map(|(i, n)| (n.key, i)).collect();
        let mut leagues = vec![[Vec::new(), Vec::new()]; NATIONS.len()];
        let mut cups = vec![[Vec::new(), Vec::new()]; NATIONS.len()];
        for (ci, c) in COMPETITIONS.iter().enumerate() {
            let Some(n) = c.nation.and_then(|key| nation_by_key.get(key).copied()) else {
                continue;
            };
            match c.kind {
                Kind::League(tier) if tier < 2 => leagues[n][usize::from(tier)].push(ci),
                Kind::Cup(order) if order < 2 => cups[n][usize::from(order)].push(ci),
                _ => {}
            }
        }
        Ctx {
            nation_weights: NATIONS.iter().map(|n| n.weight).collect(),
            nation_by_key,
            leagues,
            cups,
            comp_slugs: COMPETITIONS.iter().map(|c| format!("{}-kits", slugify(c.name))).collect(),
            brand_slugs: BRANDS.iter().map(|b| format!("{}-kits", slugify(b.name))).collect(),
            split_labels: (FIRST_YEAR..=LAST_SPLIT_YEAR).map(|y| format!("{y}-{:02}", (y + 1) % 100)).collect(),
            calendar_labels: (FIRST_YEAR..=LAST_CALENDAR_YEAR).map(|y| y.to_string()).collect(),
        }
    }

    fn season_label(&self, year: u16, calendar: bool) -> &str {
        let labels = if calendar { &self.calendar_labels } else { &self.split_labels };
        &labels[usize::from(year - FIRST_YEAR)]
    }

    fn comp_slug_by_name(&self, name: &str) -> Option<String> {
        COMPETITIONS.iter().position(|c| c.name == name).map(|i| self.comp_slugs[i].clone())
    }
}

fn in_years(c: &Competition, year: u16) -> bool {
    c.from <= year && year <= c.to
}

/// What the generator knows about a club beyond its row.
struct Profile {
    nation: usize,
    tier: usize,
    famous: bool,
    /// Chance (per mille) that a first-team kit was worn in Europe etc.
    continental: u32,
    primary: usize,
    secondary: usize,
    design: usize,
}

/// Generates the catalogue for `scale`. Pure and deterministic.
pub fn generate(scale: Scale) -> Catalogue {
    let ctx = Ctx::new();
    let mut clubs = Vec::with_capacity(scale.clubs());
    let mut kits = Vec::with_capacity(scale.kits());
    let mut names = HashSet::with_capacity(scale.clubs());
    let mut club_slugs = HashSet::with_capacity(scale.clubs());
    let mut kit_slugs = HashSet::with_capacity(scale.kits());
    for i in 0..scale.clubs() {
        let mut rng = Rng::new(STREAM_CLUB, i as u64);
        let (club, profile) = make_club(i, &mut rng, &ctx, &mut names, &mut club_slugs);
        let first_kit = kits.len();
        make_club_kits(i, &club, &profile, &mut rng, &ctx, &mut kit_slugs, &mut kits);
        if i == 0 {
            showcase_first_kit(&ctx, &mut kits[first_kit]);
        }
        clubs.push(club);
    }
    Catalogue {
        colors: COLORS
            .iter()
            .map(|&(name, color)| ColorRow { name: name.to_string(), color: color.to_string() })
            .collect(),
        kit_types: KIT_TYPES
            .iter()
            .zip(1..)
            .map(|(&(name, category, category_order, is_goalkeeper), order_priority)| KitTypeRow {
                name: name.to_string(),
                category: category.to_string(),
                category_order,
                order_priority,
                is_goalkeeper,
            })
            .collect(),
        brands: BRANDS
            .iter()
            .zip(&ctx.brand_slugs)
            .enumerate()
            .map(|(i, (b, slug))| {
                let file = slugify(b.name);
                BrandRow {
                    name: b.name.to_string(),
                    slug: slug.clone(),
                    logo: Some(format!("{CDN}/logos/brands/{file}.png")),
                    logo_dark: (i % 3 != 2).then(|| format!("{CDN}/logos/brands/{file}-dark.png")),
                }
            })
            .collect(),
        competitions: COMPETITIONS
            .iter()
            .zip(&ctx.comp_slugs)
            .enumerate()
            .map(|(i, (c, slug))| {
                let file = slugify(c.name);
                CompetitionRow {
                    name: c.name.to_string(),
                    slug: slug.clone(),
                    logo: Some(format!("{CDN}/logos/competitions/{file}.png")),
                    logo_dark: (i % 2 == 0).then(|| format!("{CDN}/logos/competitions/{file}-dark.png")),
                    country: c.nation.and_then(|key| ctx.nation_by_key.get(key)).map(|&n| NATIONS[n].iso.to_string()),
                }
            })
            .collect(),
        seasons: seasons(),
        clubs,
        kits,
    }
}

/// Every two-year season 1950-51..=2025-26, then every calendar season
/// 1950..=2026.
fn seasons() -> Vec<SeasonRow> {
    let split = (FIRST_YEAR..=LAST_SPLIT_YEAR).map(|y| SeasonRow {
        year: format!("{y}-{:02}", (y + 1) % 100),
        first_year: y.to_string(),
        second_year: Some((y + 1).to_string()),
    });
    let calendar = (FIRST_YEAR..=LAST_CALENDAR_YEAR).map(|y| SeasonRow {
        year: y.to_string(),
        first_year: y.to_string(),
        second_year: None,
    });
    split.chain(calendar).collect()
}

fn make_club(
    i: usize,
    rng: &mut Rng,
    ctx: &Ctx,
    names: &mut HashSet<String>,
    slugs: &mut HashSet<String>,
) -> (ClubRow, Profile) {
    let profile;
    let name;
    if let Some(f) = FAMOUS.get(i) {
        name = f.name.to_string();
        profile = Profile {
            nation: ctx.nation_by_key.get(f.nation).copied().unwrap_or(0),
            tier: 0,
            famous: true,
            continental: 450,
            primary: f.primary,
            secondary: f.secondary,
            design: f.design,
        };
    } else {
        let (drawn, nation) = draw_club_name(rng, ctx, names);
        name = drawn;
        let tier = usize::from(!ctx.leagues[nation][1].is_empty() && rng.chance(350));
        let primary = rng.weighted(&CLUB_PRIMARY_WEIGHTS);
        let secondary = draw_color_except(rng, &SECONDARY_WEIGHTS, &[primary]);
        profile = Profile {
            nation,
            tier,
            famous: false,
            continental: if tier == 0 { 70 } else { 5 },
            primary,
            secondary,
            design: rng.weighted(&CLUB_DESIGN_WEIGHTS),
        };
    }
    let slug = unique_slug(slugify(&name), slugs, "club");
    names.insert(name.clone());
    let club = ClubRow {
        id_fka: (10_000 + i * 10 + rng.below(10)) as i32,
        logo: Some(format!("{CDN}/logos/clubs/{slug}.png")),
        logo_dark: rng.chance(400).then(|| format!("{CDN}/logos/clubs/{slug}-dark.png")),
        country: Some(NATIONS[profile.nation].iso.to_string()),
        name,
        slug,
    };
    (club, profile)
}

/// A club name not used yet: a city and a naming pattern of a random nation,
/// then (once plain names keep colliding) with a second-team suffix. After
/// that the name may repeat; the slug still gets made unique.
fn draw_club_name(rng: &mut Rng, ctx: &Ctx, names: &HashSet<String>) -> (String, usize) {
    let mut last = (String::new(), 0);
    for attempt in 0..32 {
        let nation = rng.weighted(&ctx.nation_weights);
        let n = &NATIONS[nation];
        let city = rng.pick(n.cities);
        let mut name = rng.pick(patterns(n.style)).replacen("{}", city, 1);
        if attempt >= 16 {
            let variant = *rng.pick(&VARIANTS[..]);
            name.push_str(variant);
        }
        if !names.contains(&name) {
            return (name, nation);
        }
        last = (name, nation);
    }
    last
}

/// `base`, or `base-2`, `base-3`, ... whichever is free; records it.
fn unique_slug(base: String, used: &mut HashSet<String>, fallback: &str) -> String {
    let base = if base.is_empty() { fallback.to_string() } else { base };
    let slug = if used.contains(&base) {
        (2..).map(|n| format!("{base}-{n}")).find(|s| !used.contains(s)).unwrap_or_default()
    } else {
        base
    };
    used.insert(slug.clone());
    slug
}

fn draw_color_except(rng: &mut Rng, weights: &[u32; 17], except: &[usize]) -> usize {
    for _ in 0..8 {
        let c = rng.weighted(weights);
        if !except.contains(&c) {
            return c;
        }
    }
    [WHITE, BLACK, NAVY].into_iter().find(|c| !except.contains(c)).unwrap_or(GRAY)
}

/// The kit types a club catalogued for one season, in priority order (always
/// home and away; third kits and the rest get likelier in modern times).
fn season_types(rng: &mut Rng, year: u16) -> Vec<usize> {
    let mut types = vec![HOME, AWAY];
    let third = match year {
        ..=1989 => 150,
        1990..=2009 => 450,
        _ => 750,
    };
    if rng.chance(third) {
        types.push(THIRD);
    }
    if year >= 2015 && rng.chance(40) {
        types.push(FOURTH);
    }
    if year >= 1980 && rng.chance(120) {
        types.push(GK_HOME);
        if year >= 1995 && rng.chance(350) {
            types.push(GK_AWAY);
            if year >= 2005 && rng.chance(250) {
                types.push(GK_THIRD);
            }
        }
    }
    let extras: [(usize, u16, u32); 6] = [
        (PRE_MATCH, 2010, 80),
        (WARM_UP, 2000, 30),
        (TRAINING, 1995, 100),
        (TRAVEL, 2005, 25),
        (ANTHEM, 2010, 30),
        (RAIN, 1990, 20),
    ];
    for (t, from, p) in extras {
        if year >= from && rng.chance(p) {
            types.push(t);
        }
    }
    if rng.chance(25) {
        types.push(SPECIAL);
    }
    types
}

/// Appends club `i`'s kits: a contiguous run of seasons, oldest first, each
/// season's kits in type priority order.
fn make_club_kits(
    i: usize,
    club: &ClubRow,
    p: &Profile,
    rng: &mut Rng,
    ctx: &Ctx,
    kit_slugs: &mut HashSet<String>,
    out: &mut Vec<KitRow>,
) {
    let count = kit_count(i);
    let nation = &NATIONS[p.nation];
    let last = if nation.calendar { LAST_CALENDAR_YEAR } else { LAST_SPLIT_YEAR };
    let start = if i == 0 {
        // Arsenal starts in 2005-06, so kit 1 is "Arsenal 2005-06 Home Kit".
        2005
    } else {
        let seasons_needed = count.div_ceil(3) as i64;
        let start = i64::from(last) + 1 - seasons_needed - rng.below(9) as i64;
        start.clamp(i64::from(FIRST_YEAR), i64::from(last)) as u16
    };

    // Seasons from `start` up to the last one, then (rarely, for clubs with
    // many kits) back from `start - 1`; the oldest season is truncated.
    let mut plans: Vec<(u16, Vec<usize>)> = Vec::new();
    let mut remaining = count;
    let mut years = (start..=last).chain((FIRST_YEAR..start).rev());
    while remaining > 0 {
        let Some(year) = years.next() else { break };
        let mut types = season_types(rng, year);
        types.truncate(remaining);
        remaining -= types.len();
        plans.push((year, types));
    }
    plans.sort_unstable_by_key(|&(year, _)| year);

    let mut brand = 0;
    let mut stint_left = 0;
    for (year, types) in plans {
        if stint_left == 0 {
            brand = if i == 0 && year == start { NIKE } else { pick_brand(rng, year, nation.key) };
            stint_left = 2 + rng.below(6);
        }
        stint_left -= 1;
        let season = ctx.season_label(year, nation.calendar);
        for t in types {
            let kit = make_kit(rng, ctx, club, p, season, year, t, brand);
            let slug = unique_slug(kit.slug.clone(), kit_slugs, "kit");
            out.push(if slug == kit.slug {
                kit
            } else {
                KitRow { main_img_url: format!("{CDN}/kits/{slug}.jpg"), slug, ..kit }
            });
        }
    }
}

fn pick_brand(rng: &mut Rng, year: u16, nation: &str) -> usize {
    let weights: Vec<u32> = BRANDS
        .iter()
        .map(|b| {
            let here = b.nations.is_empty() || b.nations.contains(&nation);
            if here && b.from <= year && year <= b.to {
                b.weight
            } else {
                0
            }
        })
        .collect();
    if weights.iter().all(|&w| w == 0) {
        0
    } else {
        rng.weighted(&weights)
    }
}

#[allow(clippy::too_many_arguments)]
fn make_kit(
    rng: &mut Rng,
    ctx: &Ctx,
    club: &ClubRow,
    p: &Profile,
    season: &str,
    year: u16,
    t: usize,
    brand: usize,
) -> KitRow {
    let type_name = KIT_TYPES[t].0;
    let tail = if type_name.ends_with("Jacket") {
        format!("{season} {type_name}")
    } else {
        format!("{season} {type_name} Kit")
    };
    let slug = format!("{}-{}", club.slug, slugify(&tail));
    let design = if rng.chance(30) {
        None
    } else if t == HOME && rng.chance(750) {
        Some(p.design)
    } else {
        Some(rng.weighted(&KIT_DESIGN_WEIGHTS))
    };
    let (primary, secondary) = kit_colors(rng, p, t);
    let competitions = kit_competitions(rng, ctx, p, year, t);
    let rating = if rng.chance(120) {
        None
    } else if rng.chance(30) {
        Some(rng.below(151))
    } else {
        Some(150 + rng.below(101) + rng.below(101) + rng.below(101) + rng.below(51))
    };
    let offset = rng.below(UPDATE_WINDOW_SECS) as i64;
    KitRow {
        name: format!("{} {tail}", club.name),
        main_img_url: format!("{CDN}/kits/{slug}.jpg"),
        slug,
        club_slug: club.slug.clone(),
        season_year: season.to_string(),
        type_name: type_name.to_string(),
        brand_slug: ctx.brand_slugs[brand].clone(),
        design: design.map(|d| DESIGNS[d].to_string()),
        rating: rating.map(|r| BigDecimal::new((r as i64).into(), 2)),
        primary_color: primary.map(|c| COLORS[c].0.to_string()),
        secondary_colors: secondary.into_iter().map(|c| COLORS[c].0.to_string()).collect(),
        competitions: competitions.into_iter().map(|c| ctx.comp_slugs[c].clone()).collect(),
        last_updated: DateTime::<Utc>::from_timestamp(BASE_TIMESTAMP + offset, 0).unwrap_or_default(),
    }
}

/// Primary colour (mostly set) and 0-2 distinct secondary colours that are
/// never the primary.
fn kit_colors(rng: &mut Rng, p: &Profile, t: usize) -> (Option<usize>, Vec<usize>) {
    let primary = match t {
        HOME => p.primary,
        AWAY if rng.chance(450) => p.secondary,
        AWAY | THIRD | FOURTH | SPECIAL => draw_color_except(rng, &CHANGE_WEIGHTS, &[p.primary]),
        GK_HOME | GK_AWAY | GK_THIRD => rng.weighted(&GOALKEEPER_WEIGHTS),
        _ if rng.chance(250) => p.primary,
        _ => rng.weighted(&TRAINING_WEIGHTS),
    };
    let wanted = rng.weighted(&[20, 50, 30]);
    let mut secondary = Vec::with_capacity(wanted);
    let natural = if primary == p.primary { p.secondary } else { p.primary };
    if wanted > 0 && natural != primary && rng.chance(800) {
        secondary.push(natural);
    }
    let mut tries = 0;
    while secondary.len() < wanted && tries < 8 {
        tries += 1;
        let c = rng.weighted(&SECONDARY_WEIGHTS);
        if c != primary && !secondary.contains(&c) {
            secondary.push(c);
        }
    }
    let primary = (!rng.chance(30)).then_some(primary);
    (primary, secondary)
}

/// The competitions (0-3) a match kit was worn in: the domestic league, maybe
/// a cup, maybe a continental competition. Non-match kits get none.
fn kit_competitions(rng: &mut Rng, ctx: &Ctx, p: &Profile, year: u16, t: usize) -> Vec<usize> {
    let mut out = Vec::new();
    if KIT_TYPES[t].1 != "match" {
        return out;
    }
    let valid = |list: &[usize]| list.iter().copied().find(|&c| in_years(&COMPETITIONS[c], year));
    let league = valid(&ctx.leagues[p.nation][p.tier]);
    if t == SPECIAL {
        if p.famous && rng.chance(500) {
            let conf = NATIONS[p.nation].conf;
            let finals: Vec<usize> = (0..COMPETITIONS.len())
                .filter(|&c| {
                    let k = COMPETITIONS[c].kind;
                    (k == Kind::World || k == Kind::Continental(conf, 3)) && in_years(&COMPETITIONS[c], year)
                })
                .collect();
            if !finals.is_empty() {
                out.push(*rng.pick(&finals));
            }
        } else if let Some(l) = league.filter(|_| rng.chance(500)) {
            out.push(l);
        }
        return out;
    }
    let outfield = matches!(t, HOME | AWAY | THIRD | FOURTH);
    if let Some(l) = league.filter(|_| rng.chance(if outfield { 900 } else { 600 })) {
        out.push(l);
    }
    if let Some(c) = valid(&ctx.cups[p.nation][0]).filter(|_| rng.chance(if t <= AWAY { 350 } else { 150 })) {
        out.push(c);
    }
    if let Some(c) = valid(&ctx.cups[p.nation][1]).filter(|_| rng.chance(100)) {
        out.push(c);
    }
    let continental = if outfield { p.continental } else { p.continental / 2 };
    if rng.chance(continental) {
        let conf = NATIONS[p.nation].conf;
        let first = rng.weighted(&[55, 35, 10]) as u8;
        let level_comp =
            |level: u8| COMPETITIONS.iter().position(|c| c.kind == Kind::Continental(conf, level) && in_years(c, year));
        if let Some(c) = [first, 0, 1].into_iter().find_map(level_comp) {
            out.push(c);
        }
    }
    out.truncate(3);
    out
}

/// Kit 1 is a complete showcase: Arsenal's 2005-06 redcurrant home shirt,
/// with trim colour, three competitions and a rating.
fn showcase_first_kit(ctx: &Ctx, kit: &mut KitRow) {
    kit.design = Some(DESIGNS[PLAIN].to_string());
    kit.primary_color = Some(COLORS[CLARET].0.to_string());
    kit.secondary_colors = vec![COLORS[GOLD].0.to_string(), COLORS[WHITE].0.to_string()];
    kit.competitions = ["Premier League", "UEFA Champions League", "FA Cup"]
        .into_iter()
        .filter_map(|name| ctx.comp_slug_by_name(name))
        .collect();
    kit.rating = Some(BigDecimal::new(485.into(), 2));
}

// ---------------------------------------------------------------------------
// Insertion
// ---------------------------------------------------------------------------

/// Rows per statement for the big tables (kits and the link tables).
const CHUNK: usize = 50_000;

/// Generates the catalogue for `scale` and inserts whatever of it is missing,
/// in one transaction, then runs ANALYZE. Idempotent: a second run inserts
/// nothing; seeding a smaller scale then a larger one yields the larger
/// catalogue with the same ids a fresh seed would give.
pub async fn seed(conn: &mut PgConn, scale: Scale) -> Result<SeedReport, DbError> {
    let started = Instant::now();
    let catalogue = generate(scale);
    tracing::info!(
        scale = %scale,
        clubs = catalogue.clubs.len(),
        kits = catalogue.kits.len(),
        generate_ms = started.elapsed().as_millis() as u64,
        "generated demo catalogue"
    );
    let mut report = insert_catalogue(conn, &catalogue).await?;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Bulk loading is dominated by foreign-key checks and the change-notify
/// triggers. The seeder's rows satisfy every foreign key by construction
/// (they are joined on natural keys), so a superuser may skip both for the
/// transaction (`session_replication_role = replica`); CHECK and UNIQUE
/// constraints still apply. Other roles seed with triggers on.
async fn skip_triggers_if_allowed(conn: &mut PgConn) -> Result<bool, DbError> {
    #[derive(QueryableByName)]
    struct Superuser {
        #[diesel(sql_type = Bool)]
        superuser: bool,
    }
    let role: Superuser = diesel::sql_query("SELECT rolsuper AS superuser FROM pg_roles WHERE rolname = current_user")
        .get_result(conn)
        .await?;
    if role.superuser {
        diesel::sql_query("SET LOCAL session_replication_role = replica").execute(conn).await?;
    }
    Ok(role.superuser)
}

/// True when the kits table has at least one row (for `seed --if-empty`).
pub async fn has_kits(conn: &mut PgConn) -> Result<bool, DbError> {
    #[derive(QueryableByName)]
    struct Present {
        #[diesel(sql_type = Bool)]
        present: bool,
    }
    let row: Present = diesel::sql_query("SELECT EXISTS (SELECT 1 FROM kits) AS present").get_result(conn).await?;
    Ok(row.present)
}

/// Inserts the missing rows of `catalogue` in one transaction (rows are
/// matched on their natural keys: slug, or name for colours and kit types,
/// year for seasons), then runs ANALYZE on every catalogue table. Rows are
/// inserted in catalogue order, so on an empty database ids follow it.
pub async fn insert_catalogue(conn: &mut PgConn, catalogue: &Catalogue) -> Result<SeedReport, DbError> {
    let started = Instant::now();
    let inserted_kits = conn
        .transaction::<usize, DbError, _>(|conn| {
            async move {
                let skipped_triggers = skip_triggers_if_allowed(conn).await?;
                insert_colors(conn, &catalogue.colors).await?;
                insert_kit_types(conn, &catalogue.kit_types).await?;
                insert_brands(conn, &catalogue.brands).await?;
                insert_competitions(conn, &catalogue.competitions).await?;
                insert_seasons(conn, &catalogue.seasons).await?;
                let clubs = insert_clubs(conn, &catalogue.clubs).await?;
                tracing::debug!(clubs, ms = started.elapsed().as_millis() as u64, "seeded reference tables and clubs");
                let kits = insert_kits(conn, &catalogue.kits).await?;
                tracing::debug!(kits, ms = started.elapsed().as_millis() as u64, "seeded kits");
                insert_kit_links(conn, &catalogue.kits).await?;
                tracing::debug!(ms = started.elapsed().as_millis() as u64, "seeded kit competitions and colours");
                if skipped_triggers && kits > 0 {
                    // The change triggers did not fire: record in the change
                    // feed that everything may have changed (seen at commit).
                    diesel::sql_query(
                        "SELECT fkapi_record_change(t, NULL, NULL) FROM unnest(ARRAY['clubs', 'kits']) AS t",
                    )
                    .execute(conn)
                    .await?;
                }
                Ok(kits)
            }
            .scope_boxed()
        })
        .await?;
    diesel::sql_query(
        "ANALYZE colors, kit_types, brands, competitions, seasons, clubs, kits, kit_competitions, \
         kit_secondary_colors",
    )
    .execute(conn)
    .await?;
    let totals: Totals = diesel::sql_query(
        "SELECT (SELECT count(*) FROM clubs) AS clubs, (SELECT count(*) FROM seasons) AS seasons, \
         (SELECT count(*) FROM brands) AS brands, (SELECT count(*) FROM competitions) AS competitions, \
         (SELECT count(*) FROM kit_types) AS kit_types, (SELECT count(*) FROM colors) AS colors, \
         (SELECT count(*) FROM kits) AS kits",
    )
    .get_result(conn)
    .await?;
    let report = SeedReport {
        clubs: totals.clubs as usize,
        seasons: totals.seasons as usize,
        brands: totals.brands as usize,
        competitions: totals.competitions as usize,
        kit_types: totals.kit_types as usize,
        colors: totals.colors as usize,
        kits: totals.kits as usize,
        inserted_kits,
        elapsed: started.elapsed(),
    };
    tracing::info!(?report, "seeded demo catalogue");
    Ok(report)
}

#[derive(QueryableByName)]
struct Totals {
    #[diesel(sql_type = BigInt)]
    clubs: i64,
    #[diesel(sql_type = BigInt)]
    seasons: i64,
    #[diesel(sql_type = BigInt)]
    brands: i64,
    #[diesel(sql_type = BigInt)]
    competitions: i64,
    #[diesel(sql_type = BigInt)]
    kit_types: i64,
    #[diesel(sql_type = BigInt)]
    colors: i64,
    #[diesel(sql_type = BigInt)]
    kits: i64,
}

/// `0..len` in `CHUNK`-sized ranges.
fn chunks(len: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    (0..len).step_by(CHUNK).map(move |start| start..(start + CHUNK).min(len))
}

fn strs<T>(rows: &[T], f: impl Fn(&T) -> &String) -> Vec<&str> {
    rows.iter().map(|r| f(r).as_str()).collect()
}

fn opt_strs<T>(rows: &[T], f: impl Fn(&T) -> &Option<String>) -> Vec<Option<&str>> {
    rows.iter().map(|r| f(r).as_deref()).collect()
}

// Every statement below skips rows whose natural key already exists with
// NOT EXISTS *before* the insert (so no identity values are burnt on them:
// ON CONFLICT alone would still call nextval for every skipped row, and ids
// would then differ from a fresh seed), keeps ON CONFLICT DO NOTHING for
// concurrent seeders, and ORDER BY the array position so ids follow the
// catalogue.

async fn insert_colors(conn: &mut PgConn, rows: &[ColorRow]) -> Result<usize, DbError> {
    Ok(diesel::sql_query(
        "INSERT INTO colors (name, color) \
         SELECT t.name, t.color FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(name, color, ord) \
         WHERE NOT EXISTS (SELECT 1 FROM colors x WHERE x.name = t.name) \
         ORDER BY t.ord ON CONFLICT (name) DO NOTHING",
    )
    .bind::<Array<Text>, _>(strs(rows, |r| &r.name))
    .bind::<Array<Text>, _>(strs(rows, |r| &r.color))
    .execute(conn)
    .await?)
}

async fn insert_kit_types(conn: &mut PgConn, rows: &[KitTypeRow]) -> Result<usize, DbError> {
    Ok(diesel::sql_query(
        "INSERT INTO kit_types (name, category, category_order, order_priority, is_goalkeeper) \
         SELECT t.name, t.category, t.category_order, t.order_priority, t.is_goalkeeper \
         FROM unnest($1::text[], $2::text[], $3::int4[], $4::int4[], $5::bool[]) \
              WITH ORDINALITY AS t(name, category, category_order, order_priority, is_goalkeeper, ord) \
         WHERE NOT EXISTS (SELECT 1 FROM kit_types x WHERE x.name = t.name) \
         ORDER BY t.ord ON CONFLICT (name) DO NOTHING",
    )
    .bind::<Array<Text>, _>(strs(rows, |r| &r.name))
    .bind::<Array<Text>, _>(strs(rows, |r| &r.category))
    .bind::<Array<Integer>, _>(rows.iter().map(|r| r.category_order).collect::<Vec<_>>())
    .bind::<Array<Integer>, _>(rows.iter().map(|r| r.order_priority).collect::<Vec<_>>())
    .bind::<Array<Bool>, _>(rows.iter().map(|r| r.is_goalkeeper).collect::<Vec<_>>())
    .execute(conn)
    .await?)
}

async fn insert_brands(conn: &mut PgConn, rows: &[BrandRow]) -> Result<usize, DbError> {
    Ok(diesel::sql_query(
        "INSERT INTO brands (name, slug, logo, logo_dark) \
         SELECT t.name, t.slug, t.logo, t.logo_dark \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) \
              WITH ORDINALITY AS t(name, slug, logo, logo_dark, ord) \
         WHERE NOT EXISTS (SELECT 1 FROM brands x WHERE x.slug = t.slug) \
         ORDER BY t.ord ON CONFLICT (slug) DO NOTHING",
    )
    .bind::<Array<Text>, _>(strs(rows, |r| &r.name))
    .bind::<Array<Text>, _>(strs(rows, |r| &r.slug))
    .bind::<Array<Nullable<Text>>, _>(opt_strs(rows, |r| &r.logo))
    .bind::<Array<Nullable<Text>>, _>(opt_strs(rows, |r| &r.logo_dark))
    .execute(conn)
    .await?)
}

async fn insert_competitions(conn: &mut PgConn, rows: &[CompetitionRow]) -> Result<usize, DbError> {
    Ok(diesel::sql_query(
        "INSERT INTO competitions (name, slug, logo, logo_dark, country) \
         SELECT t.name, t.slug, t.logo, t.logo_dark, t.country \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) \
              WITH ORDINALITY AS t(name, slug, logo, logo_dark, country, ord) \
         WHERE NOT EXISTS (SELECT 1 FROM competitions x WHERE x.slug = t.slug) \
         ORDER BY t.ord ON CONFLICT (slug) DO NOTHING",
    )
    .bind::<Array<Text>, _>(strs(rows, |r| &r.name))
    .bind::<Array<Text>, _>(strs(rows, |r| &r.slug))
    .bind::<Array<Nullable<Text>>, _>(opt_strs(rows, |r| &r.logo))
    .bind::<Array<Nullable<Text>>, _>(opt_strs(rows, |r| &r.logo_dark))
    .bind::<Array<Nullable<Text>>, _>(opt_strs(rows, |r| &r.country))
    .execute(conn)
    .await?)
}

async fn insert_seasons(conn: &mut PgConn, rows: &[SeasonRow]) -> Result<usize, DbError> {
    Ok(diesel::sql_query(
        "INSERT INTO seasons (year, first_year, second_year) \
         SELECT t.year, t.first_year, t.second_year \
         FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS t(year, first_year, second_year, ord) \
         WHERE NOT EXISTS (SELECT 1 FROM seasons x WHERE x.year = t.year) \
         ORDER BY t.ord ON CONFLICT (year) DO NOTHING",
    )
    .bind::<Array<Text>, _>(strs(rows, |r| &r.year))
    .bind::<Array<Text>, _>(strs(rows, |r| &r.first_year))
    .bind::<Array<Nullable<Text>>, _>(opt_strs(rows, |r| &r.second_year))
    .execute(conn)
    .await?)
}

async fn insert_clubs(conn: &mut PgConn, rows: &[ClubRow]) -> Result<usize, DbError> {
    let mut inserted = 0;
    for range in chunks(rows.len()) {
        let rows = &rows[range];
        // Untargeted ON CONFLICT: clubs has two unique keys (slug, id_fka).
        inserted += diesel::sql_query(
            "INSERT INTO clubs (id_fka, name, slug, logo, logo_dark, country) \
             SELECT t.id_fka, t.name, t.slug, t.logo, t.logo_dark, t.country \
             FROM unnest($1::int4[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) \
                  WITH ORDINALITY AS t(id_fka, name, slug, logo, logo_dark, country, ord) \
             WHERE NOT EXISTS (SELECT 1 FROM clubs x WHERE x.slug = t.slug) \
             ORDER BY t.ord ON CONFLICT DO NOTHING",
        )
        .bind::<Array<Integer>, _>(rows.iter().map(|r| r.id_fka).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(strs(rows, |r| &r.name))
        .bind::<Array<Text>, _>(strs(rows, |r| &r.slug))
        .bind::<Array<Nullable<Text>>, _>(opt_strs(rows, |r| &r.logo))
        .bind::<Array<Nullable<Text>>, _>(opt_strs(rows, |r| &r.logo_dark))
        .bind::<Array<Nullable<Text>>, _>(opt_strs(rows, |r| &r.country))
        .execute(&mut *conn)
        .await?;
    }
    Ok(inserted)
}

/// Inserts the kits, resolving club, season, type, brand and primary colour
/// by natural key; returns how many were inserted.
async fn insert_kits(conn: &mut PgConn, rows: &[KitRow]) -> Result<usize, DbError> {
    let mut inserted = 0;
    for range in chunks(rows.len()) {
        let rows = &rows[range];
        inserted += diesel::sql_query(
            "INSERT INTO kits (name, slug, team_id, season_id, type_id, brand_id, design, main_img_url, rating, \
                               primary_color_id, last_updated) \
             SELECT t.name, t.slug, c.id, s.id, kt.id, b.id, t.design, t.main_img_url, t.rating, col.id, \
                    t.last_updated \
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
                         $8::text[], $9::numeric[], $10::text[], $11::timestamptz[]) \
                  WITH ORDINALITY AS t(name, slug, club_slug, season_year, type_name, brand_slug, design, \
                                       main_img_url, rating, primary_color, last_updated, ord) \
             JOIN clubs c ON c.slug = t.club_slug \
             JOIN seasons s ON s.year = t.season_year \
             JOIN kit_types kt ON kt.name = t.type_name \
             JOIN brands b ON b.slug = t.brand_slug \
             LEFT JOIN colors col ON col.name = t.primary_color \
             WHERE NOT EXISTS (SELECT 1 FROM kits x WHERE x.slug = t.slug) \
             ORDER BY t.ord ON CONFLICT (slug) DO NOTHING",
        )
        .bind::<Array<Text>, _>(strs(rows, |r| &r.name))
        .bind::<Array<Text>, _>(strs(rows, |r| &r.slug))
        .bind::<Array<Text>, _>(strs(rows, |r| &r.club_slug))
        .bind::<Array<Text>, _>(strs(rows, |r| &r.season_year))
        .bind::<Array<Text>, _>(strs(rows, |r| &r.type_name))
        .bind::<Array<Text>, _>(strs(rows, |r| &r.brand_slug))
        .bind::<Array<Nullable<Text>>, _>(opt_strs(rows, |r| &r.design))
        .bind::<Array<Text>, _>(strs(rows, |r| &r.main_img_url))
        .bind::<Array<Nullable<Numeric>>, _>(rows.iter().map(|r| r.rating.as_ref()).collect::<Vec<_>>())
        .bind::<Array<Nullable<Text>>, _>(opt_strs(rows, |r| &r.primary_color))
        .bind::<Array<Timestamptz>, _>(rows.iter().map(|r| r.last_updated).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await?;
    }
    Ok(inserted)
}

/// Inserts kit_competitions and kit_secondary_colors by (kit slug,
/// competition slug) and (kit slug, colour name).
async fn insert_kit_links(conn: &mut PgConn, kits: &[KitRow]) -> Result<(), DbError> {
    insert_links(conn, kits, |k| &k.competitions, "kit_competitions", "competition_id", "competitions", "slug").await?;
    insert_links(conn, kits, |k| &k.secondary_colors, "kit_secondary_colors", "color_id", "colors", "name").await
}

/// Inserts the (kit, other row) pairs of one link table, joining both sides
/// on their natural keys. Table and column names are constants of ours,
/// never input.
async fn insert_links(
    conn: &mut PgConn,
    kits: &[KitRow],
    linked: impl Fn(&KitRow) -> &Vec<String>,
    link_table: &str,
    link_column: &str,
    other_table: &str,
    other_key: &str,
) -> Result<(), DbError> {
    let pairs: Vec<(&str, &str)> =
        kits.iter().flat_map(|k| linked(k).iter().map(move |o| (k.slug.as_str(), o.as_str()))).collect();
    let statement = format!(
        "INSERT INTO {link_table} (kit_id, {link_column}) \
         SELECT k.id, o.id \
         FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(kit_slug, other_key, ord) \
         JOIN kits k ON k.slug = t.kit_slug \
         JOIN {other_table} o ON o.{other_key} = t.other_key \
         ORDER BY t.ord ON CONFLICT DO NOTHING"
    );
    for range in chunks(pairs.len()) {
        let (kit_slugs, others): (Vec<&str>, Vec<&str>) = pairs[range].iter().copied().unzip();
        diesel::sql_query(&statement)
            .bind::<Array<Text>, _>(kit_slugs)
            .bind::<Array<Text>, _>(others)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// `^[a-z0-9]+(-[a-z0-9]+)*$`
    fn is_slug(s: &str) -> bool {
        !s.is_empty()
            && s.split('-')
                .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
    }

    fn assert_unique_slugs<'a>(what: &str, slugs: impl Iterator<Item = &'a str>) {
        let mut seen = HashSet::new();
        for slug in slugs {
            assert!(is_slug(slug), "{what} slug {slug:?} does not match the CHECK");
            assert!(seen.insert(slug), "{what} slug {slug:?} is duplicated");
        }
    }

    #[test]
    fn scales_parse_and_size() {
        assert_eq!("small".parse::<Scale>(), Ok(Scale::Small));
        assert_eq!(" Medium ".parse::<Scale>(), Ok(Scale::Medium));
        assert_eq!("LARGE".parse::<Scale>(), Ok(Scale::Large));
        let err = "huge".parse::<Scale>().unwrap_err().to_string();
        assert!(err.contains("small") && err.contains("medium") && err.contains("large"), "{err}");
        for scale in Scale::ALL {
            assert_eq!(scale.as_str().parse::<Scale>(), Ok(scale));
            assert_eq!((0..scale.clubs()).map(kit_count).sum::<usize>(), scale.kits(), "{scale}");
        }
        assert_eq!((Scale::Small.clubs(), Scale::Small.kits()), (200, 5_000));
        assert_eq!((Scale::Medium.clubs(), Scale::Medium.kits()), (2_000, 50_000));
        assert_eq!((Scale::Large.clubs(), Scale::Large.kits()), (10_000, 500_000));
        assert!((0..Scale::Large.clubs()).all(|i| (10..=97).contains(&kit_count(i))));
    }

    #[test]
    fn slugify_folds_accents_and_punctuation() {
        assert_eq!(slugify("Málaga"), "malaga");
        assert_eq!(slugify("Málaga CF"), "malaga-cf");
        assert_eq!(slugify("Bayern München"), "bayern-munchen");
        assert_eq!(slugify("1. FC Köln"), "1-fc-koln");
        assert_eq!(slugify("Preußen Münster"), "preussen-munster");
        assert_eq!(slugify("İstanbulspor"), "istanbulspor");
        assert_eq!(slugify("São Paulo FC"), "sao-paulo-fc");
        assert_eq!(slugify("UEFA Cup Winners' Cup"), "uefa-cup-winners-cup");
        assert_eq!(slugify("St. Pölten"), "st-polten");
        assert_eq!(slugify("Łódź  --  Widzew!"), "lodz-widzew");
        assert_eq!(slugify("Arsenal 2005-06 Home Kit"), "arsenal-2005-06-home-kit");
    }

    #[test]
    fn generation_is_deterministic() {
        assert_eq!(generate(Scale::Small), generate(Scale::Small));
    }

    #[test]
    fn small_is_a_prefix_of_medium() {
        let small = generate(Scale::Small);
        let medium = generate(Scale::Medium);
        assert_eq!(small.colors, medium.colors);
        assert_eq!(small.kit_types, medium.kit_types);
        assert_eq!(small.brands, medium.brands);
        assert_eq!(small.competitions, medium.competitions);
        assert_eq!(small.seasons, medium.seasons);
        assert_eq!(small.clubs[..], medium.clubs[..small.clubs.len()]);
        assert_eq!(small.kits[..], medium.kits[..small.kits.len()]);
    }

    #[test]
    fn counts_match_the_scale() {
        for scale in [Scale::Small, Scale::Medium] {
            let c = generate(scale);
            assert_eq!(c.clubs.len(), scale.clubs());
            assert_eq!(c.kits.len(), scale.kits());
            assert_eq!(c.colors.len(), 17);
            assert_eq!(c.kit_types.len(), 14);
            assert_eq!(c.seasons.len(), 76 + 77);
            assert!((38..=45).contains(&c.brands.len()), "{} brands", c.brands.len());
            assert!((55..=75).contains(&c.competitions.len()), "{} competitions", c.competitions.len());
            // Every club has kits, and per club the count is what kit_count says.
            let mut per_club: HashMap<&str, usize> = HashMap::new();
            for k in &c.kits {
                *per_club.entry(k.club_slug.as_str()).or_default() += 1;
            }
            for (i, club) in c.clubs.iter().enumerate() {
                assert_eq!(per_club.get(club.slug.as_str()).copied(), Some(kit_count(i)), "{}", club.name);
            }
        }
    }

    #[test]
    fn rows_satisfy_the_checks_and_refer_to_existing_rows() {
        let c = generate(Scale::Medium);
        assert_unique_slugs("club", c.clubs.iter().map(|r| r.slug.as_str()));
        assert_unique_slugs("kit", c.kits.iter().map(|r| r.slug.as_str()));
        assert_unique_slugs("brand", c.brands.iter().map(|r| r.slug.as_str()));
        assert_unique_slugs("competition", c.competitions.iter().map(|r| r.slug.as_str()));
        assert!(c.brands.iter().all(|b| b.slug.ends_with("-kits")));
        assert!(c.competitions.iter().all(|b| b.slug.ends_with("-kits")));
        assert!(c.brands.iter().any(|b| b.slug == "adidas-kits"));
        assert!(c.competitions.iter().any(|b| b.slug == "premier-league-kits"));

        for color in &c.colors {
            let hex = color.color.strip_prefix('#').unwrap();
            assert!(hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()), "{color:?}");
        }
        let categories = ["match", "prematch", "preseason", "training", "travel", "jacket"];
        let mut type_names = HashSet::new();
        for t in &c.kit_types {
            let pos = categories.iter().position(|&cat| cat == t.category).unwrap();
            assert_eq!(t.category_order as usize, pos + 1, "{t:?}");
            assert!(t.order_priority >= 0);
            assert!(type_names.insert(t.name.as_str()));
            assert_eq!(t.is_goalkeeper, t.name.starts_with("Goalkeeper"));
        }
        assert_eq!(c.kit_types[0].name, "Home");
        assert_eq!(c.kit_types[0].order_priority, 1);
        assert_eq!(c.kit_types[1].order_priority, 2);

        let mut years = HashSet::new();
        for s in &c.seasons {
            assert!(years.insert(s.year.as_str()));
            let first: u32 = s.first_year.parse().unwrap();
            assert_eq!(s.first_year.len(), 4);
            match &s.second_year {
                Some(second) => {
                    assert_eq!(second.parse::<u32>().unwrap(), first + 1);
                    assert_eq!(s.year, format!("{first}-{}", &second[2..]));
                }
                None => assert_eq!(s.year, s.first_year),
            }
        }
        assert!(years.contains("1950-51") && years.contains("2025-26") && years.contains("1999-00"));
        assert!(years.contains("1950") && years.contains("2026") && !years.contains("2026-27"));

        let mut id_fkas = HashSet::new();
        for club in &c.clubs {
            assert!(!club.name.trim().is_empty());
            assert!(id_fkas.insert(club.id_fka), "duplicate id_fka {}", club.id_fka);
            let country = club.country.as_deref().unwrap();
            assert!(country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase()), "{club:?}");
            assert_eq!(
                club.logo.as_deref(),
                Some(format!("https://cdn.fkapi.dev/logos/clubs/{}.png", club.slug).as_str())
            );
        }
        assert!(c.clubs.iter().any(|club| club.logo_dark.is_none()));
        assert!(c.clubs.iter().any(|club| club.logo_dark.is_some()));
        assert!(c.clubs.iter().any(|club| !club.name.is_ascii()), "some accented club names");
        let distinct_names: HashSet<&str> = c.clubs.iter().map(|club| club.name.as_str()).collect();
        assert_eq!(distinct_names.len(), c.clubs.len(), "club names repeat");

        let clubs: HashSet<&str> = c.clubs.iter().map(|r| r.slug.as_str()).collect();
        let seasons: HashSet<&str> = c.seasons.iter().map(|r| r.year.as_str()).collect();
        let types: HashSet<&str> = c.kit_types.iter().map(|r| r.name.as_str()).collect();
        let brands: HashSet<&str> = c.brands.iter().map(|r| r.slug.as_str()).collect();
        let colors: HashSet<&str> = c.colors.iter().map(|r| r.name.as_str()).collect();
        let comps: HashSet<&str> = c.competitions.iter().map(|r| r.slug.as_str()).collect();
        let designs: HashSet<&str> = DESIGNS.into_iter().collect();
        let five = BigDecimal::from(5);
        let zero = BigDecimal::from(0);
        for k in &c.kits {
            assert!(clubs.contains(k.club_slug.as_str()), "{k:?}");
            assert!(seasons.contains(k.season_year.as_str()), "{k:?}");
            assert!(types.contains(k.type_name.as_str()), "{k:?}");
            assert!(brands.contains(k.brand_slug.as_str()), "{k:?}");
            assert!(k.design.as_deref().is_none_or(|d| designs.contains(d)), "{k:?}");
            assert!(k.primary_color.as_deref().is_none_or(|p| colors.contains(p)), "{k:?}");
            assert!(k.secondary_colors.len() <= 2, "{k:?}");
            for (n, s) in k.secondary_colors.iter().enumerate() {
                assert!(colors.contains(s.as_str()), "{k:?}");
                assert_ne!(Some(s), k.primary_color.as_ref(), "{k:?}");
                assert!(!k.secondary_colors[..n].contains(s), "{k:?}");
            }
            assert!(k.competitions.len() <= 3, "{k:?}");
            for (n, comp) in k.competitions.iter().enumerate() {
                assert!(comps.contains(comp.as_str()), "{k:?}");
                assert!(!k.competitions[..n].contains(comp), "{k:?}");
            }
            if let Some(r) = &k.rating {
                assert!(*r >= zero && *r <= five && r.fractional_digit_count() <= 2, "{k:?}");
            }
            assert_eq!(k.main_img_url, format!("https://cdn.fkapi.dev/kits/{}.jpg", k.slug));
            assert!(k.name.ends_with(" Kit") || k.name.ends_with(" Jacket"), "{k:?}");
            assert!(k.last_updated.timestamp() >= BASE_TIMESTAMP);
        }
        assert!(c.kits.iter().any(|k| k.rating.is_none()));
        assert!(c.kits.iter().any(|k| k.primary_color.is_none()));
        assert!(c.kits.iter().any(|k| k.type_name == "Goalkeeper Home"));
        assert!(c.kits.iter().any(|k| k.type_name == "Training"));
        assert!(c.kits.iter().any(|k| k.season_year.len() == 4), "calendar-year seasons are used");
        assert!(c.kits.iter().filter(|k| k.type_name == "Home").count() > c.kits.len() / 4);
    }

    #[test]
    fn each_club_covers_a_contiguous_run_of_seasons() {
        let c = generate(Scale::Small);
        let mut by_club: HashMap<&str, Vec<u16>> = HashMap::new();
        for k in &c.kits {
            let year: u16 = k.season_year[..4].parse().unwrap();
            let years = by_club.entry(k.club_slug.as_str()).or_default();
            assert!(years.last().is_none_or(|&last| year == last || year == last + 1), "{k:?}");
            if years.last() != Some(&year) {
                years.push(year);
            }
        }
    }

    #[test]
    fn famous_clubs_lead_and_kit_one_is_complete() {
        let c = generate(Scale::Small);
        assert_eq!(c.clubs[0].name, "Arsenal");
        assert_eq!(c.clubs[0].slug, "arsenal");
        assert!(c.clubs.iter().any(|club| club.name == "Málaga CF" && club.slug == "malaga-cf"));
        assert!(c.clubs.iter().any(|club| club.name == "Bayern München" && club.slug == "bayern-munchen"));
        let first = &c.kits[0];
        assert_eq!(first.name, "Arsenal 2005-06 Home Kit");
        assert_eq!(first.slug, "arsenal-2005-06-home-kit");
        assert_eq!(first.club_slug, "arsenal");
        assert_eq!(first.season_year, "2005-06");
        assert!(first.primary_color.is_some() && first.rating.is_some() && first.design.is_some());
        assert_eq!(first.secondary_colors.len(), 2);
        assert_eq!(first.competitions.len(), 3);
        assert!(c.kits.iter().any(|k| k.club_slug == "arsenal" && k.season_year == "2005-06" && k.type_name == "Away"));
    }
}

/// Tests against a real PostgreSQL (`DATABASE_URL_BASE`, default
/// `postgres://postgres:postgres@127.0.0.1:5432`): each creates and migrates
/// a database of its own and drops it afterwards, even when it fails.
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod db_tests {
    use super::*;
    use std::future::Future;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn base_url() -> String {
        std::env::var("DATABASE_URL_BASE")
            .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432".to_string())
            .trim_end_matches('/')
            .to_string()
    }

    async fn create_db() -> (String, String) {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let name = format!("fkapi_seedtest_{}_{nanos}_{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
        let url = format!("{}/{name}", base_url());
        let created =
            crate::create_database_if_missing(&url).await.expect("PostgreSQL must be reachable at DATABASE_URL_BASE");
        assert!(created, "{name} already existed");
        (name, url)
    }

    async fn drop_db(name: &str) {
        let mut admin = PgConn::establish(&format!("{}/postgres", base_url())).await.unwrap();
        diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&mut admin)
            .await
            .unwrap();
    }

    /// Runs `body` with the URL of a fresh, migrated database, and drops the
    /// database afterwards even when `body` panics.
    async fn with_db<F, Fut>(body: F)
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (name, url) = create_db().await;
        let migrated = crate::run_migrations(&url).await;
        let outcome = match migrated {
            Ok(_) => tokio::spawn(body(url)).await,
            Err(e) => {
                drop_db(&name).await;
                panic!("migrations failed: {e}");
            }
        };
        drop_db(&name).await;
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
    }

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    #[derive(QueryableByName)]
    struct IdSlug {
        #[diesel(sql_type = Integer)]
        id: i32,
        #[diesel(sql_type = Text)]
        slug: String,
    }

    async fn count(conn: &mut PgConn, sql: &str) -> usize {
        diesel::sql_query(sql).get_result::<Count>(conn).await.unwrap().n as usize
    }

    async fn id_slugs(conn: &mut PgConn, table: &str) -> Vec<(i32, String)> {
        diesel::sql_query(format!("SELECT id, slug FROM {table} ORDER BY id"))
            .load::<IdSlug>(conn)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.id, r.slug))
            .collect()
    }

    /// The database holds exactly `c`, with ids 1..=N in catalogue order.
    async fn assert_db_holds(conn: &mut PgConn, c: &Catalogue) {
        let expect =
            |rows: &[&String]| rows.iter().enumerate().map(|(i, s)| (i as i32 + 1, (*s).clone())).collect::<Vec<_>>();
        let club_slugs: Vec<&String> = c.clubs.iter().map(|r| &r.slug).collect();
        let kit_slugs: Vec<&String> = c.kits.iter().map(|r| &r.slug).collect();
        assert!(id_slugs(conn, "clubs").await == expect(&club_slugs), "club ids do not follow the catalogue");
        assert!(id_slugs(conn, "kits").await == expect(&kit_slugs), "kit ids do not follow the catalogue");
        assert_eq!(count(conn, "SELECT count(*) AS n FROM seasons").await, c.seasons.len());
        assert_eq!(count(conn, "SELECT count(*) AS n FROM brands").await, c.brands.len());
        assert_eq!(count(conn, "SELECT count(*) AS n FROM competitions").await, c.competitions.len());
        assert_eq!(count(conn, "SELECT count(*) AS n FROM kit_types").await, c.kit_types.len());
        assert_eq!(count(conn, "SELECT count(*) AS n FROM colors").await, c.colors.len());
        let links: usize = c.kits.iter().map(|k| k.competitions.len()).sum();
        assert_eq!(count(conn, "SELECT count(*) AS n FROM kit_competitions").await, links);
        let secondary: usize = c.kits.iter().map(|k| k.secondary_colors.len()).sum();
        assert_eq!(count(conn, "SELECT count(*) AS n FROM kit_secondary_colors").await, secondary);
        let primary = c.kits.iter().filter(|k| k.primary_color.is_some()).count();
        assert_eq!(count(conn, "SELECT count(primary_color_id) AS n FROM kits").await, primary);
        let rated = c.kits.iter().filter(|k| k.rating.is_some()).count();
        assert_eq!(count(conn, "SELECT count(rating) AS n FROM kits").await, rated);

        // Kit 1 is the complete Arsenal 2005-06 home kit.
        let kit_one = "SELECT count(*) AS n FROM kits k \
             JOIN clubs c ON c.id = k.team_id JOIN seasons s ON s.id = k.season_id \
             JOIN kit_types t ON t.id = k.type_id JOIN brands b ON b.id = k.brand_id \
             JOIN colors col ON col.id = k.primary_color_id \
             WHERE k.id = 1 AND k.name = 'Arsenal 2005-06 Home Kit' AND c.slug = 'arsenal' AND s.year = '2005-06' \
               AND t.name = 'Home' AND b.slug = 'nike-kits' AND col.name = 'Claret' AND k.rating = 4.85 \
               AND (SELECT count(*) FROM kit_competitions WHERE kit_id = 1) = 3 \
               AND (SELECT count(*) FROM kit_secondary_colors WHERE kit_id = 1) = 2";
        assert_eq!(count(conn, kit_one).await, 1);
        let arsenal_2005 = "SELECT count(*) AS n FROM kits k JOIN clubs c ON c.id = k.team_id \
             JOIN seasons s ON s.id = k.season_id WHERE c.name = 'Arsenal' AND s.first_year = '2005'";
        assert!(count(conn, arsenal_2005).await >= 2);
    }

    fn same_totals(a: &SeedReport, b: &SeedReport) -> bool {
        (a.clubs, a.seasons, a.brands, a.competitions, a.kit_types, a.colors, a.kits)
            == (b.clubs, b.seasons, b.brands, b.competitions, b.kit_types, b.colors, b.kits)
    }

    #[tokio::test]
    async fn seeds_small_idempotently_then_grows_to_medium() {
        with_db(|url| async move {
            let mut conn = PgConn::establish(&url).await.unwrap();
            let small = generate(Scale::Small);
            assert!(!has_kits(&mut conn).await.unwrap());
            let first = seed(&mut conn, Scale::Small).await.unwrap();
            assert!(has_kits(&mut conn).await.unwrap());
            assert_eq!((first.clubs, first.kits, first.inserted_kits), (200, 5_000, 5_000));
            assert_eq!((first.seasons, first.kit_types, first.colors), (153, 14, 17));
            assert_eq!((first.brands, first.competitions), (small.brands.len(), small.competitions.len()));
            assert_db_holds(&mut conn, &small).await;

            let again = seed(&mut conn, Scale::Small).await.unwrap();
            assert_eq!(again.inserted_kits, 0);
            assert!(same_totals(&first, &again), "{first:?} vs {again:?}");
            assert_db_holds(&mut conn, &small).await;

            let grown = seed(&mut conn, Scale::Medium).await.unwrap();
            assert_eq!((grown.clubs, grown.kits, grown.inserted_kits), (2_000, 50_000, 45_000));
            assert_db_holds(&mut conn, &generate(Scale::Medium)).await;
        })
        .await;
    }

    /// Seeds every scale into a fresh database and prints how long it took:
    /// `cargo test -p fkapi-db --release -- --ignored --nocapture`.
    #[tokio::test]
    #[ignore = "slow: seeds all three scales"]
    async fn seed_timings() {
        for scale in Scale::ALL {
            with_db(move |url| async move {
                let started = Instant::now();
                let catalogue = generate(scale);
                let generated = started.elapsed();
                drop(catalogue);
                let mut conn = PgConn::establish(&url).await.unwrap();
                let report = seed(&mut conn, scale).await.unwrap();
                assert_eq!((report.clubs, report.kits, report.inserted_kits), (scale.clubs(), scale.kits(), scale.kits()));
                let again = seed(&mut conn, scale).await.unwrap();
                assert_eq!(again.inserted_kits, 0);
                println!(
                    "{scale}: generate {generated:.2?}, seed (incl. generate + ANALYZE) {:.2?}, re-seed {:.2?}: {report:?}",
                    report.elapsed, again.elapsed
                );
            })
            .await;
        }
    }
}
