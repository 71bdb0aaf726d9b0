//! The command's process: its exit code, the signals passed on to it, and
//! how it is stopped.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use tokio::process::{Child, Command};
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

/// Starts the command as the leader of a process group of its own, so that
/// what it starts (a shell's children, a build's workers) is signalled with
/// it. When we run in the foreground of a terminal, the terminal's
/// foreground goes to that group too: Ctrl-C reaches the whole command, and
/// it may read the terminal.
pub fn spawn(command: &mut Command) -> std::io::Result<(Child, Option<Terminal>)> {
    command.process_group(0);
    let terminal = in_terminal_foreground();
    if terminal {
        // SAFETY: between fork and exec only async-signal-safe calls: the
        // child takes the terminal's foreground for its new group (SIGTTOU
        // ignored meanwhile, as a background group asking), then restores
        // SIGTTOU's default for the command.
        unsafe {
            command.pre_exec(|| {
                libc::signal(libc::SIGTTOU, libc::SIG_IGN);
                libc::tcsetpgrp(libc::STDIN_FILENO, libc::getpid());
                libc::signal(libc::SIGTTOU, libc::SIG_DFL);
                Ok(())
            });
        }
    }
    let child = command.spawn()?;
    Ok((child, terminal.then_some(Terminal)))
}

/// The terminal's foreground, lent to the command; taken back on drop.
pub struct Terminal;

impl Drop for Terminal {
    fn drop(&mut self) {
        // SAFETY: we are now a background group asking for the foreground
        // back: SIGTTOU is ignored for the call, then restored.
        unsafe {
            let before = libc::signal(libc::SIGTTOU, libc::SIG_IGN);
            libc::tcsetpgrp(libc::STDIN_FILENO, libc::getpgrp());
            libc::signal(libc::SIGTTOU, before);
        }
    }
}

/// SIGTERM to the command's group, then SIGKILL if the command is still
/// running after `grace`.
pub async fn stop(child: &mut Child, grace: Duration) {
    send(child, libc::SIGTERM);
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        eprintln!("leasehold: the command outlived its grace period; killing it");
        send(child, libc::SIGKILL);
        let _ = child.wait().await;
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

/// Passes a signal we received on to the command's whole group. (A signal
/// typed at the terminal reaches that group directly: it has the foreground.)
pub fn forward(child: &Child, signo: i32) {
    send(child, signo);
}

fn in_terminal_foreground() -> bool {
    // SAFETY: plain queries of this process's terminal and process group.
    unsafe { libc::isatty(libc::STDIN_FILENO) == 1 && libc::tcgetpgrp(libc::STDIN_FILENO) == libc::getpgrp() }
}

/// Signals the command's process group (its id is the command's pid).
fn send(child: &Child, signo: i32) {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) on the group our own child leads; the child has
        // not been reaped while `id()` returns Some, so its id is not reused.
        unsafe {
            libc::kill(-(pid as libc::pid_t), signo);
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
