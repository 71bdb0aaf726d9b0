//! Who holds a lock or a semaphore: there may be several at once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How a lock is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One holder at a time.
    Exclusive,
    /// Any number of holders at once, but no exclusive one among them.
    Shared,
}

/// One holder's lease, as a status read shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    pub fencing_token: i64,
    pub owner: Option<String>,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A lock's mode and every holder's lease (from [`LockRequest::holders`]).
///
/// [`LockRequest::holders`]: crate::LockRequest::holders
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockHolders {
    pub mode: Mode,
    pub holders: Vec<Holder>,
}
