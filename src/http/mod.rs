//! The HTTP layer: routes, extractors, and the mapping of errors to responses.

mod account;
pub mod admin;
pub mod api_schema;
pub mod audit;
pub mod compat;
pub mod dto;
pub mod error;
pub mod extract;
mod health;
mod index;
mod lock_sets;
mod locks;
mod metrics;
pub mod openapi;
mod peer;
pub mod rate_limit;
pub mod request_id;
mod semaphores;
mod signup;
pub mod subdomain;
mod telemetry;
mod usage;
mod verify;
mod watch;
mod webhooks;

use actix_web::web::{self, Data, ServiceConfig};
use actix_web::HttpResponse;
use actix_web::Route;

pub use peer::remember_socket;
pub use telemetry::{request_log, RequestSpan};

use error::ApiError;

pub use crate::app_state::AppState;
use crate::config::PathPrefix;

pub fn routes(cfg: &mut ServiceConfig) {
    let lock_routes = |path: &str| {
        web::resource(path)
            .route(web::post().to(locks::acquire))
            .route(web::get().to(locks::status))
            .route(web::delete().to(locks::release))
            .default_service(serving("GET, POST, DELETE"))
    };
    let renew_route =
        |path: &str| web::resource(path).route(web::post().to(locks::renew)).default_service(serving("POST"));
    let handover_route = |path: &str| {
        web::resource(path).route(web::post().to(locks::handover)).default_service(serving("POST"))
    };
    let verify_route = |path: &str| {
        web::resource(path).route(web::post().to(verify::verify)).default_service(serving("POST"))
    };
    // The lock routes come first: routing, the request span and the metrics
    // each match a request's path against the routes in this order, so the
    // hottest paths are found after a few patterns rather than after all.
    cfg.service(lock_routes("/v1/locks/{name}"))
        .service(renew_route("/v1/locks/{name}/renew"))
        .service(lock_routes("/v1/namespaces/{namespace}/locks/{name}"))
        .service(renew_route("/v1/namespaces/{namespace}/locks/{name}/renew"))
        .service(handover_route("/v1/locks/{name}/handover"))
        .service(handover_route("/v1/namespaces/{namespace}/locks/{name}/handover"))
        .service(verify_route("/v1/locks/{name}/verify"))
        .service(verify_route("/v1/namespaces/{namespace}/locks/{name}/verify"))
        .configure(coordination_routes)
        .service(
            web::resource("/v1/namespaces/{namespace}/locks")
                .route(web::get().to(locks::list))
                .default_service(serving("GET")),
        );
    cfg.configure(compat::routes);
    let history_route =
        |path: &str| web::resource(path).route(web::get().to(audit::history)).default_service(serving("GET"));
    cfg.service(
        web::resource("/v1/audit").route(web::get().to(audit::search)).default_service(serving("GET")),
    )
    .service(history_route("/v1/locks/{name}/history"))
    .service(history_route("/v1/namespaces/{namespace}/locks/{name}/history"))
    .configure(watch_routes)
    .configure(admin::routes);
    cfg.service(
        web::resource("/v1/webhooks")
            .route(web::post().to(webhooks::create))
            .route(web::get().to(webhooks::list))
            .default_service(serving("GET, POST")),
    )
    .service(
        web::resource("/v1/webhooks/{webhook_id}")
            .route(web::delete().to(webhooks::delete))
            .default_service(serving("DELETE")),
    )
    .service(
        web::resource("/v1/webhooks/{webhook_id}/deliveries")
            .route(web::get().to(webhooks::deliveries))
            .default_service(serving("GET")),
    );
    cfg.configure(account_routes);
    cfg.service(web::resource("/healthz").get(health::healthz).default_service(serving("GET")))
        .service(web::resource("/readyz").get(health::readyz).default_service(serving("GET")))
        .service(openapi::openapi_json)
        .service(metrics::endpoint)
        .service(web::resource("/").get(index::index).default_service(serving("GET")));
}

