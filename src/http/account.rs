//! `/v1/account/...`: an owner key's management of its own account — its
//! overview, usage, keys and namespaces. Every change is the admin action
//! scoped to the caller's account (`crate::admin::self_service`), recorded in
//! the admin log with the owner's key. Other keys: 403 `forbidden`.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::web::{Data, Path, Query};
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::admin::keys::{parse_grace, RotateBody};
use super::admin::{gated, required};
use super::api_schema::AdminErrors;
use super::error::ApiError;
use super::extract::JsonBody;
use super::usage::{respond, UsageRange};
use super::AppState;
use crate::admin::actions::Actor;
use crate::admin::self_service;
use crate::domain::{Principal, Role};
use crate::store::{accounts, namespaces, usage};

/// An owner key's caller and the admin log's record of it.
pub struct Owner {
    pub caller: Principal,
    pub actor: Actor,
}

impl FromRequest for Owner {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let gated = gated(req, payload, Principal::owns_account, "this needs an owner key");
        Box::pin(async move { gated.await.map(|(caller, actor)| Owner { caller, actor }) })
    }
}

/// The account: plan, the plan's limits, namespaces, live locks and today's
/// (UTC) audit events by kind.
#[utoipa::path(get, path = "/v1/account", operation_id = "show_own_account", tag = "accounts",
    responses((status = 200, description = "`{\"account\", \"plan\", \"limits\", \"namespaces\", \"live_locks\", \"usage_today\"}`", body = Object), AdminErrors))]
pub async fn show(state: Data<AppState>, Owner { caller, .. }: Owner) -> Result<HttpResponse, ApiError> {
    let pool = &state.pool;
    let account = state.db(self_service::own_account(pool, &caller)).await?;
    let (owned, live_locks, today) = state
        .db(async {
            tokio::try_join!(
                namespaces::list(pool, Some(caller.account_id), None, 1000),
                accounts::live_locks(pool, caller.account_id, 1000),
                usage::today_by_event(pool, caller.account_id),
            )
        })
        .await?;
    let usage_today: BTreeMap<String, i64> = today.into_iter().collect();
    Ok(HttpResponse::Ok().json(json!({
        "account": account.name,
        "plan": account.plan,
        "created_at": account.created_at,
        "limits": state.leases.rules(&caller),
        "namespaces": owned.into_iter().map(|n| n.name).collect::<Vec<_>>(),
        "live_locks": live_locks,
        "usage_today": usage_today,
    })))
}

/// The account's usage per UTC day, oldest first (docs/accounts.md#usage).
#[utoipa::path(get, path = "/v1/account/usage", operation_id = "show_own_usage", tag = "accounts",
    params(UsageRange),
    responses((status = 200, description = "`{\"account\", \"days\": [{\"date\", \"acquired\", \"renewed\", \"released\", \"expired\", \"force_released\", \"conflicts\", \"waits\", \"peak_live_locks\"}]}`; 400 `invalid_date`, `invalid_range`", body = Object), AdminErrors))]
pub async fn show_usage(
    state: Data<AppState>,
    Owner { caller, .. }: Owner,
    Query(range): Query<UsageRange>,
) -> Result<HttpResponse, ApiError> {
    let account = state.db(self_service::own_account(&state.pool, &caller)).await?;
    respond(&state, account.id, &account.name, &range).await
}

/// The account's keys: ids, role, namespace, created, last used; never secrets.
#[utoipa::path(get, path = "/v1/account/keys", operation_id = "list_own_keys", tag = "accounts",
    responses((status = 200, description = "`{\"keys\": [...]}`", body = Object), AdminErrors))]
pub async fn list_keys(state: Data<AppState>, Owner { caller, .. }: Owner) -> Result<HttpResponse, ApiError> {
    let keys = state.db(self_service::list_keys(&state.pool, &caller)).await?;
    Ok(HttpResponse::Ok().json(json!({ "keys": keys })))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = OwnKeyCreateBody)]
