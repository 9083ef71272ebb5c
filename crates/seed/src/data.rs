//! The seeder's name lists and weights, read from the text files under
//! `crates/seed/data/` (compiled in with `include_str!`, so editing demo
//! data rebuilds only this crate and what links it). Parsed once; every
//! reference between the files (a nation key, a naming style, a colour or
//! design name) is checked here, so the generator never meets a dangling one.

use fkapi_kits::vocabulary::{COLOR_NAMES, DESIGNS, KIT_COLORS};
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

/// "now" in the season ranges of the data files: still made, still played.
pub const NOW: u16 = 2100;

/// A line of a data file that does not say what it must.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("crates/seed/data/{file}:{line}: {problem}")]
pub struct DataError {
    pub file: &'static str,
    pub line: usize,
    pub problem: String,
}

/// Continental confederations.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Conf {
    Uefa,
    Conmebol,
    Concacaf,
    Afc,
}

/// What a competition is, for picking the ones a kit was worn in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
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

/// A kit maker (brands.txt).
pub struct Brand {
    pub name: &'static str,
    pub from: u16,
    pub to: u16,
    pub weight: u32,
    /// Nation keys it is limited to (empty = everywhere).
    pub nations: Vec<&'static str>,
}

/// A competition (competitions.txt).
pub struct Competition {
    pub name: &'static str,
    /// Index into [`Data::nations`], `None` for international ones.
    pub nation: Option<usize>,
    pub kind: Kind,
    pub from: u16,
    pub to: u16,
}

/// A football nation (nations.txt).
pub struct Nation {
    pub key: &'static str,
    pub iso: &'static str,
    /// Club name patterns of its naming style (club_names.txt), `{}` = city.
    pub patterns: Vec<&'static str>,
    /// Seasons are calendar years ("2005") rather than split ("2005-06").
    pub calendar: bool,
    pub conf: Conf,
    pub weight: u32,
    pub cities: Vec<&'static str>,
}

/// A real club that heads the catalogue (famous_clubs.txt); colours and
/// design are indices into the kits crate's vocabulary.
pub struct Famous {
    pub name: &'static str,
    pub nation: usize,
    pub primary: usize,
    pub secondary: usize,
    pub design: usize,
}

/// Relative weights per colour, indexed like [`KIT_COLORS`] (colors.txt).
pub struct ColorWeights {
    pub club_primary: Vec<u32>,
    pub secondary: Vec<u32>,
    pub change: Vec<u32>,
    pub goalkeeper: Vec<u32>,
    pub training: Vec<u32>,
}

/// Relative weights per design, indexed like [`DESIGNS`] (designs.txt).
pub struct DesignWeights {
    pub club: Vec<u32>,
    pub kit: Vec<u32>,
}

/// Everything the data files say.
pub struct Data {
    pub colors: ColorWeights,
    pub designs: DesignWeights,
    pub brands: Vec<Brand>,
    pub competitions: Vec<Competition>,
    pub nations: Vec<Nation>,
    /// Second-team suffixes ("II", "B", …).
    pub second_teams: Vec<&'static str>,
    pub famous: Vec<Famous>,
}

const COLORS_TXT: (&str, &str) = ("colors.txt", include_str!("../data/colors.txt"));
const DESIGNS_TXT: (&str, &str) = ("designs.txt", include_str!("../data/designs.txt"));
const BRANDS_TXT: (&str, &str) = ("brands.txt", include_str!("../data/brands.txt"));
const COMPETITIONS_TXT: (&str, &str) = ("competitions.txt", include_str!("../data/competitions.txt"));
const CLUB_NAMES_TXT: (&str, &str) = ("club_names.txt", include_str!("../data/club_names.txt"));
const NATIONS_TXT: (&str, &str) = ("nations.txt", include_str!("../data/nations.txt"));
const FAMOUS_TXT: (&str, &str) = ("famous_clubs.txt", include_str!("../data/famous_clubs.txt"));

/// The block of club_names.txt that holds the second-team suffixes.
const SECOND_TEAMS_BLOCK: &str = "second teams";

static DATA: LazyLock<Result<Data, DataError>> = LazyLock::new(Data::parse);

