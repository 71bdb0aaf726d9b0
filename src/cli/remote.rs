//! What every client command (`leasehold lock ...`, `leasehold semaphore
//! ...`) shares: the server and key it talks to, and how its errors become
//! exit codes.
//!
//! Exit codes (also in docs/clients.md):
//! 0 success (for `run`: the command's own status, 128+N if a signal N ended it),
//! 1 any other error, 2 bad usage, 3 `status`: the lock is not held,
//! 64 the server refused the request as invalid (or, for a semaphore, a
//! different limit), 69 the server is unreachable or unavailable, 75 could
//! not acquire (held by someone else, or the semaphore is full), 77 the key
//! was refused (unauthorized, forbidden, no such namespace), 79 the lease was
//! lost, 126 the command could not be run, 127 the command was not found.

use std::io::Write;

use clap::Args;
use leasehold_client::{Client, Error};

pub const USAGE: u8 = 2;
pub const NOT_HELD: u8 = 3;
pub const INVALID: u8 = 64;
pub const UNREACHABLE: u8 = 69;
pub const COULD_NOT_ACQUIRE: u8 = 75;
pub const REFUSED: u8 = 77;
pub const LEASE_LOST: u8 = 79;

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
    pub fn client(&self) -> Result<Client, Error> {
        Client::new(self.url.clone(), self.key.clone())
    }
}

/// Ends a client command with `code`, once what it printed is out.
pub fn exit(code: u8) -> anyhow::Result<()> {
    std::io::stdout().flush()?;
    match code {
        0 => Ok(()),
        code => std::process::exit(code.into()),
    }
}

/// Reports `error` on stderr; returns its exit code.
pub fn fail(error: &Error) -> u8 {
    eprintln!("leasehold: {error}");
    exit_code(error)
}

fn exit_code(error: &Error) -> u8 {
    match error {
        Error::Held { .. } | Error::SemaphoreFull { .. } => COULD_NOT_ACQUIRE,
        Error::LeaseLost { .. } => LEASE_LOST,
        Error::NotHeld => NOT_HELD,
        Error::Unavailable { .. } | Error::Unreachable(_) | Error::RateLimited { .. } => UNREACHABLE,
        Error::Unauthorized | Error::Forbidden { .. } | Error::NamespaceNotFound => REFUSED,
        Error::Invalid { .. } | Error::LimitMismatch { .. } => INVALID,
        _ => 1,
    }
}
