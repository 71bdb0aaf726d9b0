//! The OpenAPI 3.1 document of the native API, generated from the handlers'
//! annotations and served at `/openapi.json`.

use std::sync::OnceLock;

use actix_web::{get, HttpResponse};
use utoipa::openapi::path::{Parameter, PathItem};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::api_schema::ErrorResponse;
use super::dto::{AcquireBody, HandoverBody, LockList, LockView, ReleaseBody, RenewBody};
use super::lock_sets::{LockSetBody, LockSetView};
use super::semaphores::{PermitView, SemaphoreBody, SemaphoreView};
use super::verify::{VerifyBody, VerifyView};
use super::webhooks::WebhookBody;
use super::{
    account, admin, audit, compat, health, index, lock_sets, locks, semaphores, signup, verify, watch,
    webhooks,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Leasehold", description = "A durable lock server backed by PostgreSQL."),
    paths(
        locks::acquire, locks::status, locks::renew, locks::release, locks::handover, locks::list,
        verify::verify,
        semaphores::acquire, semaphores::status, semaphores::renew, semaphores::release,
        lock_sets::acquire, lock_sets::renew, lock_sets::release,
        index::index, health::healthz, health::readyz,
        audit::search, audit::history, watch::lock_events, watch::namespace_events,
        webhooks::create, webhooks::list, webhooks::delete, webhooks::deliveries,
        signup::sign_up, account::show, account::show_usage, account::list_keys, account::create_key, account::revoke_key,
        account::rotate_key, account::create_namespace, account::delete_namespace,
        admin::accounts::create, admin::accounts::list, admin::accounts::show, admin::accounts::update,
        admin::accounts::usage,
        admin::keys::list, admin::keys::create, admin::keys::revoke, admin::keys::rotate,
        admin::namespaces::list, admin::namespaces::create, admin::namespaces::delete,
        admin::namespaces::force_release, admin::namespaces::log,
        compat::lockable::acquire, compat::lockable::heartbeat, compat::lockable::release,
        compat::locklock::acquire, compat::locklock::release, compat::locklock::status,
        compat::mutex_uno::acquire, compat::mutex_uno::release, compat::mutex_uno::status
    ),
    components(schemas(
        AcquireBody, RenewBody, ReleaseBody, HandoverBody, LockView, LockList, ErrorResponse,
        SemaphoreBody, PermitView, SemaphoreView, LockSetBody, LockSetView, VerifyBody, VerifyView,
        WebhookBody
    )),
    modifiers(&Security, &DefaultNamespaceRoutes, &CompatRoutes),
    security(("bearer" = []), ("basic" = [])),
    tags(
        (name = "locks", description = "Acquire, renew, release, hand over and read locks"),
        (name = "semaphores", description = "Up to `limit` holders of one name at once"),
        (name = "lock-sets", description = "Several locks taken together: all or none"),
        (name = "audit", description = "Who held what, when, and how it ended"),
        (name = "webhooks", description = "Audit events POSTed, signed, to your endpoints (docs/webhooks.md)"),
        (name = "accounts", description = "Sign-up, and an owner key's own account (docs/accounts.md)"),
        (name = "admin", description = "Accounts, keys and namespaces (admin keys only)"),
        (name = "compat", description = "Drop-in Lockable, Locklock and mutex.uno APIs (docs/compat.md)")
    )
)]
struct NativeApi;

/// The document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(NativeApi::openapi)
}

#[get("/openapi.json")]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(document())
}

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        components.add_security_scheme("basic", SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)));
    }
}

/// Each `/v1/namespaces/{namespace}/locks/{name}...` route (and each
/// semaphore, lock-set and namespace-events route) also exists without its first two
/// segments, as `/v1/locks/{name}...`, in the key's default namespace.
struct DefaultNamespaceRoutes;

impl Modify for DefaultNamespaceRoutes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        const NAMESPACED: &str = "/v1/namespaces/{namespace}";
        const ALSO_SHORT: [&str; 4] = ["/locks/{name}", "/semaphores/{name}", "/lock-sets", "/events"];
        let short: Vec<(String, PathItem)> = doc
            .paths
            .paths
            .iter()
            .filter_map(|(path, item)| {
                let rest = path.strip_prefix(NAMESPACED)?;
                ALSO_SHORT.iter().any(|p| rest.starts_with(p)).then(|| (format!("/v1{rest}"), item))
            })
            .map(|(path, item)| (path, without_namespace(item.clone())))
            .collect();
        doc.paths.paths.extend(short);
    }
}

/// Lockable answers POST as it does GET; Locklock's `/lock/uuid/{uuid}`
/// (the shared namespace) works as `/lock/key/{name}` does.
struct CompatRoutes;

impl Modify for CompatRoutes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for path in ["/v1/acquire/{name}", "/v1/heartbeat/{name}", "/v1/release/{name}"] {
            if let Some(item) = doc.paths.paths.get_mut(path) {
                item.post = item.get.clone().map(|mut operation| {
                    operation.operation_id = operation.operation_id.map(|id| format!("{id}_post"));
                    operation
                });
            }
        }
        if let Some(item) = doc.paths.paths.get("/lock/key/{name}").cloned() {
            doc.paths.paths.insert("/lock/uuid/{uuid}".to_owned(), by_uuid(item));
        }
    }
}

fn by_uuid(mut item: PathItem) -> PathItem {
    for operation in [&mut item.get, &mut item.post, &mut item.delete].into_iter().flatten() {
        for parameter in operation.parameters.iter_mut().flatten() {
            if parameter.name == "name" {
                parameter.name = "uuid".to_owned();
                parameter.description = Some("A UUID: the lock's name in the shared namespace".to_owned());
            }
        }
        if let Some(id) = operation.operation_id.as_mut() {
            id.push_str("_by_uuid");
        }
    }
    item
}

fn without_namespace(mut item: PathItem) -> PathItem {
    let operations = [&mut item.get, &mut item.post, &mut item.delete, &mut item.put, &mut item.patch];
    for operation in operations.into_iter().flatten() {
        if let Some(parameters) = operation.parameters.as_mut() {
            parameters.retain(|p: &Parameter| p.name != "namespace");
        }
        if let Some(id) = operation.operation_id.as_mut() {
            id.push_str("_in_default_namespace");
        }
    }
    item
}
