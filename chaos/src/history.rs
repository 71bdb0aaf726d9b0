//! What a client records: one line per operation, with its invoke and
//! completion times on the shared monotonic clock.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Acquire,
    Renew,
    Release,
    /// A read of the lock's resources: the fenced register and the control counter.
    Read,
    /// A write of both resources: `fenced` and `control` are the new values.
    Write,
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
    /// For writes: whether the fenced register accepted it, and the values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fenced_ok: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fenced: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control: Option<i64>,
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
            fenced_ok: None,
            fenced: None,
            control: None,
        }
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
