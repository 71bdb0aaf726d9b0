//! The one place where errors become HTTP responses:
//! `{"error": {"code": "...", "message": "..."}}` with a stable code.

use std::fmt;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use super::dto::LockView;
use crate::auth::AuthError;
use crate::domain::{InvalidInput, LockError};
use crate::leases::LeaseError;
use crate::store::StoreError;
use crate::tenancy::TenancyError;
use crate::watch::WatchError;
use crate::webhooks::WebhookError;

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
    #[error("all {limit} permits of the semaphore are held or promised to earlier waiters")]
    SemaphoreFull { holders: i64, limit: u16, retry_after: u32 },
    #[error(
        "the live semaphore has a limit of {limit}; ask with that limit, or wait until it has no holder"
    )]
    LimitMismatch { limit: u16 },
    #[error("held, or promised to earlier waiters: {}", .held.join(", "))]
    SetHeld { held: Vec<String>, retry_after: u32 },
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("no such route")]
    NotFound,
    /// This server does not offer self-service sign-up (`signup.enabled`).
    #[error("sign-up is not offered on this server; ask its operator for an account")]
    SignupDisabled,
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
    /// The Accept header does not admit what the route sends.
    #[error("this route sends text/event-stream; accept it (or send no Accept header)")]
    NotAcceptable,
    /// The key has as many event streams open as it may; `.0` is the limit.
    #[error("this key already has {0} event streams open on this server; close one first")]
    TooManyStreams(usize),
    /// Over the rate limit of the key's plan, or of the client address.
    #[error("too many requests; retry after {} second(s)", .0.retry_after)]
    RateLimited(super::rate_limit::bucket::Quota),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(e) => e.code,
            Self::Unauthorized => "unauthorized",
            Self::Lock(LockError::Invalid(e)) => e.code,
            Self::Lock(LockError::PlanForbids(_)) => "plan_forbids",
            Self::Lock(LockError::QuotaExceeded(_)) => "quota_exceeded",
            Self::Lock(LockError::Forbidden(_)) => "forbidden",
            Self::Lock(LockError::NamespaceNotFound) => "namespace_not_found",
            Self::Lock(LockError::NotHeld) => "lock_not_held",
            Self::Lock(LockError::LeaseLost | LockError::LeaseEnded(_)) => "lease_lost",
            Self::Lock(LockError::IdempotencyKeyReused(_)) => "idempotency_key_reused",
            Self::Held { .. } | Self::Queued { .. } | Self::SetHeld { .. } => "lock_held",
            Self::SemaphoreFull { .. } => "semaphore_full",
            Self::LimitMismatch { .. } => "limit_mismatch",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::NotFound => "not_found",
            Self::SignupDisabled => "signup_disabled",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::Missing(code, _) | Self::Conflict(code, _) => code,
            Self::Store(e) if e.is_unavailable() => "database_unavailable",
            Self::Store(StoreError::Refused(_)) => "invalid_body",
            Self::Store(_) => "internal_error",
            Self::RateLimited(_) => "rate_limited",
            Self::NotAcceptable => "not_acceptable",
            Self::TooManyStreams(_) => "too_many_streams",
        }
    }

    /// What the client reads: internals never leave the server.
    pub fn public_message(&self) -> String {
        match self {
            Self::Store(e) if e.is_unavailable() => "the database is unavailable; retry shortly".into(),
            Self::Store(StoreError::Refused(_)) => {
                "a value of the request cannot be stored (for example a number beyond the range of PostgreSQL's JSON)"
                    .into()
            }
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
    /// A semaphore's limit, in `semaphore_full` and `limit_mismatch`.
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<u16>,
    /// A full semaphore's live holders.
    #[serde(skip_serializing_if = "Option::is_none")]
    holders: Option<i64>,
    /// A lock set's members that are held, in its `lock_held`.
    #[serde(skip_serializing_if = "Option::is_none")]
    held: Option<&'a [String]>,
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
            Self::Lock(LockError::PlanForbids(_) | LockError::QuotaExceeded(_) | LockError::Forbidden(_))
            | Self::SignupDisabled => StatusCode::FORBIDDEN,
            Self::Lock(LockError::NamespaceNotFound | LockError::NotHeld) | Self::NotFound => {
                StatusCode::NOT_FOUND
            }
            Self::Lock(LockError::LeaseLost | LockError::LeaseEnded(_)) => StatusCode::GONE,
            Self::Lock(LockError::IdempotencyKeyReused(_)) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Held { .. }
            | Self::Queued { .. }
            | Self::SemaphoreFull { .. }
            | Self::LimitMismatch { .. }
            | Self::SetHeld { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Missing(..) => StatusCode::NOT_FOUND,
            Self::Conflict(..) => StatusCode::CONFLICT,
            Self::Store(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            Self::Store(StoreError::Refused(_)) => StatusCode::BAD_REQUEST,
            Self::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::RateLimited(_) | Self::TooManyStreams(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Store(e) if e.is_unavailable() => {
                tracing::warn!(error = ?self, "database unavailable")
            }
            Self::Store(StoreError::Refused(_)) => {
                tracing::info!(error = ?self, "the database refused a value")
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
            | Self::SemaphoreFull { retry_after, .. }
            | Self::SetHeld { retry_after, .. } => {
                response.insert_header((header::RETRY_AFTER, retry_after.to_string()));
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
        let (limit, holders) = match self {
            Self::SemaphoreFull { holders, limit, .. } => (Some(*limit), Some(*holders)),
            Self::LimitMismatch { limit } => (Some(*limit), None),
            _ => (None, None),
        };
        let held = match self {
            Self::SetHeld { held, .. } => Some(held.as_slice()),
            _ => None,
        };
        response.json(ErrorBody {
            error: ErrorDetail { code: self.code(), message: self.public_message(), reason },
            lock,
            waiters,
            limit,
            holders,
            held,
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
            AdminError::PlanForbids(message) => Self::Lock(LockError::PlanForbids(message)),
            AdminError::QuotaExceeded(message) => Self::Lock(LockError::QuotaExceeded(message)),
            AdminError::Conflict(code, message) => Self::Conflict(code, message),
            AdminError::Store(StoreError::Duplicate(what)) => {
                Self::Conflict("already_exists", format!("that {what} already exists"))
            }
            AdminError::Store(e) => Self::Store(e),
        }
    }
}

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::Invalid(e) => Self::Invalid(e),
            WebhookError::Refused(e) => Self::Lock(e),
            WebhookError::NotFound => Self::Missing("webhook_not_found", e.to_string()),
            WebhookError::TooMany(_) => Self::Conflict("too_many_webhooks", e.to_string()),
            WebhookError::Store(e) => Self::Store(e),
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

impl From<WatchError> for ApiError {
    fn from(e: WatchError) -> Self {
        match e {
            WatchError::TooManyStreams(limit) => Self::TooManyStreams(limit),
            WatchError::Store(e) => Self::Store(e),
        }
    }
}

impl From<LeaseError> for ApiError {
    fn from(e: LeaseError) -> Self {
        match e {
            LeaseError::Refused(e) => Self::Lock(e),
            LeaseError::Store(e) => Self::Store(e),
            // Only compatibility proofs meet another holder; natively it is a lost lease.
            LeaseError::HeldByAnother(_) => Self::Lock(LockError::LeaseLost),
        }
    }
}

/// An error body in the house shape, for the compatibility APIs' own
/// answers: `{"error": {"code", "message"}}`.
pub fn error_body(code: &str, message: &str) -> serde_json::Value {
    serde_json::json!({ "error": { "code": code, "message": message } })
}
