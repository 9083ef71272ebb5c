//! The one ranked search query. The five searches differ only in the
//! [`Target`] they pass: table, columns, result row and how a season in the
//! keyword is used. Ranking, best first:
//!
//! 0. exact match of the folded name (or of the slug),
//! 1. (seasons) the keyword names the season's year,
//! 2. prefix match, 3. contains match,
//! 4. trigram match (`keyword <% name` or `name % keyword`, pg_trgm's
//!    default thresholds), by similarity descending; only looked for when
//!    the first tiers found fewer than [`MAX_RESULTS`] rows,
//!
//! ties broken by the target's own order (name length, then id). A season
//! in a kit keyword filters, and orders rows by season before the tiers
//! (within the strict matches, then within the trigram ones). "Folded"
//! is `lower(f_unaccent(…))`, applied by PostgreSQL to both the column and
//! the keyword, so the comparison is case- and accent-insensitive and uses
//! the trigram GIN indexes on that expression.
//!
//! Only constant SQL is ever formatted into the statement: the keyword, its
//! LIKE patterns and season years are bind parameters.

use crate::keyword::{collapse_whitespace, escape_like, split_season_token, Keyword, SeasonToken};
use diesel::pg::Pg;
use diesel::sql_types::Text;
use diesel::{QueryResult, QueryableByName};
use diesel_async::RunQueryDsl;
use fkapi_db::PgConn;

/// At most this many results per search.
pub const MAX_RESULTS: usize = 10;

/// What one search looks through and returns; constants only.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// The searched table with its alias, e.g. `kits k`.
    pub table: &'static str,
    /// Its primary key, e.g. `k.id`.
    pub id: &'static str,
    /// Joins a season in the keyword needs (the seasons of kits), appended
    /// to `table` when the keyword names one.
    pub rank_joins: &'static str,
    /// The select list of the response rows, over `table` and `output_joins`.
    pub select: &'static str,
    /// Joins the response rows need (club names and season years of kits).
    pub output_joins: &'static str,
    /// The column compared with the keyword, exactly as a trigram GIN index
    /// has it (e.g. `lower(f_unaccent(c.name))`).
    pub name: &'static str,
    /// A slug column that also counts as an exact match.
    pub slug: Option<&'static str>,
    /// Whether trigram (typo-tolerant) matches are included.
    pub fuzzy: bool,
    pub season: SeasonUse,
    /// Order among rows of the same rank.
    pub tiebreak: &'static [Key],
    /// Order when the keyword named only a season (kit search).
    pub season_only_order: &'static [Key],
}

/// One sort key of a [`Target`]'s own order.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub expr: &'static str,
    pub descending: bool,
}

impl Key {
    pub const fn asc(expr: &'static str) -> Key {
        Key { expr, descending: false }
    }

    pub const fn desc(expr: &'static str) -> Key {
        Key { expr, descending: true }
    }
}

/// How a season named in the keyword is used.
#[derive(Debug, Clone, Copy)]
pub enum SeasonUse {
    /// The keyword is plain text.
    Ignore,
    /// A keyword that is a season ("2025", "2024-25") also matches the
    /// seasons of that year, ranked right after exact matches.
    Tier { first_year: &'static str, second_year: &'static str },
    /// A season token anywhere in the keyword ("Arsenal 2005") restricts the
    /// results to that season, the rest of the keyword being the text; for
    /// a bare year, seasons starting that year rank first, then those ending
    /// it, then the single-year season.
    Filter { first_year: &'static str, second_year: &'static str },
}

/// A statement under construction with its bind values, numbered in order.
#[derive(Debug, Default)]
struct Statement {
    binds: Vec<String>,
}

impl Statement {
    /// Adds a bind value and returns its placeholder (`$1`, `$2`, …).
    fn bind(&mut self, value: String) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }
}

