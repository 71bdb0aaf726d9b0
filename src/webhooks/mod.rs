//! Webhooks: business accounts register endpoints, and every replica's
//! delivery worker (`worker`) POSTs each audit event of theirs, signed
//! (`signature`), to the endpoints that asked for it. The private-address
//! rule is `guard`'s.

pub mod guard;
pub mod signature;
pub mod worker;

use rand::RngCore;
use sqlx::PgPool;
use uuid::Uuid;

use crate::config::WebhookSettings;
use crate::domain::{webhook_events, InvalidInput, LockError, NamespaceName, Plan, Principal, WebhookUrl};
use crate::store::webhooks::{self, DeliveryRecord, NewWebhook, WebhookRecord};
use crate::store::{namespaces, StoreError};
use guard::AddressGuard;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// The plan or the key's role does not allow it; the namespace is not the account's.
    #[error(transparent)]
    Refused(#[from] LockError),
    #[error("no such webhook")]
    NotFound,
    #[error("the account already has {0} webhooks, the most it may have")]
    TooMany(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a registration asks for.
pub struct Registration {
    pub url: String,
    pub events: Vec<String>,
    pub namespace: Option<String>,
}

/// A new webhook and its signing secret, shown this once.
#[derive(serde::Serialize)]
pub struct Registered {
    #[serde(flatten)]
    pub webhook: WebhookRecord,
    pub secret: String,
}

/// Registering, listing and deleting an account's webhooks.
#[derive(Clone)]
pub struct Webhooks {
    pool: PgPool,
    guard: AddressGuard,
    max_per_account: i64,
}

impl Webhooks {
    pub fn new(pool: PgPool, settings: &WebhookSettings) -> Self {
        let guard = AddressGuard { allow_private: settings.allow_private_addresses };
        Self { pool, guard, max_per_account: settings.max_per_account }
    }

    pub async fn register(
        &self,
        caller: &Principal,
        request: Registration,
    ) -> Result<Registered, WebhookError> {
        may_change(caller)?;
        let url = WebhookUrl::parse(&request.url)?;
        let events = webhook_events(request.events)?;
        let namespace = match request.namespace {
            Some(name) => Some(self.own_namespace(caller, &name).await?),
            None => None,
        };
        self.guard.check(&url).await?;
        let secret = new_secret();
        let hook = NewWebhook {
            id: Uuid::new_v4(),
            account_id: caller.account_id,
            url: url.as_str(),
            events: &events,
            namespace: namespace.as_ref().map(NamespaceName::as_str),
            secret: &secret,
        };
        let webhook = webhooks::create(&self.pool, &hook, self.max_per_account)
            .await?
            .ok_or(WebhookError::TooMany(self.max_per_account))?;
        tracing::info!(webhook_id = %webhook.id, account_id = caller.account_id, "webhook registered");
        Ok(Registered { webhook, secret })
    }

    pub async fn list(&self, caller: &Principal) -> Result<Vec<WebhookRecord>, WebhookError> {
        may_read(caller)?;
        Ok(webhooks::list(&self.pool, caller.account_id).await?)
    }

    pub async fn delete(&self, caller: &Principal, id: &str) -> Result<(), WebhookError> {
        may_change(caller)?;
        let id = parse_id(id)?;
        match webhooks::delete(&self.pool, caller.account_id, id).await? {
            true => Ok(()),
            false => Err(WebhookError::NotFound),
        }
    }

    /// A page of the webhook's delivery log, newest first.
    pub async fn deliveries(
        &self,
        caller: &Principal,
        id: &str,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<DeliveryRecord>, WebhookError> {
        may_read(caller)?;
        let id = parse_id(id)?;
        webhooks::find(&self.pool, caller.account_id, id).await?.ok_or(WebhookError::NotFound)?;
        Ok(webhooks::deliveries(&self.pool, id, before, limit).await?)
    }

    /// A namespace of the caller's account, or the shared one.
    async fn own_namespace(&self, caller: &Principal, name: &str) -> Result<NamespaceName, WebhookError> {
        let name = NamespaceName::parse(name)?;
        match namespaces::owner(&self.pool, &name).await? {
            Some(None) => Ok(name),
            Some(Some(owner)) if owner == caller.account_id => Ok(name),
            _ => Err(LockError::NamespaceNotFound.into()),
        }
    }
}

fn may_read(caller: &Principal) -> Result<(), WebhookError> {
    if caller.plan != Plan::Business {
        return Err(LockError::PlanForbids("webhooks are for business accounts".into()).into());
    }
    Ok(())
}

fn may_change(caller: &Principal) -> Result<(), WebhookError> {
    may_read(caller)?;
    if !caller.may_write() {
        return Err(LockError::Forbidden("support keys are read-only").into());
    }
    Ok(())
}

/// Another account's webhook, or an id that is no webhook's, is not found.
fn parse_id(id: &str) -> Result<Uuid, WebhookError> {
    Uuid::parse_str(id).map_err(|_| WebhookError::NotFound)
}

/// 32 random bytes, as `whsec_` and 64 hex digits.
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("whsec_{}", signature::hex(&bytes))
}
