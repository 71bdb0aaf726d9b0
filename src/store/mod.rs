//! Every SQL statement Leasehold runs, one small function each.

pub mod accounts;
pub mod admin_log;
pub mod audit;
pub mod console_reads;
pub mod console_sessions;
pub mod force_release;
pub mod fragments;
pub mod gauges;
pub mod handover;
pub mod holders;
pub mod idempotency;
pub mod keys;
pub mod lease_analysis;
pub mod lease_end;
pub mod lock_sets;
pub mod locks;
pub mod namespaces;
pub mod partitions;
pub mod primary;
pub mod schema;
pub mod semaphores;
pub mod statement;
pub mod sweep;
pub mod usage;
pub mod waiters;
pub mod webhook_claims;
pub mod webhooks;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sqlx::error::ErrorKind;

/// Cloneable, so that requests sharing one piece of work share its failure.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached, or refused for now; worth retrying.
    #[error("the database is unavailable")]
    Unavailable(#[source] Arc<sqlx::Error>),
    #[error("the database did not answer in time")]
    TimedOut,
    /// A unique constraint refused a duplicate; names what was duplicated.
    #[error("{0} already exists")]
    Duplicate(&'static str),
    /// A foreign key refused a reference to something that does not exist.
    #[error("{0} does not exist")]
    Missing(&'static str),
    /// A value the database cannot hold (a data exception: a number beyond
    /// its JSON's range, say) that got past validation.
    #[error("the database cannot store a value of the request")]
    Refused(#[source] Arc<sqlx::Error>),
    #[error("unexpected database error")]
    Unexpected(#[source] Arc<sqlx::Error>),
}

impl StoreError {
    /// A row the database returned that this build cannot read.
    pub fn corrupt(what: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Unexpected(Arc::new(sqlx::Error::Decode(Box::new(what))))
    }

    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::TimedOut)
    }

    /// A deadlock or serialization failure: the statement lost to a
    /// concurrent one, and may succeed run again.
    pub fn is_conflict(&self) -> bool {
        let Self::Unavailable(error) = self else { return false };
        let code = error.as_database_error().and_then(|e| e.code());
        matches!(code.as_deref(), Some("40P01" | "40001" | LOST_RACE))
    }
}

/// The SQLSTATE of `leasehold_lost_race()`: a statement that changed rows
/// found a concurrent change had overtaken it, and undid itself.
const LOST_RACE: &str = "LH001";

/// Runs database work within `limit`, so that a database that hangs yields
/// `TimedOut` (a 503) rather than a request that never answers. Every caller
/// bounds its database work with this one wrapper.
pub async fn bounded<T, E: From<StoreError>>(
    limit: Duration,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    tokio::time::timeout(limit, work).await.unwrap_or_else(|_| Err(StoreError::TimedOut.into()))
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_) => Self::Unavailable(Arc::new(err)),
            sqlx::Error::Database(db) => {
                let code = db.code().unwrap_or_default();
                match db.kind() {
                    ErrorKind::UniqueViolation => Self::Duplicate(duplicate_of(db.constraint())),
                    ErrorKind::ForeignKeyViolation => Self::Missing(missing_of(db.constraint())),
                    // Connection exceptions, shutdowns, too many connections,
                    // serialization failures and deadlocks pass with time,
                    // as does a read-only server: a primary just demoted.
                    _ if code.starts_with("08")
                        || code == "25006"
                        || code.starts_with("57P")
                        || code == "53300"
                        || code == "57014"
                        || code == "40001"
                        || code == "40P01"
                        || code == LOST_RACE =>
                    {
                        Self::Unavailable(Arc::new(err))
                    }
                    _ if code.starts_with("22") => Self::Refused(Arc::new(err)),
                    _ => Self::Unexpected(Arc::new(err)),
                }
            }
            _ => Self::Unexpected(Arc::new(err)),
        }
    }
}

fn duplicate_of(constraint: Option<&str>) -> &'static str {
    match constraint {
        Some("accounts_name_key") => "account",
        Some("namespaces_pkey") => "namespace",
        _ => "record",
    }
}

fn missing_of(constraint: Option<&str>) -> &'static str {
    match constraint {
        Some(c) if c.contains("account") => "account",
        Some(c) if c.contains("namespace") => "namespace",
        _ => "referenced record",
    }
}
