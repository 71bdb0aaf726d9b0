//! `leasehold lock ...`: the client commands, built on `leasehold-client`.
//!
//! Exit codes (also in the README):
//! 0 success (for `run`: the command's own status, 128+N if a signal N ended it),
//! 1 any other error, 2 bad usage, 3 `status`: the lock is not held,
//! 64 the server refused the request as invalid, 69 the server is unreachable
//! or unavailable, 75 could not acquire (held by someone else), 77 the key was
//! refused (unauthorized, forbidden, no such namespace), 79 the lease was lost,
//! 126 the command could not be run, 127 the command was not found.

mod run;

use std::io::Write;
use std::time::Duration;

use clap::{Args, Subcommand};
use leasehold_client::{Client, Error, Lease, LockRequest, LockToken};

pub const NOT_HELD: u8 = 3;
pub const INVALID: u8 = 64;
pub const UNREACHABLE: u8 = 69;
pub const COULD_NOT_ACQUIRE: u8 = 75;
pub const REFUSED: u8 = 77;
pub const LEASE_LOST: u8 = 79;

#[derive(Debug, Subcommand)]
pub enum LockCommand {
    /// Acquire a lock and print the grant (with its lock token) as JSON; the
    /// lease then lasts its TTL unless renewed.
    Acquire {
        name: String,
        #[command(flatten)]
        lease: LeaseArgs,
        #[command(flatten)]
        server: Server,
    },
    /// Renew a lease by its token and print it as JSON.
    Renew {
        name: String,
        #[command(flatten)]
        token: TokenArg,
        /// A new time to live, in seconds [default: the lease's own].
        #[arg(long)]
        ttl: Option<u64>,
        #[arg(long)]
        namespace: Option<String>,
        #[command(flatten)]
        server: Server,
    },
    /// Release a lease by its token.
    Release {
        name: String,
        #[command(flatten)]
        token: TokenArg,
        #[arg(long)]
        namespace: Option<String>,
        #[command(flatten)]
        server: Server,
    },
    /// End a lease and grant the next one (new token, higher fencing token)
    /// in one step, to pass on; prints the new grant as JSON.
    Handover {
        name: String,
        #[command(flatten)]
        token: TokenArg,
        /// The next holder's owner label.
        #[arg(long)]
        owner: Option<String>,
        /// The next lease's time to live, in seconds [default: the plan's].
        #[arg(long)]
        ttl: Option<u64>,
        #[arg(long)]
        namespace: Option<String>,
        #[command(flatten)]
        server: Server,
    },
    /// Print the lock's current lease as JSON (exit 3 if it is not held).
    Status {
        name: String,
        #[arg(long)]
        namespace: Option<String>,
        #[command(flatten)]
        server: Server,
    },
    /// Run a command while holding the lock (a distributed flock(1)).
    Run(run::RunArgs),
}

#[derive(Debug, Args)]
pub struct Server {
    /// The Leasehold server.
    #[arg(long, env = "LEASEHOLD_URL", default_value = "http://127.0.0.1:7010")]
    url: String,
    /// The API key.
    #[arg(long, env = "LEASEHOLD_API_KEY", hide_env_values = true)]
    key: String,
}

impl Server {
    fn client(&self) -> Result<Client, Error> {
        Client::new(self.url.clone(), self.key.clone())
    }
}

#[derive(Debug, Args)]
pub struct TokenArg {
    /// The lease's lock token (inside `lock run`, LEASEHOLD_LOCK_TOKEN is set).
    #[arg(long, env = "LEASEHOLD_LOCK_TOKEN", hide_env_values = true)]
    token: String,
}

#[derive(Debug, Args)]
pub struct LeaseArgs {
    /// The lease's time to live, in seconds [default: the plan's].
    #[arg(long)]
    ttl: Option<u64>,
    /// Wait up to this many seconds for the lock to be free.
    #[arg(long, default_value_t = 0)]
    wait: u64,
    /// Who holds it, for people reading its state and audit trail.
    #[arg(long)]
    owner: Option<String>,
    /// The namespace [default: the key's own].
    #[arg(long)]
    namespace: Option<String>,
}

