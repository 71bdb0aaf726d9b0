use sqlx::PgExecutor;

use super::StoreError;
use crate::domain::{AccountName, Plan};

#[derive(Debug, Clone)]
pub struct Account {
    pub id: i64,
    pub name: String,
    pub plan: Plan,
}

#[derive(sqlx::FromRow)]
struct AccountRow {
    id: i64,
    name: String,
    plan: String,
}

impl TryFrom<AccountRow> for Account {
    type Error = StoreError;

    fn try_from(row: AccountRow) -> Result<Self, StoreError> {
        let plan = row.plan.parse().map_err(StoreError::corrupt)?;
        Ok(Account { id: row.id, name: row.name, plan })
    }
}

pub async fn create(ex: impl PgExecutor<'_>, name: &AccountName, plan: Plan) -> Result<Account, StoreError> {
    let row: AccountRow =
        sqlx::query_as("INSERT INTO accounts (name, plan) VALUES ($1, $2) RETURNING id, name, plan")
            .bind(name.as_str())
            .bind(plan.as_str())
            .fetch_one(ex)
            .await?;
    row.try_into()
}

pub async fn find_by_name(ex: impl PgExecutor<'_>, name: &str) -> Result<Option<Account>, StoreError> {
    let row: Option<AccountRow> = sqlx::query_as("SELECT id, name, plan FROM accounts WHERE name = $1")
        .bind(name)
        .fetch_optional(ex)
        .await?;
    row.map(Account::try_from).transpose()
}

/// An account as administrators see it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct AccountRecord {
    pub id: i64,
    pub name: String,
    pub plan: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub disabled_at: Option<chrono::DateTime<chrono::Utc>>,
}

const RECORD: &str = "SELECT id, name, plan, created_at, disabled_at FROM accounts";

/// Accounts in name order, after `after`.
pub async fn list(
    ex: impl PgExecutor<'_>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<AccountRecord>, StoreError> {
    let sql = format!("{RECORD} WHERE ($1::text IS NULL OR name > $1) ORDER BY name LIMIT $2");
    Ok(sqlx::query_as(&sql).bind(after).bind(limit).fetch_all(ex).await?)
}

pub async fn record(ex: impl PgExecutor<'_>, name: &str) -> Result<Option<AccountRecord>, StoreError> {
    let sql = format!("{RECORD} WHERE name = $1");
    Ok(sqlx::query_as(&sql).bind(name).fetch_optional(ex).await?)
}

pub async fn record_by_id(ex: impl PgExecutor<'_>, id: i64) -> Result<Option<AccountRecord>, StoreError> {
    let sql = format!("{RECORD} WHERE id = $1");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(ex).await?)
}

/// Changes an account's plan and whether it is disabled (`None`: unchanged).
/// Disabling stamps `disabled_at`; every key of the account stops working
/// within the key-cache recheck bound. Returns the account as it now is.
pub async fn update(
    ex: impl PgExecutor<'_>,
    name: &str,
    plan: Option<Plan>,
    disabled: Option<bool>,
) -> Result<Option<AccountRecord>, StoreError> {
    Ok(sqlx::query_as(
        "UPDATE accounts
         SET plan = coalesce($2, plan),
             disabled_at = CASE WHEN $3 IS NULL THEN disabled_at
                                WHEN $3 THEN coalesce(disabled_at, now())
                                ELSE NULL END
         WHERE name = $1
         RETURNING id, name, plan, created_at, disabled_at",
    )
    .bind(name)
    .bind(plan.map(Plan::as_str))
    .bind(disabled)
    .fetch_optional(ex)
    .await?)
}

/// A live lease an account holds, anywhere: an exclusive lock's, or one
/// reader's lease of a shared lock.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct HeldLock {
    pub namespace: String,
    pub name: String,
    /// `exclusive` or `shared`.
    pub mode: String,
    pub fencing_token: i64,
    pub owner: Option<String>,
    pub acquired_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// The account's live leases, at most `limit`, in namespace, name and
/// fencing token order. A shared lock's row names only its latest reader,
/// so each reader's lease is found among its holders.
pub async fn live_locks(
    ex: impl PgExecutor<'_>,
    account_id: i64,
    limit: i64,
) -> Result<Vec<HeldLock>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT namespace, name, mode, fencing_token, owner, acquired_at, expires_at FROM locks
         WHERE account_id = $1 AND mode = 'exclusive' AND expires_at > now()
         UNION ALL
         SELECT l.namespace, l.name, l.mode, h.fencing_token, h.owner, h.acquired_at, h.expires_at
         FROM locks l, unnest(l.holders) h
         WHERE l.mode = 'shared' AND l.expires_at > now() AND h.expires_at > now() AND h.account_id = $1
         ORDER BY namespace, name, fencing_token
         LIMIT $2",
    )
    .bind(account_id)
    .bind(limit)
    .fetch_all(ex)
    .await?)
}
