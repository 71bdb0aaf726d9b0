//! The HTTP layer: routes, extractors, and the mapping of errors to responses.

pub mod admin;
pub mod audit;
pub mod compat;
pub mod dto;
pub mod error;
pub mod extract;
mod health;
mod locks;
pub mod openapi;
mod peer;
pub mod rate_limit;
mod retries;
mod telemetry;

use std::future::Future;
use std::time::Duration;

use actix_web::web::{self, Data, ServiceConfig};
use actix_web::HttpResponse;
use actix_web::Route;
use sqlx::PgPool;

pub use peer::remember_socket;
pub use telemetry::{request_log, RequestSpan};

use crate::auth::Authenticator;
use crate::domain::Plans;
use crate::store::StoreError;
use crate::tenancy::Namespaces;
use error::ApiError;

/// What every handler shares.
pub struct AppState {
    pub pool: PgPool,
    pub plans: Plans,
    pub auth: Authenticator,
    pub namespaces: Namespaces,
    pub waiting: crate::waiting::Waiting,
    pub db_timeout: Duration,
    pub body_limit: usize,
    pub console: crate::config::ConsoleSettings,
    pub compat: crate::config::CompatSettings,
}

impl AppState {
    /// Runs database work within the configured bound, so a database that
    /// hangs yields a 503 rather than a request that never answers.
    pub async fn db<T, E: From<StoreError>>(&self, work: impl Future<Output = Result<T, E>>) -> Result<T, E> {
        tokio::time::timeout(self.db_timeout, work).await.unwrap_or_else(|_| Err(StoreError::TimedOut.into()))
    }
}

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
    // The lock routes come first: routing, the request span and the metrics
    // each match a request's path against the routes in this order, so the
    // hottest paths are found after a few patterns rather than after all.
    cfg.service(lock_routes("/v1/locks/{name}"))
        .service(renew_route("/v1/locks/{name}/renew"))
        .service(lock_routes("/v1/namespaces/{namespace}/locks/{name}"))
        .service(renew_route("/v1/namespaces/{namespace}/locks/{name}/renew"))
        .service(handover_route("/v1/locks/{name}/handover"))
        .service(handover_route("/v1/namespaces/{namespace}/locks/{name}/handover"))
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
    .configure(admin::routes)
    .configure(crate::console::routes);
    cfg.service(web::resource("/healthz").get(health::healthz).default_service(serving("GET")))
        .service(web::resource("/readyz").get(health::readyz).default_service(serving("GET")))
        .service(openapi::openapi_json)
        .service(crate::metrics::endpoint);
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
