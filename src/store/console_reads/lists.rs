//! The console's lists: every account with what it holds now, the live locks
//! across tenants, and an account's live leases counting a shared lock's
//! readers by their own accounts.
//!
//! A shared lock's row names only its latest reader's account
//! (`migrations/*_shared_locks.sql`), so these read its readers from
//! `holders`. Finding a holder's account has no index: the counts read
//! every live lock and semaphore once per page, which a support page can
//! afford. The lease engine's statements are not touched.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::super::StoreError;
use crate::domain::LockMode;

/// An account as the accounts list shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountSummary {
    pub name: String,
    pub plan: String,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
    /// Exclusive leases and shared locks' read leases it holds now.
    pub live_leases: i64,
    /// Semaphore permits it holds now.
    pub live_permits: i64,
}

/// Accounts in name order after `after`, at most `limit`, with what each
/// holds now. Each count is one pass over the live rows, grouped.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn accounts(
    pool: &PgPool,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<AccountSummary>, StoreError> {
    let rows = sqlx::query_as(
        "WITH page AS (
             SELECT id, name, plan, created_at, disabled_at FROM accounts
             WHERE ($1::text IS NULL OR name > $1) ORDER BY name LIMIT $2
         ),
         leases AS (
             SELECT account_id, count(*) AS n FROM (
                 SELECT account_id FROM locks
                 WHERE mode = 'exclusive' AND expires_at > now()
                 UNION ALL
                 SELECT h.account_id FROM locks l, unnest(l.holders) h
                 WHERE l.mode = 'shared' AND l.expires_at > now() AND h.expires_at > now()
             ) held
             WHERE account_id IN (SELECT id FROM page)
             GROUP BY account_id
         ),
         permits AS (
             SELECT h.account_id, count(*) AS n FROM semaphores s, unnest(s.holders) h
             WHERE s.expires_at > now() AND h.expires_at > now() AND h.account_id IN (SELECT id FROM page)
             GROUP BY h.account_id
         )
         SELECT p.name, p.plan, p.created_at, p.disabled_at,
                coalesce(l.n, 0) AS live_leases, coalesce(s.n, 0) AS live_permits
         FROM page p
         LEFT JOIN leases l ON l.account_id = p.id
         LEFT JOIN permits s ON s.account_id = p.id
         ORDER BY p.name",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Which live locks to list: in (namespace, name) order, the keyset.
pub struct LiveLocksQuery<'a> {
    pub namespace: Option<&'a str>,
    /// Names in `[from, to)`: a prefix's range.
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    /// Locks strictly after this (namespace, name).
    pub after: Option<(&'a str, &'a str)>,
    pub limit: i64,
}

/// Who holds a live lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holding {
    Exclusive {
        fencing_token: i64,
        account: Option<String>,
        owner: Option<String>,
    },
    /// Its live readers: how many, their accounts (each once, in name
    /// order) and the range of their fencing tokens.
    Shared {
        readers: i64,
        accounts: Vec<String>,
        tokens: (i64, i64),
    },
}

#[derive(Debug, Clone)]
pub struct LiveLock {
    pub namespace: String,
    pub name: String,
    pub holding: Holding,
    /// When the lease ends (a shared lock's: when its last reader's does).
    pub expires_at: DateTime<Utc>,
    /// How long until then, by the database's clock.
    pub expires_in: chrono::Duration,
}

#[derive(sqlx::FromRow)]
struct LiveLockRow {
    namespace: String,
    name: String,
    mode: String,
    fencing_token: i64,
    account: Option<String>,
    owner: Option<String>,
    expires_at: DateTime<Utc>,
    expires_in_ms: i64,
    readers: i64,
    reader_accounts: Vec<String>,
    first_token: Option<i64>,
}

impl From<LiveLockRow> for LiveLock {
    fn from(row: LiveLockRow) -> Self {
        let holding = match LockMode::parse(&row.mode).unwrap_or_default() {
            LockMode::Exclusive => Holding::Exclusive {
                fencing_token: row.fencing_token,
                account: row.account,
                owner: row.owner,
            },
            LockMode::Shared => Holding::Shared {
                readers: row.readers,
                accounts: row.reader_accounts,
                tokens: (row.first_token.unwrap_or(row.fencing_token), row.fencing_token),
            },
        };
        LiveLock {
            namespace: row.namespace,
            name: row.name,
            holding,
            expires_at: row.expires_at,
            expires_in: chrono::Duration::milliseconds(row.expires_in_ms),
        }
    }
}

/// Live locks of every tenant, in namespace and name order: the primary
/// key's order, so that a page is an index range and a cursor never skips
/// or repeats a lock however its lease is renewed.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn live_locks(pool: &PgPool, query: &LiveLocksQuery<'_>) -> Result<Vec<LiveLock>, StoreError> {
    let (after_namespace, after_name) = query.after.unzip();
    let rows: Vec<LiveLockRow> = sqlx::query_as(
        "SELECT l.namespace, l.name, l.mode, coalesce(r.last_token, l.fencing_token) AS fencing_token,
                a.name AS account, l.owner, l.expires_at,
                (extract(epoch FROM l.expires_at - now()) * 1000)::bigint AS expires_in_ms,
                coalesce(r.readers, 0) AS readers, coalesce(r.accounts, '{}') AS reader_accounts,
                r.first_token
         FROM locks l
         LEFT JOIN accounts a ON a.id = l.account_id AND l.mode = 'exclusive'
         LEFT JOIN LATERAL (
             SELECT count(*) AS readers, min(h.fencing_token) AS first_token,
                    max(h.fencing_token) AS last_token,
                    array_agg(DISTINCT ra.name ORDER BY ra.name) FILTER (WHERE ra.name IS NOT NULL)
                        AS accounts
             FROM unnest(l.holders) h LEFT JOIN accounts ra ON ra.id = h.account_id
             WHERE h.expires_at > now()
         ) r ON l.mode = 'shared'
         WHERE l.expires_at > now()
           AND ($1::text IS NULL OR l.namespace = $1)
           AND ($2::text IS NULL OR l.name >= $2)
           AND ($3::text IS NULL OR l.name < $3)
           AND ($4::text IS NULL OR (l.namespace, l.name) > ($4, $5))
         ORDER BY l.namespace, l.name
         LIMIT $6",
    )
    .bind(query.namespace)
    .bind(query.from)
    .bind(query.to)
    .bind(after_namespace)
    .bind(after_name)
    .bind(query.limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(LiveLock::from).collect())
}
