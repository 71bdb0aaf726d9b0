//! Lock sets, for every caller: several locks granted all or none.

use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::idempotency::{self, fingerprint};
use super::waiting::Try;
use super::{Call, LeaseError, Leases};
use crate::domain::{
    InvalidInput, LockError, LockMode, LockName, LockToken, LockTokenHash, NamespaceName, Owner, Ttl,
};
use crate::store::lock_sets::{self, Member, NewSet, SetChange, SetOutcome};
use crate::tenancy::Access;

/// A lock set's request, as parsed by its API.
#[derive(Debug)]
pub struct SetRequest {
    pub namespace: Option<NamespaceName>,
    pub names: Vec<LockName>,
    pub ttl: Option<Ttl>,
    pub owner: Option<Owner>,
    pub wait_seconds: i64,
}

impl SetRequest {
    pub const MIN_MEMBERS: usize = 2;
    pub const MAX_MEMBERS: usize = 64;

    /// The members in name order, each once: the order every statement
    /// locks them in.
    fn members(&self) -> Result<Vec<LockName>, InvalidInput> {
        let mut names = self.names.clone();
        names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        names.dedup_by(|a, b| a.as_str() == b.as_str());
        if names.len() != self.names.len() {
            return Err(InvalidInput::new("invalid_names", "names must not repeat a lock"));
        }
        if !(Self::MIN_MEMBERS..=Self::MAX_MEMBERS).contains(&names.len()) {
            return Err(InvalidInput::new(
                "invalid_names",
                format!("names must list {} to {} locks", Self::MIN_MEMBERS, Self::MAX_MEMBERS),
            ));
        }
        Ok(names)
    }
}

#[derive(Debug)]
pub enum SetAcquired {
    Granted {
        set_id: Uuid,
        token: LockToken,
        namespace: NamespaceName,
        members: Vec<Member>,
    },
    /// These members are held (or reserved for earlier waiters).
    Held {
        held: Vec<String>,
        retry_after: u32,
    },
}

impl Leases {
    /// Takes every lock of the set or none, failing fast or waiting in line
    /// (in the queue of its first member, the one every set locks first).
    pub async fn acquire_set(&self, call: &Call<'_>, request: SetRequest) -> Result<SetAcquired, LeaseError> {
        let caller = call.caller.ok_or(LockError::Forbidden("lock sets need an API key"))?;
        let names = request.members()?;
        let namespace = self.authorize(call, request.namespace.clone(), Access::Write).await?;
        let rules = self.rules(caller);
        let ttl = rules.lease(request.ttl)?;
        let wait = rules.wait(request.wait_seconds)?;
        let listed: Vec<&str> = names.iter().map(LockName::as_str).collect();
        let content =
            json!([listed, ttl.seconds(), request.owner.as_ref().map(Owner::as_str), wait.as_secs()]);
        let print = fingerprint("lock_set", &namespace, &names[0], &[content.to_string().as_bytes()]);
        let retry = self.claim(call, print).await?;
        let token = idempotency::grant_token(&retry, call);
        let hash = token.hash();
        let set_id = set_id_of(&hash);
        if idempotency::completed(&retry) {
            let members = self.db(lock_sets::find(&self.pool, &namespace, set_id, &hash)).await?;
            if members.is_empty() {
                return Err(LockError::LeaseLost.into());
            }
            return Ok(SetAcquired::Granted { set_id, token, namespace, members });
        }
        let mut set = NewSet {
            namespace: &namespace,
            names: &names,
            set_id,
            token: &hash,
            owner: request.owner.as_ref(),
            ttl,
            idempotency_key: idempotency::key(&retry),
            waiter: None,
            waiter_lease: self.settings.place_lease,
            max_live_locks: Some(rules.max_live_locks),
        };
        let actor = self.actor(call).await?;
        let mut outcome = self.db(lock_sets::acquire(&self.pool, &set, &actor)).await?;
        // Over quota is no queue's to wait out.
        if !wait.is_zero() && matches!(outcome, SetOutcome::Held { .. }) {
            outcome = self
                .waiting
                .in_line(&namespace, names[0].as_str(), LockMode::Exclusive, &actor, wait, async |place| {
                    set.waiter = Some(place);
                    let outcome = lock_sets::acquire(&self.pool, &set, &actor).await?;
                    let wake_in = match &outcome {
                        SetOutcome::Held { retry_after, .. } => {
                            std::time::Duration::from_secs(*retry_after as u64)
                        }
                        SetOutcome::Granted { .. } | SetOutcome::OverQuota => std::time::Duration::ZERO,
                    };
                    let done = !matches!(outcome, SetOutcome::Held { .. });
                    Ok(Try { done, wake_in, outcome })
                })
                .await?;
        }
        Ok(match outcome {
            SetOutcome::Granted { members } => {
                self.count(call.api, "acquired", members.len() as u64);
                SetAcquired::Granted { set_id, token, namespace, members }
            }
            SetOutcome::Held { held, retry_after } => {
                self.conflict(call.api, &actor);
                SetAcquired::Held { held, retry_after }
            }
            SetOutcome::OverQuota => return Err(super::acquire::over_quota(Some(rules)).into()),
        })
    }

    /// Extends every member the set's token holds.
    pub async fn renew_set(
        &self,
        call: &Call<'_>,
        namespace: Option<NamespaceName>,
        set_id: Uuid,
        token: &LockToken,
        ttl: Option<Ttl>,
    ) -> Result<(NamespaceName, Vec<Member>), LeaseError> {
        let namespace = self.authorize(call, namespace, Access::Write).await?;
        let ttl = self.lease_length(call, ttl)?;
        let actor = self.actor(call).await?;
        let hash = token.hash();
        let change = SetChange { namespace: &namespace, set_id, token: &hash, actor: &actor };
        let members = self.db(lock_sets::renew(&self.pool, &change, ttl)).await?;
        if members.is_empty() {
            return Err(self.set_lost(&change).await);
        }
        self.count(call.api, "renewed", members.len() as u64);
        Ok((namespace, members))
    }

    /// Ends every member the set's token holds.
    pub async fn release_set(
        &self,
        call: &Call<'_>,
        namespace: Option<NamespaceName>,
        set_id: Uuid,
        token: &LockToken,
    ) -> Result<(), LeaseError> {
        let namespace = self.authorize(call, namespace, Access::Write).await?;
        let actor = self.actor(call).await?;
        let hash = token.hash();
        let change = SetChange { namespace: &namespace, set_id, token: &hash, actor: &actor };
        let members = self.db(lock_sets::release(&self.pool, &change)).await?;
        if members.is_empty() {
            return Err(self.set_lost(&change).await);
        }
        self.count(call.api, "released", members.len() as u64);
        Ok(())
    }
}

impl Leases {
    /// A precise `lease_lost` for a set's token.
    async fn set_lost(&self, change: &SetChange<'_>) -> LeaseError {
        match self.db(lock_sets::diagnose(&self.pool, change.namespace, change.set_id, change.token)).await {
            Ok(end) => LockError::LeaseEnded(end).into(),
            Err(_) => LockError::LeaseLost.into(),
        }
    }
}

/// A set's id, derived from its token's hash (by a hash of its own, so that
/// the id tells nothing of the stored hash): a retried acquire (same
/// Idempotency-Key, so the same token) finds the set it made.
fn set_id_of(hash: &LockTokenHash) -> Uuid {
    let digest = Sha256::new().chain_update(b"leasehold lock set").chain_update(hash.0).finalize();
    let bytes: [u8; 16] = digest[..16].try_into().expect("a 32-byte digest");
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}
