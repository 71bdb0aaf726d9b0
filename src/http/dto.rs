//! What the native API reads and writes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use crate::domain::{Lock, Principal};

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
        }
    }

    pub fn with_waiters(mut self, waiters: i64) -> Self {
        self.waiters = Some(waiters);
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
