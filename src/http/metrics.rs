//! `GET /metrics`: the server's metrics, in OpenMetrics text unless the
//! scraper accepts only the Prometheus text format 0.0.4.

use actix_web::http::header::ACCEPT;
use actix_web::web::Data;
use actix_web::{get, HttpRequest, HttpResponse};

use super::AppState;
use crate::metrics::{self, Metrics};
use crate::store;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Like `/healthz` it needs no key: it says nothing about any tenant, only
/// how the server is doing.
#[get("/metrics")]
pub async fn endpoint(req: HttpRequest, metrics: Data<Metrics>, state: Data<AppState>) -> HttpResponse {
    match state.db(store::gauges::lease_gauges(&state.pool)).await {
        Ok(gauges) => metrics.set_lease_gauges(&gauges),
        Err(error) => tracing::warn!(%error, "metrics: cannot read lease gauges; reporting the last values"),
    }
    let Ok(text) = metrics.encode() else { return HttpResponse::InternalServerError().finish() };
    let accept = req.headers().get(ACCEPT).and_then(|value| value.to_str().ok());
    if wants_prometheus_text(accept) {
        HttpResponse::Ok().content_type(PROMETHEUS_TEXT).body(metrics::prometheus_text(&text))
    } else {
        HttpResponse::Ok().content_type(OPENMETRICS).body(text)
    }
}

/// Whether `Accept` names the Prometheus text format and not OpenMetrics
/// (Prometheus itself asks for both, OpenMetrics first).
fn wants_prometheus_text(accept: Option<&str>) -> bool {
    accept.is_some_and(|accept| {
        accept.contains("text/plain") && !accept.contains("application/openmetrics-text")
    })
}

#[cfg(test)]
mod tests {
    use super::wants_prometheus_text;

    #[test]
    fn only_a_scraper_that_asks_for_text_plain_alone_gets_the_prometheus_format() {
        assert!(wants_prometheus_text(Some("text/plain;version=0.0.4")));
        assert!(!wants_prometheus_text(Some(
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        )));
        assert!(!wants_prometheus_text(Some("*/*")));
        assert!(!wants_prometheus_text(None));
    }
}
