//! The benchmark's own database (created and dropped by it) and its servers:
//! `Application::serve`, the production code path, in this process on a
//! runtime of its own, each on a loopback port.

use std::net::TcpListener;
use std::str::FromStr;
use std::thread::JoinHandle;

use anyhow::Context;
use leasehold::admin;
use leasehold::config::Settings;
use leasehold::domain::{KeyId, NamespaceName, Plan, Principal, Role};
use leasehold::startup::{self, Application};
use leasehold::store::schema;
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::oneshot;

pub struct Database {
    server_url: String,
    pub name: String,
    pub url: String,
}

impl Database {
    /// Creates `lh_bench_<pid>` on the server at `server_url` and migrates it.
    pub async fn create(server_url: &str) -> anyhow::Result<Self> {
        let db = Self::empty(server_url, &format!("lh_bench_{}", std::process::id())).await?;
        let pool = PgPool::connect(&db.url).await?;
        schema::apply_migrations(&pool).await.context("migrations apply")?;
        pool.close().await;
        Ok(db)
    }

    /// Creates the database `name` afresh, without a schema.
    pub async fn empty(server_url: &str, name: &str) -> anyhow::Result<Self> {
        let mut conn = PgConnection::connect(server_url).await.context("PostgreSQL answers")?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut conn).await?;
        sqlx::query(&format!("CREATE DATABASE \"{name}\"")).execute(&mut conn).await?;
        let url = with_database(server_url, name);
        Ok(Self { server_url: server_url.to_owned(), name: name.to_owned(), url })
    }

    pub async fn drop_it(self) -> anyhow::Result<()> {
        let mut conn = PgConnection::connect(&self.server_url).await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name))
            .execute(&mut conn)
            .await?;
        Ok(())
    }
}

fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let (server, _) = base.rsplit_once('/').expect("a URL with a path");
    match query {
        Some(q) => format!("{server}/{database}?{q}"),
        None => format!("{server}/{database}"),
    }
}

/// The bench's tenant: a business account and a client key.
pub struct Tenant {
    pub key: String,
    pub key_id: String,
    pub account_id: i64,
}

impl Tenant {
    /// Who the server takes the key for: its account's own namespace.
    pub fn principal(&self) -> anyhow::Result<Principal> {
        Ok(Principal {
            key_id: KeyId::parse(&self.key_id).context("a key id")?,
            account_id: self.account_id,
            plan: Plan::Business,
            role: Role::Client,
            namespace: NamespaceName::parse(ACCOUNT)?,
        })
    }
}

/// The bench account's name, and so its namespace's.
const ACCOUNT: &str = "bench";

pub async fn tenant(pool: &PgPool) -> anyhow::Result<Tenant> {
    let account = admin::create_account(pool, ACCOUNT, Plan::Business).await?;
    let key = admin::create_key(pool, ACCOUNT, Role::Client, None).await?;
    Ok(Tenant { key: key.key, key_id: key.key_id, account_id: account.id })
}

pub struct Server {
    pub addr: String,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves `url` with the production defaults (and any `LEASEHOLD_*`
    /// variables set for the experiment), but a pool of `pool_size`
    /// and, if given, another sweeper batch size. With `ping_every_check_out`
    /// the pool pings before every check-out, as sqlx does by default and
    /// Leasehold did before it measured the cost (otherwise it is
    /// `startup::connect`'s pool, exactly).
    pub fn start(
        url: &str,
        pool_size: u32,
        sweep_batch: Option<i64>,
        ping_every_check_out: bool,
        group_commit: bool,
    ) -> anyhow::Result<Self> {
        let mut settings = settings(url, pool_size)?;
        settings.group_commit.enabled = group_commit;
        if let Some(batch) = sweep_batch {
            settings.sweeper.batch_size = batch;
        }
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let started = async {
                    let database = if ping_every_check_out {
                        always_pinged_pool(&settings)?.into()
                    } else {
                        startup::connect(&settings).await?
                    };
                    let listener = TcpListener::bind("127.0.0.1:0")?;
                    anyhow::Ok(Application::serve(&settings, database, listener)?)
                }
                .await;
                match started {
                    Ok(app) => {
                        let _ = port_tx.send(Ok(app.port()));
                        let _ = app.run_until(async move { stopped.await.unwrap_or(()) }).await;
                    }
                    Err(error) => {
                        let _ = port_tx.send(Err(error));
                    }
                }
            });
        });
        let port = port_rx.recv().context("the server thread answers")??;
        Ok(Self { addr: format!("127.0.0.1:{port}"), stop: Some(stop), thread: Some(thread) })
    }
}

/// The server's settings on `url`, with a pool of `pool_size`.
fn settings(url: &str, pool_size: u32) -> anyhow::Result<Settings> {
    let mut settings = Settings::load(Some(&bench_config()?)).context("the server settings")?;
    settings.database_url = Some(SecretString::from(url.to_owned()));
    settings.database.max_connections = pool_size;
    Ok(settings)
}

/// A pool exactly like the server's (`startup::connect`), for the arm that
/// calls the store without HTTP.
pub async fn server_pool(url: &str, pool_size: u32) -> anyhow::Result<PgPool> {
    Ok(startup::connect(&settings(url, pool_size)?).await?.pool)
}

/// One key drives the whole load, far past any plan's request rate: the
/// limiter still runs on every request, it just never refuses.
const BENCH_CONFIG: &str = "[rate_limit.business]\nper_second = 1000000000.0\nburst = 1000000000\n";

pub fn bench_config_path() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("leasehold-bench-{}.toml", std::process::id()))
}

/// Writes the config overlay and returns its path.
pub fn bench_config() -> anyhow::Result<std::path::PathBuf> {
    let path = bench_config_path();
    std::fs::write(&path, BENCH_CONFIG)?;
    Ok(path)
}

/// `startup::connect`'s pool as it was: a ping before every check-out.
fn always_pinged_pool(settings: &Settings) -> anyhow::Result<PgPool> {
    let url = settings.require_database_url()?;
    let timeout = settings.database.timeout();
    let options = PgConnectOptions::from_str(url.expose_secret())?
        .application_name("leasehold")
        .options([("statement_timeout", timeout.as_millis().to_string())]);
    Ok(PgPoolOptions::new()
        .max_connections(settings.database.max_connections)
        .acquire_timeout(timeout)
        .test_before_acquire(true)
        .connect_lazy_with(options))
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
