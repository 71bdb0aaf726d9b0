//! Builds the application: pool, schema check, HTTP server and sweeper.

use std::future::Future;
use std::net::TcpListener;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::web::{self, Data};
use actix_web::App;
use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing_actix_web::TracingLogger;

use crate::auth::Authenticator;
use crate::config::Settings;
use crate::http::rate_limit::RateLimiter;
use crate::http::{self, AppState, RequestSpan};
use crate::metrics::{self, Metrics};
use crate::store::schema::{self, SchemaState};
use crate::sweeper;
use crate::tenancy::Namespaces;
use crate::waiting::Waiting;
use crate::wake::WakeHub;

pub struct Application {
    port: u16,
    server: Server,
    pool: PgPool,
    sweeper: JoinHandle<()>,
    stop: CancellationToken,
}

impl Application {
    /// Connects to the configured database, checks (or migrates) its schema,
    /// binds the listener and starts the sweeper.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let pool = connect(settings)?;
        ensure_schema(&pool, settings.migrate).await?;
        crate::durability::ensure(&pool, settings.allow_unsafe_durability).await?;
        let listener = TcpListener::bind(settings.listen).with_context(|| {
            format!("cannot listen on {}; set --listen or LEASEHOLD_LISTEN", settings.listen)
        })?;
        Ok(Self::serve(settings, pool, listener)?)
    }

    /// Serves on `listener` with an existing pool.
    pub fn serve(settings: &Settings, pool: PgPool, listener: TcpListener) -> std::io::Result<Self> {
        let port = listener.local_addr()?.port();
        let wake = Arc::new(WakeHub::default());
        let place_lease = Duration::from_millis(settings.waiting.place_lease_ms);
        let state = Data::new(AppState {
            waiting: Waiting::new(pool.clone(), wake.clone(), place_lease, settings.database.timeout()),
            pool: pool.clone(),
            plans: settings.plans.clone(),
            auth: Authenticator::new(pool.clone(), &settings.auth, settings.database.timeout()),
            namespaces: Namespaces::new(pool.clone()),
            db_timeout: settings.database.timeout(),
            body_limit: settings.http.body_limit_bytes,
            console: settings.console.clone(),
            compat: settings.compat.clone(),
        });
        let metrics = Arc::new(Metrics::new(&pool, state.auth.cache_stats()));
        let metrics_data = Data::from(metrics.clone());
        let limiter = Data::new(RateLimiter::new(&settings.rate_limit, state.auth.clone()));
        let server = actix_web::HttpServer::new(move || {
            App::new()
                .app_data(metrics_data.clone())
                .app_data(limiter.clone())
                .wrap(from_fn(http::extract::refuse_nul))
                .wrap(from_fn(http::rate_limit::limit))
                .wrap(from_fn(metrics::track))
                .wrap(from_fn(http::request_log))
                .wrap(TracingLogger::<RequestSpan>::new())
                .configure(http::app_data(state.clone()))
                .configure(http::routes)
                .default_service(web::to(http::not_found))
        })
        .on_connect(http::remember_socket)
        .listen(listener)?
        .workers(settings.http.workers.unwrap_or_else(num_workers))
        .shutdown_timeout(settings.http.shutdown_timeout_seconds)
        .disable_signals()
        .run();
        let stop = CancellationToken::new();
        tokio::spawn(crate::audit_maintenance::run(pool.clone(), settings.audit.clone(), stop.clone()));
        let sweeper = sweeper::run(pool.clone(), settings.sweeper.clone(), stop.clone(), metrics);
        let tidy = sweeper::tidy(pool.clone(), settings.idempotency.retention_hours, stop.clone());
        let listener = wake.listen(pool.clone(), stop.clone());
        let sweeper = tokio::spawn(async move {
            tokio::join!(sweeper, tidy, listener);
        });
        Ok(Self { port, server, pool, sweeper, stop })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight
    /// requests finish, and stops the sweeper.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let handle = self.server.handle();
        let mut server = tokio::spawn(self.server);
        let result = tokio::select! {
            result = &mut server => result,
            _ = shutdown => {
                tracing::info!("shutting down: finishing in-flight requests");
                handle.stop(true).await;
                server.await
            }
        };
        self.stop.cancel();
        let _ = self.sweeper.await;
        self.pool.close().await;
        result.unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }
}

fn num_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// A lazily connecting pool: the server starts and heals by itself whatever
/// the database is doing.
pub fn connect(settings: &Settings) -> anyhow::Result<PgPool> {
    let url = settings.require_database_url()?;
    let timeout = settings.database.timeout();
    let options = PgConnectOptions::from_str(url.expose_secret())
        .context("DATABASE_URL is not a valid PostgreSQL URL")?
        .application_name("leasehold")
        .options([("statement_timeout", timeout.as_millis().to_string())]);
    Ok(PgPoolOptions::new()
        .max_connections(settings.database.max_connections)
        .acquire_timeout(timeout)
        // A ping before every check-out costs a round trip per request
        // (measured: 5-16% of uncontended cycles, BENCHMARKS.md). Only a
        // connection that sat idle is pinged, so one left over from before
        // an outage is still found dead and replaced before it is used.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= IDLE_BEFORE_PING {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_lazy_with(options))
}

/// How long a pooled connection may sit idle before it is pinged on check-out.
const IDLE_BEFORE_PING: std::time::Duration = std::time::Duration::from_secs(1);

/// Refuses a database whose schema is not the one this build expects.
pub async fn ensure_schema(pool: &PgPool, migrate: bool) -> anyhow::Result<()> {
    let state = schema::state(pool)
        .await
        .context("cannot reach the database; check DATABASE_URL and that PostgreSQL is running")?;
    match state {
        SchemaState::Current => Ok(()),
        SchemaState::Behind { .. } if migrate => {
            schema::apply_migrations(pool).await.context("migrating the database failed")
        }
        SchemaState::Behind { pending } => anyhow::bail!(
            "the database schema is {pending} migration(s) behind this build: run `leasehold migrate`, \
             or start with --migrate (or LEASEHOLD_MIGRATE=true)"
        ),
        SchemaState::Ahead { unknown } => anyhow::bail!(
            "the database schema is newer than this build (it has migrations {unknown:?}): run the \
             leasehold release that migrated it, or a newer one"
        ),
        SchemaState::Diverged { version } => anyhow::bail!(
            "migration {version} in the database differs from this build's or did not finish: \
             repair the database before serving"
        ),
    }
}
