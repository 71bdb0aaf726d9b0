//! What the native API reads and writes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use crate::domain::{Holder, Lock, LockMode, Principal};

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcquireBody {
    /// The lease's length; within the plan's bounds (hobbyist: 60 only).
    pub ttl_seconds: Option<i64>,
    /// Who holds the lock, for people reading its state (1–255 characters).
    pub owner: Option<String>,
    /// Any JSON, up to the plan's limit (business: 4 KiB; hobbyist: none).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Box<RawValue>>,
    /// Wait up to this long for a held lock, in arrival order (plan maximum: 30).
    pub wait_seconds: Option<i64>,
    /// `"exclusive"` (the default) or `"shared"`: any number of shared
    /// holders at once, or one exclusive.
    pub mode: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct AcquireQuery {
    pub wait: Option<i64>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewBody {
    pub lock_token: Option<String>,
    pub ttl_seconds: Option<i64>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseBody {
    pub lock_token: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoverBody {
    pub lock_token: Option<String>,
    pub owner: Option<String>,
    pub ttl_seconds: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct ListParams {
    pub prefix: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// A lease as a client sees it. `lock_token` is present only in the answer
/// to the acquire that created it; `owner` and `metadata` are hidden from
/// other accounts in the shared namespace.
#[derive(Debug, Serialize, ToSchema)]
pub struct LockView {
    pub namespace: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock_token: Option<String>,
    pub fencing_token: i64,
    pub owner: Option<String>,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ttl_seconds: i32,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Box<RawValue>>,
    /// How many wait for the lock (in its state, and in a conflict).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiters: Option<i64>,
    /// `exclusive`, or `shared` (then the other fields describe the latest
    /// reader's grant and the last reader's expiry).
    #[schema(value_type = String)]
    pub mode: LockMode,
    /// A shared lock's readers, in grant order (in its state).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holders: Option<Vec<HolderView>>,
    /// The lock set the lease belongs to (in its state).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = "uuid")]
    pub set_id: Option<uuid::Uuid>,
}

impl LockView {
    pub fn of(lock: Lock, caller: &Principal) -> Self {
        let visible = lock.details_visible_to(caller);
        Self {
            namespace: lock.namespace,
            name: lock.name,
            lock_token: None,
            fencing_token: lock.fencing_token,
            owner: lock.owner.filter(|_| visible),
            acquired_at: lock.acquired_at,
            expires_at: lock.expires_at,
            ttl_seconds: lock.ttl_seconds,
            metadata: lock.metadata.filter(|_| visible),
            waiters: None,
            mode: lock.mode,
            holders: None,
            set_id: lock.set_id,
        }
    }

    pub fn with_waiters(mut self, waiters: i64) -> Self {
        self.waiters = Some(waiters);
        self
    }

    pub fn with_holders(mut self, holders: Vec<HolderView>) -> Self {
        self.holders = Some(holders);
        self
    }

    pub fn with_token(mut self, token: &str) -> Self {
        self.lock_token = Some(token.to_owned());
        self
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LockList {
    pub locks: Vec<LockView>,
    pub next_cursor: Option<String>,
}

/// One holder as others see it: never its token; in the shared namespace,
/// another account's owner is hidden.
#[derive(Debug, Serialize, ToSchema)]
pub struct HolderView {
    pub fencing_token: i64,
    pub owner: Option<String>,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl HolderView {
    pub fn of(holder: &Holder, namespace: &str, caller: &Principal) -> Self {
        let visible = caller.sees_all_tenants()
            || caller.account_id == holder.account_id
            || namespace != crate::domain::NamespaceName::PUBLIC;
        Self {
            fencing_token: holder.fencing_token,
            owner: holder.owner.clone().filter(|_| visible),
            acquired_at: holder.acquired_at,
            expires_at: holder.expires_at,
        }
    }
}
