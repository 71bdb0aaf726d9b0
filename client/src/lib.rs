//! A client for Leasehold, the lock server on PostgreSQL, that makes the
//! right thing the easy thing:
//!
//! - a [`LockGuard`] renews its lease in the background at a third of its
//!   time to live, and [`LockGuard::lost`] tells you the moment the lease is
//!   lost, or may have lapsed because renewals failed, judged on your own
//!   monotonic clock from when the last successful renewal was *sent*;
//! - every request that failed transiently (connection error, timeout, 503)
//!   is retried with backoff under one `Idempotency-Key`, so a lost answer
//!   does not become a double acquire or a spurious "lost";
//! - errors are types you can match: [`Error::Held`], [`Error::LeaseLost`]
//!   with its [`LostReason`], [`Error::Unauthorized`], [`Error::Unavailable`], …
//! - besides exclusive locks: shared (read) locks ([`LockRequest::shared`]),
//!   semaphores ([`Client::semaphore`]) and lock sets acquired all or
//!   nothing ([`Client::lock_set`]), each with a guard that heartbeats the
//!   same way.
//!
//! ```no_run
//! use std::time::Duration;
//! use leasehold_client::{Client, Error};
//!
//! # async fn demo() -> Result<(), Error> {
//! let client = Client::new("http://127.0.0.1:7010", std::env::var("LEASEHOLD_API_KEY").unwrap())?;
//! let guard = client
//!     .lock("nightly-billing")
//!     .ttl(Duration::from_secs(30))
//!     .wait(Duration::from_secs(10))
//!     .owner("cron@host-1")
//!     .acquire()
//!     .await?;
//! // Hand the fencing token to the resource, so it refuses a stale holder.
//! println!("holding with fencing token {}", guard.fencing_token());
//! tokio::select! {
//!     reason = guard.lost() => eprintln!("lost the lock ({reason}); stopping"),
//!     () = tokio::time::sleep(Duration::from_secs(5)) => guard.release().await?,
//! }
//! # Ok(()) }
//! ```
//!
//! Someone else holding the lock is an error you can inspect:
//!
//! ```no_run
//! # async fn demo(client: leasehold_client::Client) {
//! match client.lock("reindex").try_acquire().await {
//!     Ok(guard) => { /* work */ drop(guard) }
//!     Err(leasehold_client::Error::Held { expires_at: Some(until), .. }) => println!("busy until {until}"),
//!     Err(leasehold_client::Error::Held { .. }) => println!("busy"),
//!     Err(other) => eprintln!("{other}"),
//! }
//! # }
//! ```
//!
//! A semaphore admits up to its limit, a lock set takes every lock or none:
//!
//! ```no_run
//! # async fn demo(client: leasehold_client::Client) -> Result<(), leasehold_client::Error> {
//! use std::time::Duration;
//! let place = client.semaphore("gpu-pool", 4).wait(Duration::from_secs(30)).acquire().await?;
//! let both = client.lock_set(["account:17", "account:42"]).acquire().await?;
//! let from = both.fencing_token("account:17");
//! # drop((place, both, from)); Ok(()) }
//! ```
//!
//! The guards' background work needs a Tokio runtime; dropping a guard
//! releases the lease only while that runtime is still running (otherwise
//! the lease lapses at its expiry).

mod client;
mod endpoint;
mod error;
mod guard;
mod held;
mod holders;
mod lock;
mod lock_set;
mod retry;
mod semaphore;
mod verify;
mod waiting;
mod watch;

pub use client::{Client, ClientBuilder};
pub use error::{Error, LostReason};
pub use guard::LockGuard;
pub use holders::{Holder, LockHolders, Mode};
pub use lock::{Lease, LockRequest, LockToken};
pub use lock_set::{LockSet, LockSetGuard, LockSetRequest, SetMember};
pub use semaphore::{Permit, SemaphoreGuard, SemaphoreRequest, SemaphoreState};
pub use verify::{Verified, Writer};
pub use watch::{Event, Watch};
