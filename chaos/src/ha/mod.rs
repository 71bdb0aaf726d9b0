//! `run --ha`: the workload against a Patroni cluster of three PostgreSQL
//! nodes (started by `deploy/ha/cluster.sh`), each behind a chaos proxy, the
//! replicas given all three in a multi-host URL; database faults; and the
//! checks failover adds: availability per fault, sentinel leases that must
//! survive, and the history held against the last primary's audit trail.

mod audit;
mod availability;
mod cluster;
mod nemesis;
mod node;
pub mod run;
mod sentinel;
mod trail;

use serde::Serialize;

/// The figures and violations an `--ha` run adds to the report.
#[derive(Debug, Default, Serialize)]
pub struct HaReport {
    pub availability: availability::Availability,
    pub trail: trail::TrailReport,
    pub sentinels_checked: usize,
    pub sentinels_lost: usize,
    pub sentinel_examples: Vec<String>,
}

impl HaReport {
    pub fn violations(&self) -> usize {
        self.availability.unrecovered_faults + self.trail.violations() + self.sentinels_lost
    }
}
