//! Builds the application: pool, schema check, HTTP server, sweeper,
//! webhook deliveries and the usage rollup.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::web::{self, Data};
use actix_web::App;
use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgPool};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing_actix_web::TracingLogger;

use crate::app_state::AppState;
use crate::auth::Authenticator;
use crate::config::{GroupCommitSettings, Settings};
use crate::http::rate_limit::RateLimiter;
use crate::http::{self, RequestSpan};
use crate::leases::{EngineSettings, Leases, SetSettings};
use crate::metrics::{self, Metrics};
use crate::store::primary::{DatabaseUrl, Primary, SessionAttrs};
use crate::store::schema::{self, SchemaState};
use crate::sweeper;
use crate::tenancy::Namespaces;
use crate::usage::UsageCounters;
use crate::wake::WakeHub;
use crate::watch::Watchers;

pub struct Application {
    port: u16,
    server: Server,
    pool: PgPool,
    sweeper: JoinHandle<()>,
    stop: CancellationToken,
    watch: Arc<Watchers>,
}

impl Application {
    /// Connects to the configured database, checks (or migrates) its schema,
    /// binds the listener and starts the sweeper.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let database = connect(settings).await?;
        ensure_schema(&database.pool, settings.migrate).await?;
        crate::durability::ensure(&database.pool, settings.allow_unsafe_durability).await?;
        let listener = TcpListener::bind(settings.listen).with_context(|| {
            format!("cannot listen on {}; set --listen or LEASEHOLD_LISTEN", settings.listen)
        })?;
        Ok(Self::serve(settings, database, listener)?)
    }

    /// Serves on `listener` with an existing pool.
    pub fn serve(settings: &Settings, database: Database, listener: TcpListener) -> std::io::Result<Self> {
        let Database { pool, primary } = database;
        let port = listener.local_addr()?.port();
        let wake = Arc::new(WakeHub::default());
        let auth = Authenticator::new(pool.clone(), &settings.auth, settings.database.timeout());
        let moves = primary.as_ref().map(|primary| primary.moves());
        let metrics = Arc::new(Metrics::new(&pool, auth.cache_stats(), moves.clone()));
        let namespaces = Namespaces::new(pool.clone());
        let engine = EngineSettings {
            plans: settings.plans.clone(),
            db_timeout: settings.database.timeout(),
            place_lease: Duration::from_millis(settings.waiting.place_lease_ms),
            sets: group_commit(&settings.group_commit),
        };
        let usage = Arc::new(UsageCounters::default());
        let watch = Watchers::new(pool.clone(), settings.watch.clone(), settings.database.timeout());
        let state = Data::new(AppState {
            leases: Leases::new(
                pool.clone(),
                engine,
                namespaces.clone(),
                wake.clone(),
                metrics.clone(),
                usage.clone(),
            ),
            pool: pool.clone(),
            auth,
            namespaces,
            db_timeout: settings.database.timeout(),
            body_limit: settings.http.body_limit_bytes,
            base_domain: settings.http.base_domain.as_ref().map(|d| d.trim_matches('.').to_ascii_lowercase()),
            console: settings.console.clone(),
            compat: settings.compat.clone(),
            webhooks: crate::webhooks::Webhooks::new(pool.clone(), &settings.webhooks),
            watch: watch.clone(),
        });
        let metrics_data = Data::from(metrics.clone());
        let limiter = Data::new(RateLimiter::new(&settings.rate_limit, state.auth.clone()));
        let signup = Data::new(http::rate_limit::signup::SignupLimiter::new(&settings.signup));
        let compat_prefix = settings.compat.path_prefix.clone();
        let tls = match (&settings.http.tls_cert, &settings.http.tls_key) {
            (Some(cert), Some(key)) => {
                Some(crate::tls::server_config(cert, key).map_err(std::io::Error::other)?)
            }
            (None, None) => None,
            _ => {
                return Err(std::io::Error::other(
                    "http.tls_cert and http.tls_key go together: set both or neither",
                ))
            }
        };
        let server = actix_web::HttpServer::new(move || {
            App::new()
                .app_data(metrics_data.clone())
                .app_data(limiter.clone())
                .app_data(signup.clone())
                .wrap(from_fn(http::extract::refuse_nul))
                .wrap(from_fn(http::rate_limit::limit))
                .wrap(from_fn(metrics::track))
                .wrap(from_fn(http::request_log))
                .wrap(TracingLogger::<RequestSpan>::new())
                .configure(http::app_data(state.clone()))
                .configure(http::routes)
                .configure(crate::console::routes)
                .configure(http::prefixed_compat_routes(compat_prefix.clone()))
                .default_service(web::to(http::not_found))
        })
        .on_connect(http::remember_socket);
        let server = match tls {
            Some(tls) => server.listen_rustls_0_23(listener, tls)?,
            None => server.listen(listener)?,
        };
        let server = server
            .workers(settings.http.workers.unwrap_or_else(num_workers))
            .shutdown_timeout(settings.http.shutdown_timeout_seconds)
            .disable_signals()
            .run();
        let stop = CancellationToken::new();
        tokio::spawn(crate::audit_maintenance::run(pool.clone(), settings.audit.clone(), stop.clone()));
        let sweeper = sweeper::run(pool.clone(), settings.sweeper.clone(), stop.clone(), metrics);
        let tidy = sweeper::tidy(pool.clone(), settings.idempotency.retention_hours, stop.clone());
        let listener = wake.listen(pool.clone(), moves, stop.clone());
        let deliveries = crate::webhooks::worker::run(pool.clone(), settings.webhooks.clone(), stop.clone());
        let feed = watch.clone().feed(stop.clone());
        let rollup = crate::usage::rollup::run(pool.clone(), settings.usage.clone(), usage, stop.clone());
        let follower = primary.map(|primary| tokio::spawn(primary.follow(pool.clone(), stop.clone())));
        let sweeper = tokio::spawn(async move {
            tokio::join!(sweeper, tidy, listener, deliveries, feed, rollup);
            if let Some(follower) = follower {
                let _ = follower.await;
            }
        });
        Ok(Self { port, server, pool, sweeper, stop, watch })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` resolves, then ends the event streams (which
    /// would otherwise never finish), stops accepting, lets in-flight
    /// requests finish, and stops the sweeper.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let handle = self.server.handle();
        let mut server = tokio::spawn(self.server);
        let result = tokio::select! {
            result = &mut server => result,
            _ = shutdown => {
                tracing::info!("shutting down: finishing in-flight requests");
                self.watch.close();
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

/// How the lease engine forms its set statements; `None` when group commit is off.
fn group_commit(settings: &GroupCommitSettings) -> Option<SetSettings> {
    let sets = SetSettings { max_set: settings.max_set, in_flight: settings.statements_in_flight };
    settings.enabled.then_some(sets)
}

fn num_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// The pool, and when `DATABASE_URL` names several hosts, what points it at
/// the primary.
pub struct Database {
    pub pool: PgPool,
    primary: Option<Arc<Primary>>,
}

impl From<PgPool> for Database {
    fn from(pool: PgPool) -> Self {
        Self { pool, primary: None }
    }
}

/// A lazily connecting pool: the server starts and heals by itself whatever
/// the database is doing. With several hosts it starts on the first that is
/// writable (or the first listed, if none answers yet).
pub async fn connect(settings: &Settings) -> anyhow::Result<Database> {
    let timeout = settings.database.timeout();
    let url = DatabaseUrl::parse(settings.require_database_url()?.expose_secret())?.map_options(|options| {
        options
            .application_name("leasehold")
            .options([("statement_timeout", timeout.as_millis().to_string())])
    });
    let primary = match (url.host_count(), url.session()) {
        (1, SessionAttrs::Any) => None,
        _ => Some(Primary::new(url.clone(), timeout)),
    };
    let options = match &primary {
        Some(primary) => {
            primary.locate().await;
            primary.current_options()
        }
        None => url.options(0).clone(),
    };
    let on_connect = primary.clone();
    let on_acquire = primary.clone();
    let pool = PgPoolOptions::new()
        .max_connections(settings.database.max_connections)
        .acquire_timeout(timeout)
        // A ping before every check-out costs a round trip per request
        // (measured: 5-16% of uncontended cycles, docs/benchmarks.md). Only a
        // connection that sat idle is pinged, so one left over from before
        // an outage is still found dead and replaced before it is used.
        .test_before_acquire(false)
        .after_connect(move |conn, _| {
            let primary = on_connect.clone();
            Box::pin(async move {
                match primary {
                    Some(primary) => primary.check_new(conn).await,
                    None => Ok(()),
                }
            })
        })
        .before_acquire(move |conn, meta| {
            // A connection made before the pool followed a failover may
            // lead to the old primary: dropped, never used.
            let stale = on_acquire.as_ref().is_some_and(|primary| primary.predates_move(meta.age));
            Box::pin(async move {
                if stale {
                    return Ok(false);
                }
                if meta.idle_for >= IDLE_BEFORE_PING {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_lazy_with(options);
    Ok(Database { pool, primary })
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
