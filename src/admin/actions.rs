//! Administrative changes made on someone's behalf (an admin key over HTTP,
//! or the command line). Each runs in one transaction with its admin-log
//! entry, so a change is never made unrecorded.

use serde::Serialize;
use serde_json::json;
use sqlx::{PgConnection, PgPool};

use super::{AccountCreated, AdminError, KeyCreated, NamespaceCreated};
use crate::domain::{NamespaceName, Plan, Plans, Role};
use crate::store::accounts::AccountRecord;
use crate::store::force_release::{Ended, Force};
use crate::store::namespaces::Deleted;
use crate::store::{self, admin_log};

/// The longest grace period a rotated key may keep working.
pub const MAX_ROTATION_GRACE_SECONDS: u32 = 7 * 24 * 3600;
/// The grace period of a rotation that names none: a day, long enough to roll
/// a new key out to every client, short enough to retire a leaked one.
pub const DEFAULT_ROTATION_GRACE_SECONDS: u32 = 24 * 3600;

pub use crate::domain::Actor;

pub(super) async fn record(
    conn: &mut PgConnection,
    actor: &Actor,
    action: &str,
    target: &str,
    details: serde_json::Value,
) -> Result<(), AdminError> {
    let entry = admin_log::Entry {
        key_id: actor.key_id.as_deref(),
        account_id: actor.account_id,
        action,
        target,
        details,
        source: &actor.source,
        request_id: actor.request_id.as_deref(),
    };
    Ok(admin_log::append(conn, &entry).await?)
}

pub async fn create_account(
    pool: &PgPool,
    actor: &Actor,
    name: &str,
    plan: Plan,
) -> Result<AccountCreated, AdminError> {
    let mut tx = pool.begin().await?;
    let created = super::create_account_in(&mut tx, name, plan).await?;
    record(&mut tx, actor, "account.create", &created.name, json!({ "plan": plan })).await?;
    tx.commit().await?;
    Ok(created)
}

/// Changes an account's plan, or disables (or re-enables) it.
pub async fn update_account(
    pool: &PgPool,
    actor: &Actor,
    name: &str,
    plan: Option<Plan>,
    disabled: Option<bool>,
) -> Result<AccountRecord, AdminError> {
    let mut tx = pool.begin().await?;
    let account = store::accounts::update(&mut *tx, name, plan, disabled)
        .await?
        .ok_or_else(|| AdminError::NoSuchAccount(name.to_owned()))?;
    let details = json!({ "plan": plan, "disabled": disabled });
    record(&mut tx, actor, "account.update", name, details).await?;
    tx.commit().await?;
    Ok(account)
}

pub async fn create_namespace(
    pool: &PgPool,
    plans: &Plans,
    actor: &Actor,
    name: &str,
    account: &str,
) -> Result<NamespaceCreated, AdminError> {
    let mut tx = pool.begin().await?;
    let created = super::create_namespace_in(&mut tx, plans, name, account).await?;
    record(&mut tx, actor, "namespace.create", name, json!({ "account": created.account })).await?;
    tx.commit().await?;
    Ok(created)
}

