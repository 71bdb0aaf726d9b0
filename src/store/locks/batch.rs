//! The lock statements applied to a set of requests at once (group commit):
//! arrays bound once and `unnest`ed, one round trip, one commit, a result row
//! per item carrying its index. Each item is judged exactly as the
//! one-request statement (`acquire`, `end`) judges it; names are distinct
//! within a set, as PostgreSQL cannot change a row twice in one statement.
//!
//! A set changes many rows, so each statement first locks the rows it will
//! change in (namespace, name) order (`ORDER BY ... FOR UPDATE`) and inserts
//! in that order too: two sets in flight at once then wait for each other
//! instead of deadlocking.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::PgPool;

use super::super::fragments::{
    complete_and_wake, live_items, record_events, record_kind_events, renewal_outcome,
};
use super::super::StoreError;
use super::acquire::{attempt, quota_param, AcquireRow};
use super::{audit_account, audit_addr, AcquireOptions, Attempt, LeaseChange, LockRow, NewLease};
use crate::domain::{
    Actor, CompatHolder, Lock, LockName, LockTokenHash, Metadata, NamespaceName, Owner, Ttl,
};

/// One acquire of a set: a newcomer's, or a waiter's later try from its
/// place in the queue; owned so that it can wait for the next statement.
#[derive(Clone)]
pub struct AcquireItem {
    pub namespace: NamespaceName,
    pub name: LockName,
    pub token: LockTokenHash,
    pub owner: Option<Owner>,
    pub metadata: Option<Metadata>,
    pub ttl: Ttl,
    pub compat: Option<CompatHolder>,
    pub actor: Actor,
    pub idempotency_key: Option<String>,
    /// The waiter's place in the queue; `None` for a newcomer.
    pub waiter: Option<i64>,
    /// How long a waiter's place lives without another try.
    pub waiter_lease: Duration,
    pub max_live_locks: Option<u32>,
}

impl AcquireItem {
    pub fn new(lease: &NewLease<'_>, actor: &Actor, idempotency_key: Option<&str>) -> Self {
        Self {
            namespace: lease.namespace.clone(),
            name: lease.name.clone(),
            token: lease.token.clone(),
            owner: lease.owner.cloned(),
            metadata: lease.metadata.cloned(),
            ttl: lease.ttl,
            compat: lease.compat,
            actor: actor.clone(),
            idempotency_key: idempotency_key.map(str::to_owned),
            waiter: None,
            waiter_lease: Duration::ZERO,
            max_live_locks: lease.max_live_locks,
        }
    }

    /// A try from the waiter `place`, keeping its place for `place_lease`.
    pub fn from_place(mut self, place: i64, place_lease: Duration) -> Self {
        self.waiter = Some(place);
        self.waiter_lease = place_lease;
        self
    }

    pub fn options(&self) -> AcquireOptions<'_> {
        AcquireOptions {
            waiter: self.waiter,
            idempotency_key: self.idempotency_key.as_deref(),
            waiter_lease: self.waiter_lease,
        }
    }

    pub fn lease(&self) -> NewLease<'_> {
        NewLease {
            namespace: &self.namespace,
            name: &self.name,
            token: &self.token,
            owner: self.owner.as_ref(),
            metadata: self.metadata.as_ref(),
            ttl: self.ttl,
            compat: self.compat,
            max_live_locks: self.max_live_locks,
        }
    }
}

