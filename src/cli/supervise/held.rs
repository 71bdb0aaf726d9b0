//! The lease a command runs under: a lock (exclusive or shared), a place in
//! a semaphore, or a lock set.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use leasehold_client::{Error, LockGuard, LockSetGuard, LockToken, LostReason, SemaphoreGuard};

pub enum Held {
    Lock { name: String, guard: LockGuard },
    Semaphore { name: String, guard: SemaphoreGuard },
    Set { guard: LockSetGuard },
}

impl Held {
    /// What the command finds in its environment: the lock token, and the
    /// fencing token to hand to what it writes to.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::Lock { guard, .. } => holder_env(guard.token(), guard.fencing_token()),
            Self::Semaphore { guard, .. } => holder_env(guard.token(), guard.fencing_token()),
            Self::Set { guard } => set_env(guard),
        }
    }

    pub fn lost(&self) -> Pin<Box<dyn Future<Output = LostReason> + Send>> {
        match self {
            Self::Lock { guard, .. } => Box::pin(guard.lost()),
            Self::Semaphore { guard, .. } => Box::pin(guard.lost()),
            Self::Set { guard } => Box::pin(guard.lost()),
        }
    }

    pub async fn release(self) -> Result<(), Error> {
        match self {
            Self::Lock { guard, .. } => guard.release().await,
            Self::Semaphore { guard, .. } => guard.release().await,
            Self::Set { guard } => guard.release().await,
        }
    }
}

fn holder_env(token: &LockToken, fencing_token: i64) -> Vec<(&'static str, String)> {
    vec![
        ("LEASEHOLD_LOCK_TOKEN", token.expose().to_owned()),
        ("LEASEHOLD_FENCING_TOKEN", fencing_token.to_string()),
    ]
}

/// A set's locks each have their own fencing token: a JSON object by name.
fn set_env(guard: &LockSetGuard) -> Vec<(&'static str, String)> {
    let set = guard.lock_set();
    let fencing_tokens: serde_json::Map<_, _> =
        set.locks.into_iter().map(|lock| (lock.name, lock.fencing_token.into())).collect();
    vec![
        ("LEASEHOLD_LOCK_TOKEN", guard.token().expose().to_owned()),
        ("LEASEHOLD_SET_ID", set.set_id),
        ("LEASEHOLD_FENCING_TOKENS", serde_json::Value::Object(fencing_tokens).to_string()),
    ]
}

impl fmt::Display for Held {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Lock { name, .. } => write!(f, "{name}"),
            Self::Semaphore { name, .. } => write!(f, "semaphore {name}"),
            Self::Set { guard } => {
                let names: Vec<String> = guard.lock_set().locks.into_iter().map(|lock| lock.name).collect();
                write!(f, "{}", names.join(", "))
            }
        }
    }
}
