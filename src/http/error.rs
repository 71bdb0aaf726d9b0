//! The one place where errors become HTTP responses:
//! `{"error": {"code": "...", "message": "..."}}` with a stable code.

use std::fmt;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use super::dto::LockView;
use crate::auth::AuthError;
use crate::domain::{InvalidInput, LockError};
use crate::store::StoreError;
use crate::tenancy::TenancyError;

#[derive(thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error(
        "missing or invalid API key: send it as `Authorization: Bearer <key>` or as the basic-auth user name"
    )]
    Unauthorized,
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("the lock is held until {}", .lock.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))]
    Held { lock: Box<LockView>, retry_after: u32 },
    #[error("the lock is free but reserved for {waiters} earlier waiter(s)")]
    Queued { waiters: i64 },
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("no such route")]
    NotFound,
    /// `.0` lists the methods the route does serve, for the `Allow` header.
    #[error("this route does not accept that method")]
    MethodNotAllowed(&'static str),
    /// Something an admin route names does not exist; `.0` is the code.
    #[error("{1}")]
    Missing(&'static str, String),
    /// The request conflicts with the current state; `.0` is the code.
    #[error("{1}")]
    Conflict(&'static str, String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Locklock: the secret does not release this lock.
    #[error("the lock was acquired with a different secret, or through another API")]
    SecretMismatch,
    /// Locklock's conflict: the lease's expiry, if there is a lease.
    #[error("the lock is held")]
    HeldUntil { expires_at: Option<chrono::DateTime<chrono::Utc>>, retry_after: u32 },
    /// mutex.uno's 429: too much contention on one key.
    #[error("too many requests for this lock; retry shortly")]
    TooManyRequests { retry_after: u32 },
    /// mutex.uno answers 502 where the others answer 503.
    #[error("the database is unavailable; retry shortly")]
    BadGateway(#[source] StoreError),
    /// Over the rate limit of the key's plan, or of the client address.
    #[error("too many requests; retry after {} second(s)", .0.retry_after)]
    RateLimited(super::rate_limit::Quota),
}

impl ApiError {
    /// The same error, with an unreachable database reported as a bad gateway.
    pub fn upstream(self) -> Self {
        match self {
            Self::Store(e) if e.is_unavailable() => Self::BadGateway(e),
            other => other,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(e) => e.code,
            Self::Unauthorized => "unauthorized",
            Self::Lock(LockError::Invalid(e)) => e.code,
            Self::Lock(LockError::PlanForbids(_)) => "plan_forbids",
            Self::Lock(LockError::Forbidden(_)) => "forbidden",
            Self::Lock(LockError::NamespaceNotFound) => "namespace_not_found",
            Self::Lock(LockError::NotHeld) => "lock_not_held",
            Self::Lock(LockError::LeaseLost | LockError::LeaseEnded(_)) => "lease_lost",
            Self::Lock(LockError::IdempotencyKeyReused(_)) => "idempotency_key_reused",
            Self::Held { .. } | Self::Queued { .. } => "lock_held",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::Missing(code, _) | Self::Conflict(code, _) => code,
            Self::Store(e) if e.is_unavailable() => "database_unavailable",
            Self::Store(_) => "internal_error",
            Self::SecretMismatch => "secret_mismatch",
            Self::HeldUntil { .. } => "lock_held",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::BadGateway(_) => "database_unavailable",
            Self::RateLimited(_) => "rate_limited",
        }
    }

    /// What the client reads: internals never leave the server.
    fn public_message(&self) -> String {
        match self {
            Self::Store(e) if e.is_unavailable() => "the database is unavailable; retry shortly".into(),
            Self::Store(_) => "an internal error occurred; it has been logged".into(),
            other => other.to_string(),
        }
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        error_chain_fmt(self, f)
    }
}

/// Writes an error and every cause under it, for the logs.
fn error_chain_fmt(e: &impl std::error::Error, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "{e}")?;
    let mut cause = e.source();
    while let Some(c) = cause {
        write!(f, ": {c}")?;
        cause = c.source();
    }
    Ok(())
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lock: Option<&'a LockView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    waiters: Option<i64>,
    /// Locklock's conflicts say until when the lock is held.
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<Option<chrono::DateTime<chrono::Utc>>>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: String,
    /// Why a lease was lost: expired, released, superseded or unknown_token.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Invalid(_) | Self::Lock(LockError::Invalid(_)) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Lock(LockError::PlanForbids(_) | LockError::Forbidden(_)) => StatusCode::FORBIDDEN,
            Self::Lock(LockError::NamespaceNotFound | LockError::NotHeld) | Self::NotFound => {
                StatusCode::NOT_FOUND
            }
            Self::Lock(LockError::LeaseLost | LockError::LeaseEnded(_)) => StatusCode::GONE,
            Self::Lock(LockError::IdempotencyKeyReused(_)) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Held { .. } | Self::Queued { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Missing(..) => StatusCode::NOT_FOUND,
            Self::Conflict(..) => StatusCode::CONFLICT,
            Self::Store(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            Self::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::SecretMismatch => StatusCode::FORBIDDEN,
            Self::HeldUntil { .. } => StatusCode::CONFLICT,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Store(e) | Self::BadGateway(e) if e.is_unavailable() => {
                tracing::warn!(error = ?self, "database unavailable")
            }
            Self::Store(_) => tracing::error!(error = ?self, "request failed"),
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        match self {
            Self::Unauthorized => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    r#"Bearer realm="leasehold", Basic realm="leasehold""#,
                ));
            }
            Self::Queued { .. } => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            Self::MethodNotAllowed(allow) => {
                response.insert_header((header::ALLOW, *allow));
            }
            Self::Held { retry_after, .. }
            | Self::HeldUntil { retry_after, .. }
            | Self::TooManyRequests { retry_after } => {
                response.insert_header((header::RETRY_AFTER, retry_after.to_string()));
            }
            Self::BadGateway(_) => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            Self::RateLimited(quota) => {
                response.insert_header((header::RETRY_AFTER, quota.retry_after.to_string()));
                for header in quota.headers() {
                    response.insert_header(header);
                }
            }
            Self::Store(e) if e.is_unavailable() => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            _ => {}
        }
        let lock = match self {
            Self::Held { lock, .. } => Some(lock.as_ref()),
            _ => None,
        };
        let waiters = match self {
            Self::Queued { waiters } => Some(*waiters),
            _ => None,
        };
        let reason = match self {
            Self::Lock(LockError::LeaseEnded(end)) => Some(end.as_str()),
            _ => None,
        };
        response.json(ErrorBody {
            error: ErrorDetail { code: self.code(), message: self.public_message(), reason },
            lock,
            waiters,
            expires_at: match self {
                Self::HeldUntil { expires_at, .. } => Some(*expires_at),
                _ => None,
            },
        })
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unauthorized => Self::Unauthorized,
            AuthError::Store(e) => Self::Store(e),
        }
    }
}

impl From<crate::admin::AdminError> for ApiError {
    fn from(e: crate::admin::AdminError) -> Self {
        use crate::admin::AdminError;
        match e {
            AdminError::Invalid(e) => Self::Invalid(e),
            AdminError::NoSuchAccount(_) => Self::Missing("account_not_found", e.to_string()),
            AdminError::NoSuchKey(_) => Self::Missing("key_not_found", e.to_string()),
            AdminError::NoSuchNamespace(_) => Self::Lock(LockError::NamespaceNotFound),
            AdminError::Refused(message) => Self::Conflict("refused", message),
            AdminError::Conflict(code, message) => Self::Conflict(code, message),
            AdminError::Store(StoreError::Duplicate(what)) => {
                Self::Conflict("already_exists", format!("that {what} already exists"))
            }
            AdminError::Store(e) => Self::Store(e),
        }
    }
}

impl From<TenancyError> for ApiError {
    fn from(e: TenancyError) -> Self {
        match e {
            TenancyError::Refused(e) => Self::Lock(e),
            TenancyError::Store(e) => Self::Store(e),
        }
    }
}
