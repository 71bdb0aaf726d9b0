//! What a client records: one line per operation, with its invoke and
//! completion times on the shared monotonic clock.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Acquire,
    Renew,
    Release,
    /// The holder ends its lease and takes the next one in one step.
    Handover,
    /// A read of the lock's resources: the fenced register and the control counter.
    Read,
    /// A write of both resources: `fenced` and `control` are the new values.
    Write,
    /// A semaphore's permit (`lock` is the semaphore's number).
    SemaphoreAcquire,
    SemaphoreRenew,
    SemaphoreRelease,
    /// A lock set (`members` are its locks).
    SetAcquire,
    SetRenew,
    SetRelease,
}

/// `Unknown`: the request may or may not have taken effect (a timeout, a
/// dropped connection, a 5xx).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Fail,
    Unknown,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Op {
    pub client: u32,
    pub kind: Kind,
    pub lock: u32,
    /// Which lease (client-local sequence number) the operation belongs to.
    pub lease: u64,
    /// Send time of the first attempt (retries of one logical operation
    /// share its Idempotency-Key and its invoke time).
    pub invoke: u64,
    pub complete: u64,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fencing_token: Option<i64>,
    /// HTTP status of the last attempt, if one came back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default)]
    pub attempts: u32,
    /// A compatibility API the operation went through ("locklock"); none for
    /// the native API. Locklock answers carry no fencing token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// For a granted lease (acquire, handover): SHA-256 of its lock token, in
    /// hex, as the audit trail keeps it. The token itself is never recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_hash: Option<String>,
    /// For a handover: the lease it ended (`lease` is the one it granted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handed_from: Option<u64>,
    /// A 410's `error.reason` (`expired`, `released`, `superseded`,
    /// `unknown_token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For writes: whether the fenced register accepted it, and the values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fenced_ok: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fenced: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control: Option<i64>,
    /// A shared (read) lease's operation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shared: bool,
    /// For a lock set: the locks asked for (acquire, release) or renewed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<u32>,
    /// For a granted lock set: each member's fencing token, in `members`'
    /// order; `None` where the answer left a member out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub member_tokens: Vec<Option<i64>>,
    /// For a lock set's acquire: the `X-Request-Id` every attempt sent, which
    /// the audit rows of its grant carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// For a granted lock set: its id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_id: Option<String>,
}

impl Op {
    pub fn new(client: u32, kind: Kind, lock: u32, lease: u64, invoke: u64) -> Self {
        Self {
            client,
            kind,
            lock,
            lease,
            invoke,
            complete: invoke,
            outcome: Outcome::Unknown,
            fencing_token: None,
            status: None,
            attempts: 0,
            api: None,
            token_hash: None,
            handed_from: None,
            reason: None,
            fenced_ok: None,
            fenced: None,
            control: None,
            shared: false,
            members: Vec::new(),
            member_tokens: Vec::new(),
            request_id: None,
            set_id: None,
        }
    }
}

impl Op {
    /// Acquire, renew, release or handover, of a lock, a permit or a set
    /// (not a resource read or write).
    pub fn is_lock_operation(&self) -> bool {
        !matches!(self.kind, Kind::Read | Kind::Write)
    }

    /// An acknowledged grant through the native API, which carries a fencing
    /// token: an acquire or a handover answered with its lease.
    pub fn is_native_grant(&self) -> bool {
        matches!(self.kind, Kind::Acquire | Kind::Handover)
            && self.outcome == Outcome::Ok
            && self.api.is_none()
    }
}

/// A fault the nemesis injected, from its start to its healing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fault {
    pub kind: String,
    pub target: String,
    pub start: u64,
    pub healed: u64,
}