#[serde(deny_unknown_fields)]
pub struct KeyBody {
    role: Option<String>,
    namespace: Option<String>,
}

/// A client or owner key of the account; the clear key is shown once.
#[utoipa::path(post, path = "/v1/account/keys", operation_id = "create_own_key", tag = "accounts",
    request_body(content = KeyBody, content_type = "application/json"),
    responses((status = 201, description = "`{\"key_id\", \"key\", \"account\", \"role\", \"namespace\"}`", body = Object), AdminErrors))]
pub async fn create_key(
    state: Data<AppState>,
    Owner { caller, actor }: Owner,
    JsonBody(body): JsonBody<KeyBody>,
) -> Result<HttpResponse, ApiError> {
    let role: Role = required(body.role, "role")?.parse()?;
    let namespace = body.namespace.as_deref();
    let created = state.db(self_service::create_key(&state.pool, &actor, &caller, role, namespace)).await?;
    Ok(HttpResponse::Created().json(created))
}

/// Revoke one of the account's keys; another account's key id is 404.
#[utoipa::path(delete, path = "/v1/account/keys/{key_id}", operation_id = "revoke_own_key", tag = "accounts",
    params(("key_id" = String, Path)), responses((status = 204, description = "Revoked"), AdminErrors))]
pub async fn revoke_key(
    state: Data<AppState>,
    Owner { caller, actor }: Owner,
    path: Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.db(self_service::revoke_key(&state.pool, &actor, &caller, &path)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A new key like the old one, which keeps working for the grace period (a
/// day unless `grace_seconds` says otherwise, at most a week).
#[utoipa::path(post, path = "/v1/account/keys/{key_id}/rotate", operation_id = "rotate_own_key", tag = "accounts",
    params(("key_id" = String, Path)), request_body(content = RotateBody, content_type = "application/json"),
    responses((status = 201, description = "The new key, shown once", body = Object), AdminErrors))]
pub async fn rotate_key(
    state: Data<AppState>,
    Owner { caller, actor }: Owner,
    path: Path<String>,
    JsonBody(body): JsonBody<RotateBody>,
) -> Result<HttpResponse, ApiError> {
    let grace = parse_grace(body.grace_seconds)?;
    let rotated = state.db(self_service::rotate_key(&state.pool, &actor, &caller, &path, grace)).await?;
    Ok(HttpResponse::Created().json(rotated))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = OwnNamespaceBody)]
#[serde(deny_unknown_fields)]
pub struct NamespaceBody {
    name: Option<String>,
}

/// A private namespace for a business account (hobbyist: 403 `plan_forbids`).
#[utoipa::path(post, path = "/v1/account/namespaces", operation_id = "create_own_namespace", tag = "accounts",
    request_body(content = NamespaceBody, content_type = "application/json"),
    responses((status = 201, description = "`{\"namespace\", \"account\"}`", body = Object), AdminErrors))]
pub async fn create_namespace(
    state: Data<AppState>,
    Owner { caller, actor }: Owner,
    JsonBody(body): JsonBody<NamespaceBody>,
) -> Result<HttpResponse, ApiError> {
    let name = required(body.name, "name")?;
    let created = state
        .db(self_service::create_namespace(&state.pool, state.leases.plans(), &actor, &caller, &name))
        .await?;
    Ok(HttpResponse::Created().json(created))
}

/// Delete one of the account's namespaces that holds no live lock and that no
/// key has as its default.
#[utoipa::path(delete, path = "/v1/account/namespaces/{namespace}", operation_id = "delete_own_namespace", tag = "accounts",
    params(("namespace" = String, Path)), responses((status = 204, description = "Deleted"), AdminErrors))]
pub async fn delete_namespace(
    state: Data<AppState>,
    Owner { caller, actor }: Owner,
    path: Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.db(self_service::delete_namespace(&state.pool, &actor, &caller, &path)).await?;
    Ok(HttpResponse::NoContent().finish())
}
