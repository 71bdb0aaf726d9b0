//! Watching the audit trail as Server-Sent Events: `GET {lock}/events`,
//! `GET /v1/namespaces/{namespace}/events` and `GET /v1/events` (the key's
//! default namespace). Each event is `event:` its kind, `id:` its cursor and
//! `data:` the event as `/v1/audit` returns it.

use std::convert::Infallible;

use actix_web::http::header;
use actix_web::web::{Bytes, Data, Query};
use actix_web::{HttpRequest, HttpResponse};
use tokio::time::Instant;
use tracing::Instrument;

use super::api_schema::{
    ErrorResponse, LastEventIdHeader, LockAddress, NamespaceAddress, ReadErrors, ResumeQuery,
};
use super::audit::{decode_cursor, encode_cursor};
use super::error::ApiError;
use super::extract::{namespace_not_found_unless_valid, Caller, LockPath, PresentedKey};
use super::AppState;
use crate::auth::AuthError;
use crate::domain::{ApiKey, InvalidInput, Principal};
use crate::store::audit::{AuditEvent, Order, Position};
use crate::tenancy::Access;
use crate::watch::{Step, Topic, Watch};

const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// One lock's audit events as they commit, as Server-Sent Events.
#[utoipa::path(get, path = "/v1/namespaces/{namespace}/locks/{name}/events", tag = "audit",
    params(LockAddress, ResumeQuery, LastEventIdHeader),
    responses(
        (status = 200, description = "Server-Sent Events: `event:` the event kind, `id:` its cursor, \
            `data:` the event as `/v1/audit` returns it; `:` comment lines while quiet",
            content_type = "text/event-stream", body = String),
        (status = 404, description = "`namespace_not_found`", body = ErrorResponse),
        (status = 406, description = "`not_acceptable`: Accept excludes text/event-stream", body = ErrorResponse),
        (status = 429, description = "`too_many_streams` (or `rate_limited`)", body = ErrorResponse),
        ReadErrors))]
pub async fn lock_events(
    req: HttpRequest,
    state: Data<AppState>,
    Caller(caller): Caller,
    PresentedKey(key): PresentedKey,
    path: LockPath,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let after = resume_point(&req, &params)?;
    let namespace = state.namespaces.authorize(&caller, path.namespace_for(&caller), Access::Read).await?;
    let topic = Topic::lock(&namespace, &path.name, &caller);
    stream(state, caller, key, topic, after).await
}

/// A namespace's audit events (locks' and semaphores') as they commit, as
/// Server-Sent Events.
#[utoipa::path(get, path = "/v1/namespaces/{namespace}/events", tag = "audit",
    params(NamespaceAddress, ResumeQuery, LastEventIdHeader),
    responses(
        (status = 200, description = "Server-Sent Events, as for a lock's events",
            content_type = "text/event-stream", body = String),
        (status = 404, description = "`namespace_not_found`", body = ErrorResponse),
        (status = 406, description = "`not_acceptable`: Accept excludes text/event-stream", body = ErrorResponse),
        (status = 429, description = "`too_many_streams` (or `rate_limited`)", body = ErrorResponse),
        ReadErrors))]
pub async fn namespace_events(
    req: HttpRequest,
    state: Data<AppState>,
    Caller(caller): Caller,
    PresentedKey(key): PresentedKey,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let after = resume_point(&req, &params)?;
    let named = req.match_info().get("namespace").map(namespace_not_found_unless_valid).transpose()?;
    let namespace = named.unwrap_or_else(|| caller.namespace.clone());
    let namespace = state.namespaces.authorize(&caller, namespace, Access::Read).await?;
    let topic = Topic::namespace(&namespace, &caller);
    stream(state, caller, key, topic, after).await
}

