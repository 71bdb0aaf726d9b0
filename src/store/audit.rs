//! Reading the audit trail: filtered, keyset-paged searches of `lock_events`.
//!
//! # Why pages are exact
//!
//! Events are ordered by `(occurred_at, id)`, which is unique and never
//! changes, and a cursor is the position of the last event a page returned.
//! That alone is not enough: `occurred_at` is the writing transaction's start
//! (`now()`) and `id` comes from a sequence, but transactions commit in
//! another order than they start. An event stamped 10:00:00.001 may become
//! visible after one stamped 10:00:00.002 was already returned, and a reader
//! paging forwards would step over it for good.
//!
//! So every page reads only *settled* events: those stamped before the start
//! of the oldest transaction still running in this database (the horizon,
//! read in a statement of its own before the page's query takes its snapshot).
//! An event stamped before the horizon belongs to a transaction that had
//! ended when the horizon was read, so it is visible to the page's snapshot;
//! no event stamped before the horizon can appear later. Hence a page never
//! misses an event that sorts before its last row, and a walk in either order
//! returns every settled event exactly once. Events still being written show
//! up on a later page or request, typically milliseconds later.
//!
//! This rests on every writer stamping `occurred_at` with `now()` (all of
//! Leasehold's statements do) and on no writer's transaction lasting longer
//! than [`WRITER_HORIZON`]: Leasehold's are bounded by the statement timeout.
//! Longer transactions of other programs (a backup, an idle `psql`) are
//! ignored, so that they cannot hold the audit trail back. PostgreSQL shows a
//! session's `xact_start` only to its own role (or to `pg_read_all_stats`):
//! run every replica as one role, or grant that role to it.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder};

use super::StoreError;
use crate::domain::DEFAULT_PAGE_LIMIT;

/// Transactions older than this are assumed not to write audit events.
pub const WRITER_HORIZON_SECONDS: i32 = 60;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Order {
    Asc,
    /// Newest first.
    #[default]
    Desc,
}

/// Where a page ends: the sort key of its last event. Positions order as
/// events do, by `occurred_at` and then `id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub occurred_at: DateTime<Utc>,
    pub id: i64,
}

impl Position {
    /// The last position before `horizon`: every event a page read under
    /// that horizon could return sorts at or before it (times are whole
    /// microseconds, as PostgreSQL keeps them).
    pub fn before(horizon: DateTime<Utc>) -> Self {
        Self { occurred_at: horizon - chrono::TimeDelta::microseconds(1), id: i64::MAX }
    }
}

#[derive(Debug, Clone)]
pub struct AuditQuery {
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// An account by name.
    pub account: Option<String>,
    /// Only this account's events: what a client key may see.
    pub only_account_id: Option<i64>,
    pub key_id: Option<String>,
    pub events: Vec<String>,
    /// Only events of locks, or of semaphores (which may share a name).
    pub kind: Option<&'static str>,
    pub fencing_token: Option<i64>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub order: Order,
    pub after: Option<Position>,
    pub limit: i64,
}

/// Every event, newest first, a default page at a time. Not derived: a
/// derived `limit` would be 0, a page of nothing.
impl Default for AuditQuery {
    fn default() -> Self {
        Self {
            namespace: None,
            name: None,
            account: None,
            only_account_id: None,
            key_id: None,
            events: Vec::new(),
            kind: None,
            fencing_token: None,
            since: None,
            until: None,
            order: Order::default(),
            after: None,
            limit: DEFAULT_PAGE_LIMIT,
        }
    }
}

/// One audit event as support sees it: never a key or a lock token.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct AuditEvent {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub event: String,
    pub namespace: String,
    pub name: String,
    pub fencing_token: i64,
    pub account_id: i64,
    pub account: Option<String>,
    /// The acting key's public id (for `expired`, the lapsed holder's).
    pub key_id: String,
    pub owner: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub request_id: Option<String>,
    /// Why an admin force-released the lease.
    pub reason: Option<String>,
    /// `lock` or `semaphore`.
    pub kind: String,
    /// `exclusive` or `shared` (a semaphore's permits are shared).
    pub mode: String,
    /// The lock set a member's event belongs to.
    pub set_id: Option<uuid::Uuid>,
    /// A `verified` event's note: what the resource wrote under the lease.
    pub note: Option<String>,
}

impl AuditEvent {
    pub fn position(&self) -> Position {
        Position { occurred_at: self.occurred_at, id: self.id }
    }
}

pub struct Page {
    pub events: Vec<AuditEvent>,
    /// The settled horizon the page was read under: a page with fewer
    /// events than its limit holds every matching event up to
    /// `Position::before(horizon)`.
    pub horizon: DateTime<Utc>,
    /// Where the next page starts: when there are more events, and after
    /// any non-empty ascending page.
    pub next: Option<Position>,
}

