//! What the kits domain tells the cache: its cache types, the cached
//! queries behind its routes, the scopes a change to each of its tables
//! (kits, their link rows, brands, competitions, kit types, colours) makes
//! stale, the scopes an operator may invalidate, and the entries worth
//! warming.

use crate::bulk::bulk_key;
use crate::filters::{club_kits_key, KitFilter};
use crate::model::{BulkRef, KitBulkItem, KitDetail, KitListItem, KitRefs};
use crate::scopes;
use fkapi_cache::{
    CacheType, Cached, CachedQuery, Domain, LoadCtx, OperatorScope, RowChange, Scope, TtlClass, WarmSource, WarmTarget,
};
use fkapi_clubs::{scopes as clubs, Club};
use fkapi_db::PgPool;
use fkapi_web::{json_bytes, warm_target, ApiError, AppContext, Pagination};
use futures::future::BoxFuture;

/// `GET /api/kit-json/{id}` and `GET /api/kits/{id}` (one entry for both); key `kit_json_<id>`.
pub static KIT_JSON: CacheType = CacheType::new("kit_json", "kit_json", TtlClass::VeryLong).serving_stale();
/// `GET /api/kits`; key `kits_club_…_page_size_<n>` (every filter, see [`KitFilter::list_key`]).
pub static KIT_LIST: CacheType = CacheType::new("kits", "kits", TtlClass::Medium).serving_stale();
/// `GET /api/clubs/{id}/kits`; key `club_kits_<id>_season_…`.
pub static CLUB_KITS: CacheType = CacheType::new("club_kits", "club_kits", TtlClass::Medium).serving_stale();
/// `GET /api/kits/bulk`; key `kits_bulk_<slugs>`.
pub static KITS_BULK: CacheType = CacheType::new("kits_bulk", "kits_bulk", TtlClass::Medium).serving_stale();

/// `GET /api/random-kits/`; key `random_kits_seed_<s>_page_<p>_page_size_<n>` (one shuffle per seed).
pub static RANDOM_KITS: CacheType =
    CacheType::new("random_kits", "random_kits", TtlClass::Short).serving_stale().chosen_by_clock();

static CACHE_TYPES: [&CacheType; 5] = [&KIT_JSON, &KIT_LIST, &CLUB_KITS, &KITS_BULK, &RANDOM_KITS];

pub fn domain() -> Domain<AppContext> {
    Domain {
        name: "kits",
        cache_types: &CACHE_TYPES,
        on_change,
        operator_scopes: vec![
            OperatorScope::row("kit", kit_scopes),
            OperatorScope::row("brand", |_, id| Box::pin(async move { Ok(scopes::on_brand_change(id)) })),
            OperatorScope::row("competition", |_, id| Box::pin(async move { Ok(scopes::on_competition_change(id)) })),
            OperatorScope::table("kits", scopes::KITS),
            OperatorScope::table("brands", scopes::BRANDS),
            OperatorScope::table("competitions", scopes::COMPETITIONS),
            OperatorScope::table("kit_types", scopes::KIT_TYPES),
            OperatorScope::table("colors", scopes::COLORS),
        ],
        warm: vec![
            WarmSource { option: "clubs", plan: plan_club_lists },
            WarmSource { option: "kits", plan: plan_newest_kits },
        ],
    }
}

/// What a change notified by the database makes stale. Kit rows and their
/// link rows (`kit_competitions`, `kit_secondary_colors`) are reported as
/// `kits` with the kits' clubs before and after.
fn on_change(change: &RowChange<'_>) -> Option<Vec<Scope>> {
    let per_row = |rule: fn(i32) -> Vec<Scope>| Some(change.ids.iter().flat_map(|id| rule(*id)).collect());
    match change.table {
        "kits" => {
            let mut stale: Vec<Scope> = change.ids.iter().flat_map(|id| scopes::on_kit_change(*id, &[])).collect();
            stale.extend(change.related.iter().map(|club| clubs::club_kits(*club)));
            if change.ids.is_empty() {
                stale.push(scopes::KITS);
            }
            Some(stale)
        }
        "brands" => per_row(scopes::on_brand_change),
        "competitions" => per_row(scopes::on_competition_change),
        "kit_types" => Some(vec![scopes::KIT_TYPES]),
        "colors" => Some(vec![scopes::COLORS]),
        _ => None,
    }
}

/// What an API write of kit `id` bumps: the kit, the kits table, and its
/// club's lists (looked up; a kit that no longer exists has no club).
fn kit_scopes(ctx: &AppContext, id: i32) -> BoxFuture<'_, anyhow::Result<Vec<Scope>>> {
    Box::pin(async move {
        let mut conn = fkapi_db::conn(&ctx.db).await?;
        let club: Vec<i32> = KitRefs::of_kit(&mut conn, id).await?.map(|refs| refs.team_id).into_iter().collect();
        Ok(scopes::on_kit_change(id, &club))
    })
}

fn kit_not_found(kit_id: i32) -> ApiError {
    ApiError::NotFound(format!("Kit with ID {kit_id} not found"))
}

fn club_not_found(club_id: i32) -> ApiError {
    ApiError::NotFound(format!("Club with ID {club_id} not found"))
}

