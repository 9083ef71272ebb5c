//! What the search domain tells the cache: its five cache types and its
//! warm targets (the most searched keywords). It owns no table: a cached
//! search goes stale through the table scopes of what it shows.

use crate::keyword::Keyword;
use crate::routes::cached_search;
use crate::targets::{
    Brands, Clubs, Competitions, Kits, Search, Seasons, SEARCH_BRANDS, SEARCH_CLUBS, SEARCH_COMPETITIONS, SEARCH_KITS,
    SEARCH_SEASONS,
};
use fkapi_cache::{CacheType, Domain, WarmSource, WarmTarget};
use fkapi_web::{warm_target, AppContext};
use futures::future::BoxFuture;

static CACHE_TYPES: [&CacheType; 5] =
    [&SEARCH_CLUBS, &SEARCH_BRANDS, &SEARCH_COMPETITIONS, &SEARCH_SEASONS, &SEARCH_KITS];

/// Keywords warmed per search.
const WARM_KEYWORDS: usize = 20;

pub fn domain() -> Domain<AppContext> {
    Domain {
        name: "search",
        cache_types: &CACHE_TYPES,
        on_change: |_| None,
        operator_scopes: Vec::new(),
        warm: vec![WarmSource { option: "search", plan: plan_popular }],
    }
}

fn plan_popular(ctx: &AppContext, _: Option<i64>) -> BoxFuture<'_, anyhow::Result<Vec<WarmTarget>>> {
    Box::pin(async move {
        let mut targets = popular::<Clubs>(ctx).await;
        targets.extend(popular::<Brands>(ctx).await);
        targets.extend(popular::<Competitions>(ctx).await);
        targets.extend(popular::<Seasons>(ctx).await);
        targets.extend(popular::<Kits>(ctx).await);
        Ok(targets)
    })
}

/// The most searched keywords of one search (counted by its route), or
/// its defaults when nobody has searched yet.
async fn popular<S: Search + 'static>(ctx: &AppContext) -> Vec<WarmTarget> {
    let mut keywords = ctx.cache.top_popular(S::CACHE_TYPE.name, WARM_KEYWORDS).await;
    if keywords.is_empty() {
        keywords = S::DEFAULT_KEYWORDS.iter().map(ToString::to_string).collect();
    }
    keywords
        .into_iter()
        .filter_map(|text| Keyword::parse(Some(&text)).ok())
        .map(|keyword| {
            let ctx = ctx.clone();
            let label = format!("{} {:?}", S::CACHE_TYPE.name, keyword.as_str());
            warm_target(label, async move { cached_search::<S>(&ctx, keyword).await })
        })
        .collect()
}