/// A set's ACQUIRE: `store::locks::acquire::ACQUIRE` for newcomers and
/// waiters, each item on its own lock. A waiter yields only to live waiters
/// queued before it, leaves the queue when granted and renews its place when
/// that is due. An item whose snapshot a concurrent change made stale
/// reports `raced` and is tried again. Grants are counted against each
/// account's `max_live_locks` (`lease_quota_room`, accounts in ascending
/// order, before any lock row is locked), in item order within the set.
pub const ACQUIRE_MANY: &str = concat!(
    r#"
WITH items AS (
    SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::bytea[], $5::bigint[], $6::text[],
                         $7::text[], $8::text[], $9::int[], $10::text[], $11::text[], $12::text[],
                         $13::bytea[], $14::uuid[], $15::text[], $16::bigint[], $17::float8[],
                         $18::int[])
        AS t(idx, namespace, name, token_hash, account_id, key_id, owner, metadata, ttl_seconds,
             request_id, idempotency_key, compat_api, compat_secret_hash, compat_id, client_addr,
             waiter, waiter_lease_ms, max_live)
),
prior AS (
    SELECT i.idx, l.token_hash, l.fencing_token, l.account_id, l.key_id, l.owner, l.metadata,
           l.ttl_seconds, l.acquired_at, l.expires_at, l.compat_api, l.compat_id, l.mode, l.holders
    FROM items i JOIN locks l ON l.namespace = i.namespace AND l.name = i.name
),
ahead AS (
    SELECT i.idx, min(w.expires_at) AS first_lapses
    FROM items i JOIN lock_waiters w ON w.namespace = i.namespace AND w.name = i.name
    WHERE w.expires_at > now() AND (i.waiter IS NULL OR w.id < i.waiter)
    GROUP BY i.idx
),
queue AS (
    SELECT i.idx, count(*) AS waiters
    FROM items i JOIN lock_waiters w ON w.namespace = i.namespace AND w.name = i.name
    WHERE w.expires_at > now()
    GROUP BY i.idx
),
grantable AS (
    SELECT i.idx, i.account_id, i.max_live,
           row_number() OVER (PARTITION BY i.account_id ORDER BY i.idx) AS nth
    FROM items i
    WHERE i.max_live IS NOT NULL
      AND NOT EXISTS (SELECT FROM prior p WHERE p.idx = i.idx AND p.expires_at > now())
      AND NOT EXISTS (SELECT FROM ahead a WHERE a.idx = i.idx)
),
quota AS MATERIALIZED (
    SELECT account_id, lease_quota_room(account_id, max_live, wanted) AS room
    FROM (SELECT account_id, max(max_live) AS max_live, count(*) AS wanted
          FROM grantable GROUP BY account_id ORDER BY account_id) a
),
over_quota AS MATERIALIZED (
    SELECT g.idx FROM grantable g JOIN quota q ON q.account_id = g.account_id WHERE g.nth > q.room
),
lapsed AS (
    SELECT l.namespace, l.name
    FROM items i JOIN locks l ON l.namespace = i.namespace AND l.name = i.name
    WHERE l.expires_at <= now() AND NOT EXISTS (SELECT FROM over_quota o WHERE o.idx = i.idx)
      -- Every account's quota lock is taken before the first row lock.
      AND (SELECT count(*) FROM quota) >= 0
    ORDER BY l.namespace, l.name
    FOR UPDATE OF l
),
taken_over AS (
    UPDATE locks
    SET token_hash = i.token_hash, fencing_token = nextval('fencing_tokens'),
        account_id = i.account_id, key_id = i.key_id, owner = i.owner, metadata = i.metadata::jsonb,
        ttl_seconds = i.ttl_seconds, acquired_at = now(),
        expires_at = now() + i.ttl_seconds * interval '1 second',
        compat_api = i.compat_api, compat_secret_hash = i.compat_secret_hash, compat_id = i.compat_id,
        mode = 'exclusive', holders = NULL
    FROM items i JOIN prior p ON p.idx = i.idx
         JOIN lapsed x ON x.namespace = i.namespace AND x.name = i.name
    WHERE locks.namespace = i.namespace AND locks.name = i.name
      AND locks.fencing_token = p.fencing_token
      AND locks.expires_at <= now()
      AND NOT EXISTS (SELECT FROM ahead a WHERE a.idx = i.idx)
      AND NOT EXISTS (SELECT FROM over_quota o WHERE o.idx = i.idx)
    RETURNING i.idx, locks.fencing_token, locks.owner, locks.metadata, locks.ttl_seconds,
              locks.acquired_at, locks.expires_at,
              p.fencing_token AS lapsed_token, p.account_id AS lapsed_account,
              p.key_id AS lapsed_key, p.owner AS lapsed_owner, p.expires_at AS lapsed_expires_at,
              p.mode AS lapsed_mode, p.holders AS lapsed_holders
),
inserted AS (
    INSERT INTO locks (namespace, name, token_hash, fencing_token, account_id, key_id, owner,
                       metadata, ttl_seconds, acquired_at, expires_at, compat_api,
                       compat_secret_hash, compat_id)
    SELECT i.namespace, i.name, i.token_hash, nextval('fencing_tokens'), i.account_id, i.key_id,
           i.owner, i.metadata::jsonb, i.ttl_seconds, now(),
           now() + i.ttl_seconds * interval '1 second', i.compat_api, i.compat_secret_hash,
           i.compat_id
    FROM items i
    WHERE NOT EXISTS (SELECT FROM prior p WHERE p.idx = i.idx)
      AND NOT EXISTS (SELECT FROM ahead a WHERE a.idx = i.idx)
      AND NOT EXISTS (SELECT FROM over_quota o WHERE o.idx = i.idx)
      AND (SELECT count(*) FROM quota) >= 0
    ORDER BY i.namespace, i.name
    ON CONFLICT (namespace, name) DO NOTHING
    RETURNING namespace, name, fencing_token, owner, metadata, ttl_seconds, acquired_at, expires_at
),
granted AS (
    SELECT idx, fencing_token, owner, metadata, ttl_seconds, acquired_at, expires_at FROM taken_over
    UNION ALL
    SELECT i.idx, n.fencing_token, n.owner, n.metadata, n.ttl_seconds, n.acquired_at, n.expires_at
    FROM inserted n JOIN items i ON i.namespace = n.namespace AND i.name = n.name
),
recorded AS (
    "#,
    record_kind_events!(),
    r#"
    SELECT now(), 'expired', i.namespace, i.name, t.lapsed_token, t.lapsed_account, t.lapsed_key,
           t.lapsed_owner, t.lapsed_expires_at, i.request_id, NULL::bytea, NULL::inet, NULL::text,
           'lock', NULL::uuid,
           'exclusive'
    FROM taken_over t JOIN items i ON i.idx = t.idx
    WHERE t.lapsed_expires_at <> '-infinity' AND t.lapsed_mode = 'exclusive'
    UNION ALL
    SELECT now(), 'expired', i.namespace, i.name, h.fencing_token, h.account_id, h.key_id, h.owner,
           h.expires_at, i.request_id, NULL, NULL, NULL, 'lock', NULL, 'shared'
    FROM taken_over t JOIN items i ON i.idx = t.idx, unnest(t.lapsed_holders) h
    WHERE t.lapsed_mode = 'shared'
    UNION ALL
    SELECT now(), 'acquired', i.namespace, i.name, g.fencing_token, i.account_id, i.key_id, g.owner,
           g.expires_at, i.request_id, i.token_hash, i.client_addr::inet, NULL, 'lock', NULL,
           'exclusive'
    FROM granted g JOIN items i ON i.idx = g.idx
    RETURNING namespace, name
),
dequeued AS (
    DELETE FROM lock_waiters w
    USING granted g JOIN items i ON i.idx = g.idx
    WHERE w.id = i.waiter
),
kept_in_queue AS (
    UPDATE lock_waiters w
    SET expires_at = least(now() + i.waiter_lease_ms * interval '1 millisecond', w.deadline)
    FROM items i
    WHERE w.id = i.waiter AND NOT EXISTS (SELECT FROM granted g WHERE g.idx = i.idx)
      AND w.expires_at < now() + i.waiter_lease_ms * interval '1 millisecond' / 2
),
completed AS (
    UPDATE idempotency_records r
    SET completed_at = now(), fencing_token = g.fencing_token
    FROM granted g JOIN items i ON i.idx = g.idx
    WHERE r.key_id = i.key_id AND r.idempotency_key = i.idempotency_key
),
live AS (
    SELECT * FROM prior WHERE expires_at > now()
)
SELECT CASE WHEN g.idx IS NOT NULL THEN 'granted'
            WHEN p.idx IS NOT NULL THEN 'held'
            WHEN a.idx IS NOT NULL THEN 'queued'
            WHEN i.idx IN (SELECT idx FROM over_quota) THEN 'over_quota'
            ELSE 'raced' END AS outcome,
       CASE WHEN g.idx IS NOT NULL THEN 0
            WHEN p.idx IS NOT NULL THEN extract(epoch FROM p.expires_at - now()) * 1000
            ELSE coalesce(extract(epoch FROM a.first_lapses - now()) * 1000, 0)
       END::float8 AS wake_in_ms,
       coalesce(q.waiters, 0) AS waiters,
       coalesce(p.token_hash = i.token_hash, false) AS ours,
       (SELECT count(*) FROM recorded e WHERE e.namespace = i.namespace AND e.name = i.name) AS events,
       i.idx, i.namespace, i.name,
       coalesce(g.fencing_token, p.fencing_token) AS fencing_token,
       CASE WHEN g.idx IS NOT NULL THEN i.account_id ELSE p.account_id END AS account_id,
       CASE WHEN g.idx IS NOT NULL THEN g.owner ELSE p.owner END AS owner,
       CASE WHEN g.idx IS NOT NULL THEN g.metadata ELSE p.metadata END AS metadata,
       coalesce(g.ttl_seconds, p.ttl_seconds) AS ttl_seconds,
       coalesce(g.acquired_at, p.acquired_at) AS acquired_at,
       coalesce(g.expires_at, p.expires_at) AS expires_at,
       CASE WHEN g.idx IS NOT NULL THEN i.compat_api ELSE p.compat_api END AS compat_api,
       CASE WHEN g.idx IS NOT NULL THEN i.compat_id ELSE p.compat_id END AS compat_id,
       CASE WHEN g.idx IS NOT NULL THEN 'exclusive' ELSE p.mode END AS mode
