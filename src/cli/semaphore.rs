//! `leasehold semaphore run NAME --limit N -- COMMAND...`: runs the command
//! while holding one of the semaphore's N places (exit codes: see
//! `cli::remote`).

use std::time::Duration;

use clap::{Args, Subcommand};
use leasehold_client::{Client, Error, SemaphoreRequest};

use super::remote::{self, fail, Server};
use super::supervise::{run_while_held, CommandArgs, Held};

#[derive(Debug, Subcommand)]
pub enum SemaphoreCommand {
    /// Run a command while holding a place in the semaphore: at most
    /// `--limit` such commands run at once.
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The semaphore.
    name: String,
    /// How many may hold it at once (1 to 10000); every holder must agree.
    #[arg(long)]
    limit: u32,
    /// The lease's time to live, in seconds [default: the plan's].
    #[arg(long)]
    ttl: Option<u64>,
    /// Wait up to this many seconds for a place.
    #[arg(long, default_value_t = 0)]
    wait: u64,
    /// Who holds it, for people reading its state and audit trail.
    #[arg(long)]
    owner: Option<String>,
    /// The namespace [default: the key's own].
    #[arg(long)]
    namespace: Option<String>,
    #[command(flatten)]
    command: CommandArgs,
    #[command(flatten)]
    server: Server,
}

impl RunArgs {
    fn request(&self, client: &Client) -> SemaphoreRequest {
        let mut request = client.semaphore(&self.name, self.limit).wait(Duration::from_secs(self.wait));
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

/// Runs a semaphore command and exits with its documented code.
pub async fn run(command: SemaphoreCommand) -> anyhow::Result<()> {
    let SemaphoreCommand::Run(args) = command;
    let code = match acquire(&args).await {
        Ok(held) => run_while_held(held, &args.command).await,
        Err(e) => fail(&e),
    };
    remote::exit(code)
}

async fn acquire(args: &RunArgs) -> Result<Held, Error> {
    let guard = args.request(&args.server.client()?).acquire().await?;
    Ok(Held::Semaphore { name: args.name.clone(), guard })
}