/// The parsed data files (parsed on first use).
pub fn data() -> Result<&'static Data, DataError> {
    DATA.as_ref().map_err(Clone::clone)
}

/// One meaningful line of a data file: its number (1-based) and its text.
struct Line {
    file: &'static str,
    number: usize,
    text: &'static str,
}

impl Line {
    fn error(&self, problem: impl fmt::Display) -> DataError {
        DataError { file: self.file, line: self.number, problem: problem.to_string() }
    }

    /// The `|`-separated fields, trimmed; between `min` and `max` of them.
    fn fields(&self, min: usize, max: usize) -> Result<Vec<&'static str>, DataError> {
        let fields: Vec<&'static str> = self.text.split('|').map(str::trim).collect();
        if fields.len() < min || fields.len() > max {
            let wanted = if min == max { format!("{min}") } else { format!("{min} to {max}") };
            return Err(self.error(format!("expected {wanted} fields separated by '|', found {}", fields.len())));
        }
        if let Some(empty) = fields.iter().position(|f| f.is_empty()) {
            return Err(self.error(format!("field {} is empty", empty + 1)));
        }
        Ok(fields)
    }

    fn number<T: FromStr>(&self, what: &str, text: &str) -> Result<T, DataError> {
        text.parse().map_err(|_| self.error(format!("{what} {text:?} is not a number in range")))
    }

    /// A season year, or "now".
    fn year(&self, what: &str, text: &str) -> Result<u16, DataError> {
        if text == "now" {
            Ok(NOW)
        } else {
            self.number(what, text)
        }
    }
}

/// The lines of a file that are neither blank nor `#` comments.
fn lines((file, text): (&'static str, &'static str)) -> impl Iterator<Item = Line> {
    text.lines()
        .enumerate()
        .map(move |(i, text)| Line { file, number: i + 1, text: text.trim() })
        .filter(|line| !line.text.is_empty() && !line.text.starts_with('#'))
}

/// Reads a per-name weight table: every name of `names` exactly once, in
/// any order, followed by `columns` weights; returns the columns indexed
/// like `names`.
fn weight_table(
    file: (&'static str, &'static str),
    names: &[&str],
    columns: usize,
) -> Result<Vec<Vec<u32>>, DataError> {
    let mut table: Vec<Vec<Option<u32>>> = vec![vec![None; names.len()]; columns];
    let mut last_line = 0;
    for line in lines(file) {
        last_line = line.number;
        let fields = line.fields(columns + 1, columns + 1)?;
        let Some(index) = names.iter().position(|n| *n == fields[0]) else {
            return Err(line.error(format!("{:?} is not one of: {}", fields[0], names.join(", "))));
        };
        if table[0][index].is_some() {
            return Err(line.error(format!("{:?} appears twice", fields[0])));
        }
        for (column, text) in fields[1..].iter().enumerate() {
            table[column][index] = Some(line.number("weight", text)?);
        }
    }
    if let Some(missing) = (0..names.len()).find(|&i| table[0][i].is_none()) {
        return Err(DataError {
            file: file.0,
            line: last_line,
            problem: format!("{:?} has no weights", names[missing]),
        });
    }
    Ok(table.into_iter().map(|column| column.into_iter().map(Option::unwrap_or_default).collect()).collect())
}

fn conf(line: &Line, text: &str) -> Result<Conf, DataError> {
    match text {
        "UEFA" => Ok(Conf::Uefa),
        "CONMEBOL" => Ok(Conf::Conmebol),
        "CONCACAF" => Ok(Conf::Concacaf),
        "AFC" => Ok(Conf::Afc),
        other => Err(line.error(format!("confederation {other:?} is not one of UEFA, CONMEBOL, CONCACAF, AFC"))),
    }
}

fn kind(line: &Line, text: &str) -> Result<Kind, DataError> {
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        ["league", tier] => Ok(Kind::League(line.number("league tier", tier)?)),
        ["cup", order] => Ok(Kind::Cup(line.number("cup order", order)?)),
        ["continental", confederation, level] => {
            Ok(Kind::Continental(conf(line, confederation)?, line.number("continental level", level)?))
        }
        ["world"] => Ok(Kind::World),
        _ => {
            Err(line
                .error(format!("kind {text:?} is not \"league N\", \"cup N\", \"continental CONF N\" or \"world\"")))
        }
    }
}

