//! Group commit for semaphores: one statement for a set of acquires, or of
//! releases, of different semaphores (`leases::sets`), each judged exactly
//! as the statement for one judges it alone.

use std::time::Duration;

use sqlx::PgPool;

use super::super::fragments::{notify_waiters, record_kind_events};
use super::super::holders::HolderChange;
use super::super::locks::{audit_account, audit_addr};
use super::super::StoreError;
use super::acquire::{attempt, AcquireRow, NewPermit, SemaphoreAttempt};
use crate::domain::{Actor, LockName, LockTokenHash, Metadata, NamespaceName, Owner, SemaphoreLimit, Ttl};

/// A semaphore acquire waiting for its set, owning what it needs.
pub struct PermitItem {
    pub namespace: NamespaceName,
    pub name: LockName,
    pub limit: SemaphoreLimit,
    pub token: LockTokenHash,
    pub owner: Option<Owner>,
    pub metadata: Option<Metadata>,
    pub ttl: Ttl,
    pub idempotency_key: Option<String>,
    pub waiter: Option<i64>,
    pub waiter_lease: Duration,
    pub actor: Actor,
}

impl PermitItem {
    pub fn new(permit: &NewPermit<'_>, actor: &Actor) -> Self {
        Self {
            namespace: permit.namespace.clone(),
            name: permit.name.clone(),
            limit: permit.limit,
            token: permit.token.clone(),
            owner: permit.owner.cloned(),
            metadata: permit.metadata.cloned(),
            ttl: permit.ttl,
            idempotency_key: permit.idempotency_key.map(str::to_owned),
            waiter: permit.waiter,
            waiter_lease: permit.waiter_lease,
            actor: actor.clone(),
        }
    }

    pub fn permit(&self) -> NewPermit<'_> {
        NewPermit {
            namespace: &self.namespace,
            name: &self.name,
            limit: self.limit,
            token: &self.token,
            owner: self.owner.as_ref(),
            metadata: self.metadata.as_ref(),
            ttl: self.ttl,
            idempotency_key: self.idempotency_key.as_deref(),
            waiter: self.waiter,
            waiter_lease: self.waiter_lease,
        }
    }
}

