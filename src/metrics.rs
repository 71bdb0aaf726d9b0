//! `GET /metrics` in the Prometheus text format. Each server has its own
//! registry (no global state, so tests can run many servers). Requests are
//! recorded by one middleware, by matched route and status, and lock outcomes
//! are read off the same facts (a 201 on acquire is an acquisition, a 409 a
//! conflict, a 410 a lost lease); the sweeper reports its batches. Pool and
//! key-cache figures are read when scraped; live locks and the sweeper's lag
//! come from one small query per scrape, never per request.

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::Data;
use actix_web::{get, Error, HttpResponse};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use sqlx::PgPool;

use crate::auth::KeyCacheStats;
use crate::http::AppState;
use crate::store;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

type Histograms = Family<RouteLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Histograms,
    outcomes: Family<OutcomeLabels, Counter>,
    audit_rows: Counter,
    sweep_batch: Histogram,
    live_locks: Gauge,
    waiters: Gauge,
    sweeper_lag: Gauge<f64, AtomicU64>,
}

impl Metrics {
    /// A registry for one server, reading the pool and the key cache when scraped.
    pub fn new(pool: &PgPool, key_cache: Arc<KeyCacheStats>) -> Self {
        let mut registry = Registry::with_prefix("leasehold");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, matched route and status",
            requests.clone(),
        );
        let latency: Histograms =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.00025, 2.0, 15)));
        registry.register(
            "http_request_duration_seconds",
            "Time to answer, by matched route",
            latency.clone(),
        );
        let outcomes = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "lock_outcomes",
            "Lock operations by outcome: acquired, conflict, renewed, released, handed_over, lease_lost, expired (swept)",
            outcomes.clone(),
        );
        let audit_rows = Counter::default();
        registry.register(
            "audit_rows",
            "Audit rows written by lock operations and the sweeper",
            audit_rows.clone(),
        );
        let sweep_batch = Histogram::new([0.0, 1.0, 10.0, 100.0, 1000.0, 10000.0]);
        registry.register("sweeper_batch_size", "Leases deleted per sweep statement", sweep_batch.clone());
        let live_locks = Gauge::default();
        registry.register(
            "live_locks",
            "Leases live by the database clock (read when scraped)",
            live_locks.clone(),
        );
        let waiters = Gauge::default();
        registry.register(
            "waiters",
            "Acquires waiting in line for a lock (read when scraped)",
            waiters.clone(),
        );
        let sweeper_lag = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "sweeper_lag_seconds",
            "Age of the oldest lapsed lease the sweeper has not deleted yet (read when scraped)",
            sweeper_lag.clone(),
        );
        registry.register_collector(Box::new(Scraped { pool: pool.clone(), key_cache }));
        Self {
            registry,
            requests,
            latency,
            outcomes,
            audit_rows,
            sweep_batch,
            live_locks,
            waiters,
            sweeper_lag,
        }
    }

    fn observe(&self, method: &Method, route: Option<String>, status: StatusCode, took: Duration) {
        let method = method_label(method);
        let route = route.unwrap_or_else(|| "unmatched".to_owned());
        if let Some(outcome) = lock_outcome(method, &route, status) {
            self.outcomes.get_or_create(&OutcomeLabels { outcome }).inc();
            if outcome != "conflict" && outcome != "lease_lost" {
                self.audit_rows.inc();
            }
        }
        self.latency.get_or_create(&RouteLabels { method, route: route.clone() }).observe(took.as_secs_f64());
        self.requests.get_or_create(&RequestLabels { method, route, status: status.as_u16() }).inc();
    }

    /// The sweeper deleted `swept` lapsed leases in one statement.
    pub fn swept(&self, swept: u64) {
        self.sweep_batch.observe(swept as f64);
        self.outcomes.get_or_create(&OutcomeLabels { outcome: "expired" }).inc_by(swept);
        self.audit_rows.inc_by(swept);
    }

    fn encode(&self) -> Result<String, fmt::Error> {
        let mut text = String::with_capacity(8192);
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// What a lock route's status says about the lock, read off route and status
/// alone so that no handler needs to know about metrics.
fn lock_outcome(method: &str, route: &str, status: StatusCode) -> Option<&'static str> {
    let code = status.as_u16();
    let on_lock = route.ends_with("/locks/{name}");
    match (method, code) {
        ("POST", 201) if on_lock => Some("acquired"),
        ("POST", 409) if on_lock => Some("conflict"),
        ("POST", 200) if route.ends_with("/{name}/renew") => Some("renewed"),
        ("POST", 201) if route.ends_with("/{name}/handover") => Some("handed_over"),
        ("DELETE", 204) if on_lock => Some("released"),
        (_, 410) => Some("lease_lost"),
        _ => None,
    }
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::PUT => "PUT",
        Method::HEAD => "HEAD",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Records every request; registered innermost, so it times the handler.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let metrics = req.app_data::<Data<Metrics>>().cloned();
    let method = req.method().clone();
    let response = next.call(req).await?;
    if let Some(metrics) = metrics {
        metrics.observe(&method, response.request().match_pattern(), response.status(), started.elapsed());
    }
    Ok(response)
}

