//! What can go wrong, as types a caller can match on.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// Why a lease is no longer held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LostReason {
    /// The lease ran past its expiry before a renewal reached the server.
    Expired,
    /// The lease was released (by this holder, or with its token elsewhere).
    Released,
    /// Another holder has acquired the lock since (the lease expired and was
    /// taken over, or was handed over).
    Superseded,
    /// The server does not know this lock token.
    UnknownToken,
    /// The server said the lease is lost but not why (servers before the
    /// `reason` field was added).
    Unspecified,
    /// Judged by this client: renewals kept failing (server unreachable or
    /// unavailable) until the time-to-live had passed since the last
    /// successful renewal was sent, so the lease may have lapsed.
    RenewalsFailed,
}

impl LostReason {
    /// The server's `reason` string; unknown strings read as `Unspecified`.
    pub fn from_server(reason: Option<&str>) -> Self {
        match reason {
            Some("expired") => Self::Expired,
            Some("released") => Self::Released,
            Some("superseded") => Self::Superseded,
            Some("unknown_token") => Self::UnknownToken,
            _ => Self::Unspecified,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::Released => "released",
            Self::Superseded => "superseded",
            Self::UnknownToken => "unknown_token",
            Self::Unspecified => "unspecified",
            Self::RenewalsFailed => "renewals_failed",
        }
    }
}

impl fmt::Display for LostReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every error this crate returns.
///
/// Transient failures (connection errors, timeouts, 503) have already been
/// retried with backoff when you see [`Error::Unavailable`] or
/// [`Error::Unreachable`]; for those the outcome of the request is unknown.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Someone else holds the lock (or, for a lock set, some of its locks),
    /// or it is free but promised to earlier waiters (409 `lock_held`).
    #[error("the lock is held{}{}", members(.held), until(.expires_at))]
    Held {
        /// When the holder's lease expires, if the server says.
        expires_at: Option<DateTime<Utc>>,
        /// The holder's fencing token, if the server shows it.
        fencing_token: Option<i64>,
        /// The holder's owner label, when the server shows it to you.
        owner: Option<String>,
        /// How many waiters are ahead (a lock free but reserved for them).
        waiters: Option<i64>,
        /// A lock set's locks that are held (none for a single lock).
        held: Vec<String>,
        /// When the server suggests trying again.
        retry_after: Option<Duration>,
    },
    /// Every place in the semaphore is held or promised to earlier waiters
    /// (409 `semaphore_full`).
    #[error("the semaphore is full")]
    SemaphoreFull {
        /// Its limit and live holders, where the server says.
        limit: Option<u32>,
        holders: Option<i64>,
        /// When the server suggests trying again.
        retry_after: Option<Duration>,
    },
    /// The semaphore is held under a different limit than the one asked for
    /// (409 `limit_mismatch`): every holder must agree on it.
    #[error("limit mismatch: {message}")]
    LimitMismatch {
        /// The live semaphore's limit, where the server says.
        limit: Option<u32>,
        message: String,
    },
    /// Too many requests (429): retried within the retry budget first.
    #[error("rate limited by the server")]
    RateLimited { retry_after: Option<Duration> },
    /// The lease this token stood for is gone (410 `lease_lost`).
    #[error("the lease is lost ({reason})")]
    LeaseLost { reason: LostReason },
    /// Nobody holds the lock (404 `lock_not_held`, from a status read).
    #[error("the lock is not held")]
    NotHeld,
    /// The namespace does not exist or is not yours (404).
    #[error("no such namespace")]
    NamespaceNotFound,
    /// The API key is missing, wrong or revoked (401).
    #[error("the API key was refused")]
    Unauthorized,
    /// The key may not do this (403 `forbidden` or `plan_forbids`).
    #[error("forbidden ({code}): {message}")]
    Forbidden { code: String, message: String },
    /// The server refused the request as malformed (400, 413, 422).
    #[error("invalid request ({code}): {message}")]
    Invalid { code: String, message: String },
    /// The server answered 503 on every attempt; the outcome is unknown.
    #[error("the server is unavailable: {message}")]
    Unavailable { message: String, retry_after: Option<Duration> },
    /// No answer from the server on any attempt; the outcome is unknown.
    #[error("the server is unreachable: {0}")]
    Unreachable(#[source] reqwest::Error),
    /// Any other answer: an unexpected status or body.
    #[error("unexpected answer from the server ({status}): {message}")]
    Unexpected { status: u16, code: Option<String>, message: String },
    /// The client was configured wrongly (bad URL, bad header value).
    #[error("client configuration: {0}")]
    Config(String),
}

impl Error {
    /// Whether retrying the same request may succeed: the server was
    /// unreachable or unavailable, so the outcome is unknown.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Unreachable(_) | Self::RateLimited { .. })
    }
}

fn members(held: &[String]) -> String {
    if held.is_empty() {
        return String::new();
    }
    format!(" ({})", held.join(", "))
}

fn until(expires_at: &Option<DateTime<Utc>>) -> String {
    expires_at
        .map(|t| format!(" until {}", t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)))
        .unwrap_or_default()
}

/// `{"error": {"code", "message", "reason"?}, "lock"?: {...}, ...}`, with
/// what a conflict's kind adds: `waiters`, a semaphore's `limit` and
/// `holders`, a lock set's `held` members.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    pub error: ErrorDetail,
    #[serde(default)]
    pub lock: Option<HolderView>,
    #[serde(default)]
    pub waiters: Option<i64>,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub holders: Option<i64>,
    #[serde(default)]
    pub held: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ErrorDetail {
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub reason: Option<String>,
}

