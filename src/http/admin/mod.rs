//! The admin API, `/v1/admin/...`: accounts, keys, namespaces, force release
//! and the admin log. Every route needs an admin key; every change is
//! recorded in the admin log with the acting key, the peer and the request id.

pub(crate) mod accounts;
pub(crate) mod keys;
pub(crate) mod namespaces;

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::web::{self, ServiceConfig};
use actix_web::{FromRequest, HttpMessage, HttpRequest};

use crate::http::request_id::RequestId;

pub use accounts::{details, AccountDetails};
pub use namespaces::parse_reason;

use super::error::ApiError;
use super::extract::Caller;
use super::AppState;
use crate::admin::actions::Actor;
use crate::domain::{InvalidInput, LockError, Principal, Role};
use crate::store::{self, accounts::AccountRecord};

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
    .service(resource("/v1/admin/accounts/{account}/usage", "GET").route(web::get().to(accounts::usage)))
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

/// An admin key's caller, and the admin log's record of who acts: the key,
/// its account, the peer and the request id. Without a valid key, 401
/// (`unauthorized`) as for every route; with any other role, 403
/// (`forbidden`).
pub struct Admin {
    pub caller: Principal,
    pub actor: Actor,
}

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let gated = gated(req, payload, |caller| caller.role == Role::Admin, "this needs an admin key");
        Box::pin(async move { gated.await.map(|(caller, actor)| Admin { caller, actor }) })
    }
}

/// The caller and its admin-log actor when `admits` its key; 401 without a
/// valid key, 403 `forbidden` (saying `refusal`) with another.
pub(crate) fn gated(
    req: &HttpRequest,
    payload: &mut Payload,
    admits: fn(&Principal) -> bool,
    refusal: &'static str,
) -> impl Future<Output = Result<(Principal, Actor), ApiError>> {
    let caller = Caller::from_request(req, payload);
    let req = req.clone();
    async move {
        let Caller(caller) = caller.await?;
        if !admits(&caller) {
            return Err(LockError::Forbidden(refusal).into());
        }
        let actor = actor(&req, &caller);
        Ok((caller, actor))
    }
}

/// The acting key, as the admin log records it.
pub fn actor(req: &HttpRequest, caller: &Principal) -> Actor {
    let peer = req.peer_addr().map(|peer| peer.ip());
    Actor {
        key_id: Some(caller.key_id.as_str().to_owned()),
        account_id: Some(caller.account_id),
        source: peer.map_or_else(|| "unknown".to_owned(), |peer| peer.to_string()),
        client_addr: peer,
        request_id: req.extensions().get::<RequestId>().map(ToString::to_string),
    }
}

/// A required field of a body.
pub fn required<T>(value: Option<T>, field: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| InvalidInput::new("invalid_body", format!("{field} is required")).into())
}

/// The account an admin route names, or 404 `account_not_found`.
async fn account_named(state: &AppState, name: &str) -> Result<AccountRecord, ApiError> {
    state
        .db(store::accounts::record(&state.pool, name))
        .await?
        .ok_or_else(|| ApiError::Missing("account_not_found", format!("no account named {name:?}")))
}

/// Where the next page starts: the last item's key when the page is full.
fn next_page<T, K>(found: &[T], limit: i64, key: impl FnOnce(&T) -> K) -> Option<K> {
    (found.len() as i64 == limit).then(|| found.last().map(key)).flatten()
}
