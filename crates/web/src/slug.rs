//! The one slug rule: what the admin writes derive when a body names no
//! slug, what the demo-data seeder derives for every row, and what both
//! accept (the slug CHECK of the migrations: `^[a-z0-9]+(-[a-z0-9]+)*$`).

/// A URL slug from a display name: transliterated to ASCII by `deunicode`
/// (so "Preußen" → "preussen", "Łódź" → "lodz", "Ærø" → "aero"),
/// lowercased; apostrophes and dots vanish ("St. Pauli" → "st-pauli",
/// "Emperor's Cup" → "emperors-cup"); every other run of characters that
/// are not letters or digits becomes one dash, none at either end.
pub fn slugify(name: &str) -> String {
    // Characters deunicode has no spelling for separate words.
    let ascii = deunicode::deunicode_with_tofu(name, " ");
    let mut slug = String::with_capacity(ascii.len());
    let mut dash_pending = false;
    for c in ascii.chars() {
        if matches!(c, '\'' | '.') {
            continue;
        }
        if c.is_ascii_alphanumeric() {
            if dash_pending && !slug.is_empty() {
                slug.push('-');
            }
            dash_pending = false;
            slug.push(c.to_ascii_lowercase());
        } else {
            dash_pending = true;
        }
    }
    slug
}

/// Slug rule shared by every write body (matches the database CHECK).
pub fn is_slug(value: &str) -> bool {
    !value.is_empty()
        && !value.starts_with('-')
        && !value.ends_with('-')
        && !value.contains("--")
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `validator` adapter for [`is_slug`].
pub fn validate_slug(value: &str) -> Result<(), validator::ValidationError> {
    if is_slug(value) {
        Ok(())
    } else {
        Err(validator::ValidationError::new("slug")
            .with_message("must be lowercase words of a-z and 0-9 joined by single dashes".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugify_transliterates_letters_a_table_would_miss() {
        assert_eq!(slugify("Preußen Münster Łódź"), "preussen-munster-lodz");
        assert_eq!(slugify("Ærø Ødegaard Straße"), "aero-odegaard-strasse");
        assert_eq!(slugify("Beşiktaş İstanbul"), "besiktas-istanbul");
        assert_eq!(slugify("Þór Akureyri"), "thor-akureyri");
        assert_eq!(slugify("Crvena zvezda Čačak"), "crvena-zvezda-cacak");
        assert_eq!(slugify("Śląsk Wrocław"), "slask-wroclaw");
    }

    #[test]
    fn slugify_folds_accents_and_punctuation() {
        assert_eq!(slugify("Málaga CF"), "malaga-cf");
        assert_eq!(slugify("1. FC Köln"), "1-fc-koln");
        assert_eq!(slugify("São Paulo FC"), "sao-paulo-fc");
        assert_eq!(slugify("St. Pölten"), "st-polten");
        assert_eq!(slugify("UEFA Cup Winners' Cup"), "uefa-cup-winners-cup");
        assert_eq!(slugify("Emperor\u{2019}s Cup"), "emperors-cup");
        assert_eq!(slugify("U.S. Open Cup"), "us-open-cup");
        assert_eq!(slugify("  Bayern München -- 2005/06 "), "bayern-munchen-2005-06");
        assert_eq!(slugify("Łódź  --  Widzew!"), "lodz-widzew");
        assert_eq!(slugify("Arsenal 2005-06 Home Kit"), "arsenal-2005-06-home-kit");
    }

    #[test]
    fn slugify_gives_nothing_or_a_valid_slug() {
        assert_eq!(slugify("¡¿!"), "");
        assert_eq!(slugify("   "), "");
        for name in ["東京 FC", "Ελλάδα", "Київ Динамо", "🙂 FC 🙂", "a\u{0}b", "Zyxw Cötton", "--x--"]
        {
            let slug = slugify(name);
            assert!(slug.is_empty() || is_slug(&slug), "{name:?} gave {slug:?}");
        }
    }

    #[test]
    fn is_slug_matches_the_check() {
        assert!(is_slug("a") && is_slug("a-1") && is_slug("2005-06"));
        assert!(!is_slug("Bad Slug") && !is_slug("a--b") && !is_slug("-a") && !is_slug("a-") && !is_slug(""));
    }
}