async fn stream(
    state: Data<AppState>,
    caller: Principal,
    key: ApiKey,
    topic: Topic,
    after: Option<Position>,
) -> Result<HttpResponse, ApiError> {
    let watch = state.watch.open(&caller.key_id, topic, after).await?;
    let span = tracing::Span::current();
    let streaming = Streaming { state, key, watch, checked: Instant::now() };
    let body = futures_util::stream::unfold(streaming, move |mut streaming| {
        async move {
            let chunk = streaming.next_chunk().await?;
            Some((Ok::<_, Infallible>(chunk), streaming))
        }
        .instrument(span.clone())
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Tells nginx not to buffer the stream.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

/// An open stream and what it needs to go on: its key is verified again
/// every keep-alive interval, so that a revoked key's streams end.
struct Streaming {
    state: Data<AppState>,
    key: ApiKey,
    watch: Watch,
    checked: Instant,
}

impl Streaming {
    /// The next chunk to send, or `None` when the stream ends: at shutdown,
    /// when its key is revoked, or when the database fails (a client
    /// resumes from its last event's id).
    async fn next_chunk(&mut self) -> Option<Bytes> {
        let keep_alive = self.state.watch.keep_alive();
        let step = self.watch.next(Instant::now() + keep_alive).await;
        if self.checked.elapsed() >= keep_alive {
            if let Err(AuthError::Unauthorized) = self.state.auth.authenticate(&self.key).await {
                return None;
            }
            self.checked = Instant::now();
        }
        match step {
            Ok(Step::Events(events)) => Some(frames(&events)),
            Ok(Step::Quiet) => Some(Bytes::from_static(KEEP_ALIVE)),
            Ok(Step::Closed) => None,
            Err(error) => {
                tracing::warn!(%error, "an event stream ended: the audit trail could not be read");
                None
            }
        }
    }
}

/// The events as SSE frames: `event:`, `id:` (the cursor to resume after
/// it) and `data:` (one line of JSON: serde_json escapes newlines).
fn frames(events: &[AuditEvent]) -> Bytes {
    let mut text = String::new();
    for event in events {
        let data = serde_json::to_string(event).expect("an audit event serializes");
        let id = encode_cursor(Order::Asc, event.position());
        text.push_str(&format!("event: {}\nid: {id}\ndata: {data}\n\n", event.event));
    }
    Bytes::from(text)
}

/// Where to resume: after `Last-Event-ID` (what an `EventSource` sends when
/// it reconnects, so it wins over the URL's), else after `?after=`; `None`
/// is from now on. Refuses an `Accept` that rules event streams out.
fn resume_point(req: &HttpRequest, params: &[(String, String)]) -> Result<Option<Position>, ApiError> {
    if !accepts_event_stream(req) {
        return Err(ApiError::NotAcceptable);
    }
    let mut after = None;
    for (key, value) in params.iter().filter(|(_, v)| !v.is_empty()) {
        match key.as_str() {
            "after" => after = Some(value.as_str()),
            other => {
                let message = format!("unknown query parameter {other:?}");
                return Err(InvalidInput::new("invalid_query", message).into());
            }
        }
    }
    let last_event_id = match req.headers().get("last-event-id").map(|v| v.to_str()) {
        Some(Ok(id)) => Some(id).filter(|id| !id.is_empty()),
        Some(Err(_)) => {
            return Err(InvalidInput::new("invalid_cursor", "Last-Event-ID is not a cursor").into())
        }
        None => None,
    };
    let cursor = last_event_id.or(after);
    Ok(cursor.map(|cursor| decode_cursor(cursor, Order::Asc)).transpose()?)
}

/// Whether `Accept` is absent or admits `text/event-stream` (also as
/// `text/*` or `*/*`) with a quality above zero.
fn accepts_event_stream(req: &HttpRequest) -> bool {
    let mut values = req.headers().get_all(header::ACCEPT).peekable();
    if values.peek().is_none() {
        return true;
    }
    values.filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let refused = parts.any(|p| {
            p.split_once('=')
                .is_some_and(|(k, q)| k.trim().eq_ignore_ascii_case("q") && q.trim().parse() == Ok(0.0))
        });
        matches!(media.as_str(), "text/event-stream" | "text/*" | "*/*") && !refused
    })
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn accepts(value: Option<&str>) -> bool {
        let mut req = TestRequest::default();
        if let Some(value) = value {
            req = req.insert_header((header::ACCEPT, value));
        }
        accepts_event_stream(&req.to_http_request())
    }

    #[test]
    fn event_streams_are_accepted_unless_ruled_out() {
        assert!(accepts(None));
        assert!(accepts(Some("text/event-stream")));
        assert!(accepts(Some("application/json, */*;q=0.1")));
        assert!(accepts(Some("Text/*")));
        assert!(!accepts(Some("application/json")));
        assert!(!accepts(Some("text/event-stream;q=0, application/json")));
    }
}
