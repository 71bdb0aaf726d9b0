//! The command's process: its exit code, the signals passed on to it, and
//! how it is stopped.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use tokio::process::Child;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// The signals forwarded to the command.
const FORWARDED: [SignalKind; 6] = [
    SignalKind::interrupt(),
    SignalKind::terminate(),
    SignalKind::hangup(),
    SignalKind::quit(),
    SignalKind::user_defined1(),
    SignalKind::user_defined2(),
];

/// The shell's convention: the exit status, or 128 + the signal that ended it.
pub fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(signo)) => (128 + signo) as u8,
        (None, None) => 1,
    }
}

/// SIGTERM, then SIGKILL if the command is still running after `grace`.
pub async fn stop(child: &mut Child, grace: Duration) {
    send(child, libc::SIGTERM);
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        eprintln!("leasehold: the command outlived its grace period; killing it");
        let _ = child.kill().await;
    }
}

/// The handlers of the forwarded signals, installed once.
pub struct Signals(Vec<(Signal, SignalKind)>);

impl Signals {
    pub fn forwarded() -> Self {
        Self(FORWARDED.into_iter().filter_map(|kind| Some((signal(kind).ok()?, kind))).collect())
    }

    /// The next forwarded signal this process receives.
    pub async fn next(&mut self) -> i32 {
        if self.0.is_empty() {
            return std::future::pending().await;
        }
        let waits = self.0.iter_mut().map(|(signal, kind)| {
            Box::pin(async move {
                signal.recv().await;
                kind.as_raw_value()
            })
        });
        futures_util::future::select_all(waits).await.0
    }
}

/// Passes a signal on to the command, except SIGINT or SIGQUIT typed at
/// the terminal we run in the foreground of: the terminal delivered that to
/// the command already (it is in our process group), and twice would be
/// once too many.
pub fn forward(child: &Child, signo: i32) {
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