/// The SQL matching a season token: its condition and, for a bare year, the
/// rank ordering the candidate seasons.
fn season_sql(stmt: &mut Statement, token: SeasonToken, first_col: &str, second_col: &str) -> (String, Option<String>) {
    match token.years() {
        (first, Some(second)) => {
            let (first, second) = (stmt.bind(first), stmt.bind(second));
            (format!("({first_col} = {first} AND {second_col} = {second})"), None)
        }
        (year, None) => {
            let year = stmt.bind(year);
            (
                format!("({first_col} = {year} OR {second_col} = {year})"),
                Some(format!(
                    "CASE WHEN {first_col} = {year} AND {second_col} IS NOT NULL THEN 0 WHEN {second_col} = {year} THEN 1 ELSE 2 END"
                )),
            )
        }
    }
}

/// The statement and its binds for `text` (already folded by PostgreSQL, see
/// [`fold`]) and an optional season.
///
/// Two branches, each ranked on narrow rows and cut to [`MAX_RESULTS`]
/// (so PostgreSQL keeps a top-N heap instead of sorting every match): the
/// strict one (exact, season, prefix, contains) and, only when that found
/// fewer than [`MAX_RESULTS`], the trigram one, whose similarity is costly
/// to compute for the many rows a broad keyword matches. Inside a branch the
/// matching rows are selected first (`OFFSET 0` keeps that subquery apart)
/// so the folded name is computed once per row, not once per tier test.
/// Only the winners are joined to build the response rows.
fn build(target: &Target, text: Option<&str>, season: Option<SeasonToken>) -> (String, Vec<String>) {
    let mut stmt = Statement::default();
    let mut filters: Vec<String> = Vec::new();
    let mut season_rank = "0".to_string();
    let mut season_tier = None;
    match (target.season, season) {
        (SeasonUse::Filter { first_year, second_year }, Some(token)) => {
            let (condition, rank) = season_sql(&mut stmt, token, first_year, second_year);
            filters.push(condition);
            season_rank = rank.unwrap_or(season_rank);
        }
        (SeasonUse::Tier { first_year, second_year }, Some(token)) => {
            season_tier = Some(season_sql(&mut stmt, token, first_year, second_year).0);
        }
        _ => {}
    }
    let keys = if text.is_some() { target.tiebreak } else { target.season_only_order };
    let order = |qualifier: &str| -> String {
        let mut order: Vec<String> = ["search_fuzzy", "search_season", "search_tier", "search_sim DESC"]
            .iter()
            .map(|column| format!("{qualifier}{column}"))
            .collect();
        order.extend(
            keys.iter()
                .enumerate()
                .map(|(i, key)| format!("{qualifier}search_k{i}{}", if key.descending { " DESC" } else { "" })),
        );
        order.join(", ")
    };
    let key_names: String = (0..keys.len()).map(|i| format!(", search_k{i}")).collect();
    // The matching rows, with what ranking them needs; `columns` are extra
    // inner columns, `tier` and `similarity` are over them.
    let branch = |fuzzy: u8, columns: &str, conditions: &[String], tier: &str, similarity: &str| -> String {
        let key_columns: String =
            keys.iter().enumerate().map(|(i, key)| format!(", {} AS search_k{i}", key.expr)).collect();
        format!(
            "SELECT search_id, {fuzzy} AS search_fuzzy, search_season, {tier} AS search_tier, {similarity} AS search_sim{key_names} \
             FROM (SELECT {id} AS search_id, {season_rank} AS search_season{columns}{key_columns} \
             FROM {table}{joins} WHERE {conditions} OFFSET 0) AS search_match ORDER BY {order} LIMIT {MAX_RESULTS}",
            id = target.id,
            table = target.table,
            joins = if season.is_some() { target.rank_joins } else { "" },
            conditions = if conditions.is_empty() { "false".to_string() } else { conditions.join(" AND ") },
            order = order(""),
        )
    };
    let (strict, fuzzy) = match text {
        None => (branch(0, "", &filters, "0", "0::real"), None),
        Some(text) => {
            let name = target.name;
            let keyword = stmt.bind(text.to_string());
            let escaped = escape_like(text);
            let prefix = stmt.bind(format!("{escaped}%"));
            let contains = stmt.bind(format!("%{escaped}%"));
            let slug = target.slug.unwrap_or("NULL::text");
            let season_match = season_tier.as_deref().unwrap_or("false");
            let columns = format!(", {name} AS search_name, {slug} AS search_slug, {season_match} AS search_in_season");
            // Contains covers exact and prefix matches of the name; the slug
            // and the season can match without it.
            let mut strict_match = vec![format!("{name} LIKE {contains} ESCAPE '\\'")];
            strict_match.extend(target.slug.map(|slug| format!("{slug} = {keyword}")));
            strict_match.extend(season_tier.clone());
            let strict_match = format!("({})", strict_match.join(" OR "));
            let tier = format!(
                "CASE WHEN search_name = {keyword} OR search_slug = {keyword} THEN 0 WHEN search_in_season THEN 1 \
                 WHEN search_name LIKE {prefix} ESCAPE '\\' THEN 2 WHEN search_name LIKE {contains} ESCAPE '\\' THEN 3 ELSE 4 END"
            );
            let mut conditions = filters.clone();
            conditions.push(strict_match.clone());
            let strict = branch(0, &columns, &conditions, &tier, "0::real");
            // pg_trgm sees only letters and digits: without any, nothing is similar.
            let fuzzy = (target.fuzzy && text.chars().any(char::is_alphanumeric)).then(|| {
                let mut conditions = filters.clone();
                conditions.push(format!("(SELECT count(*) FROM search_strict) < {MAX_RESULTS}"));
                conditions.push(format!("({keyword} <% {name} OR {name} % {keyword})"));
                conditions.push(format!("{strict_match} IS NOT TRUE"));
                let similarity =
                    format!("greatest(word_similarity({keyword}, search_name), similarity(search_name, {keyword}))");
                branch(1, &columns, &conditions, "4", &similarity)
            });
            (strict, fuzzy)
        }
    };
    let (fuzzy_cte, fuzzy_union) = match fuzzy {
        Some(fuzzy) => (format!(", search_fuzzy AS ({fuzzy})"), " UNION ALL SELECT * FROM search_fuzzy"),
        None => (String::new(), ""),
    };
    let sql = format!(
        "WITH search_strict AS MATERIALIZED ({strict}){fuzzy_cte} \
         SELECT {select} FROM (SELECT * FROM search_strict{fuzzy_union}) AS search_top \
         JOIN {table} ON {id} = search_top.search_id{output_joins} ORDER BY {order} LIMIT {MAX_RESULTS}",
        select = target.select,
        table = target.table,
        id = target.id,
        output_joins = target.output_joins,
        order = order("search_top."),
    );
    (sql, stmt.binds)
}

