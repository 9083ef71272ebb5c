//! What the clubs domain tells the cache: its cache type, the scopes a
//! change to the `clubs` table makes stale, the scopes an operator may
//! invalidate, and the entries worth warming.

use crate::model::Club;
use crate::scopes;
use fkapi_cache::{CacheType, Cached, CachedQuery, Domain, OperatorScope, RowChange, TtlClass, WarmSource};
use fkapi_web::{json_bytes, warm_target, ApiError, AppContext};
use futures::future::BoxFuture;

/// `GET /api/clubs/{club_id}`; key `club_<id>`.
pub static CLUB: CacheType = CacheType::new("club", "club", TtlClass::VeryLong).serving_stale();

/// `GET /api/random-clubs/`; key `random_clubs_seed_<s>_page_<p>_page_size_<n>` (one shuffle per seed).
pub static RANDOM_CLUBS: CacheType =
    CacheType::new("random_clubs", "random_clubs", TtlClass::Short).serving_stale().chosen_by_clock();

static CACHE_TYPES: [&CacheType; 2] = [&CLUB, &RANDOM_CLUBS];

pub fn domain() -> Domain<AppContext> {
    Domain {
        name: "clubs",
        cache_types: &CACHE_TYPES,
        on_change,
        operator_scopes: vec![
            // A manual invalidation of a club also drops its kit lists.
            OperatorScope::row("club", |_, id| {
                Box::pin(async move {
                    let mut stale = scopes::on_club_change(id);
                    stale.push(scopes::club_kits(id));
                    Ok(stale)
                })
            }),
            OperatorScope::table("clubs", scopes::CLUBS),
        ],
        warm: vec![WarmSource { option: "clubs", plan: plan_busiest }],
    }
}

fn on_change(change: &RowChange<'_>) -> Option<Vec<fkapi_cache::Scope>> {
    (change.table == "clubs").then(|| change.ids.iter().flat_map(|id| scopes::on_club_change(*id)).collect())
}

fn not_found(club_id: i32) -> ApiError {
    ApiError::NotFound(format!("Club with ID {club_id} not found"))
}

/// One club from the cache, loaded on a miss.
#[tracing::instrument(skip(ctx))]
pub async fn cached_club(ctx: &AppContext, club_id: i32) -> Result<Cached, ApiError> {
    let query = CachedQuery::new(CLUB.key(&[&club_id], &[])).depends_on([scopes::club(club_id)]);
    let db = ctx.db.clone();
    ctx.cache
        .get_or_load(query, move |_| async move {
            let mut conn = fkapi_db::conn(&db).await?;
            let club = Club::find(&mut conn, club_id).await?.ok_or_else(|| not_found(club_id))?;
            json_bytes(&club)
        })
        .await
}

/// The details of the `count` clubs with most kits.
fn plan_busiest(ctx: &AppContext, count: Option<i64>) -> BoxFuture<'_, anyhow::Result<Vec<fkapi_cache::WarmTarget>>> {
    Box::pin(async move {
        let mut conn = fkapi_db::conn(&ctx.db).await?;
        let busiest = Club::busiest(&mut conn, count.unwrap_or(0)).await?;
        Ok(busiest
            .into_iter()
            .map(|id| {
                let ctx = ctx.clone();
                warm_target(format!("/api/clubs/{id}"), async move { cached_club(&ctx, id).await })
            })
            .collect())
    })
}
