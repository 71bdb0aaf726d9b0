//! Self-service: sign-up, and an owner key's management of its own account.
//! These are the admin actions scoped to the caller's account; each change is
//! recorded in the admin log with the owner's key, like an operator's.

use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;

use super::actions::{self, record, Actor, Rotated};
use super::{AdminError, KeyCreated, NamespaceCreated};
use crate::domain::{InvalidInput, NamespaceName, Plan, Plans, Principal, Role};
use crate::store::{self, accounts::AccountRecord, keys::KeyInfo};

/// A new account's answer: its owner key, shown once.
#[derive(Serialize)]
pub struct SignedUp {
    pub account: String,
    pub plan: Plan,
    pub key: String,
    pub key_id: String,
    pub role: Role,
}

/// Creates a hobbyist account `name` and its first owner key, in one
/// transaction with their admin-log entries. A taken name is a duplicate.
pub async fn sign_up(pool: &PgPool, actor: &Actor, name: &str) -> Result<SignedUp, AdminError> {
    let mut tx = pool.begin().await?;
    let account = super::create_account_in(&mut tx, name, Plan::Hobbyist).await?;
    let actor = Actor { account_id: Some(account.id), ..actor.clone() };
    record(&mut tx, &actor, "account.signup", &account.name, json!({ "plan": Plan::Hobbyist })).await?;
    let key = super::create_key_in(&mut tx, &account.name, Role::Owner, None).await?;
    let details = json!({ "account": key.account, "role": Role::Owner, "namespace": key.namespace });
    record(&mut tx, &actor, "key.create", &key.key_id, details).await?;
    tx.commit().await?;
    Ok(SignedUp {
        account: account.name,
        plan: Plan::Hobbyist,
        key: key.key,
        key_id: key.key_id,
        role: Role::Owner,
    })
}

/// The caller's own account.
pub async fn own_account(pool: &PgPool, caller: &Principal) -> Result<AccountRecord, AdminError> {
    store::accounts::record_by_id(pool, caller.account_id)
        .await?
        .ok_or_else(|| AdminError::NoSuchAccount(caller.account_id.to_string()))
}

/// The roles an owner manages: rotating a staff key would mint another one.
fn manageable(key: &KeyInfo) -> bool {
    matches!(key.role.as_str(), "client" | "owner")
}

/// A client or owner key of the caller's account; any other id (another
/// account's, or a support or admin key the operator gave this account) is
/// not found.
async fn own_key(pool: &PgPool, caller: &Principal, key_id: &str) -> Result<KeyInfo, AdminError> {
    let missing = || AdminError::NoSuchKey(key_id.to_owned());
    if crate::domain::KeyId::parse(key_id).is_none() {
        return Err(missing());
    }
    let account = own_account(pool, caller).await?;
    let key = store::keys::info(pool, key_id).await?.ok_or_else(missing)?;
    if key.account != account.name || !manageable(&key) {
        return Err(missing());
    }
    Ok(key)
}

/// A client or owner key of the caller's account.
pub async fn create_key(
    pool: &PgPool,
    actor: &Actor,
    caller: &Principal,
    role: Role,
    namespace: Option<&str>,
) -> Result<KeyCreated, AdminError> {
    if !matches!(role, Role::Client | Role::Owner) {
        return Err(InvalidInput::new("invalid_role", "an owner makes client or owner keys").into());
    }
    let account = own_account(pool, caller).await?;
    actions::create_key(pool, actor, &account.name, role, namespace).await
}

/// The account's client and owner keys, never secrets.
pub async fn list_keys(pool: &PgPool, caller: &Principal) -> Result<Vec<KeyInfo>, AdminError> {
    let mut keys = store::keys::list_for_account(pool, caller.account_id).await?;
    keys.retain(manageable);
    Ok(keys)
}

pub async fn revoke_key(
    pool: &PgPool,
    actor: &Actor,
    caller: &Principal,
    key_id: &str,
) -> Result<(), AdminError> {
    own_key(pool, caller, key_id).await?;
    actions::revoke_key(pool, actor, key_id).await
}

pub async fn rotate_key(
    pool: &PgPool,
    actor: &Actor,
    caller: &Principal,
    key_id: &str,
    grace_seconds: u32,
) -> Result<Rotated, AdminError> {
    own_key(pool, caller, key_id).await?;
    actions::rotate_key(pool, actor, key_id, grace_seconds).await
}

/// A private namespace for the caller's business account.
pub async fn create_namespace(
    pool: &PgPool,
    plans: &Plans,
    actor: &Actor,
    caller: &Principal,
    name: &str,
) -> Result<NamespaceCreated, AdminError> {
    let account = own_account(pool, caller).await?;
    if account.plan != Plan::Business.as_str() {
        return Err(AdminError::PlanForbids("private namespaces need a business plan".into()));
    }
    actions::create_namespace(pool, plans, actor, name, &account.name).await
}

/// Deletes one of the caller's namespaces, under the admin API's rules;
/// another account's namespace, or the shared one, is not found.
pub async fn delete_namespace(
    pool: &PgPool,
    actor: &Actor,
    caller: &Principal,
    name: &str,
) -> Result<(), AdminError> {
    let missing = || AdminError::NoSuchNamespace(name.to_owned());
    let namespace = NamespaceName::parse(name).map_err(|_| missing())?;
    if store::namespaces::owner(pool, &namespace).await? != Some(Some(caller.account_id)) {
        return Err(missing());
    }
    actions::delete_namespace(pool, actor, name).await
}
