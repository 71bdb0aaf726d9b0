//! Webhooks: `POST/GET /v1/webhooks`, `DELETE /v1/webhooks/{webhook_id}`
//! and `GET /v1/webhooks/{webhook_id}/deliveries`, for keys of business
//! accounts; another account's webhook is not found.

use actix_web::web::{Data, Path, Query};
use actix_web::HttpResponse;
use serde::Deserialize;
use serde_json::json;

use super::admin::required;
use super::api_schema::WebhookErrors;
use super::error::ApiError;
use super::extract::{Caller, JsonBody};
use super::AppState;
use crate::domain::page_limit;
use crate::webhooks::Registration;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookBody {
    /// An http(s) URL on a public address.
    url: Option<String>,
    /// Audit events to deliver: acquired, renewed, released, expired, force_released, verified.
    events: Option<Vec<String>>,
    /// Only this namespace's events; absent, every namespace of the account.
    namespace: Option<String>,
}

/// Register a webhook; the answer carries its signing secret, shown only this once.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks",
    request_body(content = WebhookBody, content_type = "application/json"),
    responses((status = 201, description = "`{\"id\", \"url\", \"events\", \"namespace\", \"created_at\", \"secret\"}`", body = Object),
        WebhookErrors))]
pub async fn create(
    state: Data<AppState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody<WebhookBody>,
) -> Result<HttpResponse, ApiError> {
    let registration = Registration {
        url: required(body.url, "url")?,
        events: required(body.events, "events")?,
        namespace: body.namespace,
    };
    let registered = state.webhooks.register(&caller, registration).await?;
    Ok(HttpResponse::Created().json(registered))
}

/// The account's webhooks (without their secrets).
#[utoipa::path(get, path = "/v1/webhooks", operation_id = "list_webhooks", tag = "webhooks",
    responses((status = 200, description = "`{\"webhooks\": [...]}`", body = Object), WebhookErrors))]
pub async fn list(state: Data<AppState>, Caller(caller): Caller) -> Result<HttpResponse, ApiError> {
    let webhooks = state.db(state.webhooks.list(&caller)).await?;
    Ok(HttpResponse::Ok().json(json!({ "webhooks": webhooks })))
}

/// Delete a webhook: no more deliveries.
#[utoipa::path(delete, path = "/v1/webhooks/{webhook_id}", operation_id = "delete_webhook", tag = "webhooks",
    params(("webhook_id" = String, Path)),
    responses((status = 204, description = "Deleted"), WebhookErrors))]
pub async fn delete(
    state: Data<AppState>,
    Caller(caller): Caller,
    path: Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.db(state.webhooks.delete(&caller, &path)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// `next_before` of the previous page.
    before: Option<i64>,
    /// 1 to 1000.
    limit: Option<i64>,
}

/// A webhook's delivery attempts, newest first.
#[utoipa::path(get, path = "/v1/webhooks/{webhook_id}/deliveries", tag = "webhooks",
    params(("webhook_id" = String, Path), DeliveryParams),
    responses((status = 200, description = "`{\"deliveries\": [...], \"next_before\"}`", body = Object),
        WebhookErrors))]
pub async fn deliveries(
    state: Data<AppState>,
    Caller(caller): Caller,
    path: Path<String>,
    Query(params): Query<DeliveryParams>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(params.limit)?;
    let found = state.db(state.webhooks.deliveries(&caller, &path, params.before, limit)).await?;
    let next = (found.len() as i64 == limit).then(|| found.last().map(|d| d.id)).flatten();
    Ok(HttpResponse::Ok().json(json!({ "deliveries": found, "next_before": next })))
}