/// club_names.txt: `[block]` headers, then one entry a line.
fn blocks(file: (&'static str, &'static str)) -> Result<Vec<(&'static str, Vec<&'static str>)>, DataError> {
    let mut blocks: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for line in lines(file) {
        if let Some(name) = line.text.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')).map(str::trim) {
            if blocks.iter().any(|(existing, _)| *existing == name) {
                return Err(line.error(format!("block [{name}] appears twice")));
            }
            blocks.push((name, Vec::new()));
        } else if let Some((_, entries)) = blocks.last_mut() {
            entries.push(line.text);
        } else {
            return Err(line.error("an entry before the first [block] header"));
        }
    }
    if let Some((name, _)) = blocks.iter().find(|(_, entries)| entries.is_empty()) {
        return Err(DataError { file: file.0, line: 0, problem: format!("block [{name}] is empty") });
    }
    Ok(blocks)
}

impl Data {
    fn parse() -> Result<Data, DataError> {
        let mut colors = weight_table(COLORS_TXT, &COLOR_NAMES, 5)?.into_iter();
        let mut designs = weight_table(DESIGNS_TXT, &DESIGNS, 2)?.into_iter();
        let mut next = || colors.next().unwrap_or_default();
        let colors = ColorWeights {
            club_primary: next(),
            secondary: next(),
            change: next(),
            goalkeeper: next(),
            training: next(),
        };
        let designs =
            DesignWeights { club: designs.next().unwrap_or_default(), kit: designs.next().unwrap_or_default() };

        let mut styles = blocks(CLUB_NAMES_TXT)?;
        let second_teams = match styles.iter().position(|(name, _)| *name == SECOND_TEAMS_BLOCK) {
            Some(i) => styles.remove(i).1,
            None => {
                return Err(DataError {
                    file: CLUB_NAMES_TXT.0,
                    line: 0,
                    problem: format!("no [{SECOND_TEAMS_BLOCK}] block"),
                })
            }
        };
        let styles: HashMap<&'static str, Vec<&'static str>> = styles.into_iter().collect();
        if let Some((name, _)) = styles.iter().find(|(_, patterns)| patterns.iter().any(|p| !p.contains("{}"))) {
            return Err(DataError {
                file: CLUB_NAMES_TXT.0,
                line: 0,
                problem: format!("a pattern of [{name}] has no {{}} for the city"),
            });
        }

        let nations = Self::parse_nations(&styles)?;
        let nation_index = |line: &Line, key: &str| {
            nations
                .iter()
                .position(|n| n.key == key)
                .ok_or_else(|| line.error(format!("nation {key:?} is not a key of nations.txt")))
        };

        let mut brands = Vec::new();
        for line in lines(BRANDS_TXT) {
            let fields = line.fields(4, 5)?;
            let limited_to: Vec<&'static str> =
                fields.get(4).map(|f| f.split_whitespace().collect()).unwrap_or_default();
            for key in &limited_to {
                nation_index(&line, key)?;
            }
            brands.push(Brand {
                name: fields[0],
                from: line.year("first season", fields[1])?,
                to: line.year("last season", fields[2])?,
                weight: line.number("weight", fields[3])?,
                nations: limited_to,
            });
        }

        let mut competitions = Vec::new();
        for line in lines(COMPETITIONS_TXT) {
            let fields = line.fields(5, 5)?;
            competitions.push(Competition {
                name: fields[0],
                nation: match fields[1] {
                    "-" => None,
                    key => Some(nation_index(&line, key)?),
                },
                kind: kind(&line, fields[2])?,
                from: line.year("first season", fields[3])?,
                to: line.year("last season", fields[4])?,
            });
        }

        let mut famous = Vec::new();
        for line in lines(FAMOUS_TXT) {
            let fields = line.fields(5, 5)?;
            let color = |name: &str| {
                KIT_COLORS
                    .iter()
                    .position(|c| c.name == name)
                    .ok_or_else(|| line.error(format!("colour {name:?} is not one of: {}", COLOR_NAMES.join(", "))))
            };
            famous.push(Famous {
                name: fields[0],
                nation: nation_index(&line, fields[1])?,
                primary: color(fields[2])?,
                secondary: color(fields[3])?,
                design: DESIGNS.iter().position(|d| *d == fields[4]).ok_or_else(|| {
                    line.error(format!("design {:?} is not one of: {}", fields[4], DESIGNS.join(", ")))
                })?,
            });
        }

        Ok(Data { colors, designs, brands, competitions, nations, second_teams, famous })
    }

