//! The generator: a complete, believable catalogue as plain rows that refer
//! to each other by natural key (slug or name).
//!
//! Pure: the same [`Scale`] always yields identical rows, on every machine
//! and with every crate version, because the only randomness is a
//! hand-written splitmix64 stream seeded from a constant and the club index.
//!
//! Prefix-stable: club `i` and its kits depend only on `i` (and on clubs
//! `0..i` for name/slug collision handling), and the kit total of the first
//! `n` clubs is exactly the kit total of the scale with `n` clubs. So the
//! small catalogue is literally the first rows of the medium one.

use crate::data::{data, Competition, Conf, Data, DataError, Kind};
use crate::Scale;
use bigdecimal::BigDecimal;
use chrono::{DateTime, Utc};
use fkapi_kits::vocabulary::{position, COLOR_NAMES, DESIGNS, KIT_COLORS};
use fkapi_web::slugify;
use std::collections::HashSet;

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

// ---------------------------------------------------------------------------
// Reference data the generator's rules name one by one
// ---------------------------------------------------------------------------

// Colours and designs by position in the kits crate's vocabulary (checked at
// compile time).
const WHITE: usize = position(&COLOR_NAMES, "White");
const BLACK: usize = position(&COLOR_NAMES, "Black");
const NAVY: usize = position(&COLOR_NAMES, "Navy");
const GRAY: usize = position(&COLOR_NAMES, "Gray");
const CLARET: usize = position(&COLOR_NAMES, "Claret");
const GOLD: usize = position(&COLOR_NAMES, "Gold");
const PLAIN: usize = position(&DESIGNS, "Plain");

/// Kit types: name, category, category order, goalkeeper? (order_priority is
/// the position + 1). The generation rules below pick them one by one.
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