pub async fn delete_namespace(pool: &PgPool, actor: &Actor, name: &str) -> Result<(), AdminError> {
    let namespace = NamespaceName::parse(name).map_err(|_| AdminError::NoSuchNamespace(name.to_owned()))?;
    let mut tx = pool.begin().await?;
    match store::namespaces::delete_if_empty(&mut *tx, &namespace).await? {
        Deleted::Deleted => {}
        Deleted::NotFound => return Err(AdminError::NoSuchNamespace(name.to_owned())),
        Deleted::Shared => {
            return Err(AdminError::Conflict("namespace_shared", "the shared namespace stays".into()))
        }
        Deleted::HasLocks => {
            return Err(AdminError::Conflict("namespace_not_empty", "the namespace holds live locks".into()))
        }
        Deleted::HasKeys => {
            return Err(AdminError::Conflict(
                "namespace_in_use",
                "keys have this namespace as their default namespace".into(),
            ))
        }
    }
    record(&mut tx, actor, "namespace.delete", name, json!({})).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn create_key(
    pool: &PgPool,
    actor: &Actor,
    account: &str,
    role: Role,
    namespace: Option<&str>,
) -> Result<KeyCreated, AdminError> {
    let mut tx = pool.begin().await?;
    let created = super::create_key_in(&mut tx, account, role, namespace).await?;
    let details = json!({ "account": created.account, "role": role, "namespace": created.namespace });
    record(&mut tx, actor, "key.create", &created.key_id, details).await?;
    tx.commit().await?;
    Ok(created)
}

pub async fn revoke_key(pool: &PgPool, actor: &Actor, key_id: &str) -> Result<(), AdminError> {
    // An id that cannot be a key's (a NUL byte would reach PostgreSQL) is not found.
    if crate::domain::KeyId::parse(key_id).is_none() {
        return Err(AdminError::NoSuchKey(key_id.to_owned()));
    }
    let mut tx = pool.begin().await?;
    if !store::keys::revoke(&mut *tx, key_id).await? {
        return Err(AdminError::NoSuchKey(key_id.to_owned()));
    }
    record(&mut tx, actor, "key.revoke", key_id, json!({})).await?;
    tx.commit().await?;
    Ok(())
}

/// A rotation's outcome: the new key, and when the old one stops working.
#[derive(Serialize)]
pub struct Rotated {
    #[serde(flatten)]
    pub key: KeyCreated,
    pub replaces: String,
    pub old_key_expires_at: chrono::DateTime<chrono::Utc>,
}

/// Issues a new key like `key_id` (account, role, namespace) and ends the old
/// one after `grace_seconds`.
pub async fn rotate_key(
    pool: &PgPool,
    actor: &Actor,
    key_id: &str,
    grace_seconds: u32,
) -> Result<Rotated, AdminError> {
    if crate::domain::KeyId::parse(key_id).is_none() {
        return Err(AdminError::NoSuchKey(key_id.to_owned()));
    }
    let mut tx = pool.begin().await?;
    let old =
        store::keys::info(&mut *tx, key_id).await?.ok_or_else(|| AdminError::NoSuchKey(key_id.into()))?;
    if !store::keys::expire_after(&mut *tx, key_id, grace_seconds as i32).await? {
        return Err(AdminError::NoSuchKey(key_id.to_owned()));
    }
    let role: Role = old.role.parse().map_err(|e| AdminError::Store(store::StoreError::corrupt(e)))?;
    let key = super::create_key_in(&mut tx, &old.account, role, Some(&old.namespace)).await?;
    let old_key_expires_at = store::keys::info(&mut *tx, key_id)
        .await?
        .and_then(|k| k.expires_at)
        .ok_or_else(|| AdminError::NoSuchKey(key_id.to_owned()))?;
    let details = json!({ "new_key_id": key.key_id, "grace_seconds": grace_seconds });
    record(&mut tx, actor, "key.rotate", key_id, details).await?;
    tx.commit().await?;
    Ok(Rotated { key, replaces: key_id.to_owned(), old_key_expires_at })
}

/// Ends a live lease, recording a `force_released` event with the reason.
pub async fn force_release(
    pool: &PgPool,
    actor: &Actor,
    namespace: &NamespaceName,
    name: &str,
    reason: &str,
) -> Result<Option<Ended>, AdminError> {
    let mut tx = pool.begin().await?;
    let force = Force {
        namespace: namespace.as_str(),
        name,
        key_id: actor.key_id.as_deref().unwrap_or("cli"),
        request_id: actor.request_id.as_deref(),
        reason,
    };
    let Some(ended) = store::force_release::force_release(&mut *tx, &force).await? else {
        return Ok(None);
    };
    let target = format!("{namespace}/{name}");
    let details = json!({ "reason": reason, "fencing_token": ended.fencing_token });
    record(&mut tx, actor, "lock.force_release", &target, details).await?;
    tx.commit().await?;
    Ok(Some(ended))
}

/// What `bootstrap` did: minted the operator's first admin key, or found
/// one active already (and minted nothing: run it as often as you like).
#[derive(Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Bootstrapped {
    Minted(KeyCreated),
    AdminKeyExists { account: String, key_id: String },
}

/// A business account `account` with one active admin key, for a new
/// deployment's first sign-in to the console. Runs are serialized, so two at
/// once still mint one key.
pub async fn bootstrap(pool: &PgPool, actor: &Actor, account: &str) -> Result<Bootstrapped, AdminError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('leasehold.admin.bootstrap'))")
        .execute(&mut *tx)
        .await?;
    let existing = match store::accounts::find_by_name(&mut *tx, account).await? {
        Some(found) => found,
        None => {
            let created = super::create_account_in(&mut tx, account, Plan::Business).await?;
            record(&mut tx, actor, "account.create", &created.name, json!({ "plan": Plan::Business }))
                .await?;
            store::accounts::find_by_name(&mut *tx, account)
                .await?
                .ok_or_else(|| AdminError::NoSuchAccount(account.to_owned()))?
        }
    };
    let keys = store::keys::list_for_account(&mut *tx, existing.id).await?;
    let now = chrono::Utc::now();
    let usable = |key: &&store::keys::KeyInfo| {
        key.role == Role::Admin.as_str()
            && key.revoked_at.is_none()
            && key.expires_at.is_none_or(|at| at > now)
    };
    if let Some(key) = keys.iter().find(usable) {
        return Ok(Bootstrapped::AdminKeyExists { account: account.to_owned(), key_id: key.key_id.clone() });
    }
    let created = super::create_key_in(&mut tx, account, Role::Admin, None).await?;
    let details = json!({ "account": created.account, "role": Role::Admin, "namespace": created.namespace });
    record(&mut tx, actor, "key.create", &created.key_id, details).await?;
    tx.commit().await?;
    Ok(Bootstrapped::Minted(created))
}
