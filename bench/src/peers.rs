//! Arm E: peers from Debian's packages, each started by the bench on its own
//! loopback port and stopped at the end. Redis: `SET NX PX` to acquire and a
//! Lua compare-and-delete to release. etcd (single node), through its HTTP
//! gateway: as etcd's own concurrency package does, each client holds one
//! session lease and each cycle is a lock and an unlock (two requests, as a
//! Leasehold cycle is); a labelled variant grants a lease every cycle.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::Rng;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::http::{json_str, Conn};
use crate::load::Worker;
use crate::scenarios::CONTENDED_NAMES;

/// A child process killed when dropped.
pub struct Peer {
    pub addr: String,
    _child: Child,
}

async fn wait_for_port(addr: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).await.is_err() {
        if Instant::now() > deadline {
            bail!("{addr} did not start listening");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

pub async fn start_redis(port: u16, appendfsync: &str, dir: &Path) -> anyhow::Result<Peer> {
    let dir = dir.join(format!("redis-{port}"));
    std::fs::create_dir_all(&dir)?;
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes"])
        .args(["--appendfsync", appendfsync, "--dir"])
        .arg(&dir)
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("redis-server starts (apt-get install redis-server)")?;
    let addr = format!("127.0.0.1:{port}");
    wait_for_port(&addr).await?;
    Ok(Peer { addr, _child: child })
}

pub async fn start_etcd(port: u16, dir: &Path) -> anyhow::Result<Peer> {
    let dir = dir.join(format!("etcd-{port}"));
    let (client, peer) = (format!("http://127.0.0.1:{port}"), format!("http://127.0.0.1:{}", port + 1));
    let child = Command::new("etcd")
        .args(["--name", "bench", "--data-dir"])
        .arg(&dir)
        .args(["--listen-client-urls", &client, "--advertise-client-urls", &client])
        .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
        .args(["--initial-cluster", &format!("bench={peer}"), "--log-level", "error"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("etcd starts (apt-get install etcd-server)")?;
    let addr = format!("127.0.0.1:{port}");
    wait_for_port(&addr).await?;
    Ok(Peer { addr, _child: child })
}

const RELEASE_LUA: &str =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

pub struct Redis {
    stream: BufReader<TcpStream>,
    line: String,
    sha: String,
    token: String,
    name: String,
    contended: bool,
}

impl Redis {
    pub async fn connect(addr: &str, name: String, contended: bool) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let token = format!("{:032x}", rand::thread_rng().gen::<u128>());
        let mut redis = Self {
            stream: BufReader::new(stream),
            line: String::new(),
            sha: String::new(),
            token,
            name,
            contended,
        };
        redis.sha = redis.command(&["SCRIPT", "LOAD", RELEASE_LUA]).await?;
        Ok(redis)
    }

    async fn command(&mut self, args: &[&str]) -> anyhow::Result<String> {
        let mut out = format!("*{}\r\n", args.len());
        for arg in args {
            out.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        self.stream.get_mut().write_all(out.as_bytes()).await?;
        self.line.clear();
        self.stream.read_line(&mut self.line).await?;
        let line = self.line.trim_end().to_owned();
        match line.as_bytes().first() {
            Some(b'+') | Some(b':') => Ok(line[1..].to_owned()),
            Some(b'$') if line == "$-1" => Ok(String::new()),
            Some(b'$') => {
                let mut buf = vec![0; line[1..].parse::<usize>()? + 2];
                self.stream.read_exact(&mut buf).await?;
                Ok(String::from_utf8_lossy(&buf[..buf.len() - 2]).into_owned())
            }
            _ => bail!("redis answered {line}"),
        }
    }
}

impl Worker for Redis {
    async fn op(&mut self) -> anyhow::Result<()> {
        let name = if self.contended {
            format!("c-{}", rand::thread_rng().gen_range(1..=CONTENDED_NAMES))
        } else {
            self.name.clone()
        };
        let token = self.token.clone();
        let got = self.command(&["SET", &name, &token, "NX", "PX", "30000"]).await?;
        if got == "OK" {
            let sha = self.sha.clone();
            let released = self.command(&["EVALSHA", &sha, "1", &name, &token]).await?;
            if released != "1" {
                bail!("compare-and-delete did not delete");
            }
        } else if !self.contended {
            bail!("an uncontended name was held");
        }
        Ok(())
    }
}

pub struct Etcd {
    conn: Conn,
    name: String,
    /// The client's session lease; `None` grants one every cycle.
    session: Option<String>,
}

impl Etcd {
    /// With `session`, the client's one lease is granted now, as
    /// `concurrency.NewSession` does (and kept alive by its TTL, longer
    /// than any run).
    pub async fn connect(addr: &str, name: String, session: bool) -> anyhow::Result<Self> {
        let mut etcd = Self { conn: Conn::connect(addr).await?, name: STANDARD.encode(name), session: None };
        if session {
            etcd.session = Some(etcd.grant().await?);
        }
        Ok(etcd)
    }

    async fn grant(&mut self) -> anyhow::Result<String> {
        let lease = self.post("/v3/lease/grant", r#"{"TTL":600}"#.to_owned()).await?;
        json_str(&lease, "ID").context("a lease id")
    }

    async fn post(&mut self, path: &str, body: String) -> anyhow::Result<Vec<u8>> {
        let answer = self.conn.call("POST", path, "", body.as_bytes()).await?;
        if answer.status != 200 {
            bail!("etcd {path} answered {}: {}", answer.status, String::from_utf8_lossy(&answer.body));
        }
        Ok(answer.body)
    }
}

impl Worker for Etcd {
    async fn op(&mut self) -> anyhow::Result<()> {
        let id = match &self.session {
            Some(id) => id.clone(),
            None => self.grant().await?,
        };
        let lock =
            self.post("/v3/lock/lock", format!(r#"{{"name":"{}","lease":"{id}"}}"#, self.name)).await?;
        let key = json_str(&lock, "key").context("a lock key")?;
        self.post("/v3/lock/unlock", format!(r#"{{"key":"{key}"}}"#)).await?;
        Ok(())
    }
}
