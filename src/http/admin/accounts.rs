use actix_web::web::{Data, Path, Query};
use actix_web::HttpResponse;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{account_named, next_page, required, Admin};
use crate::admin::actions;
use crate::domain::{page_limit, Plan};
use crate::http::api_schema::AdminErrors;
use crate::http::error::ApiError;
use crate::http::extract::JsonBody;
use crate::http::usage::{respond, UsageRange};
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
#[utoipa::path(post, path = "/v1/admin/accounts", operation_id = "create_account", tag = "admin",
    request_body(content = CreateBody, content_type = "application/json"),
    responses((status = 201, description = "The account", body = Object), AdminErrors))]
pub async fn create(
    state: Data<AppState>,
    Admin { actor, .. }: Admin,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<HttpResponse, ApiError> {
    let plan: Plan = required(body.plan, "plan")?.parse()?;
    let name = required(body.name, "name")?;
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
#[utoipa::path(get, path = "/v1/admin/accounts", operation_id = "list_accounts", tag = "admin", params(ListParams),
    responses((status = 200, description = "`{\"accounts\": [...], \"next_after\"}`", body = Object), AdminErrors))]
pub async fn list(
    state: Data<AppState>,
    _: Admin,
    Query(params): Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(params.limit)?;
    let found = state.db(accounts::list(&state.pool, params.after.as_deref(), limit)).await?;
    let next = next_page(&found, limit, |a| a.name.clone());
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
    let account = account_named(state, name).await?;
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
pub async fn show(state: Data<AppState>, _: Admin, path: Path<String>) -> Result<HttpResponse, ApiError> {
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
    state: Data<AppState>,
    Admin { actor, .. }: Admin,
    path: Path<String>,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<HttpResponse, ApiError> {
    let plan = body.plan.map(|p| p.parse::<Plan>()).transpose()?;
    let updated = state.db(actions::update_account(&state.pool, &actor, &path, plan, body.disabled)).await?;
    Ok(HttpResponse::Ok().json(updated))
}

/// Any account's usage per UTC day, oldest first, as its owner reads it
/// (docs/accounts.md#usage).
#[utoipa::path(get, path = "/v1/admin/accounts/{account}/usage", operation_id = "show_account_usage", tag = "admin",
    params(("account" = String, Path), UsageRange),
    responses((status = 200, description = "`{\"account\", \"days\": [...]}` as `GET /v1/account/usage`", body = Object), AdminErrors))]
pub async fn usage(
    state: Data<AppState>,
    _: Admin,
    path: Path<String>,
    Query(range): Query<UsageRange>,
) -> Result<HttpResponse, ApiError> {
    let account = account_named(&state, &path).await?;
    respond(&state, account.id, &account.name, &range).await
}