/// The brand of Arsenal's first catalogued season (the showcase kit 1).
const SHOWCASE_BRAND: &str = "Nike";
/// The competitions of the showcase kit 1.
const SHOWCASE_COMPETITIONS: [&str; 3] = ["Premier League", "UEFA Champions League", "FA Cup"];

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
pub(crate) fn kit_count(i: usize) -> usize {
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

/// The data files plus lookup tables derived once from them.
struct Ctx {
    data: &'static Data,
    nation_weights: Vec<u32>,
    /// Per nation: league competition indices by tier.
    leagues: Vec<[Vec<usize>; 2]>,
    /// Per nation: cup competition indices (main cup, league cup).
    cups: Vec<[Vec<usize>; 2]>,
    comp_slugs: Vec<String>,
    brand_slugs: Vec<String>,
    showcase_brand: usize,
    /// Season labels by `year - FIRST_YEAR`: "1950-51" and "1950".
    split_labels: Vec<String>,
    calendar_labels: Vec<String>,
}

impl Ctx {
    fn new(data: &'static Data) -> Result<Self, DataError> {
        let mut leagues = vec![[Vec::new(), Vec::new()]; data.nations.len()];
        let mut cups = vec![[Vec::new(), Vec::new()]; data.nations.len()];
        for (ci, c) in data.competitions.iter().enumerate() {
            let Some(n) = c.nation else {
                continue;
            };
            match c.kind {
                Kind::League(tier) if tier < 2 => leagues[n][usize::from(tier)].push(ci),
                Kind::Cup(order) if order < 2 => cups[n][usize::from(order)].push(ci),
                _ => {}
            }
        }
        let showcase_brand = data.brands.iter().position(|b| b.name == SHOWCASE_BRAND).ok_or_else(|| DataError {
            file: "brands.txt",
            line: 0,
            problem: format!("the showcase kit's brand {SHOWCASE_BRAND:?} is missing"),
        })?;
        Ok(Ctx {
            data,
            nation_weights: data.nations.iter().map(|n| n.weight).collect(),
            leagues,
            cups,
            comp_slugs: data.competitions.iter().map(|c| format!("{}-kits", slugify(c.name))).collect(),
            brand_slugs: data.brands.iter().map(|b| format!("{}-kits", slugify(b.name))).collect(),
            showcase_brand,
            split_labels: (FIRST_YEAR..=LAST_SPLIT_YEAR).map(|y| format!("{y}-{:02}", (y + 1) % 100)).collect(),
            calendar_labels: (FIRST_YEAR..=LAST_CALENDAR_YEAR).map(|y| y.to_string()).collect(),
        })
    }

    fn season_label(&self, year: u16, calendar: bool) -> &str {
        let labels = if calendar { &self.calendar_labels } else { &self.split_labels };
        &labels[usize::from(year - FIRST_YEAR)]
    }

    fn comp_slug_by_name(&self, name: &str) -> Option<String> {
        self.data.competitions.iter().position(|c| c.name == name).map(|i| self.comp_slugs[i].clone())
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

/// Generates the catalogue for `scale`. Pure and deterministic; fails only
/// when a data file under `crates/seed/data/` is malformed.
pub fn generate(scale: Scale) -> Result<Catalogue, DataError> {
    let ctx = Ctx::new(data()?)?;
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
    let data = ctx.data;
    Ok(Catalogue {
        colors: KIT_COLORS.iter().map(|c| ColorRow { name: c.name.to_string(), color: c.hex.to_string() }).collect(),
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
        brands: data
            .brands
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
        competitions: data
            .competitions
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
                    country: c.nation.map(|n| data.nations[n].iso.to_string()),
                }
            })
            .collect(),
        seasons: seasons(),
        clubs,
        kits,
    })
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
    let weights = &ctx.data.colors;
    let profile;
    let name;
    if let Some(f) = ctx.data.famous.get(i) {
        name = f.name.to_string();
        profile = Profile {
            nation: f.nation,
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
        let primary = rng.weighted(&weights.club_primary);
        let secondary = draw_color_except(rng, &weights.secondary, &[primary]);
        profile = Profile {
            nation,
            tier,
            famous: false,
            continental: if tier == 0 { 70 } else { 5 },
            primary,
            secondary,
            design: rng.weighted(&ctx.data.designs.club),
        };
    }
    let slug = unique_slug(slugify(&name), slugs, "club");
    names.insert(name.clone());
    let club = ClubRow {
        id_fka: (10_000 + i * 10 + rng.below(10)) as i32,
        logo: Some(format!("{CDN}/logos/clubs/{slug}.png")),
        logo_dark: rng.chance(400).then(|| format!("{CDN}/logos/clubs/{slug}-dark.png")),
        country: Some(ctx.data.nations[profile.nation].iso.to_string()),
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
        let n = &ctx.data.nations[nation];
        let city = rng.pick(&n.cities);
        let mut name = rng.pick(&n.patterns).replacen("{}", city, 1);
        if attempt >= 16 {
            let second_team = *rng.pick(&ctx.data.second_teams);
            name.push(' ');
            name.push_str(second_team);
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

fn draw_color_except(rng: &mut Rng, weights: &[u32], except: &[usize]) -> usize {
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
    let nation = &ctx.data.nations[p.nation];
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
            brand = if i == 0 && year == start { ctx.showcase_brand } else { pick_brand(rng, ctx, year, nation.key) };
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

fn pick_brand(rng: &mut Rng, ctx: &Ctx, year: u16, nation: &str) -> usize {
    let weights: Vec<u32> = ctx
        .data
        .brands
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
        Some(rng.weighted(&ctx.data.designs.kit))
    };
    let (primary, secondary) = kit_colors(rng, ctx, p, t);
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
        primary_color: primary.map(|c| KIT_COLORS[c].name.to_string()),
        secondary_colors: secondary.into_iter().map(|c| KIT_COLORS[c].name.to_string()).collect(),
        competitions: competitions.into_iter().map(|c| ctx.comp_slugs[c].clone()).collect(),
        last_updated: DateTime::<Utc>::from_timestamp(BASE_TIMESTAMP + offset, 0).unwrap_or_default(),
    }
}

/// Primary colour (mostly set) and 0-2 distinct secondary colours that are
/// never the primary.
fn kit_colors(rng: &mut Rng, ctx: &Ctx, p: &Profile, t: usize) -> (Option<usize>, Vec<usize>) {
    let weights = &ctx.data.colors;
    let primary = match t {
        HOME => p.primary,
        AWAY if rng.chance(450) => p.secondary,
        AWAY | THIRD | FOURTH | SPECIAL => draw_color_except(rng, &weights.change, &[p.primary]),
        GK_HOME | GK_AWAY | GK_THIRD => rng.weighted(&weights.goalkeeper),
        _ if rng.chance(250) => p.primary,
        _ => rng.weighted(&weights.training),
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
        let c = rng.weighted(&weights.secondary);
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
    let all = &ctx.data.competitions;
    let conf: Conf = ctx.data.nations[p.nation].conf;
    let valid = |list: &[usize]| list.iter().copied().find(|&c| in_years(&all[c], year));
    let league = valid(&ctx.leagues[p.nation][p.tier]);
    if t == SPECIAL {
        if p.famous && rng.chance(500) {
            let finals: Vec<usize> = (0..all.len())
                .filter(|&c| {
                    let k = all[c].kind;
                    (k == Kind::World || k == Kind::Continental(conf, 3)) && in_years(&all[c], year)
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
        let first = rng.weighted(&[55, 35, 10]) as u8;
        let level_comp =
            |level: u8| all.iter().position(|c| c.kind == Kind::Continental(conf, level) && in_years(c, year));
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
    kit.primary_color = Some(KIT_COLORS[CLARET].name.to_string());
    kit.secondary_colors = vec![KIT_COLORS[GOLD].name.to_string(), KIT_COLORS[WHITE].name.to_string()];
    kit.competitions = SHOWCASE_COMPETITIONS.into_iter().filter_map(|name| ctx.comp_slug_by_name(name)).collect();
    kit.rating = Some(BigDecimal::new(485.into(), 2));
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use fkapi_web::is_slug;
    use std::collections::HashMap;

    fn assert_unique_slugs<'a>(what: &str, slugs: impl Iterator<Item = &'a str>) {
        let mut seen = HashSet::new();
        for slug in slugs {
            assert!(is_slug(slug), "{what} slug {slug:?} does not match the CHECK");
            assert!(seen.insert(slug), "{what} slug {slug:?} is duplicated");
        }
    }

    #[test]
    fn kit_counts_add_up_to_every_scale() {
        for scale in Scale::ALL {
            assert_eq!((0..scale.clubs()).map(kit_count).sum::<usize>(), scale.kits(), "{scale}");
        }
        assert!((0..Scale::Large.clubs()).all(|i| (10..=97).contains(&kit_count(i))));
    }

    #[test]
    fn generation_is_deterministic() {
        assert_eq!(generate(Scale::Small).unwrap(), generate(Scale::Small).unwrap());
    }

    #[test]
    fn small_is_a_prefix_of_medium() {
        let small = generate(Scale::Small).unwrap();
        let medium = generate(Scale::Medium).unwrap();
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
            let c = generate(scale).unwrap();
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
    fn slugs_are_the_api_slugs_of_the_names() {
        // The one slug rule: a row the API would create from the same name
        // gets the same slug (unless the seeder had to make it unique).
        let c = generate(Scale::Medium).unwrap();
        let unique = c.clubs.iter().filter(|club| club.slug == slugify(&club.name)).count();
        assert!(unique > c.clubs.len() * 9 / 10, "{unique} of {} club slugs are slugify(name)", c.clubs.len());
        assert!(c.clubs.iter().all(|club| club.slug.starts_with(&slugify(&club.name))));
        let kits_by_name = c.kits.iter().filter(|k| k.slug == slugify(&k.name)).count();
        assert!(kits_by_name > c.kits.len() * 9 / 10, "{kits_by_name} of {} kit slugs", c.kits.len());
        assert!(c.brands.iter().all(|b| b.slug == format!("{}-kits", slugify(&b.name))));
        assert!(c.competitions.iter().all(|b| b.slug == format!("{}-kits", slugify(&b.name))));
        assert!(c.clubs.iter().any(|club| club.name.contains('ß') && club.slug.contains("ss")));
    }

    #[test]
    fn rows_satisfy_the_checks_and_refer_to_existing_rows() {
        let c = generate(Scale::Medium).unwrap();
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
        let c = generate(Scale::Small).unwrap();
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
        let c = generate(Scale::Small).unwrap();
        assert_eq!(c.clubs[0].name, "Arsenal");
        assert_eq!(c.clubs[0].slug, "arsenal");
        assert!(c.clubs.iter().any(|club| club.name == "Málaga CF" && club.slug == "malaga-cf"));
        assert!(c.clubs.iter().any(|club| club.name == "Bayern München" && club.slug == "bayern-munchen"));
        let first = &c.kits[0];
        assert_eq!(first.name, "Arsenal 2005-06 Home Kit");
        assert_eq!(first.slug, "arsenal-2005-06-home-kit");
        assert_eq!(first.club_slug, "arsenal");
        assert_eq!(first.season_year, "2005-06");
        assert_eq!(first.brand_slug, "nike-kits");
        assert!(first.primary_color.is_some() && first.rating.is_some() && first.design.is_some());
        assert_eq!(first.secondary_colors.len(), 2);
        assert_eq!(first.competitions.len(), 3);
        assert!(c.kits.iter().any(|k| k.club_slug == "arsenal" && k.season_year == "2005-06" && k.type_name == "Away"));
    }
}
