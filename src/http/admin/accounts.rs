use actix_web::web::{Data, Path, Query};
use actix_web::{HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing_actix_web::RequestId;

use super::{actor, limit, require_admin, required};
use crate::admin::actions;
use crate::domain::Plan;
use crate::http::error::ApiError;
use crate::http::extract::{Caller, JsonBody};
use crate::http::openapi::AdminErrors;
use crate::http::AppState;
use crate::store::accounts::{self, AccountRecord, HeldLock};
use crate::store::keys::{self, KeyInfo};
use crate::store::namespaces::{self, NamespaceRecord};

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = AccountCreateBody)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    name: Option<String>,
    plan: Option<String>,
}

/// Create an account; a business account also gets a namespace of its name.
#[utoipa::path(post, path = "/v1/admin/accounts", tag = "admin",
    request_body(content = CreateBody, content_type = "application/json"),
    responses((status = 201, description = "The account", body = Object), AdminErrors))]
pub async fn create(
    req: HttpRequest,
    state: Data<AppState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody<CreateBody>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    require_admin(&caller)?;
    let plan: Plan = required(body.plan, "plan")?.parse()?;
    let name = required(body.name, "name")?;
    let actor = actor(&req, &caller, &request_id);
    let created = state.db(actions::create_account(&state.pool, &actor, &name, plan)).await?;
    Ok(HttpResponse::Created().json(created))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    after: Option<String>,
    limit: Option<i64>,
}

/// List accounts by name, a page at a time.
#[utoipa::path(get, path = "/v1/admin/accounts", tag = "admin", params(ListParams),
    responses((status = 200, description = "`{\"accounts\": [...], \"next_after\"}`", body = Object), AdminErrors))]
pub async fn list(
    state: Data<AppState>,
    Caller(caller): Caller,
    Query(params): Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&caller)?;
    let limit = limit(params.limit)?;
    let found = state.db(accounts::list(&state.pool, params.after.as_deref(), limit)).await?;
    let next = (found.len() as i64 == limit).then(|| found.last().map(|a| a.name.clone())).flatten();
    Ok(HttpResponse::Ok().json(json!({ "accounts": found, "next_after": next })))
}

/// An account with its namespaces, keys (never secrets) and live locks.
#[derive(Serialize)]
pub struct AccountDetails {
    #[serde(flatten)]
    pub account: AccountRecord,
    pub namespaces: Vec<NamespaceRecord>,
    pub keys: Vec<KeyInfo>,
    pub live_locks: Vec<HeldLock>,
}

/// The account page's data: also what the console shows.
pub async fn details(state: &AppState, name: &str) -> Result<AccountDetails, ApiError> {
    let pool = &state.pool;
    let account = state
        .db(accounts::record(pool, name))
        .await?
        .ok_or_else(|| ApiError::Missing("account_not_found", format!("no account named {name:?}")))?;
    let (namespaces, keys, live_locks) = state
        .db(async {
            tokio::try_join!(
                namespaces::list(pool, Some(account.id), None, 1000),
                keys::list_for_account(pool, account.id),
                accounts::live_locks(pool, account.id, 1000),
            )
        })
        .await?;
    Ok(AccountDetails { account, namespaces, keys, live_locks })
}

/// An account with its namespaces, keys (never secrets) and live locks.
#[utoipa::path(get, path = "/v1/admin/accounts/{account}", tag = "admin", params(("account" = String, Path)),
    responses((status = 200, description = "The account", body = Object), AdminErrors))]
pub async fn show(
    state: Data<AppState>,
    Caller(caller): Caller,
    path: Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&caller)?;
    Ok(HttpResponse::Ok().json(details(&state, &path).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = AccountUpdateBody)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    plan: Option<String>,
    disabled: Option<bool>,
}

/// Changes the plan, or disables (`"disabled": true`) or re-enables it.
#[utoipa::path(patch, path = "/v1/admin/accounts/{account}", tag = "admin", params(("account" = String, Path)),
    request_body(content = UpdateBody, content_type = "application/json"),
    responses((status = 200, description = "The account", body = Object), AdminErrors))]
pub async fn update(
    req: HttpRequest,
    state: Data<AppState>,
    Caller(caller): Caller,
    path: Path<String>,
    JsonBody(body): JsonBody<UpdateBody>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    require_admin(&caller)?;
    let plan = body.plan.map(|p| p.parse::<Plan>()).transpose()?;
    let actor = actor(&req, &caller, &request_id);
    let updated = state.db(actions::update_account(&state.pool, &actor, &path, plan, body.disabled)).await?;
    Ok(HttpResponse::Ok().json(updated))
}