FROM items i
LEFT JOIN granted g ON g.idx = i.idx
LEFT JOIN live p ON p.idx = i.idx
LEFT JOIN ahead a ON a.idx = i.idx
LEFT JOIN queue q ON q.idx = i.idx
"#
);

#[derive(sqlx::FromRow)]
struct IndexedAcquireRow {
    idx: i32,
    #[sqlx(flatten)]
    row: AcquireRow,
}

/// Runs a set of acquires in one statement. Each item's attempt, in order;
/// `None` for one that lost a race with a concurrent change and should be
/// tried again.
pub async fn acquire_many(pool: &PgPool, items: &[&AcquireItem]) -> Result<Vec<Option<Attempt>>, StoreError> {
    let texts = |f: fn(&AcquireItem) -> Option<&str>| items.iter().map(|i| f(i)).collect::<Vec<_>>();
    let compat = |i: &AcquireItem| i.compat;
    let rows: Vec<IndexedAcquireRow> = sqlx::query_as(ACQUIRE_MANY)
        .bind((0..items.len() as i32).collect::<Vec<_>>())
        .bind(texts(|i| Some(i.namespace.as_str())))
        .bind(texts(|i| Some(i.name.as_str())))
        .bind(items.iter().map(|i| &i.token.0[..]).collect::<Vec<_>>())
        .bind(items.iter().map(|i| audit_account(&i.actor)).collect::<Vec<_>>())
        .bind(texts(|i| Some(i.actor.audit_key_id())))
        .bind(texts(|i| i.owner.as_ref().map(Owner::as_str)))
        .bind(texts(|i| i.metadata.as_ref().map(|m| m.as_raw().get())))
        .bind(items.iter().map(|i| i.ttl.seconds() as i32).collect::<Vec<_>>())
        .bind(texts(|i| i.actor.request_id.as_deref()))
        .bind(texts(|i| i.idempotency_key.as_deref()))
        .bind(texts(|i| i.compat.and_then(|c| c.api.column())))
        .bind(
            items
                .iter()
                .map(|i| compat(i).and_then(|c| c.secret_hash).map(|h| h.to_vec()))
                .collect::<Vec<_>>(),
        )
        .bind(items.iter().map(|i| compat(i).and_then(|c| c.mutex_id)).collect::<Vec<_>>())
        .bind(items.iter().map(|i| audit_addr(&i.actor)).collect::<Vec<_>>())
        .bind(items.iter().map(|i| i.waiter).collect::<Vec<_>>())
        .bind(items.iter().map(|i| i.waiter_lease.as_millis() as f64).collect::<Vec<_>>())
        .bind(items.iter().map(|i| i.max_live_locks.map(quota_param)).collect::<Vec<_>>())
        .fetch_all(pool)
        .await?;
    let mut attempts: Vec<Option<Attempt>> = (0..items.len()).map(|_| None).collect();
    for IndexedAcquireRow { idx, row } in rows {
        if row.outcome != "raced" {
            attempts[idx as usize] = Some(attempt(row));
        }
    }
    Ok(attempts)
}

