//! The `--ha` nemesis: database faults on the Patroni cluster, one at a time,
//! each healed and the cluster whole again (a leader, a sync standby, three
//! members running) before the next. Kinds cycle in a shuffled order. A
//! sentinel lease is taken before each fault and checked after it, and a
//! client inside its critical section is paused for longer than the TTL
//! while the fault lasts (so the unfenced control counter loses updates, and
//! its stale write meets tokens granted by the new primary).

use std::time::Duration;

use rand::seq::SliceRandom;
use rand::Rng;

use super::cluster::{self, node_index, HaCluster, Health, Member, NODES};
use super::sentinel::Sentinels;
use crate::clock::{self, nanos};
use crate::history::Fault;
use crate::proxy::{Mode, Proxy};
use crate::resource::Resources;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HaFault {
    /// SIGKILL to the primary's postmaster.
    KillPrimary,
    /// SIGTERM to the primary's Patroni (it stops PostgreSQL and gives the
    /// leader key up); started again once another node leads.
    StopPrimaryPatroni,
    /// `patronictl switchover` to the sync standby.
    Switchover,
    /// The proxy in front of the primary drops its connections and refuses
    /// new ones for a while.
    CutPrimary,
    /// SIGKILL to a standby's postmaster; its Patroni starts it again.
    KillStandby,
}

pub const CYCLE: [HaFault; 5] = [
    HaFault::KillPrimary,
    HaFault::StopPrimaryPatroni,
    HaFault::Switchover,
    HaFault::CutPrimary,
    HaFault::KillStandby,
];

/// How long a fault may take to heal before the run gives up.
const HEAL_LIMIT: Duration = Duration::from_secs(90);
/// A fault starts only with this much left before the nemesis must stop.
const ROOM: Duration = Duration::from_secs(20);

pub struct HaNemesis<'a> {
    pub cluster: &'a HaCluster,
    /// The proxy in front of node pgI is `proxies[I - 1]`.
    pub proxies: &'a [Proxy],
    pub resources: &'a Resources,
    /// Client id → process id.
    pub clients: &'a [u32],
    pub sentinels: &'a mut Sentinels,
    pub ttl: Duration,
}

impl HaNemesis<'_> {
    /// Runs faults until `until` (monotonic ns); the last one is healed
    /// before it returns.
    pub async fn run(&mut self, until: u64) -> anyhow::Result<Vec<Fault>> {
        let mut faults = Vec::new();
        let mut order = Vec::new();
        loop {
            let quiet = crate::checker::recovery_limit(self.ttl);
            tokio::time::sleep(quiet + Duration::from_millis(rand::thread_rng().gen_range(0..1500))).await;
            if clock::now() + nanos(ROOM) >= until {
                return Ok(faults);
            }
            if order.is_empty() {
                order = CYCLE.to_vec();
                order.shuffle(&mut rand::thread_rng());
            }
            let kind = order.pop().expect("refilled above");
            let health = self.cluster.wait_healthy(HEAL_LIMIT, |_| true).await?;
            let sentinel = self.sentinels.hold().await;
            let start = clock::now();
            let pause = self.pause_a_client();
            let target = self.inject(kind, &health).await?;
            let healed = clock::now();
            let paused = pause.await?;
            let fault =
                Fault { kind: format!("{kind:?}"), target: format!("{target}; {paused}"), start, healed };
            println!(
                "chaos: {} ({}) healed in {:.1} s",
                fault.kind,
                fault.target,
                Duration::from_nanos(healed - start).as_secs_f64()
            );
            if let Some(held) = sentinel {
                self.sentinels.verify(held, &format!("{} ({})", fault.kind, fault.target)).await;
            }
            faults.push(fault);
        }
    }

    /// Injects `kind`, heals it and waits for the cluster to be whole again.
    async fn inject(&mut self, kind: HaFault, health: &Health) -> anyhow::Result<String> {
        let ha = self.cluster;
        let leader = health.leader.clone();
        let (hold, pick) = {
            let mut rng = rand::thread_rng();
            (Duration::from_millis(rng.gen_range(2000..5000)), rng.gen_bool(0.5))
        };
        match kind {
            HaFault::KillPrimary => {
                let pid = ha.kill_postmaster(&leader)?;
                let now = ha.wait_healthy(HEAL_LIMIT, |_| ha.restarted(&leader, pid)).await?;
                Ok(format!("{leader} postmaster; leader now {}", now.leader))
            }
            HaFault::StopPrimaryPatroni => {
                ha.stop_patroni(&leader).await?;
                let led_by_other = |m: &[Member]| cluster::health(m).is_some_and(|h| h.leader != leader);
                ha.wait_for(HEAL_LIMIT, "new leader", led_by_other).await?;
                ha.start_patroni(&leader).await?;
                let now = ha.wait_healthy(HEAL_LIMIT, |_| true).await?;
                Ok(format!("{leader} Patroni; leader now {}", now.leader))
            }
            HaFault::Switchover => {
                let candidate = health.sync_standby.clone();
                let asked = std::time::Instant::now();
                ha.switchover(&leader, &candidate).await?;
                let took = asked.elapsed();
                ha.wait_healthy(HEAL_LIMIT, |h| h.leader == candidate).await?;
                Ok(format!("{leader} -> {candidate}, patronictl took {:.1} s", took.as_secs_f64()))
            }
            HaFault::CutPrimary => {
                let proxy = &self.proxies[node_index(&leader)? - 1];
                proxy.set(Mode::Down);
                tokio::time::sleep(hold).await;
                proxy.set(Mode::Up);
                ha.wait_healthy(HEAL_LIMIT, |_| true).await?;
                Ok(format!("{leader} for {:.1} s", hold.as_secs_f64()))
            }
            HaFault::KillStandby => {
                let standby = if pick { health.sync_standby.clone() } else { self.other_standby(health)? };
                let pid = ha.kill_postmaster(&standby)?;
                ha.wait_healthy(HEAL_LIMIT, |_| ha.restarted(&standby, pid)).await?;
                let role = if standby == health.sync_standby { "sync standby" } else { "standby" };
                Ok(format!("{role} {standby} postmaster"))
            }
        }
    }

    /// The member that is neither the leader nor the sync standby.
    fn other_standby(&self, health: &Health) -> anyhow::Result<String> {
        (1..=NODES)
            .map(|i| format!("pg{i}"))
            .find(|name| *name != health.leader && *name != health.sync_standby)
            .ok_or_else(|| anyhow::anyhow!("no third member"))
    }

    /// SIGSTOP to a client in its critical section (or any), SIGCONT after
    /// TTL + 1..3 s; the task answers what it did.
    fn pause_a_client(&self) -> tokio::task::JoinHandle<String> {
        let (client, hold) = {
            let mut rng = rand::thread_rng();
            let mut inside = self.resources.in_critical_section();
            inside.retain(|id| (*id as usize) < self.clients.len());
            let any = rng.gen_range(0..self.clients.len() as u32);
            (
                inside.choose(&mut rng).copied().unwrap_or(any),
                Duration::from_millis(rng.gen_range(1000..3000)),
            )
        };
        let pid = self.clients[client as usize] as i32;
        let pause = self.ttl + hold;
        tokio::spawn(async move {
            cluster::signal(pid, libc::SIGSTOP);
            tokio::time::sleep(pause).await;
            cluster::signal(pid, libc::SIGCONT);
            format!("client {client} paused {:.1} s", pause.as_secs_f64())
        })
    }
}