/// Loads one kit's detail in two phases.
///
/// Why two phases (guarantee 1 in docs/ARCHITECTURE.md): the entry must
/// record the generations of every row it shows, read *before* those rows
/// are read. The kit's own scope (`kit:<id>`) is static and already
/// recorded by the cache before this runs; but which club, season, brand
/// and competitions the kit shows is only known from the kit row. So we
/// first resolve those ids with one small query, record their generations
/// with `depend_on`, and only then run the queries that build the
/// response. A write that lands after `depend_on` bumps a recorded
/// generation, so the entry is dead on arrival. A kit moved to another club
/// (or season, brand…) between the two phases bumps `kit:<id>`, recorded
/// before phase one, so ids resolved this way cannot go stale unnoticed;
/// generations read after the building query could.
async fn load_kit_detail(db: PgPool, load: LoadCtx, kit_id: i32) -> Result<Vec<u8>, ApiError> {
    let mut conn = fkapi_db::conn(&db).await?;
    let refs = KitRefs::of_kit(&mut conn, kit_id).await?.ok_or_else(|| kit_not_found(kit_id))?;
    load.depend_on(refs.scopes()).await;
    let kit = KitDetail::load(&mut conn, kit_id).await?.ok_or_else(|| kit_not_found(kit_id))?;
    json_bytes(&kit)
}

/// One kit's detail from the cache.
#[tracing::instrument(skip(ctx))]
pub async fn cached_kit_detail(ctx: &AppContext, kit_id: i32) -> Result<Cached, ApiError> {
    let query = CachedQuery::new(KIT_JSON.key(&[&kit_id], &[])).depends_on([scopes::kit(kit_id)]);
    let db = ctx.db.clone();
    ctx.cache.get_or_load(query, move |load| load_kit_detail(db, load, kit_id)).await
}

/// One page of `GET /api/kits` from the cache.
#[tracing::instrument(skip(ctx))]
pub async fn cached_kit_list(
    ctx: &AppContext,
    filter: KitFilter,
    page: i64,
    page_size: i64,
) -> Result<Cached, ApiError> {
    let query = CachedQuery::new(filter.list_key(page, page_size)).depends_on(filter.scopes());
    let db = ctx.db.clone();
    ctx.cache
        .get_or_load(query, move |_| async move {
            let mut conn = fkapi_db::conn(&db).await?;
            json_bytes(&KitListItem::list(&mut conn, &filter, page, page_size).await?)
        })
        .await
}

/// One page of a club's kits from the cache.
#[tracing::instrument(skip(ctx))]
pub async fn cached_club_kits(
    ctx: &AppContext,
    club_id: i32,
    season: Option<i32>,
    page: i64,
    page_size: i64,
) -> Result<Cached, ApiError> {
    let filter = KitFilter { club: Some(club_id), season, ..KitFilter::default() };
    let query = CachedQuery::new(club_kits_key(club_id, season, page, page_size)).depends_on(filter.scopes());
    let db = ctx.db.clone();
    ctx.cache
        .get_or_load(query, move |_| async move {
            let mut conn = fkapi_db::conn(&db).await?;
            if !Club::exists(&mut conn, club_id).await? {
                return Err(club_not_found(club_id));
            }
            json_bytes(&KitListItem::list(&mut conn, &filter, page, page_size).await?)
        })
        .await
}

/// Loads bulk items in two phases, for the reason given on
/// [`load_kit_detail`]: resolve the kits' club, season and brand ids, record
/// those rows' generations, then build. The static `kits` scope (recorded
/// before this runs) covers any kit row changing between the phases.
async fn load_bulk(db: PgPool, load: LoadCtx, slugs: Vec<String>) -> Result<Vec<u8>, ApiError> {
    let mut conn = fkapi_db::conn(&db).await?;
    let refs = BulkRef::of_slugs(&mut conn, &slugs).await?;
    load.depend_on(BulkRef::scopes(&refs)).await;
    let ids: Vec<i32> = refs.iter().map(|r| r.id).collect();
    json_bytes(&KitBulkItem::load(&mut conn, &ids, &slugs).await?)
}

/// Several kits by slug from the cache.
#[tracing::instrument(skip(ctx))]
pub async fn cached_bulk(ctx: &AppContext, slugs: Vec<String>) -> Result<Cached, ApiError> {
    let query = CachedQuery::new(bulk_key(&slugs)).depends_on([scopes::KITS]);
    let db = ctx.db.clone();
    ctx.cache.get_or_load(query, move |load| load_bulk(db, load, slugs)).await
}

/// For the `count` clubs with most kits: the first page of their kit list
/// and of `/api/kits?club_id=`.
fn plan_club_lists(ctx: &AppContext, count: Option<i64>) -> BoxFuture<'_, anyhow::Result<Vec<WarmTarget>>> {
    Box::pin(async move {
        let mut conn = fkapi_db::conn(&ctx.db).await?;
        let busiest = Club::busiest(&mut conn, count.unwrap_or(0)).await?;
        let (page, page_size) = Pagination::default().resolve()?;
        let mut targets = Vec::with_capacity(busiest.len() * 2);
        for club in busiest {
            let list_ctx = ctx.clone();
            targets.push(warm_target(format!("/api/clubs/{club}/kits"), async move {
                cached_club_kits(&list_ctx, club, None, page, page_size).await
            }));
            let filter_ctx = ctx.clone();
            let filter = KitFilter { club: Some(club), ..KitFilter::default() };
            targets.push(warm_target(format!("/api/kits?club_id={club}"), async move {
                cached_kit_list(&filter_ctx, filter, page, page_size).await
            }));
        }
        Ok(targets)
    })
}

/// The details of the `count` most recently updated kits.
fn plan_newest_kits(ctx: &AppContext, count: Option<i64>) -> BoxFuture<'_, anyhow::Result<Vec<WarmTarget>>> {
    Box::pin(async move {
        let mut conn = fkapi_db::conn(&ctx.db).await?;
        let newest = KitDetail::newest_ids(&mut conn, count.unwrap_or(0)).await?;
        Ok(newest
            .into_iter()
            .map(|id| {
                let ctx = ctx.clone();
                warm_target(format!("/api/kit-json/{id}"), async move { cached_kit_detail(&ctx, id).await })
            })
            .collect())
    })
}
