//! The statements only the compatibility APIs (Lockable, Locklock, mutex.uno)
//! need. They work on the same `locks` rows, fencing tokens and audit trail as
//! the native statements, by the same rules: one statement per operation, its
//! audit row written by that statement, expiry judged by the database clock,
//! and a lapsed row free to take over (recording its one `expired` event).
//!
//! A compatibility lease is an ordinary lease whose lock token was generated
//! and thrown away, so no native call can renew or release it. Its holder is
//! identified by the `compat_*` columns instead: `compat_api` says which API
//! took it, `compat_secret_hash` holds a Locklock secret's hash and
//! `compat_id` a mutex.uno acquisition id (its ETag); a Lockable lease's holder
//! is its `account_id`. These columns belong to the lease whose fencing token
//! is `compat_fencing_token` and are ignored otherwise: the native statements
//! do not know them, so a native takeover or handover leaves them behind,
//! stale, and they leave with the row when it is released or swept (which is
//! why they are columns of `locks` rather than rows of a table of their own,
//! which nothing would clean up after an expiry).
//!
//! An anonymous caller acts as the reserved account `_anonymous` with the key
//! id `anonymous`, and its events record its address in `client_addr`.

mod acquire;

use std::net::IpAddr;
use std::sync::LazyLock;

use sqlx::PgPool;
use uuid::Uuid;

use super::locks::LockRow;
use super::StoreError;
use crate::domain::{Lock, LockName, NamespaceName, Principal, Ttl};

pub use acquire::{acquire, Acquired, CompatLease};

/// Which compatibility API took a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompatApi {
    Lockable,
    Locklock,
    MutexUno,
}

impl CompatApi {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lockable => "lockable",
            Self::Locklock => "locklock",
            Self::MutexUno => "mutex_uno",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        [Self::Lockable, Self::Locklock, Self::MutexUno].into_iter().find(|api| api.as_str() == raw)
    }
}

/// Who acts: a key, or an anonymous caller at an address.
#[derive(Debug, Clone, Copy)]
pub struct CompatActor<'a> {
    pub principal: Option<&'a Principal>,
    pub client_addr: Option<IpAddr>,
    pub request_id: Option<&'a str>,
}

impl CompatActor<'_> {
    fn account_id(&self) -> Option<i64> {
        self.principal.map(|p| p.account_id)
    }

    fn key_id(&self) -> Option<&str> {
        self.principal.map(|p| p.key_id.as_str())
    }

    /// Only an anonymous caller's address is recorded; a key names the others.
    fn recorded_addr(&self) -> Option<String> {
        self.client_addr.filter(|_| self.principal.is_none()).map(|a| a.to_string())
    }
}

/// A live lease, with what a compatibility API needs to show it.
#[derive(Debug, Clone)]
pub struct CompatLock {
    pub lock: Lock,
    /// The API that took it; `None` for a native lease.
    pub api: Option<CompatApi>,
    /// The mutex.uno acquisition id.
    pub id: Option<Uuid>,
}

#[derive(sqlx::FromRow)]
struct CompatRow {
    #[sqlx(flatten)]
    lock: LockRow,
    compat_api: Option<String>,
    compat_id: Option<Uuid>,
}

impl From<CompatRow> for CompatLock {
    fn from(row: CompatRow) -> Self {
        CompatLock {
            lock: row.lock.into(),
            api: row.compat_api.as_deref().and_then(CompatApi::parse),
            id: row.compat_id,
        }
    }
}

/// The acting account and key: the caller's, or the reserved anonymous ones.
const ACTOR: &str = "actor AS (
    SELECT coalesce($4::bigint, (SELECT id FROM accounts WHERE name = '_anonymous')) AS account_id,
           coalesce($5::text, 'anonymous') AS key_id
)";

/// Lockable's heartbeat: extends the live Lockable lease the account holds.
const RENEW_BY_ACCOUNT: &str = r#"
WITH renewed AS (
    UPDATE locks
    SET ttl_seconds = coalesce($4, ttl_seconds),
        expires_at = now() + coalesce($4, ttl_seconds) * interval '1 second'
    WHERE namespace = $1 AND name = $2 AND account_id = $3 AND expires_at > now()
      AND compat_api = 'lockable' AND compat_fencing_token = fencing_token
    RETURNING fencing_token, owner, expires_at
),
recorded AS (
    INSERT INTO lock_events (occurred_at, event, namespace, name, fencing_token, account_id,
                             key_id, owner, expires_at, request_id)
    SELECT now(), 'renewed', $1, $2, fencing_token, $3, $5, owner, expires_at, $6
    FROM renewed
)
SELECT EXISTS (SELECT FROM renewed)
"#;

