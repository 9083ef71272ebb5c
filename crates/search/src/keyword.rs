//! The pure part of search: checking and normalising the keyword, escaping
//! it for LIKE, and finding a season in it ("Arsenal 2005", "2005-06").

use fkapi_web::ApiError;
use std::fmt;

/// Longest keyword accepted, in characters (not bytes).
pub const MAX_KEYWORD_CHARS: usize = 100;

/// A checked keyword: surrounding whitespace trimmed, inner runs of
/// whitespace collapsed to one space, lowercased (Unicode-aware). The cache
/// key and the query are both built from this form only, so two spellings
/// that normalise alike share one entry and one answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyword(String);

impl Keyword {
    /// `raw` is the `keyword` query parameter, `None` when absent.
    pub fn parse(raw: Option<&str>) -> Result<Keyword, ApiError> {
        let raw = raw.ok_or_else(|| ApiError::BadRequest("keyword is required".into()))?;
        if raw.contains('\0') {
            return Err(ApiError::BadRequest("keyword must not contain NUL characters".into()));
        }
        let collapsed = collapse_whitespace(raw);
        if collapsed.is_empty() {
            return Err(ApiError::BadRequest("keyword is required".into()));
        }
        if collapsed.chars().count() > MAX_KEYWORD_CHARS {
            return Err(ApiError::BadRequest(format!("keyword must be at most {MAX_KEYWORD_CHARS} characters")));
        }
        Ok(Keyword(collapsed.to_lowercase()))
    }

