//! The admin API, `/v1/admin/...`: accounts, keys, namespaces, force release
//! and the admin log. Every route needs an admin key; every change is
//! recorded in the admin log with the acting key, the peer and the request id.

pub(crate) mod accounts;
pub(crate) mod keys;
pub(crate) mod namespaces;

use actix_web::web::{self, ServiceConfig};
use actix_web::HttpRequest;
use tracing_actix_web::RequestId;

pub use accounts::{details, AccountDetails};
pub use namespaces::parse_reason;

use super::error::ApiError;
use crate::admin::actions::Actor;
use crate::domain::{InvalidInput, LockError, Principal};

pub fn routes(cfg: &mut ServiceConfig) {
    let resource = |path: &str, methods| web::resource(path).default_service(super::serving(methods));
    cfg.service(
        resource("/v1/admin/accounts", "GET, POST")
            .route(web::get().to(accounts::list))
            .route(web::post().to(accounts::create)),
    )
    .service(
        resource("/v1/admin/accounts/{account}", "GET, PATCH")
            .route(web::get().to(accounts::show))
            .route(web::patch().to(accounts::update)),
    )
    .service(
        resource("/v1/admin/accounts/{account}/keys", "GET, POST")
            .route(web::get().to(keys::list))
            .route(web::post().to(keys::create)),
    )
    .service(resource("/v1/admin/keys/{key_id}", "DELETE").route(web::delete().to(keys::revoke)))
    .service(resource("/v1/admin/keys/{key_id}/rotate", "POST").route(web::post().to(keys::rotate)))
    .service(
        resource("/v1/admin/namespaces", "GET, POST")
            .route(web::get().to(namespaces::list))
            .route(web::post().to(namespaces::create)),
    )
    .service(
        resource("/v1/admin/namespaces/{namespace}", "DELETE").route(web::delete().to(namespaces::delete)),
    )
    .service(
        resource("/v1/admin/namespaces/{namespace}/locks/{name}", "DELETE")
            .route(web::delete().to(namespaces::force_release)),
    )
    .service(resource("/v1/admin/log", "GET").route(web::get().to(namespaces::log)));
}

/// Admin routes answer 403 to any other role.
pub fn require_admin(caller: &Principal) -> Result<(), ApiError> {
    match caller.role {
        crate::domain::Role::Admin => Ok(()),
        _ => Err(LockError::Forbidden("this needs an admin key").into()),
    }
}

/// The acting admin, as the admin log records it.
pub fn actor(req: &HttpRequest, caller: &Principal, request_id: &RequestId) -> Actor {
    let source = req.peer_addr().map_or_else(|| "unknown".to_owned(), |peer| peer.ip().to_string());
    Actor {
        key_id: Some(caller.key_id.as_str().to_owned()),
        account_id: Some(caller.account_id),
        source,
        request_id: Some(request_id.to_string()),
    }
}

/// A required field of a body.
pub fn required<T>(value: Option<T>, field: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| InvalidInput::new("invalid_body", format!("{field} is required")).into())
}

/// `limit` of a listing: 1 to 1000, 100 by default.
pub fn limit(value: Option<i64>) -> Result<i64, ApiError> {
    match value.unwrap_or(100) {
        limit @ 1..=1000 => Ok(limit),
        _ => Err(InvalidInput::new("invalid_limit", "limit must be between 1 and 1000").into()),
    }
}
