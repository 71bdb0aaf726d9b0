//! `leasehold lock run NAME -- COMMAND...`: a distributed flock(1). The
//! command runs only while the lease is held; losing the lease stops it.

use std::io::ErrorKind;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use clap::Args;
use leasehold_client::{Error, LockGuard};
use tokio::process::{Child, Command};
use tokio::signal::unix::{signal, Signal, SignalKind};

use super::{fail, LeaseArgs, Server, LEASE_LOST};

#[derive(Debug, Args)]
pub struct RunArgs {
    name: String,
    #[command(flatten)]
    lease: LeaseArgs,
    /// After the lease is lost, how many seconds the command has between
    /// SIGTERM and SIGKILL.
    #[arg(long, default_value_t = 10)]
    grace: u64,
    #[command(flatten)]
    server: Server,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// The signals forwarded to the command.
const FORWARDED: [SignalKind; 6] = [
    SignalKind::interrupt(),
    SignalKind::terminate(),
    SignalKind::hangup(),
    SignalKind::quit(),
    SignalKind::user_defined1(),
    SignalKind::user_defined2(),
];

pub async fn run(args: RunArgs) -> u8 {
    let guard = match acquire(&args).await {
        Ok(guard) => guard,
        Err(e) => return fail(&e),
    };
    // From before the command starts: a signal sent to us while it runs is
    // forwarded to it, never left to end us with the lease held.
    let mut signals: Vec<(Signal, SignalKind)> =
        FORWARDED.into_iter().filter_map(|kind| Some((signal(kind).ok()?, kind))).collect();
    let mut child = match spawn(&args.command, &guard) {
        Ok(child) => child,
        Err(e) => {
            eprintln!("leasehold: cannot run {}: {e}", args.command[0]);
            let _ = guard.release().await;
            return if e.kind() == ErrorKind::NotFound { 127 } else { 126 };
        }
    };
    let lost = guard.lost();
    tokio::pin!(lost);
    loop {
        tokio::select! {
            status = child.wait() => return finished(status, guard).await,
            reason = &mut lost => {
                eprintln!("leasehold: the lease on {} was lost ({reason}); stopping the command", args.name);
                stop(&mut child, Duration::from_secs(args.grace)).await;
                return LEASE_LOST;
            }
            signo = next_signal(&mut signals) => forward(&child, signo),
        }
    }
}

async fn acquire(args: &RunArgs) -> Result<LockGuard, Error> {
    args.lease.request(&args.server.client()?, &args.name).acquire().await
}

fn spawn(command: &[String], guard: &LockGuard) -> std::io::Result<Child> {
    Command::new(&command[0])
        .args(&command[1..])
        .env("LEASEHOLD_FENCING_TOKEN", guard.fencing_token().to_string())
        .env("LEASEHOLD_LOCK_TOKEN", guard.token().expose())
        .spawn()
}

/// The command ended: release, and exit as it did, unless the release shows
/// the lease had been lost while it ran.
async fn finished(status: std::io::Result<ExitStatus>, guard: LockGuard) -> u8 {
    let code = match status {
        Ok(status) => exit_code(status),
        Err(e) => {
            eprintln!("leasehold: waiting for the command failed: {e}");
            1
        }
    };
    match guard.release().await {
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

/// The shell's convention: the exit status, or 128 + the signal that ended it.
fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(signo)) => (128 + signo) as u8,
        (None, None) => 1,
    }
}

/// SIGTERM, then SIGKILL if the command is still running after `grace`.
async fn stop(child: &mut Child, grace: Duration) {
    send(child, libc::SIGTERM);
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        eprintln!("leasehold: the command outlived its grace period; killing it");
        let _ = child.kill().await;
    }
}

/// The next forwarded signal this process receives.
async fn next_signal(signals: &mut [(Signal, SignalKind)]) -> i32 {
    if signals.is_empty() {
        return std::future::pending().await;
    }
    let waits = signals.iter_mut().map(|(signal, kind)| {
        Box::pin(async move {
            signal.recv().await;
            kind.as_raw_value()
        })
    });
    futures_util::future::select_all(waits).await.0
}

/// Passes a signal on to the command, except SIGINT or SIGQUIT typed at
/// the terminal we run in the foreground of: the terminal delivered that to
/// the command already (it is in our process group), and twice would be
/// once too many.
fn forward(child: &Child, signo: i32) {
    let from_terminal = matches!(signo, libc::SIGINT | libc::SIGQUIT) && in_terminal_foreground();
    if !from_terminal {
        send(child, signo);
    }
}

fn in_terminal_foreground() -> bool {
    // SAFETY: plain queries of this process's terminal and process group.
    unsafe { libc::isatty(libc::STDIN_FILENO) == 1 && libc::tcgetpgrp(libc::STDIN_FILENO) == libc::getpgrp() }
}

fn send(child: &Child, signo: i32) {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) on our own child's pid; it has not been reaped
        // while `id()` returns Some.
        unsafe {
            libc::kill(pid as libc::pid_t, signo);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        assert_eq!(exit_code(ExitStatus::from_raw(7 << 8)), 7);
        assert_eq!(exit_code(ExitStatus::from_raw(libc::SIGTERM)), 128 + 15);
        assert_eq!(exit_code(ExitStatus::from_raw(libc::SIGKILL)), 128 + 9);
    }
}
