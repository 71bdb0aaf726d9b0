//! What the nemesis does to one node of the Patroni cluster: kill its
//! postmaster, stop and start its Patroni, switch the leader over.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::process::Command;

use super::cluster::{alive, signal, HaCluster};

impl HaCluster {
    /// SIGKILL to a node's postmaster (its backends follow when they notice);
    /// returns the pid it killed.
    pub fn kill_postmaster(&self, name: &str) -> anyhow::Result<i32> {
        let pid = self.postmaster_pid(name).with_context(|| format!("{name} has no postmaster.pid"))?;
        anyhow::ensure!(alive(pid), "the postmaster of {name} (pid {pid}) is not running");
        signal(pid, libc::SIGKILL);
        Ok(pid)
    }

    /// Whether the node runs a postmaster other than `old`.
    pub fn restarted(&self, name: &str, old: i32) -> bool {
        self.postmaster_pid(name).is_some_and(|pid| pid != old && alive(pid))
    }

    /// SIGTERM to a node's Patroni: it stops its PostgreSQL and gives the
    /// leader key up. Waits until it has exited.
    pub async fn stop_patroni(&self, name: &str) -> anyhow::Result<()> {
        let pid = self.patroni_pid(name).with_context(|| format!("{name} has no patroni.pid"))?;
        anyhow::ensure!(alive(pid), "Patroni of {name} (pid {pid}) is not running");
        signal(pid, libc::SIGTERM);
        let started = Instant::now();
        while alive(pid) {
            if started.elapsed() > Duration::from_secs(60) {
                bail!("Patroni of {name} (pid {pid}) did not stop within 60 s of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// `cluster.sh start-node`: the node's Patroni runs again (and starts
    /// or adopts its PostgreSQL, rejoining as a replica).
    pub async fn start_patroni(&self, name: &str) -> anyhow::Result<()> {
        self.script(&["start-node", name]).await.map(drop)
    }

    /// A planned switchover from `leader` to `candidate` (which must be the
    /// synchronous standby in synchronous mode), without confirmation.
    pub async fn switchover(&self, leader: &str, candidate: &str) -> anyhow::Result<()> {
        let config = self.node_dir(leader).join("patroni.yml");
        let output = Command::new("patronictl")
            .arg("-c")
            .arg(&config)
            .args(["switchover", "--leader", leader, "--candidate", candidate, "--force"])
            .stdin(Stdio::null())
            .output()
            .await
            .context("cannot run patronictl")?;
        let said =
            String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        if !output.status.success() || !said.contains("witched over") {
            bail!("patronictl switchover {leader} -> {candidate} failed ({}): {said}", output.status);
        }
        Ok(())
    }
}