/// One renew or release of a set, or the lease a handover ends with the next
/// lease's length (`store::handover::HandoverItem`): a native lease's, by
/// its lock token, owned so that it can wait in a queue for the next
/// statement.
#[derive(Clone)]
pub struct ChangeItem {
    pub namespace: NamespaceName,
    pub name: LockName,
    pub token: LockTokenHash,
    pub ttl: Option<Ttl>,
    pub actor: Actor,
    pub idempotency_key: Option<String>,
}

impl ChangeItem {
    /// `None` unless the change is proved by a lock token: the set
    /// statements serve the native API's renewals, releases and handovers.
    pub fn new(change: &LeaseChange<'_>, ttl: Option<Ttl>) -> Option<Self> {
        Some(Self {
            namespace: change.namespace.clone(),
            name: change.name.clone(),
            token: change.proof.token()?.clone(),
            ttl,
            actor: change.actor.clone(),
            idempotency_key: change.idempotency_key.map(str::to_owned),
        })
    }

    pub fn change(&self) -> LeaseChange<'_> {
        let change = LeaseChange::by_token(&self.namespace, &self.name, &self.token, &self.actor);
        LeaseChange { idempotency_key: self.idempotency_key.as_deref(), ..change }
    }
}

/// The items of a set of renewals, releases or handovers, as
/// `bind_changes` binds them ($1-$10); a kind that binds more after them
/// names their arrays and columns.
macro_rules! change_items {
    () => {
        $crate::store::locks::batch::change_items!("", "")
    };
    ($arrays:literal, $columns:literal) => {
        concat!(
            "
WITH items AS (
    SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::bytea[], $5::int[], $6::bigint[],
                         $7::text[], $8::text[], $9::text[], $10::text[]",
            $arrays,
            ")
        AS t(idx, namespace, name, token_hash, ttl_seconds, account_id, key_id, request_id,
             client_addr, idempotency_key",
            $columns,
            ")
),"
        )
    };
}

pub(crate) use change_items;

/// A set's RENEW (`store::locks::end::RENEW`).
pub const RENEW_MANY: &str = concat!(
    change_items!(),
    r#"
held AS (
    SELECT l.namespace, l.name
    FROM items i JOIN locks l ON l.namespace = i.namespace AND l.name = i.name
    WHERE l.token_hash = i.token_hash AND l.expires_at > now()
    ORDER BY l.namespace, l.name
    FOR UPDATE OF l
),
renewed AS (
    UPDATE locks
    SET ttl_seconds = coalesce(i.ttl_seconds, locks.ttl_seconds),
        expires_at = now() + coalesce(i.ttl_seconds, locks.ttl_seconds) * interval '1 second'
    FROM items i JOIN held h ON h.namespace = i.namespace AND h.name = i.name
    WHERE locks.namespace = i.namespace AND locks.name = i.name AND locks.token_hash = i.token_hash
      AND locks.expires_at > now()
    RETURNING i.idx, locks.namespace, locks.name, locks.fencing_token, locks.account_id,
              locks.owner, locks.metadata, locks.ttl_seconds, locks.acquired_at, locks.expires_at,
              locks.compat_api, locks.compat_id
),
recorded AS (
    "#,
    record_events!(),
    r#"
    SELECT now(), 'renewed', r.namespace, r.name, r.fencing_token, i.account_id, i.key_id, r.owner,
           r.expires_at, i.request_id, NULL, i.client_addr::inet, NULL
    FROM renewed r JOIN items i ON i.idx = r.idx
),
completed AS (
    UPDATE idempotency_records x
    SET completed_at = now(), fencing_token = r.fencing_token, outcome = "#,
    renewal_outcome!(),
    r#"
    FROM renewed r JOIN items i ON i.idx = r.idx
    WHERE x.key_id = i.key_id AND x.idempotency_key = i.idempotency_key
)
SELECT * FROM renewed
"#
);

/// A set's RELEASE (`store::locks::end::RELEASE`), waking the waiters of
/// the locks that have any.
pub const RELEASE_MANY: &str = concat!(
    change_items!(),
    live_items!(),
    r#"
released AS (
    UPDATE locks
    SET expires_at = '-infinity'
    FROM live v JOIN items i ON i.idx = v.idx
    WHERE locks.namespace = i.namespace AND locks.name = i.name
      AND locks.expires_at > now() AND locks.fencing_token = v.fencing_token
    RETURNING i.idx, locks.namespace, locks.name, locks.fencing_token, locks.account_id,
              locks.owner, locks.metadata, locks.ttl_seconds, locks.acquired_at, v.expires_at,
              locks.compat_api, locks.compat_id
),
recorded AS (
    "#,
    record_events!(),
    r#"
    SELECT now(), 'released', r.namespace, r.name, r.fencing_token, i.account_id, i.key_id, r.owner,
           r.expires_at, i.request_id, NULL, i.client_addr::inet, NULL
    FROM released r JOIN items i ON i.idx = r.idx
),"#,
    complete_and_wake!("released")
);

#[derive(sqlx::FromRow)]
pub(crate) struct IndexedLockRow {
    idx: i32,
    #[sqlx(flatten)]
    row: LockRow,
}

/// Runs a set of renewals (`RENEW_MANY`) or releases (`RELEASE_MANY`) in one
/// statement: each item's lease as changed, in order; `None` where the token
/// held no live lease.
pub async fn change_many(
    pool: &PgPool,
    statement: &'static str,
    items: &[&ChangeItem],
) -> Result<Vec<Option<Lock>>, StoreError> {
    let rows = bind_changes(sqlx::query_as(statement), items).fetch_all(pool).await?;
    Ok(by_index(rows, items.len()))
}

type IndexedQuery<'q> = sqlx::query::QueryAs<'q, sqlx::Postgres, IndexedLockRow, sqlx::postgres::PgArguments>;

/// Binds $1-$10 of a set statement that starts with `change_items!`.
pub(crate) fn bind_changes<'q>(query: IndexedQuery<'q>, items: &[&'q ChangeItem]) -> IndexedQuery<'q> {
    let texts = |f: fn(&'q ChangeItem) -> Option<&'q str>| items.iter().map(|i| f(i)).collect::<Vec<_>>();
    query
        .bind((0..items.len() as i32).collect::<Vec<_>>())
        .bind(texts(|i| Some(i.namespace.as_str())))
        .bind(texts(|i| Some(i.name.as_str())))
        .bind(items.iter().map(|i| &i.token.0[..]).collect::<Vec<_>>())
        .bind(items.iter().map(|i| i.ttl.map(|t| t.seconds() as i32)).collect::<Vec<_>>())
        .bind(items.iter().map(|i| audit_account(&i.actor)).collect::<Vec<_>>())
        .bind(texts(|i| Some(i.actor.audit_key_id())))
        .bind(texts(|i| i.actor.request_id.as_deref()))
        .bind(items.iter().map(|i| audit_addr(&i.actor)).collect::<Vec<_>>())
        .bind(texts(|i| i.idempotency_key.as_deref()))
}

/// The lease of each of `items` items, in order, from rows carrying their
/// index; `None` for an item with no row.
pub(crate) fn by_index(rows: Vec<IndexedLockRow>, items: usize) -> Vec<Option<Lock>> {
    let mut by_index: HashMap<i32, Lock> = rows.into_iter().map(|r| (r.idx, r.row.into())).collect();
    (0..items as i32).map(|i| by_index.remove(&i)).collect()
}