impl LeaseArgs {
    fn request(&self, client: &Client, name: &str) -> LockRequest {
        let mut request =
            target(client, name, self.namespace.as_deref()).wait(Duration::from_secs(self.wait));
        if let Some(ttl) = self.ttl {
            request = request.ttl(Duration::from_secs(ttl));
        }
        if let Some(owner) = &self.owner {
            request = request.owner(owner.clone());
        }
        request
    }
}

fn target(client: &Client, name: &str, namespace: Option<&str>) -> LockRequest {
    match namespace {
        Some(ns) => client.lock(name).namespace(ns),
        None => client.lock(name),
    }
}

/// Runs a lock command and exits with its documented code.
pub async fn run(command: LockCommand) -> anyhow::Result<()> {
    let code = execute(command).await.unwrap_or_else(|e| fail(&e));
    std::io::stdout().flush()?;
    match code {
        0 => Ok(()),
        code => std::process::exit(code.into()),
    }
}

async fn execute(command: LockCommand) -> Result<u8, Error> {
    match command {
        LockCommand::Acquire { name, lease, server } => {
            let guard = lease.request(&server.client()?, &name).acquire().await?;
            let (lease, token) = guard.detach().await;
            print_lease(&lease, Some(&token));
        }
        LockCommand::Renew { name, token, ttl, namespace, server } => {
            let lock = target(&server.client()?, &name, namespace.as_deref());
            let lease = lock.renew(&LockToken::new(token.token), ttl.map(Duration::from_secs)).await?;
            print_lease(&lease, None);
        }
        LockCommand::Release { name, token, namespace, server } => {
            let lock = target(&server.client()?, &name, namespace.as_deref());
            lock.release(&LockToken::new(token.token)).await?;
        }
        LockCommand::Handover { name, token, owner, ttl, namespace, server } => {
            let lock = target(&server.client()?, &name, namespace.as_deref());
            let token = LockToken::new(token.token);
            let (lease, next) = lock.handover(&token, owner.as_deref(), ttl.map(Duration::from_secs)).await?;
            print_lease(&lease, Some(&next));
        }
        LockCommand::Status { name, namespace, server } => {
            match target(&server.client()?, &name, namespace.as_deref()).status().await {
                Ok(lease) => print_lease(&lease, None),
                Err(Error::NotHeld) => {
                    eprintln!("leasehold: {name} is not held");
                    return Ok(NOT_HELD);
                }
                Err(e) => return Err(e),
            }
        }
        LockCommand::Run(args) => return Ok(run::run(args).await),
    }
    Ok(0)
}

fn print_lease(lease: &Lease, token: Option<&LockToken>) {
    let mut json = serde_json::to_value(lease).expect("a lease serializes");
    if let (Some(token), Some(object)) = (token, json.as_object_mut()) {
        object.insert("lock_token".into(), token.expose().into());
    }
    println!("{json}");
}

/// Reports `error` on stderr; returns its exit code.
pub fn fail(error: &Error) -> u8 {
    eprintln!("leasehold: {error}");
    exit_code(error)
}

pub fn exit_code(error: &Error) -> u8 {
    match error {
        Error::Held { .. } => COULD_NOT_ACQUIRE,
        Error::LeaseLost { .. } => LEASE_LOST,
        Error::NotHeld => NOT_HELD,
        Error::Unavailable { .. } | Error::Unreachable(_) | Error::RateLimited { .. } => UNREACHABLE,
        Error::Unauthorized | Error::Forbidden { .. } | Error::NamespaceNotFound => REFUSED,
        Error::Invalid { .. } => INVALID,
        _ => 1,
    }
}
