//! The clients of issue 15's primitives (shared locks, semaphores, lock
//! sets) against the real server: the Rust SDK and `leasehold lock run` /
//! `leasehold semaphore run`.

// The server's own suite's way of starting a server on a fresh database;
// this suite uses only part of it.
#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

mod cli;
mod sdk;
