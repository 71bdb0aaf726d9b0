//! Renew and release: a change to the live lease a proof holds.

use sqlx::PgPool;

use super::super::fragments::{notify_waiters, proof_holds, record_events, renewal_outcome};
use super::super::statement::Variants;
use super::super::StoreError;
use super::{audit_account, audit_addr, LockRow};
use crate::domain::{Actor, Lock, LockName, LockTokenHash, NamespaceName, Proof, Ttl};

/// The lease a renew or release acts on, who acts, and the Idempotency-Key
/// whose record the statement marks done.
pub struct LeaseChange<'a> {
    pub namespace: &'a NamespaceName,
    pub name: &'a LockName,
    pub proof: Proof<'a>,
    pub actor: &'a Actor,
    pub idempotency_key: Option<&'a str>,
}

impl<'a> LeaseChange<'a> {
    /// A change of the lease `token` holds, with no Idempotency-Key.
    pub fn by_token(
        namespace: &'a NamespaceName,
        name: &'a LockName,
        token: &'a LockTokenHash,
        actor: &'a Actor,
    ) -> Self {
        Self { namespace, name, proof: Proof::Token(token), actor, idempotency_key: None }
    }
}

/// The parameters every proof-checked statement shares, in order: $1-$2 the
/// lock, $3-$7 the proof (`fragments::proof_holds`), $8-$11 the actor,
/// $12 the Idempotency-Key.
const SHARED_OPTIONAL: [(usize, &str); 7] =
    [(3, "bytea"), (4, "text"), (5, "bigint"), (6, "bytea"), (7, "uuid"), (11, "text"), (12, "text")];

/// Which of `SHARED_OPTIONAL` a change binds.
pub(crate) fn bound(change: &LeaseChange<'_>) -> [bool; 7] {
    let (token, compat) = match change.proof {
        Proof::Token(_) => (true, None),
        Proof::Compat { account_id, secret_hash, mutex_id, .. } => {
            (false, Some((account_id.is_some(), secret_hash.is_some(), mutex_id.is_some())))
        }
    };
    let (account, secret, id) = compat.unwrap_or_default();
    [
        token,
        compat.is_some(),
        account,
        secret,
        id,
        change.actor.audit_addr().is_some(),
        change.idempotency_key.is_some(),
    ]
}

/// Binds $1-$12 of a proof-checked statement.
pub(crate) fn bind_shared<'q>(
    query: sqlx::query::QueryAs<'q, sqlx::Postgres, LockRow, sqlx::postgres::PgArguments>,
    change: &'q LeaseChange<'q>,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, LockRow, sqlx::postgres::PgArguments> {
    let (api, account_id, secret_hash, mutex_id) = match change.proof {
        Proof::Token(_) => (None, None, None, None),
        Proof::Compat { api, account_id, secret_hash, mutex_id } => {
            (api.column(), account_id, secret_hash.map(|h| &h[..]), mutex_id)
        }
    };
    query
        .bind(change.namespace.as_str())
        .bind(change.name.as_str())
        .bind(change.proof.token().map(|t| &t.0[..]))
        .bind(api)
        .bind(account_id)
        .bind(secret_hash)
        .bind(mutex_id)
        .bind(audit_account(change.actor))
        .bind(change.actor.audit_key_id())
        .bind(change.actor.request_id.as_deref())
        .bind(audit_addr(change.actor))
        .bind(change.idempotency_key)
}

/// Extends the live lease, to $13 seconds if given.
pub const RENEW: &str = concat!(
    r#"
WITH renewed AS (
    UPDATE locks
    SET ttl_seconds = coalesce($13, ttl_seconds),
        expires_at = now() + coalesce($13, ttl_seconds) * interval '1 second'
    WHERE namespace = $1 AND name = $2 AND expires_at > now()
      AND "#,
    proof_holds!(),
    r#"
    RETURNING *
),
recorded AS (
    "#,
    record_events!(),
    r#"
    SELECT now(), 'renewed', namespace, name, fencing_token, $8, $9, owner, expires_at, $10,
           NULL, $11::inet, NULL
    FROM renewed
),
completed AS (
    UPDATE idempotency_records i
    SET completed_at = now(), fencing_token = r.fencing_token, outcome = "#,
    renewal_outcome!(),
    r#"
    FROM renewed r
    WHERE i.key_id = $9 AND i.idempotency_key = $12
)
SELECT namespace, name, fencing_token, account_id, owner, metadata, ttl_seconds, acquired_at,
       expires_at, compat_api, compat_id
FROM renewed
"#
);