/// Sign-up and an owner key's own account.
fn account_routes(cfg: &mut ServiceConfig) {
    let resource = |path: &str, methods| web::resource(path).default_service(serving(methods));
    cfg.service(resource("/v1/signup", "POST").route(web::post().to(signup::sign_up)))
        .service(resource("/v1/account", "GET").route(web::get().to(account::show)))
        .service(resource("/v1/account/usage", "GET").route(web::get().to(account::show_usage)))
        .service(
            resource("/v1/account/keys", "GET, POST")
                .route(web::get().to(account::list_keys))
                .route(web::post().to(account::create_key)),
        )
        .service(resource("/v1/account/keys/{key_id}", "DELETE").route(web::delete().to(account::revoke_key)))
        .service(
            resource("/v1/account/keys/{key_id}/rotate", "POST").route(web::post().to(account::rotate_key)),
        )
        .service(resource("/v1/account/namespaces", "POST").route(web::post().to(account::create_namespace)))
        .service(
            resource("/v1/account/namespaces/{namespace}", "DELETE")
                .route(web::delete().to(account::delete_namespace)),
        );
}

/// Event streams of a lock and of a namespace, each in the caller's default
/// namespace and in a named one.
fn watch_routes(cfg: &mut ServiceConfig) {
    let route = |path: &str, handler| web::resource(path).route(handler).default_service(serving("GET"));
    cfg.service(route("/v1/locks/{name}/events", web::get().to(watch::lock_events)))
        .service(route("/v1/namespaces/{namespace}/locks/{name}/events", web::get().to(watch::lock_events)))
        .service(route("/v1/events", web::get().to(watch::namespace_events)))
        .service(route("/v1/namespaces/{namespace}/events", web::get().to(watch::namespace_events)));
}

/// Semaphores and lock sets, each in the caller's default namespace and in
/// a named one.
fn coordination_routes(cfg: &mut ServiceConfig) {
    for prefix in ["/v1", "/v1/namespaces/{namespace}"] {
        cfg.service(
            web::resource(format!("{prefix}/semaphores/{{name}}"))
                .route(web::post().to(semaphores::acquire))
                .route(web::get().to(semaphores::status))
                .route(web::delete().to(semaphores::release))
                .default_service(serving("GET, POST, DELETE")),
        )
        .service(
            web::resource(format!("{prefix}/semaphores/{{name}}/renew"))
                .route(web::post().to(semaphores::renew))
                .default_service(serving("POST")),
        )
        .service(
            web::resource(format!("{prefix}/lock-sets"))
                .route(web::post().to(lock_sets::acquire))
                .default_service(serving("POST")),
        )
        .service(
            web::resource(format!("{prefix}/lock-sets/{{set_id}}"))
                .route(web::delete().to(lock_sets::release))
                .default_service(serving("DELETE")),
        )
        .service(
            web::resource(format!("{prefix}/lock-sets/{{set_id}}/renew"))
                .route(web::post().to(lock_sets::renew))
                .default_service(serving("POST")),
        );
    }
}

/// The compatibility APIs again under `prefix`. Registered after every
/// other route: a scope claims every path under its prefix.
pub fn prefixed_compat_routes(prefix: Option<PathPrefix>) -> impl FnOnce(&mut ServiceConfig) {
    move |cfg| {
        if let Some(prefix) = prefix {
            cfg.service(web::scope(prefix.as_str()).configure(compat::routes));
        }
    }
}

pub fn app_data(state: Data<AppState>) -> impl FnOnce(&mut ServiceConfig) {
    move |cfg| {
        cfg.app_data(state)
            .app_data(web::QueryConfig::default().error_handler(|err, _| {
                ApiError::from(crate::domain::InvalidInput::new("invalid_query", err.to_string())).into()
            }))
            .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::NotFound.into()));
    }
}

pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

/// A resource's answer to any method it does not serve: 405, with the `Allow`
/// header RFC 9110 requires naming the `methods` it does.
fn serving(methods: &'static str) -> Route {
    web::to(move || async move { Err::<HttpResponse, _>(ApiError::MethodNotAllowed(methods)) })
}
