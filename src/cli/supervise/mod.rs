//! `leasehold lock run` and `leasehold semaphore run`: a distributed
//! flock(1). The command runs only while the lease is held; losing the lease
//! stops it.

mod child;
mod held;

use std::io::ErrorKind;
use std::process::ExitStatus;
use std::time::Duration;

use clap::Args;
use leasehold_client::Error;
use tokio::process::Command;

use super::remote::LEASE_LOST;
use child::Signals;
pub use held::Held;

/// The command to run, and how it is stopped if the lease is lost.
#[derive(Debug, Args)]
pub struct CommandArgs {
    /// After the lease is lost, how many seconds the command has between
    /// SIGTERM and SIGKILL.
    #[arg(long, default_value_t = 10)]
    grace: u64,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// Runs the command while `held` lasts; returns the exit code to leave with.
pub async fn run_while_held(held: Held, args: &CommandArgs) -> u8 {
    // From before the command starts: a signal sent to us while it runs is
    // forwarded to it, never left to end us with the lease held.
    let mut signals = Signals::forwarded();
    let spawned = child::spawn(Command::new(&args.command[0]).args(&args.command[1..]).envs(held.env()));
    let (mut child, _terminal) = match spawned {
        Ok(child) => child,
        Err(e) => {
            eprintln!("leasehold: cannot run {}: {e}", args.command[0]);
            let _ = held.release().await;
            return if e.kind() == ErrorKind::NotFound { 127 } else { 126 };
        }
    };
    let lost = held.lost();
    tokio::pin!(lost);
    loop {
        tokio::select! {
            status = child.wait() => return finished(status, held).await,
            reason = &mut lost => {
                eprintln!("leasehold: the lease on {held} was lost ({reason}); stopping the command");
                child::stop(&mut child, Duration::from_secs(args.grace)).await;
                return LEASE_LOST;
            }
            signo = signals.next() => child::forward(&child, signo),
        }
    }
}

/// The command ended: release, and exit as it did, unless the release shows
/// the lease had been lost while it ran.
async fn finished(status: std::io::Result<ExitStatus>, held: Held) -> u8 {
    let code = match status {
        Ok(status) => child::exit_code(status),
        Err(e) => {
            eprintln!("leasehold: waiting for the command failed: {e}");
            1
        }
    };
    match held.release().await {
        Ok(()) => code,
        Err(e @ Error::LeaseLost { .. }) => {
            eprintln!("leasehold: the command ran past its lease: {e}");
            LEASE_LOST
        }
        Err(e) => {
            eprintln!("leasehold: releasing failed ({e}); the lease lapses at its expiry");
            code
        }
    }
}
