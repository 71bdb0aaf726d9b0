//! One span per request (request id, matched route, status, key id), the
//! request id echoed to the client, and one log line per completed request.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use tracing::field::Empty;
use tracing::Span;
use tracing_actix_web::RootSpanBuilder;

use super::request_id::RequestId;

pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    /// The request's id is the client's `X-Request-Id` when usable
    /// (`request_id`), so the span names it rather than the middleware's own.
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = RequestId::assign(request);
        let route = request.match_pattern();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = route.as_deref().unwrap_or("unmatched"),
            http.status_code = Empty,
            request_id = %request_id,
            key_id = Empty,
        )
    }

    /// Records the status only: client errors are answers, not incidents, and
    /// server errors are logged with their cause where they are mapped.
    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let status = match outcome {
            Ok(response) => response.status(),
            Err(error) => error.as_response_error().status_code(),
        };
        span.record("http.status_code", status.as_u16());
    }
}

pub async fn request_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let request_id = req.extensions().get::<RequestId>().map(|id| id.as_str().to_owned());
    let mut response = next.call(req).await?;
    let status = response.status().as_u16();
    tracing::info!(status, latency_ms = started.elapsed().as_secs_f64() * 1e3, "request completed");
    if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        response.headers_mut().insert(HeaderName::from_static("x-request-id"), id);
    }
    Ok(response)
}