    /// As [`Keyword::parse`], for the searches whose keyword is optional in
    /// FKApi (kits, seasons): absent or blank is `None`, whose answer is `[]`.
    pub fn parse_optional(raw: Option<&str>) -> Result<Option<Keyword>, ApiError> {
        match raw {
            Some(text) if !collapse_whitespace(text).is_empty() => Keyword::parse(Some(text)).map(Some),
            _ => Ok(None),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Keyword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Trims and collapses every run of (Unicode) whitespace to one space.
pub fn collapse_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Escapes LIKE metacharacters (`%`, `_` and the escape character `\`
/// itself) so the text matches only itself under `LIKE … ESCAPE '\'`.
pub fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A season named in a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeasonToken {
    /// "2005": the seasons 2005-06, 2004-05 and 2005, in that order.
    Year(u16),
    /// "2005-06", "2005-2006" or "2005/06": exactly the season starting in
    /// that year and ending the next.
    Span(u16),
}

impl SeasonToken {
    /// Recognises one whitespace-free token. Years run 1900–2099; a span's
    /// second year must follow its first.
    pub fn parse(token: &str) -> Option<SeasonToken> {
        let (first, second) = match token.split_once(['-', '/']) {
            Some((first, second)) => (first, Some(second)),
            None => (token, None),
        };
        let year = four_digit_year(first)?;
        let Some(second) = second else { return Some(SeasonToken::Year(year)) };
        let next = year + 1;
        let follows = match second.len() {
            2 => all_ascii_digits(second) && second.parse::<u16>().ok() == Some(next % 100),
            4 => all_ascii_digits(second) && second.parse::<u16>().ok() == Some(next),
            _ => false,
        };
        follows.then_some(SeasonToken::Span(year))
    }

    /// `(first_year, second_year)` as the seasons table stores them; the
    /// second is `None` for a bare year, which matches either column.
    pub fn years(self) -> (String, Option<String>) {
        match self {
            SeasonToken::Year(year) => (year.to_string(), None),
            SeasonToken::Span(year) => (year.to_string(), Some((year + 1).to_string())),
        }
    }
}

fn all_ascii_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

fn four_digit_year(text: &str) -> Option<u16> {
    if text.len() != 4 || !all_ascii_digits(text) {
        return None;
    }
    text.parse::<u16>().ok().filter(|year| (1900..=2099).contains(year))
}

/// Takes the first season token out of a (normalised, space-separated)
/// keyword: `"arsenal 2005 home"` → `(Some(Year(2005)), "arsenal home")`.
pub fn split_season_token(keyword: &str) -> (Option<SeasonToken>, String) {
    let mut season = None;
    let mut rest: Vec<&str> = Vec::new();
    for word in keyword.split_whitespace() {
        match (season, SeasonToken::parse(word)) {
            (None, Some(token)) => season = Some(token),
            _ => rest.push(word),
        }
    }
    (season, rest.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: &str) -> Result<String, String> {
        Keyword::parse(Some(raw)).map(|k| k.as_str().to_string()).map_err(|e| e.to_string())
    }

    #[test]
    fn keyword_is_trimmed_collapsed_and_lowercased() {
        assert_eq!(parsed("  ARSENAL "), Ok("arsenal".into()));
        assert_eq!(parsed("Manchester \t\n  United"), Ok("manchester united".into()));
        assert_eq!(parsed("\u{3000}MÁLAGA\u{a0}CF "), Ok("málaga cf".into()));
        assert_eq!(parsed("ÉÀÖ Straße"), Ok("éàö straße".into()));
    }

    #[test]
    fn keyword_must_be_present_and_non_empty() {
        assert_eq!(Keyword::parse(None).map_err(|e| e.to_string()), Err("keyword is required".into()));
        assert_eq!(parsed(""), Err("keyword is required".into()));
        assert_eq!(parsed(" \t\n "), Err("keyword is required".into()));
    }

    #[test]
    fn keyword_length_counts_characters_after_trimming() {
        let hundred = "é".repeat(100);
        assert_eq!(parsed(&hundred), Ok(hundred.clone()));
        assert_eq!(parsed(&format!("   {hundred}   ")), Ok(hundred.clone()));
        assert!(parsed(&format!("{hundred}a")).is_err());
        // Collapsing happens before counting: 50 words of one letter.
        let spaced = vec!["a"; 50].join("    ");
        assert_eq!(parsed(&spaced).map(|k| k.chars().count()), Ok(99));
    }

    #[test]
    fn nul_is_rejected() {
        assert!(parsed("ars\0enal").is_err());
        assert!(parsed("\0").is_err());
    }

    #[test]
    fn metacharacters_are_kept_as_text() {
        assert_eq!(parsed("100% _x_ [a] * ? 'q' \"d\" \\"), Ok("100% _x_ [a] * ? 'q' \"d\" \\".into()));
    }

    #[test]
    fn optional_keywords_may_be_absent_or_blank_but_not_bad() {
        assert_eq!(Keyword::parse_optional(None).ok(), Some(None));
        assert_eq!(Keyword::parse_optional(Some(" \t ")).ok(), Some(None));
        assert_eq!(Keyword::parse_optional(Some(" Arsenal ")).ok().flatten().map(|k| k.0), Some("arsenal".into()));
        assert!(Keyword::parse_optional(Some("ars\0enal")).is_err());
        assert!(Keyword::parse_optional(Some(&"a".repeat(101))).is_err());
    }

    #[test]
    fn like_escaping_covers_wildcards_and_the_escape_character() {
        assert_eq!(escape_like("arsenal"), "arsenal");
        assert_eq!(escape_like("100%"), "100\\%");
        assert_eq!(escape_like("a_b"), "a\\_b");
        assert_eq!(escape_like("c:\\d"), "c:\\\\d");
        assert_eq!(escape_like("%_\\"), "\\%\\_\\\\");
        // Not LIKE metacharacters in PostgreSQL: left alone.
        assert_eq!(escape_like("[a-z]*?'\""), "[a-z]*?'\"");
        assert_eq!(escape_like("málaga"), "málaga");
    }

    #[test]
    fn season_tokens() {
        assert_eq!(SeasonToken::parse("2005"), Some(SeasonToken::Year(2005)));
        assert_eq!(SeasonToken::parse("1900"), Some(SeasonToken::Year(1900)));
        assert_eq!(SeasonToken::parse("2099"), Some(SeasonToken::Year(2099)));
        assert_eq!(SeasonToken::parse("2005-06"), Some(SeasonToken::Span(2005)));
        assert_eq!(SeasonToken::parse("2005/06"), Some(SeasonToken::Span(2005)));
        assert_eq!(SeasonToken::parse("2005-2006"), Some(SeasonToken::Span(2005)));
        assert_eq!(SeasonToken::parse("1999-00"), Some(SeasonToken::Span(1999)));
        for not_a_season in [
            "1899",
            "2100",
            "205",
            "20050",
            "2005-07",
            "2005-2007",
            "2005-6",
            "2005-",
            "-06",
            "２００５",
            "abcd",
            "2005x",
            "+200",
        ] {
            assert_eq!(SeasonToken::parse(not_a_season), None, "{not_a_season}");
        }
    }

    #[test]
    fn season_years() {
        assert_eq!(SeasonToken::Year(2005).years(), ("2005".into(), None));
        assert_eq!(SeasonToken::Span(1999).years(), ("1999".into(), Some("2000".into())));
    }

    #[test]
    fn first_season_token_is_taken_out_of_the_keyword() {
        assert_eq!(split_season_token("arsenal 2005"), (Some(SeasonToken::Year(2005)), "arsenal".into()));
        assert_eq!(split_season_token("2005-06 arsenal home"), (Some(SeasonToken::Span(2005)), "arsenal home".into()));
        assert_eq!(split_season_token("2005"), (Some(SeasonToken::Year(2005)), String::new()));
        assert_eq!(split_season_token("arsenal 2005 2006"), (Some(SeasonToken::Year(2005)), "arsenal 2006".into()));
        assert_eq!(split_season_token("arsenal 1890"), (None, "arsenal 1890".into()));
        assert_eq!(split_season_token("arsenal2005"), (None, "arsenal2005".into()));
        assert_eq!(split_season_token("fc 1906 munich"), (Some(SeasonToken::Year(1906)), "fc munich".into()));
    }
}