/// Prometheus text. Like `/healthz` it needs no key: it says nothing about
/// any tenant, only how the server is doing.
#[get("/metrics")]
pub async fn endpoint(metrics: Data<Metrics>, state: Data<AppState>) -> HttpResponse {
    match state.db(store::gauges::lease_gauges(&state.pool)).await {
        Ok(gauges) => {
            metrics.live_locks.set(gauges.live);
            metrics.waiters.set(gauges.waiters);
            metrics.sweeper_lag.set(gauges.oldest_lapsed_seconds);
        }
        Err(error) => tracing::warn!(%error, "metrics: cannot read lease gauges; reporting the last values"),
    }
    match metrics.encode() {
        Ok(text) => HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(text),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

/// Figures read when scraped: the pool and the key cache.
#[derive(Debug)]
struct Scraped {
    pool: PgPool,
    key_cache: Arc<KeyCacheStats>,
}

impl Collector for Scraped {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let size = self.pool.size() as i64;
        let idle = self.pool.num_idle() as i64;
        let max = self.pool.options().get_max_connections() as i64;
        gauge(&mut encoder, "pool_connections_in_use", "Database connections checked out", size - idle)?;
        gauge(&mut encoder, "pool_connections_idle", "Database connections open and idle", idle)?;
        gauge(&mut encoder, "pool_connections_max", "The pool's configured size", max)?;
        let (lookups, misses) = self.key_cache.read();
        counter(&mut encoder, "key_cache_lookups", "API-key verifications asked of the cache", lookups)?;
        counter(&mut encoder, "key_cache_misses", "Verifications that ran argon2 (cache misses)", misses)
    }
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: i64) -> Result<(), fmt::Error> {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> Result<(), fmt::Error> {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_outcomes_are_read_off_route_and_status() {
        let lock = "/v1/namespaces/{namespace}/locks/{name}";
        assert_eq!(lock_outcome("POST", lock, StatusCode::CREATED), Some("acquired"));
        assert_eq!(lock_outcome("POST", "/v1/locks/{name}", StatusCode::CONFLICT), Some("conflict"));
        assert_eq!(lock_outcome("POST", "/v1/locks/{name}/renew", StatusCode::OK), Some("renewed"));
        assert_eq!(lock_outcome("DELETE", lock, StatusCode::NO_CONTENT), Some("released"));
        assert_eq!(lock_outcome("DELETE", lock, StatusCode::GONE), Some("lease_lost"));
        assert_eq!(lock_outcome("GET", lock, StatusCode::OK), None);
        assert_eq!(lock_outcome("POST", lock, StatusCode::BAD_REQUEST), None);
    }
}
