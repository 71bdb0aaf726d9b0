use chrono::{DateTime, Utc};
use serde_json::value::RawValue;

use super::{Api, NamespaceName, Principal};

/// A live lease as the store reports it (never with its token).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Lock {
    pub namespace: String,
    pub name: String,
    pub fencing_token: i64,
    pub account_id: i64,
    pub owner: Option<String>,
    pub metadata: Option<Box<RawValue>>,
    pub ttl_seconds: i32,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The API that took the lease.
    #[serde(default)]
    pub api: Api,
    /// mutex.uno's acquisition id, for a lease taken through mutex.uno.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutex_id: Option<uuid::Uuid>,
    /// Exclusive, or shared by readers (then the fields describe the latest
    /// reader's grant and the last reader's expiry).
    #[serde(default)]
    pub mode: LockMode,
    /// The lock set the lease belongs to, where the reader asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_id: Option<uuid::Uuid>,
}

impl Lock {
    /// Whether the caller may see who holds the lock and its metadata. In the
    /// shared namespace other accounts see only that a name is held, and until
    /// when.
    pub fn details_visible_to(&self, caller: &Principal) -> bool {
        caller.sees_all_tenants()
            || caller.account_id == self.account_id
            || self.namespace != NamespaceName::PUBLIC
    }
}

/// Whether a lease excludes every other, or only exclusive ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LockMode {
    #[default]
    Exclusive,
    Shared,
}

impl LockMode {
    pub fn as_str(self) -> &'static str {
        match self {
            LockMode::Exclusive => "exclusive",
            LockMode::Shared => "shared",
        }
    }

    /// `mode` as the API and the database spell it.
    pub fn parse(raw: &str) -> Result<Self, super::InvalidInput> {
        match raw {
            "exclusive" => Ok(LockMode::Exclusive),
            "shared" => Ok(LockMode::Shared),
            _ => Err(super::InvalidInput::new("invalid_mode", "mode must be \"exclusive\" or \"shared\"")),
        }
    }
}

/// Why a lock operation was refused, before any HTTP concern.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(transparent)]
    Invalid(#[from] super::InvalidInput),
    #[error("{0}")]
    PlanForbids(String),
    /// A plan's quota is used up; the message names the limit.
    #[error("{0}")]
    QuotaExceeded(String),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("namespace not found")]
    NamespaceNotFound,
    #[error("the lock is not held")]
    NotHeld,
    #[error("this lock token does not hold a live lease")]
    LeaseLost,
    #[error("this lock token does not hold a live lease: {}", .0.describe())]
    LeaseEnded(LeaseEnd),
    #[error("{0}")]
    IdempotencyKeyReused(&'static str),
}

/// How a lease that a token once held ended, as far as the server knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseEnd {
    Expired,
    Released,
    /// The lock now has a lease with a higher fencing token.
    Superseded,
    /// The token never held a lease on this lock (or the record is gone).
    UnknownToken,
}

impl LeaseEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            LeaseEnd::Expired => "expired",
            LeaseEnd::Released => "released",
            LeaseEnd::Superseded => "superseded",
            LeaseEnd::UnknownToken => "unknown_token",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            LeaseEnd::Expired => "the lease expired",
            LeaseEnd::Released => "the lease was released",
            LeaseEnd::Superseded => "another lease with a higher fencing token holds the lock",
            LeaseEnd::UnknownToken => "the token is unknown for this lock",
        }
    }
}