#[tracing::instrument(level = "debug", skip_all, fields(%namespace, %name))]
pub async fn renew_by_account(
    pool: &PgPool,
    namespace: &NamespaceName,
    name: &LockName,
    ttl: Option<Ttl>,
    principal: &Principal,
    request_id: Option<&str>,
) -> Result<bool, StoreError> {
    let renewed = sqlx::query_scalar(RENEW_BY_ACCOUNT)
        .bind(namespace.as_str())
        .bind(name.as_str())
        .bind(principal.account_id)
        .bind(ttl.map(|t| t.seconds() as i32))
        .bind(principal.key_id.as_str())
        .bind(request_id)
        .fetch_one(pool)
        .await?;
    Ok(renewed)
}

/// What a compat release must prove about the live lease: which API took it
/// and, as that API identifies holders, its account, secret or id.
#[derive(Debug, Clone, Copy)]
pub struct Holder<'a> {
    pub api: CompatApi,
    pub account_id: Option<i64>,
    pub secret_hash: Option<&'a [u8; 32]>,
    pub id: Option<Uuid>,
}

#[derive(Debug)]
pub enum Released {
    Released,
    /// A live lease the caller may not release, as it stands.
    Refused(CompatLock),
    NotHeld,
}

/// A lease without a secret is released by anyone who names its API; with
/// one, only by that secret. `Refused` reports the snapshot's live lease. As
/// the native release does, it wakes the lock's waiters, if it has any.
static RELEASE: LazyLock<String> = LazyLock::new(|| {
    format!(
        r#"
WITH {ACTOR},
released AS (
    DELETE FROM locks
    WHERE namespace = $1 AND name = $2 AND expires_at > now()
      AND compat_api = $3 AND compat_fencing_token = fencing_token
      AND ($6::bigint IS NULL OR account_id = $6)
      AND (compat_secret_hash IS NULL OR compat_secret_hash = $7)
      AND ($8::uuid IS NULL OR compat_id = $8)
    RETURNING *
),
recorded AS (
    INSERT INTO lock_events (occurred_at, event, namespace, name, fencing_token, account_id,
                             key_id, owner, expires_at, request_id, client_addr)
    SELECT now(), 'released', $1, $2, released.fencing_token, actor.account_id, actor.key_id,
           released.owner, released.expires_at, $9, $10::inet
    FROM released, actor
),
woken AS (
    SELECT pg_notify('leasehold_wake', $1 || '/' || $2)
    FROM released
    WHERE EXISTS (SELECT FROM lock_waiters w
                  WHERE w.namespace = $1 AND w.name = $2 AND w.expires_at > now())
)
SELECT 'released' AS outcome, {COLUMNS} FROM released WHERE (SELECT count(*) FROM woken) >= 0
UNION ALL
SELECT 'refused', {COLUMNS} FROM locks
WHERE namespace = $1 AND name = $2 AND expires_at > now() AND NOT EXISTS (SELECT FROM released)
"#
    )
});

const COLUMNS: &str = "namespace, name, fencing_token, account_id, owner, metadata, ttl_seconds, \
    acquired_at, expires_at, \
    CASE WHEN compat_fencing_token = fencing_token THEN compat_api END AS compat_api, \
    CASE WHEN compat_fencing_token = fencing_token THEN compat_id END AS compat_id";

#[derive(sqlx::FromRow)]
struct ReleaseRow {
    outcome: String,
    #[sqlx(flatten)]
    lock: CompatRow,
}

#[tracing::instrument(level = "debug", skip_all, fields(%namespace, %name, api = holder.api.as_str()))]
pub async fn release(
    pool: &PgPool,
    namespace: &NamespaceName,
    name: &LockName,
    holder: Holder<'_>,
    actor: CompatActor<'_>,
) -> Result<Released, StoreError> {
    let row: Option<ReleaseRow> = sqlx::query_as(RELEASE.as_str())
        .bind(namespace.as_str())
        .bind(name.as_str())
        .bind(holder.api.as_str())
        .bind(actor.account_id())
        .bind(actor.key_id())
        .bind(holder.account_id)
        .bind(holder.secret_hash.map(|h| &h[..]))
        .bind(holder.id)
        .bind(actor.request_id)
        .bind(actor.recorded_addr())
        .fetch_optional(pool)
        .await?;
    Ok(match row {
        Some(row) if row.outcome == "released" => Released::Released,
        Some(row) => Released::Refused(row.lock.into()),
        None => Released::NotHeld,
    })
}

static FIND_LIVE: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {COLUMNS} FROM locks WHERE namespace = $1 AND name = $2 AND expires_at > now()")
});

/// The live lease on a lock, with its compat holder, if any.
#[tracing::instrument(level = "debug", skip_all, fields(%namespace, %name))]
pub async fn find_live(
    pool: &PgPool,
    namespace: &NamespaceName,
    name: &LockName,
) -> Result<Option<CompatLock>, StoreError> {
    let row: Option<CompatRow> = sqlx::query_as(FIND_LIVE.as_str())
        .bind(namespace.as_str())
        .bind(name.as_str())
        .fetch_optional(pool)
        .await?;
    Ok(row.map(CompatLock::from))
}