/// The settled horizon: see the module documentation.
pub async fn horizon(pool: &PgPool) -> Result<DateTime<Utc>, StoreError> {
    let horizon = sqlx::query_scalar(
        "SELECT least(now(), min(xact_start)) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()
           AND backend_type = 'client backend'
           AND xact_start > now() - make_interval(secs => $1)",
    )
    .bind(WRITER_HORIZON_SECONDS)
    .fetch_one(pool)
    .await?;
    Ok(horizon)
}

/// One page of events matching `query`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn search(pool: &PgPool, query: &AuditQuery) -> Result<Page, StoreError> {
    let horizon = horizon(pool).await?;
    let mut builder = QueryBuilder::new("");
    push_search(&mut builder, query, horizon);
    let mut events: Vec<AuditEvent> = builder.build_query_as().fetch_all(pool).await?;
    let more = events.len() as i64 > query.limit;
    events.truncate(query.limit as usize);
    // Ascending pages lead to where new events arrive, so they always say
    // where to go on from; a follower stops at an empty page and retries later.
    let next = if more || query.order == Order::Asc { events.last().map(AuditEvent::position) } else { None };
    Ok(Page { events, horizon, next })
}

/// An event as searches return it.
const SELECT_EVENTS: &str = "SELECT e.id, e.occurred_at, e.event, e.namespace, e.name, e.fencing_token, \
     e.account_id, a.name AS account, e.key_id, e.owner, e.expires_at, e.request_id, e.reason, e.kind, \
     e.mode, e.set_id, e.note FROM lock_events e LEFT JOIN accounts a ON a.id = e.account_id";

/// The event at `at`, as a search would return it (webhooks deliver it).
pub async fn event_at(pool: &PgPool, at: Position) -> Result<Option<AuditEvent>, StoreError> {
    let sql = format!("{SELECT_EVENTS} WHERE e.occurred_at = $1 AND e.id = $2");
    Ok(sqlx::query_as(&sql).bind(at.occurred_at).bind(at.id).fetch_optional(pool).await?)
}

/// Appends the search statement to `builder`, every value a bind parameter.
/// It fetches one event more than the limit, to tell whether a next page
/// exists. Public for the benchmark, which EXPLAINs it.
pub fn push_search(builder: &mut QueryBuilder<'_, Postgres>, query: &AuditQuery, horizon: DateTime<Utc>) {
    builder.push(SELECT_EVENTS).push(" WHERE e.occurred_at < ");
    builder.push_bind(horizon);
    push_filters(builder, query);
    let (cmp, dir) = match query.order {
        Order::Asc => (">", "ASC"),
        Order::Desc => ("<", "DESC"),
    };
    if let Some(after) = query.after {
        // The plain bound lets the planner skip whole partitions; the row
        // comparison is the exact keyset condition, an index range.
        builder.push(format_args!(" AND e.occurred_at {cmp}= ")).push_bind(after.occurred_at);
        builder.push(format_args!(" AND (e.occurred_at, e.id) {cmp} ("));
        builder.push_bind(after.occurred_at).push(", ").push_bind(after.id).push(")");
    }
    builder.push(format_args!(" ORDER BY e.occurred_at {dir}, e.id {dir} LIMIT "));
    builder.push_bind(query.limit + 1);
}

fn push_filters(builder: &mut QueryBuilder<'_, Postgres>, query: &AuditQuery) {
    if let Some(namespace) = &query.namespace {
        builder.push(" AND e.namespace = ").push_bind(namespace.clone());
    }
    if let Some(kind) = query.kind {
        builder.push(" AND e.kind = ").push_bind(kind);
    }
    if let Some(name) = &query.name {
        builder.push(" AND e.name = ").push_bind(name.clone());
    }
    if let Some(account) = &query.account {
        builder.push(" AND e.account_id = (SELECT id FROM accounts WHERE name = ");
        builder.push_bind(account.clone()).push(")");
    }
    if let Some(account_id) = query.only_account_id {
        builder.push(" AND e.account_id = ").push_bind(account_id);
    }
    if let Some(key_id) = &query.key_id {
        builder.push(" AND e.key_id = ").push_bind(key_id.clone());
    }
    if !query.events.is_empty() {
        builder.push(" AND e.event = ANY(").push_bind(query.events.clone()).push(")");
    }
    if let Some(token) = query.fencing_token {
        builder.push(" AND e.fencing_token = ").push_bind(token);
    }
    if let Some(since) = query.since {
        builder.push(" AND e.occurred_at >= ").push_bind(since);
    }
    if let Some(until) = query.until {
        builder.push(" AND e.occurred_at < ").push_bind(until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_position_before_a_horizon_follows_every_earlier_event_and_precedes_any_at_it() {
        let horizon = DateTime::from_timestamp_micros(1_795_000_000_000_000).unwrap();
        let earlier = horizon - chrono::TimeDelta::microseconds(1);

        let before = Position::before(horizon);

        assert!(Position { occurred_at: earlier, id: i64::MAX - 1 } < before);
        assert!(before < Position { occurred_at: horizon, id: 1 });
    }
}