/// The part of a holder's lease a 409 shows.
#[derive(Debug, Deserialize)]
pub(crate) struct HolderView {
    pub fencing_token: i64,
    pub expires_at: DateTime<Utc>,
    #[serde(default)]
    pub owner: Option<String>,
}

/// Maps a non-success answer to an [`Error`].
pub(crate) fn from_response(status: u16, retry_after: Option<Duration>, body: &[u8]) -> Error {
    let Ok(parsed) = serde_json::from_slice::<ErrorBody>(body) else {
        let message = String::from_utf8_lossy(body).chars().take(200).collect();
        return Error::Unexpected { status, code: None, message };
    };
    let ErrorDetail { code, message, reason } = parsed.error;
    match (status, code.as_str()) {
        (409, "lock_held") => {
            let holder = parsed.lock;
            Error::Held {
                expires_at: holder.as_ref().map(|h| h.expires_at).or(parsed.expires_at),
                fencing_token: holder.as_ref().map(|h| h.fencing_token),
                owner: holder.and_then(|h| h.owner),
                waiters: parsed.waiters,
                held: parsed.held,
                retry_after,
            }
        }
        (409, "semaphore_full") => {
            Error::SemaphoreFull { limit: parsed.limit, holders: parsed.holders, retry_after }
        }
        (409, "limit_mismatch") => Error::LimitMismatch { limit: parsed.limit, message },
        (410, _) => Error::LeaseLost { reason: LostReason::from_server(reason.as_deref()) },
        (404, "lock_not_held") => Error::NotHeld,
        (404, "namespace_not_found") => Error::NamespaceNotFound,
        (401, _) => Error::Unauthorized,
        (403, _) => Error::Forbidden { code, message },
        (400 | 413 | 422, _) => Error::Invalid { code, message },
        (429, _) => Error::RateLimited { retry_after },
        (503, _) => Error::Unavailable { message, retry_after },
        _ => Error::Unexpected { status, code: Some(code), message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_lost_carries_the_servers_reason() {
        let body = br#"{"error":{"code":"lease_lost","message":"gone","reason":"superseded"}}"#;
        let err = from_response(410, None, body);
        assert!(matches!(err, Error::LeaseLost { reason: LostReason::Superseded }));
    }

    #[test]
    fn lease_lost_without_a_reason_is_unspecified() {
        let body = br#"{"error":{"code":"lease_lost","message":"gone"}}"#;
        let err = from_response(410, None, body);
        assert!(matches!(err, Error::LeaseLost { reason: LostReason::Unspecified }));
    }

    #[test]
    fn held_carries_the_holders_expiry_and_retry_after() {
        let body = br#"{"error":{"code":"lock_held","message":"held"},
            "lock":{"namespace":"a","name":"b","fencing_token":7,"owner":null,
                    "acquired_at":"2026-01-01T00:00:00Z","expires_at":"2026-01-01T00:01:00Z",
                    "ttl_seconds":60,"metadata":null}}"#;
        let err = from_response(409, Some(Duration::from_secs(3)), body);
        assert_eq!(err.to_string(), "the lock is held until 2026-01-01T00:01:00.000Z");
        match err {
            Error::Held { fencing_token, retry_after, expires_at, .. } => {
                assert_eq!(fencing_token, Some(7));
                assert_eq!(retry_after, Some(Duration::from_secs(3)));
                assert_eq!(expires_at.unwrap().to_rfc3339(), "2026-01-01T00:01:00+00:00");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_free_lock_promised_to_earlier_waiters_is_held() {
        let body = br#"{"error":{"code":"lock_held","message":"reserved"},"waiters":2}"#;
        let err = from_response(409, Some(Duration::from_secs(1)), body);
        assert!(matches!(err, Error::Held { waiters: Some(2), expires_at: None, .. }), "{err:?}");
    }

    #[test]
    fn a_full_semaphore_says_when_to_try_again() {
        let body = br#"{"error":{"code":"semaphore_full","message":"full"},"limit":3,"holders":3}"#;
        let err = from_response(409, Some(Duration::from_secs(2)), body);
        let two = Some(Duration::from_secs(2));
        assert!(
            matches!(err, Error::SemaphoreFull { limit: Some(3), holders: Some(3), retry_after } if retry_after == two),
            "{err:?}"
        );
    }

    #[test]
    fn a_different_limit_is_a_limit_mismatch() {
        let body = br#"{"error":{"code":"limit_mismatch","message":"its limit is 3"},"limit":3}"#;
        let err = from_response(409, None, body);
        assert!(matches!(&err, Error::LimitMismatch { limit: Some(3), .. }), "{err:?}");
    }

    #[test]
    fn a_held_lock_set_names_its_held_members() {
        let body = br#"{"error":{"code":"lock_held","message":"held: b, c"},"held":["b","c"]}"#;
        let err = from_response(409, None, body);
        assert!(matches!(&err, Error::Held { held, .. } if held == &["b", "c"]), "{err:?}");
        assert_eq!(err.to_string(), "the lock is held (b, c)");
    }

    #[test]
    fn a_body_that_is_not_json_is_unexpected() {
        let err = from_response(502, None, b"Bad Gateway");
        assert!(matches!(err, Error::Unexpected { status: 502, .. }));
    }

    #[test]
    fn only_unavailable_and_unreachable_are_transient() {
        let unavailable = Error::Unavailable { message: String::new(), retry_after: None };
        assert!(unavailable.is_transient());
        assert!(!Error::NotHeld.is_transient());
        assert!(!Error::LeaseLost { reason: LostReason::Expired }.is_transient());
    }
}
