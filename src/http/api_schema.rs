//! The parameters, headers and error answers that the handlers' OpenAPI
//! annotations name. They only describe the API: no handler builds them.

use serde::Serialize;
use utoipa::{IntoParams, IntoResponses, ToSchema};

use super::dto::LockView;

/// Every error answer: `{"error": {"code", "message", "reason"?}}`, with the
/// lock's state and queue length on a `lock_held` conflict.
#[derive(Serialize, ToSchema)]
pub struct ErrorResponse {
    error: ErrorDetail,
    lock: Option<LockView>,
    waiters: Option<i64>,
}

#[derive(Serialize, ToSchema)]
struct ErrorDetail {
    /// Stable, machine-readable.
    code: String,
    /// For people; may change.
    message: String,
    /// On `lease_lost`: expired, released, superseded or unknown_token.
    reason: Option<String>,
}

/// The lock a path names.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct LockAddress {
    /// A namespace you may reach (`public`, or your account's).
    namespace: String,
    /// 1–255 characters of A-Z a-z 0-9 . _ - : @
    name: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct NamespaceAddress {
    namespace: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct LockTokenHeader {
    /// The lease's lock token (or X-Lock-Token, or "lock_token" in the body).
    #[param(rename = "Lock-Token")]
    lock_token: Option<String>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct IdempotencyHeader {
    /// Makes a retry return the first attempt's outcome (kept 24 h).
    #[param(rename = "Idempotency-Key")]
    idempotency_key: Option<String>,
}

#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum LeaseLostError {
    /// `lease_lost`: the token holds no live lease; `reason` says why.
    #[response(status = 410)]
    LeaseLost(ErrorResponse),
}

#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum WriteErrors {
    /// `invalid_json`, `invalid_body`, `invalid_lock_name`, `invalid_ttl`,
    /// `invalid_owner`, `invalid_metadata`, `invalid_wait`,
    /// `missing_lock_token`, `invalid_idempotency_key`, `invalid_note`.
    #[response(status = 400)]
    BadRequest(ErrorResponse),
    /// `unauthorized`: no or bad API key.
    #[response(status = 401)]
    Unauthorized(ErrorResponse),
    /// `plan_forbids` (the plan does not allow it), `quota_exceeded` (the
    /// account holds its plan's `max_live_locks`) or `forbidden` (a read-only key).
    #[response(status = 403)]
    Forbidden(ErrorResponse),
    /// `namespace_not_found`, also for another tenant's namespace.
    #[response(status = 404)]
    NotFound(ErrorResponse),
    /// `payload_too_large`: the body is over 16 KiB.
    #[response(status = 413)]
    TooLarge(ErrorResponse),
    /// `idempotency_key_reused`: the key was used for a different request.
    #[response(status = 422)]
    Reused(ErrorResponse),
    /// `database_unavailable`, with Retry-After: the outcome is unknown; retry.
    #[response(status = 503)]
    Unavailable(ErrorResponse),
}

/// mutex.uno's errors besides its own: its 404 has no body, and an
/// unavailable database is its 502.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum MutexUnoErrors {
    /// `invalid_lock_name`.
    #[response(status = 400)]
    BadRequest(ErrorResponse),
    /// `unauthorized`: a bad API key, or none where anonymous callers are not served.
    #[response(status = 401)]
    Unauthorized(ErrorResponse),
    /// `forbidden`: a read-only key.
    #[response(status = 403)]
    Forbidden(ErrorResponse),
}

#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum ReadErrors {
    /// `invalid_lock_name`, `invalid_limit`, `invalid_cursor`, `invalid_prefix`, `invalid_query`.
    #[response(status = 400)]
    BadRequest(ErrorResponse),
    /// `unauthorized`: no or bad API key.
    #[response(status = 401)]
    Unauthorized(ErrorResponse),
    /// `database_unavailable`, with Retry-After.
    #[response(status = 503)]
    Unavailable(ErrorResponse),
}

/// The filters of `/v1/audit` and `{lock}/history`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct AuditFilters {
    namespace: Option<String>,
    name: Option<String>,
    /// An account's name (support and admin keys).
    account: Option<String>,
    key_id: Option<String>,
    /// acquired, renewed, released, expired, force_released; repeatable.
    event: Option<Vec<String>>,
    /// lock or semaphore.
    kind: Option<String>,
    fencing_token: Option<i64>,
    /// RFC 3339.
    since: Option<String>,
    /// RFC 3339.
    until: Option<String>,
    /// desc (default) or asc.
    order: Option<String>,
    /// 1 to 1000.
    limit: Option<i64>,
    /// next_cursor of the previous page.
    cursor: Option<String>,
}

/// Where an event stream resumes.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ResumeQuery {
    /// Send the events after the one with this id (cursor); without it,
    /// those from now on. `Last-Event-ID` wins over it.
    after: Option<String>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct LastEventIdHeader {
    /// The id of the last event received: the stream resumes right after it.
    #[param(rename = "Last-Event-ID")]
    last_event_id: Option<String>,
}

#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum AdminErrors {
    /// `invalid_body`, `invalid_json`, `invalid_plan`, `invalid_role`, `invalid_grace`, a missing field, ...
    #[response(status = 400)]
    BadRequest(ErrorResponse),
    /// `unauthorized`: no or bad API key.
    #[response(status = 401)]
    Unauthorized(ErrorResponse),
    /// `forbidden`: not an admin key, or the plan does not allow it.
    #[response(status = 403)]
    Forbidden(ErrorResponse),
    /// The account, key, namespace or lock does not exist.
    #[response(status = 404)]
    NotFound(ErrorResponse),
    /// It exists already, or a namespace still holds locks.
    #[response(status = 409)]
    Conflict(ErrorResponse),
    /// `database_unavailable`, with Retry-After.
    #[response(status = 503)]
    Unavailable(ErrorResponse),
}

#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum WebhookErrors {
    /// `invalid_body`, `invalid_json`, `invalid_url`, `private_address`, `invalid_event`,
    /// `invalid_namespace`, `invalid_limit`.
    #[response(status = 400)]
    BadRequest(ErrorResponse),
    /// `unauthorized`: no or bad API key.
    #[response(status = 401)]
    Unauthorized(ErrorResponse),
    /// `plan_forbids` (not a business account) or `forbidden` (a read-only key).
    #[response(status = 403)]
    Forbidden(ErrorResponse),
    /// `webhook_not_found` (also another account's), `namespace_not_found`.
    #[response(status = 404)]
    NotFound(ErrorResponse),
    /// `too_many_webhooks`: the account has `webhooks.max_per_account` already.
    #[response(status = 409)]
    Conflict(ErrorResponse),
    /// `database_unavailable`, with Retry-After.
    #[response(status = 503)]
    Unavailable(ErrorResponse),
}
