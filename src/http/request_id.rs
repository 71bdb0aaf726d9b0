//! The request's id: the client's `X-Request-Id` when it sends a usable one
//! (1 to 128 visible ASCII characters), else one generated here. It is
//! echoed in the response, named in the request's log span and recorded in
//! the audit rows the request writes, so one id follows a call from the
//! client's logs to the audit trail.

use std::future::{ready, Ready};

use actix_web::dev::{Payload, ServiceRequest};
use actix_web::{FromRequest, HttpMessage, HttpRequest};

use super::error::ApiError;

#[derive(Debug, Clone)]
pub struct RequestId(String);

impl RequestId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The client's id if usable, else a new one; remembered on the request.
    pub(crate) fn assign(req: &ServiceRequest) -> Self {
        let sent = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).filter(|id| usable(id));
        let id = Self(sent.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned));
        req.extensions_mut().insert(id.clone());
        id
    }
}

fn usable(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromRequest for RequestId {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    /// Assigned by the request span (`telemetry::RequestSpan`) before any handler runs.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let id = req.extensions().get::<RequestId>().cloned();
        ready(Ok(id.unwrap_or_else(|| Self(uuid::Uuid::new_v4().to_string()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_id_is_used_when_it_is_visible_ascii_of_sane_length() {
        assert!(usable("deploy-42/step:3"));
        assert!(usable(&"x".repeat(128)));
        for bad in ["", "has space", "tab\t", "é", &"x".repeat(129)] {
            assert!(!usable(bad), "{bad:?}");
        }
    }
}
