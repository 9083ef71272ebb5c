//! Users and collection entries: their JSON shapes and queries.

use crate::token::TokenHash;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::RunQueryDsl;
use fkapi_db::schema::{clubs, collection_entries, kits, seasons, users};
use fkapi_db::PgConn;
use fkapi_kits::model::{list_columns, ListRow};
use fkapi_kits::KitListItem;
use fkapi_web::PageLinks;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

/// A user as any read shows it: never the token, nor its hash.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize, ToSchema)]
#[diesel(table_name = users)]
pub struct User {
    #[schema(example = 1)]
    pub id: i32,
    #[schema(example = "kit_collector")]
    pub username: String,
    pub created_at: DateTime<Utc>,
}

/// The answer to a user's creation or token rotation: the only time the
/// token is ever shown. Its `Debug` leaves the token out.
#[derive(Clone, Serialize, ToSchema)]
pub struct IssuedToken {
    #[schema(example = 1)]
    pub id: i32,
    #[schema(example = "kit_collector")]
    pub username: String,
    /// 64 hex characters; send it as `Authorization: Bearer <token>`. Store
    /// it now: it cannot be shown again, only replaced.
    #[schema(example = "3f9a…(64 hex characters)")]
    pub token: String,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken").field("id", &self.id).field("username", &self.username).finish_non_exhaustive()
    }
}

/// Body of POST /api/users.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// 3 to 50 of a-z, 0-9, `_`, `.`, `-`; unique.
    #[validate(custom(function = "validate_username"))]
    #[schema(example = "kit_collector")]
    pub username: String,
}

/// The database CHECK on `users.username`, checked first for a clear 422.
pub fn validate_username(value: &str) -> Result<(), ValidationError> {
    let ok = (3..=50).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new("username").with_message("must be 3 to 50 of a-z, 0-9, _, . and -".into()))
    }
}

/// Shirt sizes a collection entry may record.
pub const SIZES: &[&str] = &["XS", "S", "M", "L", "XL", "XXL", "XXXL"];
/// Conditions a collection entry may record.
pub const CONDITIONS: &[&str] = &["new", "excellent", "good", "fair", "poor"];

fn validate_size(value: &str) -> Result<(), ValidationError> {
    if SIZES.contains(&value) {
        Ok(())
    } else {
        Err(ValidationError::new("size").with_message(format!("must be one of {}", SIZES.join(", ")).into()))
    }
}

fn validate_condition(value: &str) -> Result<(), ValidationError> {
    if CONDITIONS.contains(&value) {
        Ok(())
    } else {
        Err(ValidationError::new("condition").with_message(format!("must be one of {}", CONDITIONS.join(", ")).into()))
    }
}

/// PostgreSQL text cannot hold NUL; refuse it here rather than fail there.
fn validate_notes(value: &str) -> Result<(), ValidationError> {
    if value.contains('\0') {
        Err(ValidationError::new("notes").with_message("must not contain NUL characters".into()))
    } else {
        Ok(())
    }
}

impl User {
    pub async fn find(conn: &mut PgConn, id: i32) -> QueryResult<Option<User>> {
        users::table.find(id).select(User::as_select()).first(conn).await.optional()
    }

    pub async fn exists(conn: &mut PgConn, id: i32) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(users::table.find(id))).get_result(conn).await
    }

    pub async fn insert(conn: &mut PgConn, username: &str, hash: &TokenHash) -> QueryResult<User> {
        diesel::insert_into(users::table)
            .values((users::username.eq(username), users::token_hash.eq(hash.as_slice())))
            .returning(User::as_returning())
            .get_result(conn)
            .await
    }

    /// Replaces the token hash; returns the user and the hash it replaced
    /// (`None` when there is no such user).
    pub async fn rotate(conn: &mut PgConn, id: i32, hash: &TokenHash) -> QueryResult<Option<(User, Vec<u8>)>> {
        // The old hash is only used to evict the limiter's cache entry; a
        // concurrent rotation racing this read costs at most that cache's
        // TTL, never access (routes check the database).
        let old: Option<Vec<u8>> = users::table.find(id).select(users::token_hash).first(conn).await.optional()?;
        let Some(old) = old else { return Ok(None) };
        let user = diesel::update(users::table.find(id))
            .set(users::token_hash.eq(hash.as_slice()))
            .returning(User::as_returning())
            .get_result(conn)
            .await
            .optional()?;
        Ok(user.map(|user| (user, old)))
    }
}

/// Body of POST /api/user-collection/{user_id}/kits.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddKit {
    #[validate(range(min = 1))]
    #[schema(example = 1)]
    pub kit_id: i32,
    /// XS, S, M, L, XL, XXL or XXXL.
    #[validate(custom(function = "validate_size"))]
    #[schema(example = "L")]
    pub size: Option<String>,
    /// new, excellent, good, fair or poor.
    #[validate(custom(function = "validate_condition"))]
    #[schema(example = "excellent")]
    pub condition: Option<String>,
    #[validate(length(max = 500), custom(function = "validate_notes"))]
    #[schema(example = "Signed by the squad")]
    pub notes: Option<String>,
}

/// One kit in a collection: the kit's list fields plus the entry's own.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CollectionEntry {
    #[serde(flatten)]
    pub kit: KitListItem,
    #[schema(example = "L")]
    pub size: Option<String>,
    #[schema(example = "excellent")]
    pub condition: Option<String>,
    pub notes: Option<String>,
    pub added_at: DateTime<Utc>,
}