/// `ACQUIRE` for a set of items, each on its own semaphore (`idx` is the
/// item's place in the set). Rows are locked in (namespace, name) order.
const ACQUIRE_MANY: &str = concat!(
    r#"
WITH items AS (
    SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::bytea[], $5::bigint[], $6::text[],
                         $7::text[], $8::text[], $9::int[], $10::text[], $11::int[], $12::text[],
                         $13::text[], $14::bigint[], $15::float8[])
        AS t(idx, namespace, name, token_hash, account_id, key_id, owner, metadata, ttl_seconds,
             request_id, permits, client_addr, idempotency_key, waiter, waiter_lease_ms)
),
current AS (
    SELECT i.idx, s.holders, s.permits
    FROM items i JOIN semaphores s ON s.namespace = i.namespace AND s.name = i.name
    ORDER BY s.namespace, s.name
    FOR UPDATE OF s
),
held AS (
    SELECT c.idx, h AS holder, h.expires_at > now() AS live FROM current c, unnest(c.holders) h
),
live AS (
    SELECT idx, count(*) AS n, min((holder).expires_at) AS first_lapses, max((holder).expires_at) AS last_lapses
    FROM held WHERE live GROUP BY idx
),
ahead AS (
    SELECT i.idx, count(*) AS n, min(w.expires_at) AS first_lapses
    FROM items i JOIN lock_waiters w ON w.namespace = i.namespace AND w.name = 'semaphore/' || i.name
    WHERE w.expires_at > now() AND (i.waiter IS NULL OR w.id < i.waiter)
    GROUP BY i.idx
),
verdict AS (
    SELECT i.idx, c.permits AS live_permits, coalesce(l.n, 0) AS live_n, coalesce(a.n, 0) AS ahead_n,
           least(l.first_lapses, a.first_lapses) AS wake_at, l.last_lapses,
           CASE
               WHEN coalesce(l.n, 0) > 0 AND c.permits <> i.permits THEN 'limit_mismatch'
               WHEN coalesce(l.n, 0) + coalesce(a.n, 0) >= i.permits THEN 'full'
               WHEN c.idx IS NULL THEN 'new'
               ELSE 'granted'
           END AS outcome
    FROM items i
    LEFT JOIN current c ON c.idx = i.idx
    LEFT JOIN live l ON l.idx = i.idx
    LEFT JOIN ahead a ON a.idx = i.idx
),
permit AS (
    SELECT v.idx, ROW(i.token_hash, nextval('fencing_tokens'), i.account_id, i.key_id, i.owner,
                      i.metadata::jsonb, i.ttl_seconds, now(),
                      now() + i.ttl_seconds * interval '1 second')::lease_holder AS h
    FROM verdict v JOIN items i ON i.idx = v.idx
    WHERE v.outcome IN ('new', 'granted')
),
updated AS (
    UPDATE semaphores s
    SET holders = ARRAY(SELECT x.holder FROM held x WHERE x.idx = p.idx AND x.live) || p.h,
        permits = i.permits, expires_at = greatest(v.last_lapses, (p.h).expires_at)
    FROM permit p JOIN items i ON i.idx = p.idx JOIN verdict v ON v.idx = p.idx
    WHERE v.outcome = 'granted' AND s.namespace = i.namespace AND s.name = i.name
    RETURNING p.idx, (p.h).*
),
inserted AS (
    INSERT INTO semaphores (namespace, name, permits, holders, expires_at)
    SELECT i.namespace, i.name, i.permits, ARRAY[p.h], (p.h).expires_at
    FROM permit p JOIN items i ON i.idx = p.idx JOIN verdict v ON v.idx = p.idx
    WHERE v.outcome = 'new'
    ORDER BY i.namespace, i.name
    ON CONFLICT (namespace, name) DO NOTHING
    RETURNING namespace, name, (holders[1]).*
),
granted AS (
    SELECT idx, fencing_token, owner, metadata, ttl_seconds, acquired_at, expires_at FROM updated
    UNION ALL
    SELECT i.idx, n.fencing_token, n.owner, n.metadata, n.ttl_seconds, n.acquired_at, n.expires_at
    FROM inserted n JOIN items i ON i.namespace = n.namespace AND i.name = n.name
),
recorded AS (
"#,
    record_kind_events!(),
    r#"
    SELECT now(), 'expired', i.namespace, i.name, (x.holder).fencing_token, (x.holder).account_id,
           (x.holder).key_id, (x.holder).owner, (x.holder).expires_at, i.request_id, NULL::bytea,
           NULL::inet, NULL::text, 'semaphore', NULL::uuid, 'shared'
    FROM held x JOIN items i ON i.idx = x.idx
    WHERE NOT x.live AND x.idx IN (SELECT idx FROM updated)
    UNION ALL
    SELECT now(), 'acquired', i.namespace, i.name, g.fencing_token, i.account_id, i.key_id, g.owner,
           g.expires_at, i.request_id, i.token_hash, i.client_addr::inet, NULL, 'semaphore', NULL,
           'shared'
    FROM granted g JOIN items i ON i.idx = g.idx
    RETURNING namespace, name
),
dequeued AS (
    DELETE FROM lock_waiters w USING granted g JOIN items i ON i.idx = g.idx WHERE w.id = i.waiter
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
)
SELECT v.idx,
       CASE WHEN v.outcome = 'new' AND g.idx IS NULL THEN 'lost_race' ELSE v.outcome END AS outcome,
       CASE v.outcome WHEN 'limit_mismatch' THEN v.live_permits ELSE i.permits END AS permits,
       v.live_n + CASE WHEN g.idx IS NULL THEN 0 ELSE 1 END AS holders,
       v.ahead_n AS waiters,
       coalesce(extract(epoch FROM v.wake_at - now()) * 1000, 0)::float8 AS wake_in_ms,
       (SELECT count(*) FROM recorded e WHERE e.namespace = i.namespace AND e.name = i.name) AS events,
       g.fencing_token, g.owner, g.metadata, g.ttl_seconds, g.acquired_at, g.expires_at
FROM verdict v JOIN items i ON i.idx = v.idx LEFT JOIN granted g ON g.idx = v.idx
"#
);

#[derive(sqlx::FromRow)]
struct IndexedRow {
    idx: i32,
    #[sqlx(flatten)]
    row: AcquireRow,
}

/// Each item's attempt, in order; `None` for one that lost the race to
/// create its semaphore, to be tried again.
pub async fn acquire_many(
    pool: &PgPool,
    items: &[&PermitItem],
) -> Result<Vec<Option<SemaphoreAttempt>>, StoreError> {
    let column = |f: &dyn Fn(&PermitItem) -> Option<String>| items.iter().map(|i| f(i)).collect::<Vec<_>>();
    let rows: Vec<IndexedRow> = sqlx::query_as(ACQUIRE_MANY)
        .bind((0..items.len() as i32).collect::<Vec<_>>())
        .bind(column(&|i| Some(i.namespace.as_str().to_owned())))
        .bind(column(&|i| Some(i.name.as_str().to_owned())))
        .bind(items.iter().map(|i| i.token.0.to_vec()).collect::<Vec<_>>())
        .bind(items.iter().map(|i| audit_account(&i.actor)).collect::<Vec<_>>())
        .bind(column(&|i| Some(i.actor.audit_key_id().to_owned())))
        .bind(column(&|i| i.owner.as_ref().map(|o| o.as_str().to_owned())))
        .bind(column(&|i| i.metadata.as_ref().map(|m| m.as_raw().get().to_owned())))
        .bind(items.iter().map(|i| i.ttl.seconds() as i32).collect::<Vec<_>>())
        .bind(column(&|i| i.actor.request_id.clone()))
        .bind(items.iter().map(|i| i32::from(i.limit.get())).collect::<Vec<_>>())
        .bind(column(&|i| audit_addr(&i.actor)))
        .bind(column(&|i| i.idempotency_key.clone()))
        .bind(items.iter().map(|i| i.waiter).collect::<Vec<_>>())
        .bind(items.iter().map(|i| i.waiter_lease.as_millis() as f64).collect::<Vec<_>>())
        .fetch_all(pool)
        .await?;
    let mut attempts: Vec<Option<SemaphoreAttempt>> = items.iter().map(|_| None).collect();
    for IndexedRow { idx, row } in rows {
        if row.outcome != "lost_race" {
            attempts[idx as usize] = Some(attempt(row, &items[idx as usize].actor));
        }
    }
    Ok(attempts)
}

