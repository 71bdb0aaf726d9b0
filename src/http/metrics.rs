//! `GET /metrics`: the server's metrics in the Prometheus text format.

use actix_web::web::Data;
use actix_web::{get, HttpResponse};

use super::AppState;
use crate::metrics::Metrics;
use crate::store;

/// Like `/healthz` it needs no key: it says nothing about any tenant, only
/// how the server is doing.
#[get("/metrics")]
pub async fn endpoint(metrics: Data<Metrics>, state: Data<AppState>) -> HttpResponse {
    match state.db(store::gauges::lease_gauges(&state.pool)).await {
        Ok(gauges) => metrics.set_lease_gauges(&gauges),
        Err(error) => tracing::warn!(%error, "metrics: cannot read lease gauges; reporting the last values"),
    }
    match metrics.encode() {
        Ok(text) => HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(text),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}
