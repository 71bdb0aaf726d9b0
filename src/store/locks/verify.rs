//! A resource asks whether a writer's lease is the live one, and may leave
//! a note of the write in the audit trail, in the same statement.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::super::StoreError;
use super::{audit_account, audit_addr};
use crate::domain::{Actor, LockName, LockTokenHash, NamespaceName};

/// What names the lease: its lock token's hash, or its fencing token.
#[derive(Clone, Copy)]
pub enum Writer<'a> {
    Token(&'a LockTokenHash),
    Fencing(i64),
}

/// The live lease a writer holds.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Verified {
    pub fencing_token: i64,
    pub expires_at: DateTime<Utc>,
    pub owner: Option<String>,
}

/// $1-$2 the lock, $3 a token hash or $4 a fencing token, $5-$8 the actor
/// (account, key, request id, address), $9 the note (none: nothing is
/// written). An exclusive lease is the row (a lock set's member: the set's
/// token); a reader is one of its holders. The row is locked FOR SHARE, so a
/// release or takeover racing the check waits for it: a `verified` event is
/// always recorded before the end of the lease it verified.
const VERIFY: &str = r#"
WITH held AS (
    SELECT * FROM locks
    WHERE namespace = $1 AND name = $2 AND expires_at > now()
    FOR SHARE
),
live AS (
    SELECT l.fencing_token, l.expires_at, l.owner, l.mode,
           (SELECT s.set_id FROM lock_sets s WHERE s.token_hash = l.token_hash AND s.namespace = $1) AS set_id
    FROM held l
    WHERE l.mode = 'exclusive' AND (l.token_hash = $3::bytea OR l.fencing_token = $4::bigint)
    UNION ALL
    SELECT h.fencing_token, h.expires_at, h.owner, l.mode, NULL::uuid
    FROM held l, unnest(l.holders) h
    WHERE l.mode = 'shared' AND h.expires_at > now()
      AND (h.token_hash = $3::bytea OR h.fencing_token = $4::bigint)
    LIMIT 1
),
noted AS (
    INSERT INTO lock_events (occurred_at, event, namespace, name, fencing_token, account_id, key_id,
                             owner, expires_at, request_id, token_hash, client_addr, reason, kind,
                             set_id, mode, note)
    SELECT now(), 'verified', $1, $2, fencing_token, $5, $6, owner, expires_at, $7,
           NULL, $8::inet, NULL, 'lock', set_id, mode, $9
    FROM live
    WHERE $9::text IS NOT NULL
)
SELECT fencing_token, expires_at, owner FROM live
"#;

/// The live lease `writer` names, with the note recorded if one is given;
/// `None` when it names no live lease of the lock.
pub async fn verify(
    pool: &PgPool,
    namespace: &NamespaceName,
    name: &LockName,
    writer: Writer<'_>,
    actor: &Actor,
    note: Option<&str>,
) -> Result<Option<Verified>, StoreError> {
    let (token, fencing) = match writer {
        Writer::Token(hash) => (Some(&hash.0[..]), None),
        Writer::Fencing(token) => (None, Some(token)),
    };
    let found = sqlx::query_as(VERIFY)
        .bind(namespace.as_str())
        .bind(name.as_str())
        .bind(token)
        .bind(fencing)
        .bind(audit_account(actor))
        .bind(actor.audit_key_id())
        .bind(actor.request_id.as_deref())
        .bind(audit_addr(actor))
        .bind(note)
        .fetch_optional(pool)
        .await?;
    Ok(found)
}
