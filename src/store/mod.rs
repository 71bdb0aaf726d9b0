//! Every SQL statement Leasehold runs, one small function each.

pub mod accounts;
pub mod admin_log;
pub mod audit;
pub mod compat;
pub mod console_sessions;
pub mod force_release;
pub mod gauges;
pub mod handover;
pub mod idempotency;
pub mod keys;
pub mod lease_end;
pub mod locks;
pub mod namespaces;
pub mod partitions;
pub mod schema;
pub mod statement;
pub mod sweep;
pub mod waiters;

use std::sync::Arc;

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
                    // serialization failures and deadlocks pass with time.
                    _ if code.starts_with("08")
                        || code.starts_with("57P")
                        || code == "53300"
                        || code == "57014"
                        || code == "40001"
                        || code == "40P01" =>
                    {
                        Self::Unavailable(Arc::new(err))
                    }
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
