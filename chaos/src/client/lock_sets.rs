//! A lock-set client: takes two or three of the lock clients' locks as one
//! set, named in a random order, works a stretch or a few (renewing the set
//! between them), releases it, repeat. The lock clients' plain acquires of
//! the same locks meet its members.

use rand::Rng;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{work, Client, NAMESPACE};
use crate::clock;
use crate::history::{Kind, Op};

const MAX_MEMBERS: usize = 3;

/// A granted set, as its renewals and release name it.
struct HeldSet {
    members: Vec<u32>,
    set_id: String,
    token: String,
}

impl Client {
    /// One set: returns whether the acquire succeeded.
    pub(super) async fn hold_set(&mut self) -> bool {
        self.lease += 1;
        let Some(set) = self.acquire_set(self.pick_members()).await else { return false };
        let mut sent = self.history.last().expect("just recorded").invoke;
        for stretch in 0..rand::thread_rng().gen_range(1..=3) {
            if stretch > 0 {
                if !self.set_op(Kind::SetRenew, &set).await {
                    return true;
                }
                sent = self.history.last().expect("just recorded").invoke;
            }
            if !self.trusts(sent) {
                return true; // the set may be gone: let it lapse
            }
            work().await;
        }
        self.set_op(Kind::SetRelease, &set).await;
        true
    }

    /// Two or three distinct locks, in a random order.
    fn pick_members(&self) -> Vec<u32> {
        let mut rng = rand::thread_rng();
        let size = rng.gen_range(2..=MAX_MEMBERS);
        let picked = rand::seq::index::sample(&mut rng, self.config.locks as usize, size);
        picked.into_iter().map(|i| i as u32).collect()
    }

    /// Records the members asked for, the request id the grant's audit rows
    /// carry and, on success, the set's id and each member's fencing token.
    async fn acquire_set(&mut self, members: Vec<u32>) -> Option<HeldSet> {
        let mut op = Op::new(self.config.id, Kind::SetAcquire, members[0], self.lease, clock::now());
        let request_id = uuid::Uuid::new_v4().to_string();
        (op.members, op.request_id) = (members.clone(), Some(request_id.clone()));
        let body = json!({
            "names": members.iter().map(|m| format!("lock-{m}")).collect::<Vec<_>>(),
            "ttl_seconds": self.config.ttl.as_secs(),
            "owner": self.owner(),
            "wait_seconds": self.wait_seconds(),
        });
        let answer = self
            .call(op, |client, key| {
                let url = format!("{}/v1/namespaces/{NAMESPACE}/lock-sets", client.replica_url());
                let request = client.http.post(url).bearer_auth(&client.config.key).json(&body);
                let request = request.header("Idempotency-Key", key).header("X-Request-Id", &request_id);
                (request, StatusCode::CREATED)
            })
            .await?;
        let granted = self.history.last_mut().expect("just recorded");
        let tokens = member_tokens(&answer);
        granted.member_tokens =
            members.iter().map(|m| tokens.iter().find(|t| t.0 == *m).map(|t| t.1)).collect();
        granted.set_id = answer.get("set_id").and_then(Value::as_str).map(str::to_owned);
        let token = answer.get("lock_token").and_then(Value::as_str)?.to_owned();
        Some(HeldSet { members, set_id: granted.set_id.clone()?, token })
    }

    /// A renewal (recording the members it renewed) or a release of `set`.
    async fn set_op(&mut self, kind: Kind, set: &HeldSet) -> bool {
        let mut op = Op::new(self.config.id, kind, set.members[0], self.lease, clock::now());
        op.members = set.members.clone();
        let answer = self
            .call(op, |client, key| {
                let url =
                    format!("{}/v1/namespaces/{NAMESPACE}/lock-sets/{}", client.replica_url(), set.set_id);
                let (request, ok) = match kind {
                    Kind::SetRenew => {
                        (client.http.post(format!("{url}/renew")).json(&json!({})), StatusCode::OK)
                    }
                    _ => (client.http.delete(url), StatusCode::NO_CONTENT),
                };
                let request = request.bearer_auth(&client.config.key).header("Idempotency-Key", key);
                (request.header("Lock-Token", &set.token), ok)
            })
            .await;
        if let (Kind::SetRenew, Some(answer)) = (kind, &answer) {
            let renewed = self.history.last_mut().expect("just recorded");
            renewed.members = member_tokens(answer).into_iter().map(|(m, _)| m).collect();
        }
        answer.is_some()
    }
}

/// (lock number, fencing token) of each member a set's answer lists.
fn member_tokens(answer: &Value) -> Vec<(u32, i64)> {
    let locks = answer.get("locks").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    locks
        .iter()
        .filter_map(|lock| {
            let number = lock.get("name")?.as_str()?.strip_prefix("lock-")?.parse().ok()?;
            Some((number, lock.get("fencing_token")?.as_i64()?))
        })
        .collect()
}