static RENEW_SENT: Variants = Variants::new(RENEW, &SHARED_OPTIONAL);

pub fn renew_statement(change: &LeaseChange<'_>) -> &'static str {
    RENEW_SENT.text(&bound(change))
}

/// Extends the live lease `change.proof` holds; `None` when it holds none.
#[tracing::instrument(level = "debug", skip_all, fields(namespace = %change.namespace, name = %change.name))]
pub async fn renew(
    pool: &PgPool,
    change: &LeaseChange<'_>,
    ttl: Option<Ttl>,
) -> Result<Option<Lock>, StoreError> {
    let query = bind_shared(sqlx::query_as(renew_statement(change)), change);
    let row = query.bind(ttl.map(|t| t.seconds() as i32)).fetch_optional(pool).await?;
    Ok(row.map(Lock::from))
}

/// Ends the live lease (marking its row released, see the module's comment)
/// and, only when someone waits for the lock, wakes them: NOTIFY serialises
/// commits, so a release nobody waits for sends none. The lease's expiry as
/// it stood is read first, for the answer and the audit row.
pub const RELEASE: &str = concat!(
    r#"
WITH live AS (
    SELECT fencing_token, expires_at FROM locks
    WHERE namespace = $1 AND name = $2 AND expires_at > now()
      AND "#,
    proof_holds!(),
    r#"
),
released AS (
    UPDATE locks
    SET expires_at = '-infinity'
    FROM live
    WHERE locks.namespace = $1 AND locks.name = $2
      AND locks.expires_at > now() AND locks.fencing_token = live.fencing_token
    RETURNING locks.namespace, locks.name, locks.fencing_token, locks.account_id, locks.owner,
              locks.metadata, locks.ttl_seconds, locks.acquired_at, live.expires_at,
              locks.compat_api, locks.compat_id
),
recorded AS (
    "#,
    record_events!(),
    r#"
    SELECT now(), 'released', namespace, name, fencing_token, $8, $9, owner, expires_at, $10,
           NULL, $11::inet, NULL
    FROM released
),
completed AS (
    UPDATE idempotency_records i
    SET completed_at = now(), fencing_token = r.fencing_token
    FROM released r
    WHERE i.key_id = $9 AND i.idempotency_key = $12
),
woken AS (
    SELECT "#,
    notify_waiters!("r.namespace", "r.name"),
    r#"
    FROM released r
    WHERE EXISTS (SELECT FROM lock_waiters w
                  WHERE w.namespace = $1 AND w.name = $2 AND w.expires_at > now())
)
SELECT namespace, name, fencing_token, account_id, owner, metadata, ttl_seconds, acquired_at,
       expires_at, compat_api, compat_id
FROM released
WHERE (SELECT count(*) FROM woken) >= 0
"#
);

static RELEASE_SENT: Variants = Variants::new(RELEASE, &SHARED_OPTIONAL);

pub fn release_statement(change: &LeaseChange<'_>) -> &'static str {
    RELEASE_SENT.text(&bound(change))
}

/// Ends the live lease `change.proof` holds; `None` when it holds none.
#[tracing::instrument(level = "debug", skip_all, fields(namespace = %change.namespace, name = %change.name))]
pub async fn release(pool: &PgPool, change: &LeaseChange<'_>) -> Result<Option<Lock>, StoreError> {
    let row = bind_shared(sqlx::query_as(release_statement(change)), change).fetch_optional(pool).await?;
    Ok(row.map(Lock::from))
}
