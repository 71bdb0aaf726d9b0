//! Arms A': another build of the `leasehold` binary (`--baseline-bin`, an
//! older commit's, say) beside this one in the same run. It runs as a child
//! process on a database of its own, migrated and provisioned by its own
//! CLI (its schema may not be this build's), and served with the settings of
//! arm A's in-process server.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use sqlx::{Connection, PgConnection};
use tokio::process::{Child, Command};

use crate::http::{json_str, Conn};
use crate::scenarios;
use crate::setup::{self, Database};
use crate::Args;

pub const UNCONTENDED: &str = "A' uncontended (baseline build)";
pub const CONTENDED: &str = "A' contended (4 names)";
pub const RENEW: &str = "A' renew (held locks)";

/// The baseline server, killed when dropped, its database, and the locks
/// its renew arm heartbeats.
pub struct Baseline {
    pub addr: String,
    pub key: String,
    pub held: Arc<Vec<(String, String)>>,
    child: Child,
    db: Option<Database>,
}

impl Baseline {
    /// Creates `lh_bench_base_<pid>`, migrates it and creates the bench
    /// tenant with `bin`, then serves it; drops the database again if
    /// anything after its creation fails.
    pub async fn start(bin: &Path, args: &Args, dir: &Path) -> anyhow::Result<Self> {
        let name = format!("lh_bench_base_{}", std::process::id());
        let db = Database::empty(&args.database_url, &name).await?;
        eprintln!("database {name} created for the baseline build {}", bin.display());
        match start_on(bin, args, dir, &db.url).await {
            Ok(base) => Ok(Self { db: Some(db), ..base }),
            Err(error) => {
                let _ = db.drop_it().await;
                Err(error.context(format!("the baseline build {}", bin.display())))
            }
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub async fn finish(mut self) -> anyhow::Result<()> {
        let _ = self.child.kill().await;
        match self.db.take() {
            Some(db) => db.drop_it().await,
            None => Ok(()),
        }
    }
}

async fn start_on(bin: &Path, args: &Args, dir: &Path, url: &str) -> anyhow::Result<Baseline> {
    let out = run(bin, url, &["migrate"]).await?;
    eprintln!("  baseline: {}", out.trim());
    run(bin, url, &["admin", "account", "create", "bench", "--plan", "business"]).await?;
    let key = run(bin, url, &["admin", "key", "create", "--account", "bench", "--role", "client", "--json"])
        .await?;
    let key = json_str(key.as_bytes(), "key").context("`admin key create --json` prints a key")?;
    let (addr, mut child, log) = serve(bin, args, dir, url)?;
    wait_ready(&addr, &mut child, &log).await?;
    let held = hold(&addr, &key, url, args.renew_locks).await?;
    Ok(Baseline { addr, key, held, child, db: None })
}

/// As many live locks as A's database holds (A's held ones and pgbench's),
/// and as many of them to renew as A renews.
async fn hold(addr: &str, key: &str, url: &str, n: usize) -> anyhow::Result<Arc<Vec<(String, String)>>> {
    eprintln!("holding {} locks on the baseline build", 2 * n);
    let mut held = scenarios::hold_many(addr, key, 2 * n, 16).await?;
    held.truncate(n);
    let mut conn = PgConnection::connect(url).await?;
    sqlx::query("VACUUM ANALYZE locks").execute(&mut conn).await?;
    conn.close().await?;
    Ok(Arc::new(held))
}

/// Runs one CLI command of `bin` on `url` and returns what it printed.
async fn run(bin: &Path, url: &str, command: &[&str]) -> anyhow::Result<String> {
    let out = other_build(bin)
        .args(command)
        .env("DATABASE_URL", url)
        .output()
        .await
        .with_context(|| format!("{} runs", bin.display()))?;
    if !out.status.success() {
        bail!(
            "`leasehold {}` failed ({}): {}",
            command.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `bin serve` with arm A's settings: the same config overlay (the limiter
/// runs but never refuses), pool size, sweeper batch and log filter, and one
/// runtime thread beside actix's workers, as `setup::Server` has. Its log
/// goes to /dev/null like A's; its stderr (start-up errors) to a file.
fn serve(bin: &Path, args: &Args, dir: &Path, url: &str) -> anyhow::Result<(String, Child, PathBuf)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let addr = format!("127.0.0.1:{port}");
    let log = dir.join("baseline-server.log");
    let mut command = other_build(bin);
    command
        .arg("--config")
        .arg(setup::bench_config()?)
        .args(["serve", "--listen", &addr])
        .env("DATABASE_URL", url)
        .env("LEASEHOLD_DATABASE__MAX_CONNECTIONS", args.pool.to_string())
        // `Application::serve`, which A runs, skips the durability check.
        .env("LEASEHOLD_ALLOW_UNSAFE_DURABILITY", "true")
        .env("RUST_LOG", &args.server_log)
        .env("TOKIO_WORKER_THREADS", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .kill_on_drop(true);
    if let Some(batch) = args.sweep_batch {
        command.env("LEASEHOLD_SWEEPER__BATCH_SIZE", batch.to_string());
    }
    let child = command.spawn().with_context(|| format!("{} serve starts", bin.display()))?;
    Ok((addr, child, log))
}

async fn wait_ready(addr: &str, child: &mut Child, log: &Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait()? {
            bail!("serve exited ({status}): {}", stderr_of(log));
        }
        if ready(addr).await {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("GET http://{addr}/readyz did not answer 200 within 30 s: {}", stderr_of(log));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn ready(addr: &str) -> bool {
    let Ok(mut conn) = Conn::connect(addr).await else { return false };
    matches!(conn.call("GET", "/readyz", "", b"").await, Ok(answer) if answer.status == 200)
}

fn stderr_of(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default().trim().to_owned()
}

/// A command of the other build, with its own settings: none of this
/// process's LEASEHOLD_* variables, which it may not know.
fn other_build(bin: &Path) -> Command {
    let mut command = Command::new(bin);
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("LEASEHOLD_")) {
        command.env_remove(name);
    }
    command
}
