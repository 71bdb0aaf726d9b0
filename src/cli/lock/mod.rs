//! `leasehold lock ...`: the client commands, built on `leasehold-client`
//! (exit codes: see `cli::remote`).

mod run;

use std::time::Duration;

use clap::{Args, Subcommand};
use leasehold_client::{Client, Error, Lease, LockRequest, LockSetRequest, LockToken, Mode};

use super::remote::{self, fail, Server, NOT_HELD};

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
        #[command(flatten)]
        at: LockAt,
    },
    /// Release a lease by its token.
    Release {
        name: String,
        #[command(flatten)]
        token: TokenArg,
        #[command(flatten)]
        at: LockAt,
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
        #[command(flatten)]
        at: LockAt,
    },
    /// Print the lock's current lease as JSON (exit 3 if it is not held).
    Status {
        name: String,
        #[command(flatten)]
        at: LockAt,
    },
    /// Run a command while holding the lock (a distributed flock(1)), or,
    /// given several names, all of them at once as a lock set.
    Run(run::RunArgs),
}

/// Where a named lock is: its namespace (the key's own unless given) on a
/// server.
#[derive(Debug, Args)]
pub struct LockAt {
    #[arg(long)]
    namespace: Option<String>,
    #[command(flatten)]
    server: Server,
}

impl LockAt {
    fn lock(&self, name: &str) -> Result<LockRequest, Error> {
        Ok(target(&self.server.client()?, name, self.namespace.as_deref()))
    }
}

#[derive(Debug, Args)]
pub struct TokenArg {
    /// The lease's lock token (inside `lock run`, LEASEHOLD_LOCK_TOKEN is set).
    /// A token may begin with '-' (base64url), so a value that looks like a
    /// flag is still the token.
    #[arg(long, env = "LEASEHOLD_LOCK_TOKEN", hide_env_values = true, allow_hyphen_values = true)]
    token: String,
}

#[derive(Debug, Args)]
pub struct LeaseArgs {
    /// The lease's time to live, in seconds [default: the plan's; 30 for a
    /// lock set].
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
    /// Hold it shared (a read lock): with other shared holders, but no
    /// exclusive one.
    #[arg(long)]
    shared: bool,
}

impl LeaseArgs {
    fn request(&self, client: &Client, name: &str) -> LockRequest {
        let mode = if self.shared { Mode::Shared } else { Mode::Exclusive };
        let mut request =
            target(client, name, self.namespace.as_deref()).wait(Duration::from_secs(self.wait)).mode(mode);
        if let Some(ttl) = self.ttl {
            request = request.ttl(Duration::from_secs(ttl));
        }
        if let Some(owner) = &self.owner {
            request = request.owner(owner.clone());
        }
        request
    }

    /// The locks `names`, all together or not at all. A set's grant does
    /// not say how long its lease is, so it gets the client's default
    /// (30 s) unless `--ttl` says otherwise.
    fn lock_set(&self, client: &Client, names: &[String]) -> LockSetRequest {
        let mut request = client.lock_set(names).wait(Duration::from_secs(self.wait));
        if let Some(namespace) = &self.namespace {
            request = request.namespace(namespace.clone());
        }
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
    remote::exit(execute(command).await.unwrap_or_else(|e| fail(&e)))
}

async fn execute(command: LockCommand) -> Result<u8, Error> {
    match command {
        LockCommand::Acquire { name, lease, server } => {
            let guard = lease.request(&server.client()?, &name).acquire().await?;
            let (lease, token) = guard.detach().await;
            print_lease(&lease, Some(&token));
        }
        LockCommand::Renew { name, token, ttl, at } => {
            let lease =
                at.lock(&name)?.renew(&LockToken::new(token.token), ttl.map(Duration::from_secs)).await?;
            print_lease(&lease, None);
        }
        LockCommand::Release { name, token, at } => {
            at.lock(&name)?.release(&LockToken::new(token.token)).await?;
        }
        LockCommand::Handover { name, token, owner, ttl, at } => {
            let token = LockToken::new(token.token);
            let (lease, next) =
                at.lock(&name)?.handover(&token, owner.as_deref(), ttl.map(Duration::from_secs)).await?;
            print_lease(&lease, Some(&next));
        }
        LockCommand::Status { name, at } => match at.lock(&name)?.status().await {
            Ok(lease) => print_lease(&lease, None),
            Err(Error::NotHeld) => {
                eprintln!("leasehold: {name} is not held");
                return Ok(NOT_HELD);
            }
            Err(e) => return Err(e),
        },
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::Cli;

    #[test]
    fn a_token_that_begins_with_a_hyphen_is_still_the_token() {
        let args = ["leasehold", "lock", "release", "job", "--token", "-Vx9", "--key", "lh_k"];
        let cli = Cli::try_parse_from(args).expect("a hyphenated token parses");
        assert!(format!("{cli:?}").contains("token: \"-Vx9\""), "{cli:?}");
    }
}
