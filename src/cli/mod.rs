//! The command line: `serve`, `migrate`, `dev` and `admin`, and the client
//! commands `audit`, `lock` and `semaphore`.

mod admin;
mod audit;
pub mod dev;
mod lock;
mod remote;
mod semaphore;
mod supervise;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::startup::{self, Application};
use crate::telemetry;

#[derive(Debug, Parser)]
#[command(name = "leasehold", version, about = "A durable lock server backed by PostgreSQL")]
pub struct Cli {
    /// A TOML file of settings (see config/defaults.toml for every key).
    #[arg(long, global = true, env = "LEASEHOLD_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API against DATABASE_URL.
    Serve {
        /// Address to listen on [default: 127.0.0.1:7010; env: LEASEHOLD_LISTEN].
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Apply pending migrations before serving.
        #[arg(long)]
        migrate: bool,
        /// Serve even if PostgreSQL runs with fsync or synchronous_commit off,
        /// where a crash can lose an acknowledged acquire.
        #[arg(long)]
        allow_unsafe_durability: bool,
        /// Serve HTTPS with this PEM certificate chain (with --tls-key) [env: LEASEHOLD_HTTP__TLS_CERT].
        #[arg(long, value_name = "FILE", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The certificate's PEM private key [env: LEASEHOLD_HTTP__TLS_KEY].
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
    /// Apply pending migrations to DATABASE_URL and exit.
    Migrate,
    /// Run a private PostgreSQL (unless DATABASE_URL is set) and serve, with a
    /// ready-made account and keys.
    Dev {
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Wipe the private PostgreSQL's data first.
        #[arg(long)]
        fresh: bool,
    },
    /// Manage accounts, namespaces and keys directly in the database.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Search a server's audit trail, as a table, JSON lines or CSV.
    Audit(audit::AuditArgs),
    /// Acquire, renew, release and read locks on a server, or run a command
    /// while holding one (`lock run`).
    #[command(subcommand)]
    Lock(lock::LockCommand),
    /// Run a command while holding a place in a semaphore (`semaphore run`).
    #[command(subcommand)]
    Semaphore(semaphore::SemaphoreCommand),
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    // Client commands read no server settings (LEASEHOLD_URL and
    // LEASEHOLD_API_KEY are theirs, not settings).
    let command = match cli.command {
        Command::Lock(command) => return lock::run(command).await,
        Command::Semaphore(command) => return semaphore::run(command).await,
        command => command,
    };
    let mut settings = Settings::load(cli.config.as_deref())?;
    match command {
        Command::Serve { listen, migrate, allow_unsafe_durability, tls_cert, tls_key } => {
            settings.listen = listen.unwrap_or(settings.listen);
            settings.http.tls_cert = tls_cert.or(settings.http.tls_cert);
            settings.http.tls_key = tls_key.or(settings.http.tls_key);
            settings.migrate |= migrate;
            settings.allow_unsafe_durability |= allow_unsafe_durability;
            telemetry::init(settings.log_format);
            let app = Application::build(&settings).await?;
            let scheme = if settings.http.tls_cert.is_some() { "https" } else { "http" };
            tracing::info!(address = %settings.listen, scheme, "leasehold serving");
            app.run_until(shutdown_signal()).await?;
            Ok(())
        }
        Command::Migrate => {
            let pool = startup::connect(&settings).await?.pool;
            crate::store::schema::apply_migrations(&pool).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Dev { listen, fresh } => {
            settings.listen = listen.unwrap_or(settings.listen);
            dev::run(settings, fresh).await
        }
        Command::Admin(command) => admin::run(&settings, command).await,
        Command::Audit(args) => audit::run(args).await,
        Command::Lock(_) | Command::Semaphore(_) => unreachable!("client commands return above"),
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler can be installed");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