/// A permit release waiting for its set, owning what it needs.
pub struct PermitRelease {
    pub namespace: NamespaceName,
    pub name: LockName,
    pub token: LockTokenHash,
    pub actor: Actor,
}

impl PermitRelease {
    pub fn new(change: &HolderChange<'_>) -> Self {
        Self {
            namespace: change.namespace.clone(),
            name: change.name.clone(),
            token: change.token.clone(),
            actor: change.actor.clone(),
        }
    }

    pub fn change(&self) -> HolderChange<'_> {
        HolderChange { namespace: &self.namespace, name: &self.name, token: &self.token, actor: &self.actor }
    }
}

/// `RELEASE` for a set of items, each on its own semaphore; returns the
/// `idx` of each item whose token held a live permit, now ended.
const RELEASE_MANY: &str = concat!(
    r#"
WITH items AS (
    SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::bytea[], $5::bigint[], $6::text[],
                         $7::text[])
        AS t(idx, namespace, name, token_hash, account_id, key_id, request_id)
),
current AS (
    SELECT i.idx, s.holders
    FROM items i JOIN semaphores s ON s.namespace = i.namespace AND s.name = i.name
    ORDER BY s.namespace, s.name
    FOR UPDATE OF s
),
held AS (
    SELECT c.idx, h AS holder, h.expires_at > now() AS live,
           h.expires_at > now() AND h.token_hash = i.token_hash AS mine
    FROM current c JOIN items i ON i.idx = c.idx, unnest(c.holders) h
),
released AS (
    UPDATE semaphores s
    SET holders = ARRAY(SELECT x.holder FROM held x WHERE x.idx = m.idx AND x.live AND NOT x.mine),
        expires_at = coalesce((SELECT max((x.holder).expires_at) FROM held x
                               WHERE x.idx = m.idx AND x.live AND NOT x.mine), '-infinity')
    FROM held m JOIN items i ON i.idx = m.idx
    WHERE m.mine AND s.namespace = i.namespace AND s.name = i.name
    RETURNING m.idx, i.namespace, i.name, (m.holder).fencing_token, (m.holder).owner
),
recorded AS (
"#,
    record_kind_events!(),
    r#"
    SELECT now(), 'expired', i.namespace, i.name, (x.holder).fencing_token, (x.holder).account_id,
           (x.holder).key_id, (x.holder).owner, (x.holder).expires_at, i.request_id, NULL::bytea,
           NULL::inet, NULL::text, 'semaphore', NULL::uuid, 'shared'
    FROM held x JOIN items i ON i.idx = x.idx
    WHERE NOT x.live AND x.idx IN (SELECT idx FROM released)
    UNION ALL
    SELECT now(), 'released', r.namespace, r.name, r.fencing_token, i.account_id, i.key_id, r.owner, now(),
           i.request_id, NULL, NULL, NULL, 'semaphore', NULL, 'shared'
    FROM released r JOIN items i ON i.idx = r.idx
),
woken AS (
    SELECT "#,
    notify_waiters!("r.namespace", "'semaphore/' || r.name"),
    r#"
    FROM released r
    WHERE EXISTS (SELECT FROM lock_waiters w
                  WHERE w.namespace = r.namespace AND w.name = 'semaphore/' || r.name
                    AND w.expires_at > now())
)
SELECT idx FROM released WHERE (SELECT count(*) FROM woken) >= 0
"#
);

/// Whether each item's token held a live permit, now ended, in order.
pub async fn release_many(pool: &PgPool, items: &[&PermitRelease]) -> Result<Vec<Option<bool>>, StoreError> {
    let released: Vec<i32> = sqlx::query_scalar(RELEASE_MANY)
        .bind((0..items.len() as i32).collect::<Vec<_>>())
        .bind(items.iter().map(|i| i.namespace.as_str()).collect::<Vec<_>>())
        .bind(items.iter().map(|i| i.name.as_str()).collect::<Vec<_>>())
        .bind(items.iter().map(|i| i.token.0.to_vec()).collect::<Vec<_>>())
        .bind(items.iter().map(|i| audit_account(&i.actor)).collect::<Vec<_>>())
        .bind(items.iter().map(|i| i.actor.audit_key_id()).collect::<Vec<_>>())
        .bind(items.iter().map(|i| i.actor.request_id.as_deref()).collect::<Vec<_>>())
        .fetch_all(pool)
        .await?;
    Ok((0..items.len() as i32).map(|idx| Some(released.contains(&idx))).collect())
}
