//! `POST /v1/signup`: a hobbyist account and its owner key, for anyone, when
//! `signup.enabled`; off, 403 `signup_disabled`. Limited per client address (`signup.per_hour`).

use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;

use super::admin::required;
use super::error::ApiError;
use super::extract::JsonBody;
use super::rate_limit::signup::SignupLimiter;
use super::request_id::RequestId;
use super::AppState;
use crate::admin::self_service;
use crate::domain::Actor;
use actix_web::HttpMessage;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupBody {
    account: Option<String>,
}

/// Sign up: a hobbyist account named `account` and its first owner key,
/// shown once. Answers 403 `signup_disabled` when the server does not offer it.
#[utoipa::path(post, path = "/v1/signup", tag = "accounts", security(()),
    request_body(content = SignupBody, content_type = "application/json"),
    responses(
        (status = 201, description = "`{\"account\", \"plan\": \"hobbyist\", \"key\", \"key_id\", \"role\": \"owner\"}`", body = Object),
        (status = 400, description = "`invalid_account_name`, `invalid_body`", body = super::api_schema::ErrorResponse),
        (status = 403, description = "`signup_disabled`: sign-up is off on this server", body = super::api_schema::ErrorResponse),
        (status = 409, description = "`already_exists`: the name is taken", body = super::api_schema::ErrorResponse),
        (status = 429, description = "`rate_limited`: too many sign-ups from this address", body = super::api_schema::ErrorResponse)))]
pub async fn sign_up(
    req: HttpRequest,
    state: Data<AppState>,
    limiter: Data<SignupLimiter>,
    body: Result<JsonBody<SignupBody>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    // Off, every request is refused alike, whatever its body.
    if !limiter.enabled {
        return Err(ApiError::SignupDisabled);
    }
    let JsonBody(body) = body?;
    let peer = req.peer_addr().map(|peer| peer.ip());
    let address = peer.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into());
    limiter.take(address).map_err(ApiError::RateLimited)?;
    let name = required(body.account, "account")?;
    let actor = Actor {
        source: address.to_string(),
        client_addr: peer,
        request_id: req.extensions().get::<RequestId>().map(ToString::to_string),
        ..Actor::default()
    };
    let signed_up = state.db(self_service::sign_up(&state.pool, &actor, &name)).await?;
    Ok(HttpResponse::Created().json(signed_up))
}