/// `data` of a collection page.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CollectionData {
    /// Always true: FKApi's flag that the collection was read.
    pub success: bool,
    pub entries: Vec<CollectionEntry>,
    /// Entries in the whole collection.
    #[schema(example = 42)]
    pub total_entries: i64,
}

/// `pagination` of a collection page, as FKApi has it: its pagination
/// object plus the page size.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PageInfo {
    #[serde(flatten)]
    pub links: PageLinks,
    #[schema(example = 20)]
    pub page_size: i64,
}

/// FKApi's collection response: `{status, data{success, entries,
/// total_entries}, pagination{…}}`; `status` is `ready`, what FKApi's
/// clients look for in a collection they can read.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CollectionPage {
    #[schema(example = "ready")]
    pub status: &'static str,
    pub data: CollectionData,
    pub pagination: PageInfo,
}

type EntryRow = (ListRow, Option<String>, Option<String>, Option<String>, DateTime<Utc>);

fn entry_from_row((kit, size, condition, notes, added_at): EntryRow) -> CollectionEntry {
    CollectionEntry { kit: KitListItem::from_row(kit), size, condition, notes, added_at }
}

/// Why an entry could not be added.
#[derive(Debug)]
pub enum AddError {
    AlreadyThere,
    NoSuchKit,
    NoSuchUser,
    Query(DieselError),
}

impl From<DieselError> for AddError {
    fn from(err: DieselError) -> Self {
        AddError::Query(err)
    }
}

impl CollectionEntry {
    /// Entries in user `user_id`'s collection.
    pub async fn count(conn: &mut PgConn, user_id: i32) -> QueryResult<i64> {
        collection_entries::table.filter(collection_entries::user_id.eq(user_id)).count().get_result(conn).await
    }

    /// Phase one of a page read: the kit ids on the page, newest first.
    pub async fn page_kit_ids(conn: &mut PgConn, user_id: i32, page: i64, page_size: i64) -> QueryResult<Vec<i32>> {
        collection_entries::table
            .filter(collection_entries::user_id.eq(user_id))
            .order((collection_entries::added_at.desc(), collection_entries::kit_id.asc()))
            .limit(page_size)
            .offset((page - 1) * page_size)
            .select(collection_entries::kit_id)
            .load(conn)
            .await
    }

    /// Phase two: the club and season each of these kits points at.
    pub async fn kit_refs(conn: &mut PgConn, kit_ids: &[i32]) -> QueryResult<Vec<(i32, i32)>> {
        kits::table.filter(kits::id.eq_any(kit_ids)).select((kits::team_id, kits::season_id)).load(conn).await
    }

    /// Phase three: the entries of `user_id` for these kits, built, in page order.
    pub async fn load(conn: &mut PgConn, user_id: i32, kit_ids: &[i32]) -> QueryResult<Vec<CollectionEntry>> {
        let rows: Vec<EntryRow> = collection_entries::table
            .inner_join(kits::table.inner_join(clubs::table).inner_join(seasons::table))
            .filter(collection_entries::user_id.eq(user_id))
            .filter(collection_entries::kit_id.eq_any(kit_ids))
            .order((collection_entries::added_at.desc(), collection_entries::kit_id.asc()))
            .select((
                list_columns(),
                collection_entries::size,
                collection_entries::condition,
                collection_entries::notes,
                collection_entries::added_at,
            ))
            .load(conn)
            .await?;
        Ok(rows.into_iter().map(entry_from_row).collect())
    }

    /// Adds a kit to a collection and returns the new entry.
    pub async fn add(conn: &mut PgConn, user_id: i32, input: &AddKit) -> Result<CollectionEntry, AddError> {
        let inserted = diesel::insert_into(collection_entries::table)
            .values((
                collection_entries::user_id.eq(user_id),
                collection_entries::kit_id.eq(input.kit_id),
                collection_entries::size.eq(input.size.as_deref()),
                collection_entries::condition.eq(input.condition.as_deref()),
                collection_entries::notes.eq(input.notes.as_deref()),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await;
        match inserted {
            Ok(0) => return Err(AddError::AlreadyThere),
            Ok(_) => {}
            Err(DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info)) => {
                return Err(if info.constraint_name().is_some_and(|c| c.contains("user_id")) {
                    AddError::NoSuchUser
                } else {
                    AddError::NoSuchKit
                });
            }
            Err(other) => return Err(other.into()),
        }
        let entry = CollectionEntry::load(conn, user_id, &[input.kit_id]).await?.into_iter().next();
        // Deleted again between the two statements: treat as gone.
        entry.ok_or(AddError::NoSuchKit)
    }

    /// Removes a kit from a collection; false when it was not there.
    pub async fn remove(conn: &mut PgConn, user_id: i32, kit_id: i32) -> QueryResult<bool> {
        Ok(diesel::delete(collection_entries::table.find((user_id, kit_id))).execute(conn).await? > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_database_rule() {
        for good in ["abc", "kit_collector", "a.b-c_9", &"x".repeat(50)] {
            assert!(validate_username(good).is_ok(), "{good}");
        }
        for bad in ["ab", "Upper", "with space", "é-acc", &"x".repeat(51), "semi;colon"] {
            assert!(validate_username(bad).is_err(), "{bad}");
        }
    }
}
