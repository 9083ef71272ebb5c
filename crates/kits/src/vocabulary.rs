//! FKApi's fixed vocabularies, in one place: its seventeen colours (the
//! rows of `colors`) and its kit designs (the values of `kits.design`). The
//! list filters, the write validation, the OpenAPI document and the
//! demo-data seeder all read them from here.

/// One of FKApi's colours: `colors.name` and `colors.color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KitColor {
    pub name: &'static str,
    /// `#RRGGBB`.
    pub hex: &'static str,
}

const fn color(name: &'static str, hex: &'static str) -> KitColor {
    KitColor { name, hex }
}

/// FKApi's colours, in id order.
pub const KIT_COLORS: [KitColor; 17] = [
    color("White", "#FFFFFF"),
    color("Red", "#D71920"),
    color("Blue", "#1C4FA1"),
    color("Black", "#000000"),
    color("Yellow", "#FFD100"),
    color("Green", "#00843D"),
    color("Sky blue", "#6CABDD"),
    color("Navy", "#0B1F41"),
    color("Orange", "#F58220"),
    color("Gray", "#8C8C8C"),
    color("Claret", "#7A003C"),
    color("Purple", "#5B2C83"),
    color("Pink", "#F4A6C6"),
    color("Brown", "#6B4226"),
    color("Gold", "#C9A227"),
    color("Silver", "#C0C0C0"),
    color("Off-white", "#F4F1E6"),
];

/// The names of [`KIT_COLORS`], in the same order (what the colour filters
/// accept and list in their 400s).
pub const COLOR_NAMES: [&str; KIT_COLORS.len()] = {
    let mut names = [""; KIT_COLORS.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = KIT_COLORS[i].name;
        i += 1;
    }
    names
};

/// FKApi's kit designs, as stored in `kits.design`.
pub const DESIGNS: [&str; 16] = [
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

/// The position of `name` in `names`; a compile error when used in a const
/// and the name is missing, so code that refers to an entry by position
/// cannot drift from the list.
pub const fn position(names: &[&str], name: &str) -> usize {
    let mut i = 0;
    while i < names.len() {
        if const_str_eq(names[i], name) {
            return i;
        }
        i += 1;
    }
    panic!("name is not in the list")
}

const fn const_str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The regular expression (for the OpenAPI document) that matches exactly
/// one of `options`.
pub fn one_of_pattern(options: &[&str]) -> String {
    let escaped: Vec<String> = options
        .iter()
        .map(|option| {
            option.chars().fold(String::with_capacity(option.len()), |mut out, c| {
                if "\\^$.|?*+()[]{}".contains(c) {
                    out.push('\\');
                }
                out.push(c);
                out
            })
        })
        .collect();
    format!("^({})$", escaped.join("|"))
}

/// The OpenAPI schema of a kit's `design`: a string (or null) that is one of
/// [`DESIGNS`], named in the description and the pattern.
pub fn design_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    // `example` (not `examples`) like every other field of the document.
    #[allow(deprecated)]
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .description(Some(format!("One of FKApi's designs: {}.", DESIGNS.join(", "))))
        .example(Some(serde_json::json!(DESIGNS[0])))
        .pattern(Some(one_of_pattern(&DESIGNS)))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_colours_and_positions_are_found() {
        assert_eq!(COLOR_NAMES[0], "White");
        assert_eq!(COLOR_NAMES[16], "Off-white");
        assert!(KIT_COLORS.iter().zip(COLOR_NAMES).all(|(c, n)| c.name == n));
        assert!(KIT_COLORS.iter().all(|c| c.hex.len() == 7 && c.hex.starts_with('#')));
        assert_eq!(position(&COLOR_NAMES, "Sky blue"), 6);
        assert_eq!(position(&DESIGNS, "Quarters"), 15);
    }

    #[test]
    fn the_design_pattern_names_every_design_once() {
        assert_eq!(
            one_of_pattern(&DESIGNS),
            "^(Plain|Stripes|Graphic|Chest band|Contrasting sleeves|Pinstripes|Hoops|Single stripe|\
             Half-and-half|Sash|Chevron|Checkers|Gradient|Diagonal|Cross|Quarters)$"
        );
        assert_eq!(one_of_pattern(&["a.b", "c|d"]), r"^(a\.b|c\|d)$");
    }
}
