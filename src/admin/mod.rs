//! Administration: accounts, namespaces and keys. The plain functions here act
//! straight on the database, for bootstrap and tests; [`actions`] does the
//! same and more on behalf of someone, recording each change in the admin log
//! in the same transaction.

pub mod actions;
pub mod self_service;

use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use crate::auth::hash_secret;
use crate::domain::{AccountName, ApiKey, InvalidInput, NamespaceName, Plan, Plans, Role};
use crate::store::{self, keys::NewKey, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error("no account named {0:?}")]
    NoSuchAccount(String),
    #[error("no key with id {0:?}")]
    NoSuchKey(String),
    #[error("no namespace named {0:?}")]
    NoSuchNamespace(String),
    #[error("{0}")]
    Refused(String),
    /// The account's plan does not allow this.
    #[error("{0}")]
    PlanForbids(String),
    /// The plan's quota is used up; the message names the limit.
    #[error("{0}")]
    QuotaExceeded(String),
    /// The request conflicts with the current state; `.0` is a stable code.
    #[error("{1}")]
    Conflict(&'static str, String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for AdminError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

#[derive(Debug, Serialize)]
pub struct AccountCreated {
    pub id: i64,
    pub name: String,
    pub plan: Plan,
    /// The private namespace a business account gets.
    pub namespace: Option<String>,
}

/// Creates an account; a business account also gets a private namespace of
/// its own name, in the same transaction.
pub async fn create_account(pool: &PgPool, name: &str, plan: Plan) -> Result<AccountCreated, AdminError> {
    let mut tx = pool.begin().await?;
    let created = create_account_in(&mut tx, name, plan).await?;
    tx.commit().await?;
    Ok(created)
}

async fn create_account_in(
    conn: &mut PgConnection,
    name: &str,
    plan: Plan,
) -> Result<AccountCreated, AdminError> {
    let name = AccountName::parse(name)?;
    let account = store::accounts::create(&mut *conn, &name, plan).await?;
    let namespace = if plan == Plan::Business {
        let namespace = name.namespace();
        store::namespaces::create(&mut *conn, &namespace, account.id).await?;
        Some(namespace.as_str().to_owned())
    } else {
        None
    };
    Ok(AccountCreated { id: account.id, name: account.name, plan, namespace })
}

#[derive(Debug, Serialize)]
pub struct NamespaceCreated {
    pub namespace: String,
    pub account: String,
}

/// Creates a private namespace within the plan's `max_namespaces`. Run in a
/// transaction: the account's row stays locked until it ends, so that two
/// creations cannot both see room for one.
async fn create_namespace_in(
    conn: &mut PgConnection,
    plans: &Plans,
    name: &str,
    account: &str,
) -> Result<NamespaceCreated, AdminError> {
    let namespace = NamespaceName::parse(name)?;
    let account = store::accounts::find_by_name(&mut *conn, account)
        .await?
        .ok_or_else(|| AdminError::NoSuchAccount(account.to_owned()))?;
    if account.plan != Plan::Business {
        return Err(AdminError::Refused("private namespaces need a business plan".into()));
    }
    let max = plans.rules(account.plan).max_namespaces;
    if !store::namespaces::create_within(&mut *conn, &namespace, account.id, max).await? {
        return Err(AdminError::QuotaExceeded(format!("your plan allows at most {max} namespaces")));
    }
    Ok(NamespaceCreated { namespace: namespace.as_str().to_owned(), account: account.name })
}

/// A new key. `key` is the only copy of the clear key there will ever be.
#[derive(Serialize)]
pub struct KeyCreated {
    pub key_id: String,
    pub key: String,
    pub account: String,
    pub role: Role,
    pub namespace: String,
}

/// Creates a key whose default namespace is `namespace`, or else the
/// account's own (business) or the shared one (hobbyist).
pub async fn create_key(
    pool: &PgPool,
    account: &str,
    role: Role,
    namespace: Option<&str>,
) -> Result<KeyCreated, AdminError> {
    create_key_in(&mut *pool.acquire().await?, account, role, namespace).await
}

async fn create_key_in(
    conn: &mut PgConnection,
    account: &str,
    role: Role,
    namespace: Option<&str>,
) -> Result<KeyCreated, AdminError> {
    let account = store::accounts::find_by_name(&mut *conn, account)
        .await?
        .ok_or_else(|| AdminError::NoSuchAccount(account.to_owned()))?;
    let namespace = match namespace {
        Some(name) => NamespaceName::parse(name)?,
        None if account.plan == Plan::Business => NamespaceName::parse(&account.name)?,
        None => NamespaceName::public(),
    };
    let owner = store::namespaces::owner(&mut *conn, &namespace).await?;
    if !matches!(owner, Some(None)) && owner != Some(Some(account.id)) {
        return Err(AdminError::Refused(format!(
            "namespace {namespace} is neither public nor owned by account {}",
            account.name
        )));
    }
    let key = ApiKey::generate();
    let secret = key.secret().to_owned();
    let secret_hash =
        tokio::task::spawn_blocking(move || hash_secret(&secret)).await.expect("hashing does not panic");
    let new_key = NewKey {
        id: key.id(),
        account_id: account.id,
        role,
        namespace: &namespace,
        secret_hash: &secret_hash,
    };
    store::keys::insert(&mut *conn, &new_key).await?;
    Ok(KeyCreated {
        key_id: key.id().to_string(),
        key: key.reveal(),
        account: account.name,
        role,
        namespace: namespace.as_str().to_owned(),
    })
}

pub async fn revoke_key(pool: &PgPool, key_id: &str) -> Result<(), AdminError> {
    revoke_key_in(&mut *pool.acquire().await?, key_id).await
}

async fn revoke_key_in(conn: &mut PgConnection, key_id: &str) -> Result<(), AdminError> {
    if !store::keys::revoke(&mut *conn, key_id).await? {
        return Err(AdminError::Refused(format!("no active key with id {key_id:?}")));
    }
    Ok(())
}
