//! Query strings checked against what a route accepts.
//!
//! Django Ninja (FKApi) ignores a query parameter it does not know, so a
//! misspelt filter (`?primary_colour=Red`) silently returns the unfiltered
//! list, and the client believes it. Here such a parameter is a 400 that
//! names it and lists what the route takes. The accepted names come from the
//! routes' own `Deserialize` structs (aliases included), so the list cannot
//! drift from what is parsed.

use crate::ApiError;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::{self, Deserialize, Deserializer, Visitor};
use std::fmt;

/// The query parameter names serde accepts for `T`, aliases included, as
/// its derived `Deserialize` declares them.
pub fn param_names<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    let mut probe = FieldProbe(None);
    let _ = T::deserialize(&mut probe);
    probe.0.unwrap_or(&[])
}

/// A deserializer that only records the field list a derived struct passes
/// to `deserialize_struct`, then stops.
struct FieldProbe(Option<&'static [&'static str]>);

#[derive(Debug)]
struct Probed;

impl fmt::Display for Probed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field names probed")
    }
}

impl std::error::Error for Probed {}

impl de::Error for Probed {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Probed
    }
}

impl<'de> Deserializer<'de> for &mut FieldProbe {
    type Error = Probed;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Probed> {
        Err(Probed)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Probed> {
        self.0 = Some(fields);
        Err(Probed)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

/// A request's query as name/value pairs in the order sent, for what one
/// serde struct cannot do: refuse parameters that no struct of the route
/// accepts, and read a parameter that may be repeated.
#[derive(Debug, Clone, Default)]
pub struct QueryPairs(Vec<(String, String)>);

impl QueryPairs {
    pub fn parse(query: &str) -> Result<QueryPairs, ApiError> {
        web::Query::<Vec<(String, String)>>::from_query(query)
            .map(|pairs| QueryPairs(pairs.into_inner()))
            .map_err(|_| ApiError::BadRequest("invalid query string".into()))
    }

    /// A 400 naming the first parameter that none of `accepted` lists.
    pub fn refuse_unknown(&self, accepted: &[&[&str]]) -> Result<(), ApiError> {
        let known = |name: &str| accepted.iter().any(|names| names.contains(&name));
        let Some((unknown, _)) = self.0.iter().find(|(name, _)| !known(name)) else { return Ok(()) };
        let shown: String = unknown.chars().take(60).collect();
        let all: Vec<&str> = accepted.iter().flat_map(|names| names.iter().copied()).collect();
        Err(ApiError::BadRequest(if all.is_empty() {
            format!("unknown query parameter {shown:?}: this route takes no query parameters")
        } else {
            format!("unknown query parameter {shown:?}: this route accepts {}", all.join(", "))
        }))
    }

    /// Every value of `name`, in the order sent.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

impl FromRequest for QueryPairs {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(QueryPairs::parse(req.query_string()).map_err(Into::into))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Pagination;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct WithAlias {
        #[serde(alias = "club")]
        club_id: Option<i32>,
        season: Option<i32>,
    }

    fn detail(result: Result<(), ApiError>) -> String {
        match result {
            Err(ApiError::BadRequest(detail)) => detail,
            other => panic!("expected 400, got {other:?}"),
        }
    }

    #[test]
    fn names_come_from_the_struct_with_aliases() {
        assert_eq!(param_names::<WithAlias>(), ["club", "club_id", "season"]);
        assert_eq!(param_names::<Pagination>(), ["page", "page_size"]);
    }

    #[test]
    fn unknown_parameters_are_named_with_what_is_accepted() {
        let accepted: &[&[&str]] = &[param_names::<WithAlias>(), param_names::<Pagination>()];
        assert!(QueryPairs::parse("club=1&season=2&page=3").and_then(|q| q.refuse_unknown(accepted)).is_ok());
        let message = detail(QueryPairs::parse("club=1&colour=Red").and_then(|q| q.refuse_unknown(accepted)));
        assert_eq!(
            message,
            "unknown query parameter \"colour\": this route accepts club, club_id, season, page, page_size"
        );
        let message = detail(QueryPairs::parse("x=1").and_then(|q| q.refuse_unknown(&[])));
        assert_eq!(message, "unknown query parameter \"x\": this route takes no query parameters");
    }

    #[test]
    fn repeated_values_keep_their_order() {
        let pairs = QueryPairs::parse("c=White&x=1&c=Blue&c=").unwrap_or_default();
        assert_eq!(pairs.all("c").collect::<Vec<_>>(), ["White", "Blue", ""]);
    }
}