#[derive(QueryableByName)]
struct Folded {
    #[diesel(sql_type = Text)]
    folded: String,
}

/// The keyword as the indexes see names: `lower(f_unaccent(…))`, computed
/// by PostgreSQL so both sides fold alike. The LIKE patterns are escaped
/// after folding, since unaccent turns some characters (`％`, `＿`, `＼`) into
/// LIKE metacharacters.
async fn fold(conn: &mut PgConn, text: &str) -> QueryResult<String> {
    let row: Folded =
        diesel::sql_query("SELECT lower(f_unaccent($1)) AS folded").bind::<Text, _>(text).get_result(conn).await?;
    Ok(collapse_whitespace(&row.folded))
}

/// Runs the ranked search for `keyword` on `target`, best first.
pub async fn search<R>(conn: &mut PgConn, target: &Target, keyword: &Keyword) -> QueryResult<Vec<R>>
where
    R: QueryableByName<Pg> + Send + 'static,
{
    let (season, text) = match target.season {
        SeasonUse::Ignore => (None, Some(keyword.as_str().to_string())),
        SeasonUse::Tier { .. } => (SeasonToken::parse(keyword.as_str()), Some(keyword.as_str().to_string())),
        SeasonUse::Filter { .. } => {
            let (season, rest) = split_season_token(keyword.as_str());
            (season, Some(rest).filter(|rest| !rest.is_empty()))
        }
    };
    let text = match text {
        Some(text) => {
            let folded = fold(conn, &text).await?;
            // Text that folds to nothing (only combining marks, say) would
            // make a match-everything pattern: it matches nothing instead.
            if folded.is_empty() {
                return Ok(Vec::new());
            }
            Some(folded)
        }
        None => None,
    };
    if text.is_none() && season.is_none() {
        return Ok(Vec::new());
    }
    let (sql, binds) = build(target, text.as_deref(), season);
    let mut query = diesel::sql_query(sql).into_boxed::<Pg>();
    for value in binds {
        query = query.bind::<Text, _>(value);
    }
    query.load(conn).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::{Clubs, Kits, Search, Seasons};

    #[test]
    fn user_text_only_ever_travels_as_binds() {
        let hostile = "x'); drop table kits; --%_\\";
        let (sql, binds) = build(&Kits::TARGET, Some(hostile), Some(SeasonToken::Year(2005)));
        assert!(!sql.contains("drop table"), "{sql}");
        assert_eq!(binds[0], "2005");
        assert_eq!(binds[1], hostile);
        assert_eq!(binds[2], "x'); drop table kits; --\\%\\_\\\\%");
        assert_eq!(binds[3], "%x'); drop table kits; --\\%\\_\\\\%");
        // The only quoted literal in the statement is the escape character.
        assert!(!sql.replace("ESCAPE '\\'", "").contains('\''), "{sql}");
    }

    #[test]
    fn season_only_keyword_orders_by_season_then_name() {
        let (sql, binds) = build(&Kits::TARGET, None, Some(SeasonToken::Year(2005)));
        assert_eq!(binds, vec!["2005".to_string()]);
        assert!(
            sql.contains(
                "JOIN seasons s ON s.id = k.season_id WHERE (s.first_year = $1 OR s.second_year = $1) OFFSET 0"
            ),
            "{sql}"
        );
        assert!(sql.contains("k.name AS search_k0, k.id AS search_k1"), "{sql}");
        assert!(!sql.contains("search_fuzzy AS"), "{sql}");
    }

    #[test]
    fn span_filters_one_season() {
        let (sql, binds) = build(&Kits::TARGET, Some("arsenal"), Some(SeasonToken::Span(2005)));
        assert_eq!(binds[..2], ["2005".to_string(), "2006".to_string()]);
        assert!(sql.contains("WHERE (s.first_year = $1 AND s.second_year = $2) AND ("), "{sql}");
    }

    #[test]
    fn fuzzy_branch_only_where_enabled_and_only_as_a_fallback() {
        let (clubs, _) = build(&Clubs::TARGET, Some("arsenal"), None);
        assert!(
            clubs.contains(
                "(SELECT count(*) FROM search_strict) < 10 AND ($1 <% lower(f_unaccent(t.name)) OR lower(f_unaccent(t.name)) % $1)"
            ),
            "{clubs}"
        );
        let (punctuation, _) = build(&Clubs::TARGET, Some("%_*"), None);
        assert!(!punctuation.contains("search_fuzzy AS"), "{punctuation}");
        let (kits, _) = build(&Kits::TARGET, Some("arsenal"), None);
        assert!(!kits.contains("JOIN seasons s ON s.id = k.season_id WHERE"), "no season, no join: {kits}");
        let (seasons, _) = build(&Seasons::TARGET, Some("2025"), Some(SeasonToken::Year(2025)));
        assert!(!seasons.contains("<%") && !seasons.contains("search_fuzzy AS"), "{seasons}");
        assert!(seasons.contains("(s.first_year = $1 OR s.second_year = $1) AS search_in_season"), "{seasons}");
    }
}
