//! What the seasons domain tells the cache: its cache type, the scopes a
//! change to the `seasons` table makes stale, the scopes an operator may
//! invalidate, and the entries worth warming.

use crate::model::SeasonSummary;
use crate::scopes;
use fkapi_cache::{
    CacheType, Cached, CachedQuery, Domain, OperatorScope, RowChange, Scope, TtlClass, WarmSource, WarmTarget,
};
use fkapi_clubs::{scopes as clubs, Club};
use fkapi_web::{json_bytes, warm_target, ApiError, AppContext};
use futures::future::BoxFuture;

/// `GET /api/seasons?club_id=`; FKApi's key `season_club_<id>`.
pub static SEASONS: CacheType = CacheType::new("seasons", "season", TtlClass::Long).serving_stale();

static CACHE_TYPES: [&CacheType; 1] = [&SEASONS];

pub fn domain() -> Domain<AppContext> {
    Domain {
        name: "seasons",
        cache_types: &CACHE_TYPES,
        on_change,
        operator_scopes: vec![
            OperatorScope::row("season", |_, id| Box::pin(async move { Ok(scopes::on_season_change(id)) })),
            OperatorScope::table("seasons", scopes::SEASONS),
        ],
        warm: vec![WarmSource { option: "seasons", plan: plan_busiest }],
    }
}

fn on_change(change: &RowChange<'_>) -> Option<Vec<Scope>> {
    (change.table == "seasons").then(|| change.ids.iter().flat_map(|id| scopes::on_season_change(*id)).collect())
}

/// The seasons a club has kits in, from the cache. The entry goes stale
/// when the club row, the club's set of kits, or any season's text changes.
#[tracing::instrument(skip(ctx))]
pub async fn cached_seasons(ctx: &AppContext, club_id: i32) -> Result<Cached, ApiError> {
    let query = CachedQuery::new(SEASONS.key(&[&"club", &club_id], &[])).depends_on([
        clubs::club(club_id),
        clubs::club_kits(club_id),
        scopes::SEASONS,
    ]);
    let db = ctx.db.clone();
    ctx.cache
        .get_or_load(query, move |_| async move {
            let mut conn = fkapi_db::conn(&db).await?;
            if !Club::exists(&mut conn, club_id).await? {
                return Err(ApiError::NotFound(format!("Club with ID {club_id} not found")));
            }
            json_bytes(&SeasonSummary::of_club(&mut conn, club_id).await?)
        })
        .await
}

/// The seasons lists of the `count` clubs with most kits.
fn plan_busiest(ctx: &AppContext, count: Option<i64>) -> BoxFuture<'_, anyhow::Result<Vec<WarmTarget>>> {
    Box::pin(async move {
        let mut conn = fkapi_db::conn(&ctx.db).await?;
        let busiest = Club::busiest(&mut conn, count.unwrap_or(0)).await?;
        Ok(busiest
            .into_iter()
            .map(|id| {
                let ctx = ctx.clone();
                warm_target(format!("/api/seasons?id={id}"), async move { cached_seasons(&ctx, id).await })
            })
            .collect())
    })
}
