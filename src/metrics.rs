//! The server's metrics, served at `GET /metrics` (`http::metrics`) in the
//! Prometheus text format. Each server has its own registry (no global
//! state, so tests can run many servers). Requests are recorded by one
//! middleware, by matched route and status; lock outcomes and audit rows are
//! counted by the lease engine where it decides them, by API; the sweeper
//! reports its batches. Pool and key-cache figures are read when scraped;
//! live locks and the sweeper's lag come from one small query per scrape,
//! never per request.

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::Data;
use actix_web::Error;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::auth::KeyCacheStats;
use crate::store::gauges::LeaseGauges;

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
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    api: &'static str,
    outcome: &'static str,
}

type Histograms = Family<RouteLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Histograms,
    outcomes: Family<OutcomeLabels, Counter>,
    audit_rows: Counter,
    lock_sets: Family<KindLabels, Histogram, fn() -> Histogram>,
    sweep_batch: Histogram,
    live_locks: Gauge,
    waiters: Gauge,
    sweeper_lag: Gauge<f64, AtomicU64>,
}

impl Metrics {
    /// A registry for one server, reading the pool, the key cache and (with
    /// several database hosts) the primary's moves when scraped.
    pub fn new(
        pool: &PgPool,
        key_cache: Arc<KeyCacheStats>,
        primary_moves: Option<watch::Receiver<u64>>,
    ) -> Self {
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
            "Lock operations by API (native, lockable, locklock, mutex_uno; sweeper) and outcome: acquired, conflict, renewed, released, handed_over, lease_lost, force_released, expired",
            outcomes.clone(),
        );
        let audit_rows = Counter::default();
        registry.register(
            "audit_rows",
            "Audit rows written by lock operations and the sweeper",
            audit_rows.clone(),
        );
        let lock_sets: Family<KindLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(1.0, 2.0, 11)));
        registry.register(
            "lock_statement_set_size",
            "Lock operations per set statement (group commit), by kind: acquire, renew, release, handover; its count is the statements",
            lock_sets.clone(),
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
        registry.register_collector(Box::new(Scraped { pool: pool.clone(), key_cache, primary_moves }));
        Self {
            registry,
            requests,
            latency,
            outcomes,
            audit_rows,
            lock_sets,
            sweep_batch,
            live_locks,
            waiters,
            sweeper_lag,
        }
    }

    fn observe(&self, method: &Method, route: Option<String>, status: StatusCode, took: Duration) {
        let method = method_label(method);
        let route = route.unwrap_or_else(|| "unmatched".to_owned());
        self.latency.get_or_create(&RouteLabels { method, route: route.clone() }).observe(took.as_secs_f64());
        self.requests.get_or_create(&RequestLabels { method, route, status: status.as_u16() }).inc();
    }

    /// The lease engine decided a lock operation's outcome.
    pub fn lock_outcome(&self, api: &'static str, outcome: &'static str) {
        self.outcomes.get_or_create(&OutcomeLabels { api, outcome }).inc();
    }

    /// Lock statements wrote `rows` audit rows.
    pub fn audit_rows(&self, rows: u64) {
        self.audit_rows.inc_by(rows);
    }

    /// A set statement of `kind` carried `size` lock operations.
    pub fn batch(&self, kind: &'static str, size: usize) {
        self.lock_sets.get_or_create(&KindLabels { kind }).observe(size as f64);
    }

    /// The sweeper deleted `swept` lapsed leases in one statement.
    pub fn swept(&self, swept: u64) {
        self.sweep_batch.observe(swept as f64);
        self.outcomes.get_or_create(&OutcomeLabels { api: "sweeper", outcome: "expired" }).inc_by(swept);
        self.audit_rows.inc_by(swept);
    }

    /// The gauges read from the database for this scrape.
    pub fn set_lease_gauges(&self, gauges: &LeaseGauges) {
        self.live_locks.set(gauges.live);
        self.waiters.set(gauges.waiters);
        self.sweeper_lag.set(gauges.oldest_lapsed_seconds);
    }

    /// The metrics in the OpenMetrics text format (1.0.0).
    pub fn encode(&self) -> Result<String, fmt::Error> {
        let mut text = String::with_capacity(8192);
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// OpenMetrics text rewritten in the Prometheus text format 0.0.4, for
/// scrapers that ask for no other: a counter family is named with its
/// `_total` (as its samples are), `unknown` is `untyped`, and the `# EOF`
/// and `# UNIT` lines go.
pub fn prometheus_text(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut text = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let metadata = ["# HELP ", "# TYPE "].into_iter().find(|prefix| line.starts_with(prefix));
        match metadata
            .and_then(|prefix| line[prefix.len()..].split_once(' ').map(|(name, rest)| (prefix, name, rest)))
        {
            Some((prefix, name, rest)) => {
                let suffix = if counters.contains(&name) { "_total" } else { "" };
                let rest = if rest == "unknown" && prefix == "# TYPE " { "untyped" } else { rest };
                text.push_str(&format!("{prefix}{name}{suffix} {rest}"));
            }
            None => text.push_str(line),
        }
        text.push('\n');
    }
    text
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

/// Figures read when scraped: the pool, the key cache, the primary's moves.
#[derive(Debug)]
struct Scraped {
    pool: PgPool,
    key_cache: Arc<KeyCacheStats>,
    primary_moves: Option<watch::Receiver<u64>>,
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
        counter(&mut encoder, "key_cache_misses", "Verifications that ran argon2 (cache misses)", misses)?;
        if let Some(moves) = &self.primary_moves {
            let moves = *moves.borrow();
            counter(
                &mut encoder,
                "database_primary_moves",
                "Times the pool followed the primary to another host",
                moves,
            )?;
        }
        Ok(())
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
    use super::prometheus_text;

    #[test]
    fn prometheus_text_names_counters_by_their_samples_and_drops_openmetrics_only_lines() {
        let openmetrics = "# HELP jobs Jobs run.\n# TYPE jobs counter\njobs_total{kind=\"a\"} 3\n\
                           # HELP size Size.\n# TYPE size gauge\n# UNIT size bytes\nsize 7\n\
                           # TYPE odd unknown\nodd 1\n# EOF\n";

        assert_eq!(
            prometheus_text(openmetrics),
            "# HELP jobs_total Jobs run.\n# TYPE jobs_total counter\njobs_total{kind=\"a\"} 3\n\
             # HELP size Size.\n# TYPE size gauge\nsize 7\n# TYPE odd untyped\nodd 1\n"
        );
    }
}
