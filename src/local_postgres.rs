//! A private PostgreSQL cluster under `./.leasehold/`, made from the server
//! binaries on this machine: what `leasehold dev` and the tests use when no
//! `DATABASE_URL` is given.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{bail, Context};

pub struct LocalPostgres {
    bin_dir: PathBuf,
    dir: PathBuf,
    port: u16,
    /// PostgreSQL refuses to run as root, so root runs it as `postgres`.
    as_postgres_user: bool,
}

impl LocalPostgres {
    pub const DEFAULT_PORT: u16 = 54329;

    /// Finds the server binaries (on PATH, else the newest under
    /// /usr/lib/postgresql/*/bin) for a cluster kept in `root`.
    pub fn find(root: &Path, port: u16) -> anyhow::Result<Self> {
        let bin_dir = find_bin_dir().context(
            "no PostgreSQL server binaries found (looked for initdb and pg_ctl on PATH and in \
             /usr/lib/postgresql/*/bin): install them (Debian/Ubuntu: `apt-get install postgresql`; \
             macOS: `brew install postgresql@16`) or set DATABASE_URL to an existing database",
        )?;
        let root = std::path::absolute(root)?;
        Ok(Self {
            bin_dir,
            dir: root.join("postgres"),
            port,
            as_postgres_user: unsafe { libc::geteuid() } == 0,
        })
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Starts the cluster, creating it first if needed. Returns false when it
    /// was running already (then it is not ours to stop).
    pub fn start(&self) -> anyhow::Result<bool> {
        if !self.data_dir().join("PG_VERSION").exists() {
            self.init()?;
        }
        if self.is_running() {
            return Ok(false);
        }
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories='{}'",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("postgres.log");
        let started =
            self.pg_ctl(&["start", "-w", "-t", "60", "-o", &options, "-l", &log.to_string_lossy()])?;
        if !started.status.success() {
            // Another process may have started it a moment ago.
            if self.is_running() {
                return Ok(false);
            }
            bail!("PostgreSQL did not start; see {}:\n{}", log.display(), output_text(&started));
        }
        Ok(true)
    }

    pub fn stop(&self) -> anyhow::Result<()> {
        let stopped = self.pg_ctl(&["stop", "-w", "-m", "fast"])?;
        if !stopped.status.success() && self.is_running() {
            bail!("PostgreSQL did not stop:\n{}", output_text(&stopped));
        }
        Ok(())
    }

    /// Stops the cluster if it runs and deletes all its data.
    pub fn wipe(&self) -> anyhow::Result<()> {
        if self.data_dir().exists() && self.is_running() {
            self.stop()?;
        }
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir)
                .with_context(|| format!("cannot remove {}", self.dir.display()))?;
        }
        Ok(())
    }

    fn is_running(&self) -> bool {
        self.pg_ctl(&["status"]).is_ok_and(|out| out.status.success())
    }

    fn init(&self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        if self.as_postgres_user {
            let chown = Command::new("chown").arg("postgres:").arg(&self.dir).output()?;
            if !chown.status.success() {
                bail!("cannot hand {} to the postgres user:\n{}", self.dir.display(), output_text(&chown));
            }
        }
        let data = self.data_dir();
        let args =
            ["-D", &data.to_string_lossy(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale"];
        let init = self.run("initdb", &args)?;
        if !init.status.success() {
            bail!("initdb failed:\n{}", output_text(&init));
        }
        Ok(())
    }

    fn pg_ctl(&self, args: &[&str]) -> anyhow::Result<Output> {
        let data = self.data_dir();
        let mut all = vec!["-D", data.to_str().context("data directory path is not UTF-8")?];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all)
    }

    fn run(&self, program: &str, args: &[&str]) -> anyhow::Result<Output> {
        let binary = self.bin_dir.join(program);
        let mut command = if self.as_postgres_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&binary);
            c
        } else {
            Command::new(&binary)
        };
        command
            .args(args)
            .current_dir(&self.dir)
            .stdin(std::process::Stdio::null())
            .output()
            .with_context(|| format!("cannot run {}", binary.display()))
    }
}

/// Where the PostgreSQL server binaries (initdb, pg_ctl) are, if anywhere.
pub fn find_bin_dir() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>());
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .collect();
    // Newest major version first.
    debian.sort_by_key(|dir| {
        let version = dir.parent().and_then(|p| p.file_name()).and_then(|v| v.to_str()?.parse::<u32>().ok());
        std::cmp::Reverse(version.unwrap_or(0))
    });
    let found =
        on_path.chain(debian).find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())?;
    // Links on PATH lead to the directory that holds the other tools too
    // (pg_basebackup, pg_rewind).
    let real = found.join("pg_ctl").canonicalize().ok();
    Some(real.and_then(|pg_ctl| pg_ctl.parent().map(Path::to_path_buf)).unwrap_or(found))
}

fn output_text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// Creates `database` on the server at `server_url` unless it exists.
pub async fn create_database_if_missing(server_url: &str, database: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(server_url).await.context("cannot connect to PostgreSQL")?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)")
        .bind(database)
        .fetch_one(&mut conn)
        .await?;
    if !exists {
        // A database name cannot be a bind parameter; quote it as an identifier.
        let quoted = format!("\"{}\"", database.replace('"', "\"\""));
        sqlx::query(&format!("CREATE DATABASE {quoted}")).execute(&mut conn).await?;
    }
    Ok(())
}
