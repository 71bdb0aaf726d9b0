//! The system under test: a private PostgreSQL cluster of the run's own
//! (so it may be restarted at will) and `leasehold serve` replicas as child
//! processes (so they may be killed with SIGKILL).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use leasehold::admin;
use leasehold::domain::{Plan, Role};
use leasehold::local_postgres::LocalPostgres;
use sqlx::{Connection, PgConnection};
use tokio::process::{Child, Command};

pub struct Postgres {
    cluster: LocalPostgres,
    data: PathBuf,
    pub port: u16,
}

impl Postgres {
    /// Starts (creating if need be) the cluster kept in `root`.
    pub async fn start(root: &Path, port: u16) -> anyhow::Result<Self> {
        let cluster = LocalPostgres::find(root, port)?;
        let data = std::path::absolute(root)?.join("postgres").join("data");
        let this = Self { cluster, data, port };
        this.boot().await?;
        Ok(this)
    }

    async fn boot(&self) -> anyhow::Result<()> {
        tokio::task::block_in_place(|| self.cluster.start())?;
        Ok(())
    }

    pub fn url(&self, database: &str) -> String {
        self.cluster.url(database)
    }

    /// An immediate shutdown (what `pg_ctl stop -m immediate` sends: SIGQUIT
    /// to the postmaster, no checkpoint, crash recovery at the next start),
    /// then a start.
    pub async fn restart_immediately(&self) -> anyhow::Result<()> {
        self.stop_immediately().await?;
        self.boot().await
    }

    pub async fn stop_immediately(&self) -> anyhow::Result<()> {
        let pid_file = std::fs::read_to_string(self.data.join("postmaster.pid"))
            .context("PostgreSQL is not running (no postmaster.pid)")?;
        let pid: i32 = pid_file.lines().next().unwrap_or_default().trim().parse()?;
        // SAFETY: plain signal delivery to a process id.
        unsafe { libc::kill(pid, libc::SIGQUIT) };
        for _ in 0..200 {
            // SAFETY: signal 0 only checks that the process exists.
            if unsafe { libc::kill(pid, 0) } != 0 {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("PostgreSQL (pid {pid}) did not stop after SIGQUIT")
    }

    pub fn stop(&self) -> anyhow::Result<()> {
        self.cluster.stop()
    }

    /// Ends every connection the servers hold (`application_name` leasehold).
    pub async fn terminate_server_backends(&self) -> anyhow::Result<i64> {
        let mut conn = PgConnection::connect(&self.url("postgres")).await?;
        let ended = sqlx::query_scalar(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE application_name = 'leasehold' AND pid <> pg_backend_pid()",
        )
        .fetch_one(&mut conn)
        .await?;
        Ok(ended)
    }

    /// A fresh database `name`, migrated, with a business account of the same
    /// name; returns a client key for it.
    pub async fn fresh_database(&self, name: &str) -> anyhow::Result<String> {
        let mut conn = PgConnection::connect(&self.url("postgres")).await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut conn).await?;
        sqlx::query(&format!("CREATE DATABASE \"{name}\"")).execute(&mut conn).await?;
        provision(&self.url(name), name).await
    }
}

/// Migrates the database at `url` and creates a business account `account`;
/// returns a client key for it.
pub async fn provision(url: &str, account: &str) -> anyhow::Result<String> {
    let pool = sqlx::PgPool::connect(url).await?;
    leasehold::store::schema::apply_migrations(&pool).await?;
    admin::create_account(&pool, account, Plan::Business).await?;
    let key = admin::create_key(&pool, account, Role::Client, None).await?;
    pool.close().await;
    Ok(key.key)
}

/// One `leasehold serve` process on a fixed port.
pub struct Replica {
    pub port: u16,
    binary: PathBuf,
    database_url: String,
    log: PathBuf,
    child: Option<Child>,
}

impl Replica {
    pub fn new(binary: &Path, database_url: &str, log: PathBuf) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        Ok(Self { port, binary: binary.to_owned(), database_url: database_url.to_owned(), log, child: None })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub async fn start(&mut self, http: &reqwest::Client) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let child = Command::new(&self.binary)
            .arg("serve")
            .env("DATABASE_URL", &self.database_url)
            .env("LEASEHOLD_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("LEASEHOLD_HTTP__WORKERS", "2")
            .env("LEASEHOLD_DATABASE__MAX_CONNECTIONS", "8")
            // Every client shares one key, whose plan allows 500 requests/s
            // per replica; after a replica kill the clients crowd the others
            // past it, and 429s on releases leave leases to lapse and starve
            // the locks. The limiter still runs on every request, as the
            // bench's does, but never refuses.
            .env("LEASEHOLD_RATE_LIMIT__BUSINESS__PER_SECOND", "100000")
            .env("LEASEHOLD_RATE_LIMIT__BUSINESS__BURST", "100000")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", self.binary.display()))?;
        self.child = Some(child);
        for _ in 0..300 {
            let health = http.get(format!("{}/healthz", self.url())).send().await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!("replica on port {} exited with {status}; see {}", self.port, self.log.display());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("replica on port {} did not answer /healthz", self.port)
    }

    /// SIGKILL: no shutdown, in-flight requests get no answer.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}
