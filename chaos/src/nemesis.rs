//! Injects one fault every few seconds and heals it, cycling through every
//! kind in a shuffled order, until the run's end.

use std::time::Duration;

use rand::seq::SliceRandom;
use rand::Rng;

use crate::clock;
use crate::cluster::{Postgres, Replica};
use crate::history::Fault;
use crate::proxy::{Mode, Proxy};
use crate::resource::Resources;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    KillReplica,
    PauseClient,
    RestartPostgres,
    TerminateBackends,
    ProxyDrop,
    ProxyDelay,
}

/// One cycle of faults. Pauses come twice: they are what makes the unfenced
/// control counter lose updates, and the run must show that it does.
const CYCLE: [FaultKind; 7] = [
    FaultKind::KillReplica,
    FaultKind::PauseClient,
    FaultKind::PauseClient,
    FaultKind::RestartPostgres,
    FaultKind::TerminateBackends,
    FaultKind::ProxyDrop,
    FaultKind::ProxyDelay,
];

pub struct Nemesis<'a> {
    pub postgres: &'a Postgres,
    pub replicas: &'a mut [Replica],
    pub proxy: &'a Proxy,
    pub resources: &'a Resources,
    /// Client id → process id.
    pub clients: &'a [u32],
    pub ttl: Duration,
    pub http: reqwest::Client,
}

impl Nemesis<'_> {
    /// Runs faults until `until` (monotonic ns); the last one is healed
    /// before it returns.
    pub async fn run(&mut self, until: u64) -> anyhow::Result<Vec<Fault>> {
        let mut faults = Vec::new();
        let mut order = Vec::new();
        loop {
            // Each healed fault gets a quiet window in which every lock must
            // be acquired again (the checker's recovery limit).
            let quiet = crate::checker::recovery_limit(self.ttl);
            let gap = quiet + Duration::from_millis(rand::thread_rng().gen_range(0..1500));
            tokio::time::sleep(gap).await;
            if clock::now() >= until {
                return Ok(faults);
            }
            if order.is_empty() {
                order = CYCLE.to_vec();
                order.shuffle(&mut rand::thread_rng());
            }
            let kind = order.pop().expect("refilled above");
            let start = clock::now();
            let target = self.inject(kind).await?;
            faults.push(Fault { kind: format!("{kind:?}"), target, start, healed: clock::now() });
        }
    }

    async fn inject(&mut self, kind: FaultKind) -> anyhow::Result<String> {
        // Every random choice first: the generator is not held across awaits.
        let (hold, replica, delay, client) = {
            let mut rng = rand::thread_rng();
            // Prefer a client inside its critical section: that is where a
            // pause hurts.
            let mut inside = self.resources.in_critical_section();
            inside.retain(|id| (*id as usize) < self.clients.len());
            let client =
                inside.choose(&mut rng).copied().unwrap_or(rng.gen_range(0..self.clients.len() as u32));
            (
                Duration::from_millis(rng.gen_range(1000..3000)),
                rng.gen_range(0..self.replicas.len()),
                Duration::from_millis(rng.gen_range(100..1500)),
                client,
            )
        };
        match kind {
            FaultKind::KillReplica => {
                let replica = &mut self.replicas[replica];
                replica.kill().await;
                tokio::time::sleep(hold).await;
                replica.start(&self.http).await?;
                Ok(format!("replica :{}", replica.port))
            }
            FaultKind::PauseClient => {
                let pid = self.clients[client as usize] as i32;
                // SAFETY: plain signal delivery to our own child process.
                unsafe { libc::kill(pid, libc::SIGSTOP) };
                tokio::time::sleep(self.ttl + hold).await;
                // SAFETY: as above.
                unsafe { libc::kill(pid, libc::SIGCONT) };
                Ok(format!("client {client} for {:?}", self.ttl + hold))
            }
            FaultKind::RestartPostgres => {
                self.postgres.restart_immediately().await?;
                Ok("postgres".into())
            }
            FaultKind::TerminateBackends => {
                let ended = self.postgres.terminate_server_backends().await?;
                Ok(format!("{ended} backends"))
            }
            FaultKind::ProxyDrop => {
                self.proxy.set(Mode::Down);
                tokio::time::sleep(hold).await;
                self.proxy.set(Mode::Up);
                Ok(format!("all traffic for {hold:?}"))
            }
            FaultKind::ProxyDelay => {
                self.proxy.set(Mode::Delay(delay));
                tokio::time::sleep(hold + Duration::from_secs(1)).await;
                self.proxy.set(Mode::Up);
                Ok(format!("{delay:?} per packet"))
            }
        }
    }
}
