//! What every handler (API, console, metrics) shares.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;

use crate::auth::Authenticator;
use crate::config::{CompatSettings, ConsoleSettings};
use crate::leases::Leases;
use crate::store::{self, StoreError};
use crate::tenancy::Namespaces;
use crate::watch::Watchers;
use crate::webhooks::Webhooks;

pub struct AppState {
    pub pool: PgPool,
    pub auth: Authenticator,
    pub namespaces: Namespaces,
    /// The lease engine every lock operation goes through.
    pub leases: Leases,
    pub db_timeout: Duration,
    pub body_limit: usize,
    /// `http.base_domain`, lowercased: see `http::subdomain`.
    pub base_domain: Option<String>,
    pub console: ConsoleSettings,
    pub compat: CompatSettings,
    pub webhooks: Webhooks,
    /// The replica's audit-event streams (`GET {lock}/events`).
    pub watch: Arc<Watchers>,
}

impl AppState {
    /// Database work within the configured bound (`store::bounded`).
    pub async fn db<T, E: From<StoreError>>(&self, work: impl Future<Output = Result<T, E>>) -> Result<T, E> {
        store::bounded(self.db_timeout, work).await
    }
}
