//! The Patroni cluster of an `--ha` run: three PostgreSQL nodes (pg1..pg3),
//! each run by its Patroni, with etcd, started and stopped by
//! `deploy/ha/cluster.sh`. Node pgI serves PostgreSQL on base + I and
//! Patroni's REST API on base + 100 + I.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Deserialize;
use tokio::process::Command;

pub const NODES: usize = 3;

pub struct HaCluster {
    script: PathBuf,
    pub dir: PathBuf,
    pub base_port: u16,
    log: PathBuf,
    http: reqwest::Client,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Member {
    pub name: String,
    pub role: String,
    pub state: String,
}

/// What `/cluster` says, reduced to what the nemesis needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub leader: String,
    pub sync_standby: String,
    pub running: usize,
}

impl HaCluster {
    /// `cluster.sh up DIR --base-port N`: a fresh cluster with a leader, a
    /// sync standby and the database `leasehold`. Its output goes to `log`.
    pub async fn up(script: &Path, dir: &Path, base_port: u16, log: PathBuf) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
        let dir = std::path::absolute(dir)?;
        let this = Self { script: std::path::absolute(script)?, dir, base_port, log, http };
        anyhow::ensure!(this.script.exists(), "no cluster script at {}", this.script.display());
        if let Err(e) = this.script(&["up", "--base-port", &base_port.to_string()]).await {
            this.down().await; // what it started; its logs stay in DIR
            return Err(e);
        }
        Ok(this)
    }

    pub async fn down(&self) {
        if let Err(e) = self.script(&["down"]).await {
            eprintln!("chaos: cluster.sh down: {e:#}");
        }
    }

    pub(super) async fn script(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let (command, rest) = args.split_first().expect("a command");
        let output = Command::new(&self.script)
            .arg(command)
            .arg(&self.dir)
            .args(rest)
            .stdin(Stdio::null())
            .stderr(log.try_clone()?)
            .output()
            .await
            .with_context(|| format!("cannot run {}", self.script.display()))?;
        std::io::Write::write_all(&mut log, &output.stdout)?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            bail!("cluster.sh {command} failed ({}): {stdout}; see {}", output.status, self.log.display());
        }
        Ok(stdout)
    }

    pub fn node_port(&self, node: usize) -> u16 {
        self.base_port + node as u16
    }

    /// The database URL of the current primary, straight to it.
    pub async fn primary_url(&self, database: &str) -> anyhow::Result<String> {
        let line = self.script(&["primary"]).await?;
        let port = line.split_whitespace().nth(1).context("cluster.sh primary printed no port")?;
        Ok(format!("postgres://postgres@127.0.0.1:{port}/{database}"))
    }

    /// The members as the first Patroni that answers sees them.
    pub async fn members(&self) -> anyhow::Result<Vec<Member>> {
        #[derive(Deserialize)]
        struct Cluster {
            members: Vec<Member>,
        }
        let mut last = None;
        for node in 1..=NODES {
            let url = format!("http://127.0.0.1:{}/cluster", self.base_port + 100 + node as u16);
            match self.http.get(url).send().await {
                Ok(r) => match r.json::<Cluster>().await {
                    Ok(c) => return Ok(c.members),
                    Err(e) => last = Some(e),
                },
                Err(e) => last = Some(e),
            }
        }
        Err(last.map_or_else(|| anyhow::anyhow!("no node"), anyhow::Error::from))
    }

    /// Waits until the members satisfy `done`; `what` names it for the error.
    pub async fn wait_for(
        &self,
        limit: Duration,
        what: &str,
        done: impl Fn(&[Member]) -> bool,
    ) -> anyhow::Result<Vec<Member>> {
        let started = Instant::now();
        loop {
            let members = self.members().await.unwrap_or_default();
            if done(&members) {
                return Ok(members);
            }
            if started.elapsed() > limit {
                bail!("no {what} within {limit:?}; the members: {members:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits for a leader, a sync standby and all three members running, and
    /// for `also` to hold.
    pub async fn wait_healthy(
        &self,
        limit: Duration,
        also: impl Fn(&Health) -> bool,
    ) -> anyhow::Result<Health> {
        let members = self
            .wait_for(limit, "healthy cluster", |m| health(m).is_some_and(|h| h.running == NODES && also(&h)))
            .await?;
        Ok(health(&members).expect("healthy"))
    }

    pub fn node_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The postmaster's pid, from the first line of `postmaster.pid`.
    pub fn postmaster_pid(&self, name: &str) -> Option<i32> {
        read_pid(&self.node_dir(name).join("data").join("postmaster.pid"))
    }

    pub fn patroni_pid(&self, name: &str) -> Option<i32> {
        read_pid(&self.node_dir(name).join("patroni.pid"))
    }
}

pub fn health(members: &[Member]) -> Option<Health> {
    let running = |m: &&Member| m.state == "running" || m.state == "streaming";
    let leader = members.iter().filter(running).find(|m| m.role == "leader" || m.role == "master")?;
    let sync = members.iter().filter(running).find(|m| m.role == "sync_standby")?;
    let count = members.iter().filter(running).count();
    Some(Health { leader: leader.name.clone(), sync_standby: sync.name.clone(), running: count })
}

/// Node index (1..=3) of a member name such as `pg2`.
pub fn node_index(name: &str) -> anyhow::Result<usize> {
    let index = name.trim_start_matches(|c: char| !c.is_ascii_digit()).parse()?;
    anyhow::ensure!((1..=NODES).contains(&index), "unexpected member name {name}");
    Ok(index)
}

fn read_pid(path: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().next()?.trim().parse().ok()
}

/// Whether a process exists (signal 0).
pub fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

pub fn signal(pid: i32, signal: i32) {
    // SAFETY: plain signal delivery to a process id read from a pid file.
    unsafe { libc::kill(pid, signal) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, role: &str, state: &str) -> Member {
        Member { name: name.into(), role: role.into(), state: state.into() }
    }

    #[test]
    fn healthy_needs_a_running_leader_and_sync_standby() {
        let members = [
            member("pg1", "replica", "running"),
            member("pg2", "leader", "running"),
            member("pg3", "sync_standby", "streaming"),
        ];
        let h = health(&members).unwrap();
        assert_eq!((h.leader.as_str(), h.sync_standby.as_str(), h.running), ("pg2", "pg3", 3));
        assert_eq!(health(&members[..2]), None);
        assert_eq!(health(&[member("pg1", "leader", "stopped"), members[2].clone()]), None);
    }

    #[test]
    fn member_names_map_to_nodes() {
        assert_eq!(node_index("pg3").unwrap(), 3);
        assert!(node_index("pg4").is_err());
    }
}
