//! The resources the locks protect, served by the orchestrator over TCP (one
//! JSON object per line) so that client processes share them:
//!
//! - a **fenced register** per lock: it remembers the highest fencing token it
//!   has seen, on reads and writes alike, and refuses either with a lower one;
//! - a **control counter** per lock that checks nothing: a client that
//!   outlived its lease overwrites it, which proves the faults bite.
//!
//! It also knows which clients are between a read and their write (inside a
//! critical section), so the nemesis can pause exactly those.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    pub write: bool,
    pub client: u32,
    pub lock: u32,
    pub token: i64,
    #[serde(default)]
    pub fenced: i64,
    #[serde(default)]
    pub control: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Reply {
    /// Whether the fenced register accepted the token.
    pub fenced_ok: bool,
    /// After a read: the current values.
    pub fenced: i64,
    pub control: i64,
}

#[derive(Default)]
struct Register {
    highest_token: i64,
    fenced: i64,
    control: i64,
}

#[derive(Default)]
struct State {
    registers: HashMap<u32, Register>,
    in_critical_section: HashSet<u32>,
}

#[derive(Clone, Default)]
pub struct Resources(Arc<Mutex<State>>);

impl Resources {
    pub async fn serve(&self) -> std::io::Result<u16> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let this = self.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(this.clone().connection(stream));
            }
        });
        Ok(port)
    }

    async fn connection(self, stream: TcpStream) {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let Ok(request) = serde_json::from_str::<Request>(&line) else { return };
            let mut reply = serde_json::to_vec(&self.apply(&request)).expect("a reply serializes");
            reply.push(b'\n');
            if write.write_all(&reply).await.is_err() {
                return;
            }
        }
    }

    pub fn apply(&self, r: &Request) -> Reply {
        let mut state = self.0.lock().expect("no panics while locked");
        let register = state.registers.entry(r.lock).or_default();
        let fenced_ok = r.token >= register.highest_token;
        if fenced_ok {
            register.highest_token = r.token;
        }
        if r.write {
            if fenced_ok {
                register.fenced = r.fenced;
            }
            register.control = r.control;
        }
        let reply = Reply { fenced_ok, fenced: register.fenced, control: register.control };
        if r.write {
            state.in_critical_section.remove(&r.client);
        } else if fenced_ok {
            state.in_critical_section.insert(r.client);
        }
        reply
    }

    /// Clients that have read and not yet written.
    pub fn in_critical_section(&self) -> Vec<u32> {
        self.0.lock().expect("no panics while locked").in_critical_section.iter().copied().collect()
    }

    /// Final values: lock → (fenced register, control counter).
    pub fn finals(&self) -> HashMap<u32, (i64, i64)> {
        let state = self.0.lock().expect("no panics while locked");
        state.registers.iter().map(|(lock, r)| (*lock, (r.fenced, r.control))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(write: bool, token: i64, value: i64) -> Request {
        Request { write, client: 1, lock: 0, token, fenced: value, control: value }
    }

    #[test]
    fn a_lower_token_is_refused_after_a_higher_one_was_seen_even_by_a_read() {
        let resources = Resources::default();
        assert!(resources.apply(&req(false, 5, 0)).fenced_ok);
        assert!(resources.apply(&req(false, 6, 0)).fenced_ok);
        let stale = resources.apply(&req(true, 5, 1));
        assert!(!stale.fenced_ok);
        assert_eq!((stale.fenced, stale.control), (0, 1), "the control counter takes it anyway");
    }
}
