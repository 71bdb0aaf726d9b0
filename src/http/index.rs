//! `GET /`: where to go from here. A browser is sent to the console's
//! sign-in; anything else gets a JSON index of links.

use actix_web::http::header::{ACCEPT, LOCATION};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

/// An index of the server's entry points (a browser is redirected to the console).
#[utoipa::path(get, path = "/", tag = "health", security(),
    responses((status = 200, description = "Links to the API document, the console, health and metrics", body = Object),
              (status = 303, description = "A browser (`Accept: text/html`) goes to the console")))]
pub async fn index(req: HttpRequest) -> HttpResponse {
    let accept = req.headers().get(ACCEPT).and_then(|value| value.to_str().ok()).unwrap_or_default();
    if accept.contains("text/html") {
        return HttpResponse::SeeOther().insert_header((LOCATION, "/console")).finish();
    }
    HttpResponse::Ok().json(json!({
        "service": "leasehold",
        "version": env!("CARGO_PKG_VERSION"),
        "links": {
            "openapi": "/openapi.json",
            "console": "/console",
            "locks": "/v1/locks/{name}",
            "semaphores": "/v1/semaphores/{name}",
            "lock_sets": "/v1/lock-sets",
            "audit": "/v1/audit",
            "healthz": "/healthz",
            "readyz": "/readyz",
            "metrics": "/metrics",
        },
    }))
}