    /// nations.txt: a header line with `|` fields, then lines of cities.
    fn parse_nations(styles: &HashMap<&'static str, Vec<&'static str>>) -> Result<Vec<Nation>, DataError> {
        let mut nations: Vec<Nation> = Vec::new();
        for line in lines(NATIONS_TXT) {
            if line.text.contains('|') {
                let fields = line.fields(6, 6)?;
                if nations.iter().any(|n| n.key == fields[0]) {
                    return Err(line.error(format!("nation {:?} appears twice", fields[0])));
                }
                let patterns = styles.get(fields[2]).cloned().ok_or_else(|| {
                    line.error(format!("naming style {:?} is not a block of club_names.txt", fields[2]))
                })?;
                let calendar = match fields[3] {
                    "calendar" => true,
                    "split" => false,
                    other => return Err(line.error(format!("seasons {other:?} is not \"split\" or \"calendar\""))),
                };
                nations.push(Nation {
                    key: fields[0],
                    iso: fields[1],
                    patterns,
                    calendar,
                    conf: conf(&line, fields[4])?,
                    weight: line.number("weight", fields[5])?,
                    cities: Vec::new(),
                });
            } else if let Some(nation) = nations.last_mut() {
                nation.cities.extend(line.text.split(',').map(str::trim).filter(|city| !city.is_empty()));
            } else {
                return Err(line.error("cities before the first nation header"));
            }
        }
        if let Some(nation) = nations.iter().find(|n| n.cities.is_empty()) {
            return Err(DataError {
                file: NATIONS_TXT.0,
                line: 0,
                problem: format!("nation {:?} has no cities", nation.key),
            });
        }
        Ok(nations)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_data_files_parse() {
        let data = data().unwrap();
        assert_eq!(data.brands.len(), 43);
        assert_eq!(data.competitions.len(), 72);
        assert_eq!(data.nations.len(), 34);
        assert_eq!(data.famous.len(), 91);
        assert_eq!(data.second_teams, ["II", "B", "U23", "Women", "Reserves"]);
        assert_eq!(data.colors.club_primary.len(), KIT_COLORS.len());
        assert_eq!(data.designs.kit.len(), DESIGNS.len());
        assert_eq!(data.famous[0].name, "Arsenal");
        assert!(data.nations.iter().all(|n| n.iso.len() == 2 && !n.patterns.is_empty()));
    }

    #[test]
    fn bad_lines_are_refused_with_their_place() {
        let line = Line { file: "brands.txt", number: 7, text: "Adidas | 1950" };
        let err = line.fields(4, 5).unwrap_err();
        assert_eq!(err.to_string(), "crates/seed/data/brands.txt:7: expected 4 to 5 fields separated by '|', found 2");
        let line = Line { file: "competitions.txt", number: 3, text: "x" };
        assert!(kind(&line, "league top").is_err());
        assert!(kind(&line, "continental FIFA 0").is_err());
        assert_eq!(kind(&line, "continental UEFA 3").unwrap(), Kind::Continental(Conf::Uefa, 3));
        assert_eq!(line.year("last season", "now").unwrap(), NOW);
        let err = weight_table(("designs.txt", "Plain | 1 | 2\nPolka dots | 1 | 1\n"), &DESIGNS, 2).unwrap_err();
        assert!(err.problem.contains("\"Polka dots\" is not one of"), "{err}");
        let err = weight_table(("designs.txt", "Plain | 1 | 2\n"), &DESIGNS, 2).unwrap_err();
        assert!(err.problem.contains("\"Stripes\" has no weights"), "{err}");
    }
}
