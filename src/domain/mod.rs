//! Types that can only hold valid values. Everything a client sends is parsed
//! into one of these before it reaches the store.

mod account;
mod api_key;
mod holder;
mod lock;
mod lock_name;
mod lock_token;
mod namespace;
mod page_limit;
mod plan;
mod request;
mod semaphore;
mod webhook;

pub use account::{AccountName, Principal, Role};
pub use api_key::{ApiKey, KeyId};
pub use holder::{Actor, Api, CompatHolder, Proof};
pub use lock::{LeaseEnd, Lock, LockError, LockMode};
pub use lock_name::{is_name_byte, prefix_end, LockName};
pub use lock_token::{LockToken, LockTokenHash};
pub use namespace::NamespaceName;
pub use page_limit::{page_limit, DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT};
pub use plan::{Plan, PlanRules, Plans};
pub use request::{Metadata, Note, Owner, Ttl};
pub use semaphore::{Holder, Semaphore, SemaphoreLimit};
pub use webhook::{is_public_address, webhook_events, Endpoint, WebhookUrl, WEBHOOK_EVENTS};

/// A value a client sent that is not acceptable, with a stable error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidInput {
    pub code: &'static str,
    pub message: String,
}

impl InvalidInput {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}
