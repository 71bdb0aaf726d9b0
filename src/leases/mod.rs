//! The lease engine: for every API (native, Lockable, Locklock, mutex.uno,
//! the console, the command line) the one path from an authenticated caller
//! to an outcome. It decides tenancy, applies the plan's rules, claims and
//! replays Idempotency-Keys, waits fairly, bounds each database call by the
//! configured timeout, calls the store and counts what it decided. Handlers
//! only parse and render.

mod acquire;
mod batch;
mod change;
mod idempotency;
mod lock_sets;
mod semaphores;
mod sets;
mod verify;
mod waiting;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::OnceCell;

use crate::domain::{Actor, Api, ApiKey, LockError, NamespaceName, PlanRules, Plans, Principal};
use crate::metrics::Metrics;
use crate::store::{self, StoreError};
use crate::tenancy::{Access, Namespaces, TenancyError};
use crate::usage::UsageCounters;
use crate::wake::WakeHub;

pub use acquire::{AcquireRequest, Acquired, Granted, LeaseLength};
pub use change::{ForceRelease, HandoverRequest, ListPage, LockRef};
pub use lock_sets::{SetAcquired, SetRequest};
pub use semaphores::{Permit, PermitAcquired, PermitRequest};
pub use sets::SetSettings;

/// Who asks, through which API, and what identifies the request.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// `None`: an anonymous caller of a compatibility API that serves them.
    pub caller: Option<&'a Principal>,
    /// The key the caller presented, from which a retried grant's token is
    /// derived again.
    pub key: Option<&'a ApiKey>,
    pub api: Api,
    pub peer: Option<IpAddr>,
    pub request_id: &'a str,
    /// Already checked: 1 to 255 visible ASCII characters.
    pub idempotency_key: Option<&'a str>,
}

/// Why the engine gives no outcome.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error(transparent)]
    Refused(#[from] LockError),
    /// A compatibility caller's proof does not hold the live lease shown.
    #[error("the lock is held by another holder")]
    HeldByAnother(Box<crate::domain::Lock>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<TenancyError> for LeaseError {
    fn from(e: TenancyError) -> Self {
        match e {
            TenancyError::Refused(e) => Self::Refused(e),
            TenancyError::Store(e) => Self::Store(e),
        }
    }
}

impl From<crate::domain::InvalidInput> for LeaseError {
    fn from(e: crate::domain::InvalidInput) -> Self {
        Self::Refused(e.into())
    }
}

/// The engine's settings.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub plans: Plans,
    pub db_timeout: Duration,
    /// How long a waiter's place lives without another attempt.
    pub place_lease: Duration,
    /// Group commit: `None` sends every operation in a statement of its own.
    pub sets: Option<SetSettings>,
}

#[derive(Clone)]
pub struct Leases {
    pool: PgPool,
    settings: EngineSettings,
    namespaces: Namespaces,
    waiting: waiting::Waiting,
    sets: Option<sets::Sets>,
    metrics: Arc<Metrics>,
    /// Conflicts and waits per account, for the daily usage rows.
    usage: Arc<UsageCounters>,
    anonymous: Arc<OnceCell<i64>>,
}

impl Leases {
    pub fn new(
        pool: PgPool,
        settings: EngineSettings,
        namespaces: Namespaces,
        wake: Arc<WakeHub>,
        metrics: Arc<Metrics>,
        usage: Arc<UsageCounters>,
    ) -> Self {
        let sets = settings.sets.map(|set| sets::Sets::start(&pool, set, &metrics));
        let acquires = sets.as_ref().map(|s| s.acquires.clone());
        let waiting = waiting::Waiting::new(
            pool.clone(),
            wake,
            settings.place_lease,
            settings.db_timeout,
            acquires,
            usage.clone(),
        );
        Self { pool, settings, namespaces, waiting, sets, metrics, usage, anonymous: Arc::default() }
    }

    /// Every plan's rules, as configured.
    pub fn plans(&self) -> &Plans {
        &self.settings.plans
    }

    /// The rules of the caller's plan.
    pub fn rules(&self, caller: &Principal) -> &PlanRules {
        self.settings.plans.rules(caller.plan)
    }

    /// Database work within the configured bound.
    async fn db<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        store::bounded(self.settings.db_timeout, work).await
    }

    /// The namespace `call` may have `access` to: the one asked for, else
    /// the caller's default. An anonymous caller reaches the shared one only.
    pub async fn authorize(
        &self,
        call: &Call<'_>,
        namespace: Option<NamespaceName>,
        access: Access,
    ) -> Result<NamespaceName, LeaseError> {
        match call.caller {
            Some(caller) => {
                let namespace = namespace.unwrap_or_else(|| caller.namespace.clone());
                Ok(self.namespaces.authorize(caller, namespace, access).await?)
            }
            None => match namespace {
                Some(namespace) if !namespace.is_public() => Err(LockError::NamespaceNotFound.into()),
                _ => Ok(NamespaceName::public()),
            },
        }
    }

    /// Who acts, as the audit trail records it: an anonymous caller as the
    /// reserved anonymous account.
    async fn actor(&self, call: &Call<'_>) -> Result<Actor, StoreError> {
        let account_id = match call.caller {
            Some(caller) => caller.account_id,
            None => *self.anonymous.get_or_try_init(|| self.anonymous_account()).await?,
        };
        Ok(Actor {
            key_id: call.caller.map(|c| c.key_id.as_str().to_owned()),
            account_id: Some(account_id),
            source: call.peer.map_or_else(|| "unknown".to_owned(), |p| p.to_string()),
            client_addr: call.peer,
            request_id: Some(call.request_id.to_owned()),
        })
    }

    async fn anonymous_account(&self) -> Result<i64, StoreError> {
        let account = self.db(store::accounts::find_by_name(&self.pool, ANONYMOUS_ACCOUNT)).await?;
        account.map(|a| a.id).ok_or_else(|| StoreError::corrupt(MissingAnonymousAccount))
    }

    /// Counts a decided outcome and the audit rows it wrote.
    fn count(&self, api: Api, outcome: &'static str, audit_rows: u64) {
        self.metrics.lock_outcome(api.as_str(), outcome);
        self.metrics.audit_rows(audit_rows);
    }

    /// Counts an acquire refused because what it asked for was held (or
    /// reserved for earlier waiters), once per request whatever it waited.
    fn conflict(&self, api: Api, actor: &Actor) {
        self.count(api, "conflict", 0);
        if let Some(account_id) = actor.account_id {
            self.usage.conflict(account_id);
        }
    }
}

/// Seconds until `wake_in` has passed, at least 1: a `Retry-After`.
fn retry_after(wake_in: Duration) -> u32 {
    wake_in.as_secs_f64().ceil().max(1.0) as u32
}

/// The reserved account anonymous compatibility callers act as (created by
/// the compat migration; no key can belong to it).
const ANONYMOUS_ACCOUNT: &str = "_anonymous";

#[derive(Debug, thiserror::Error)]
#[error("the reserved account {ANONYMOUS_ACCOUNT} is missing: run the migrations")]
struct MissingAnonymousAccount;
