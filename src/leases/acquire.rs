//! Acquire, for every API: plan rules, Idempotency-Key, fair waiting.

use serde_json::json;

use super::idempotency::{self, fingerprint};
use super::{retry_after, Call, LeaseError, Leases};
use std::time::Duration;

use super::waiting::Try;
use crate::domain::{
    Actor, CompatHolder, Lock, LockError, LockMode, LockName, LockToken, Metadata, NamespaceName, Owner,
    PlanRules, Ttl,
};
use crate::store::locks::shared::{self, SharedOutcome};
use crate::store::locks::verify::Writer;
use crate::store::{lease_end, locks};
use crate::tenancy::Access;

/// How long the lease asked for is.
#[derive(Debug, Clone, Copy)]
pub enum LeaseLength {
    /// The caller's choice within its plan, or the plan's default.
    Asked(Option<Ttl>),
    /// The plan's longest.
    PlanMaximum,
    /// This length, brought within the plan's bounds. An anonymous caller,
    /// who has no plan, gets it as it is.
    Fitted(Ttl),
}

impl LeaseLength {
    fn resolve(self, rules: Option<&PlanRules>) -> Result<Ttl, LockError> {
        match (self, rules) {
            (LeaseLength::Asked(asked), Some(rules)) => rules.lease(asked),
            (LeaseLength::PlanMaximum, Some(rules)) => Ok(Ttl::from_seconds(rules.max_ttl_seconds)),
            (LeaseLength::Fitted(ttl), Some(rules)) => {
                Ok(Ttl::from_seconds(ttl.seconds().clamp(rules.min_ttl_seconds, rules.max_ttl_seconds)))
            }
            (LeaseLength::Fitted(ttl) | LeaseLength::Asked(Some(ttl)), None) => Ok(ttl),
            (LeaseLength::Asked(None) | LeaseLength::PlanMaximum, None) => {
                Err(LockError::PlanForbids("an anonymous lease needs a length".into()))
            }
        }
    }
}

/// The refusal of a grant beyond the plan's `max_live_locks`.
pub(super) fn over_quota(rules: Option<&PlanRules>) -> LockError {
    let max = rules.map_or(0, |r| r.max_live_locks);
    LockError::QuotaExceeded(format!("your plan allows at most {max} live locks at once"))
}

/// An acquire, as parsed by its API.
#[derive(Debug)]
pub struct AcquireRequest {
    /// `None`: the caller's default namespace.
    pub namespace: Option<NamespaceName>,
    pub name: LockName,
    pub ttl: LeaseLength,
    pub owner: Option<Owner>,
    pub metadata: Option<Metadata>,
    /// How long to wait in line for a held lock; 0 fails fast.
    pub wait_seconds: i64,
    /// What a compatibility API records to know its holder later.
    pub compat: Option<CompatHolder>,
    /// Shared with other readers, or exclusive (every compatibility API).
    pub mode: LockMode,
}

/// A grant: the lease, and its token (which only the native API reveals).
#[derive(Debug)]
pub struct Granted {
    pub lock: Lock,
    pub token: LockToken,
}

#[derive(Debug)]
pub enum Acquired {
    Granted(Granted),
    /// Another lease lives; `retry_after` seconds until it lapses.
    Held {
        lock: Lock,
        waiters: i64,
        retry_after: u32,
    },
    /// The lock is free but reserved for earlier waiters.
    Queued {
        waiters: i64,
        retry_after: u32,
    },
}

impl Leases {
    /// Acquires a lock, failing fast or waiting in line.
    pub async fn acquire(&self, call: &Call<'_>, request: AcquireRequest) -> Result<Acquired, LeaseError> {
        let namespace = self.authorize(call, request.namespace.clone(), Access::Write).await?;
        let rules = call.caller.map(|c| self.rules(c));
        let ttl = request.ttl.resolve(rules)?;
        let wait = match rules {
            Some(rules) => rules.wait(request.wait_seconds)?,
            None => std::time::Duration::ZERO,
        };
        if let Some(metadata) = &request.metadata {
            let rules =
                rules.ok_or_else(|| LockError::PlanForbids("metadata needs a business plan".into()))?;
            rules.check_metadata(metadata)?;
        }
        let content = json!([
            ttl.seconds(),
            request.owner.as_ref().map(Owner::as_str),
            request.metadata.as_ref().map(|m| m.as_raw().get()),
            wait.as_secs(),
            request.mode.as_str()
        ]);
        let print = fingerprint("acquire", &namespace, &request.name, &[content.to_string().as_bytes()]);
        let retry = self.claim(call, print).await?;
        let token = idempotency::grant_token(&retry, call);
        if idempotency::completed(&retry) {
            let lock = match request.mode {
                LockMode::Exclusive => self.replay_grant(&namespace, &request.name, &token).await?,
                LockMode::Shared => self.replay_reader(&namespace, &request.name, &token, call).await?,
            };
            return Ok(Acquired::Granted(Granted { lock, token }));
        }
        let lease = locks::NewLease {
            namespace: &namespace,
            name: &request.name,
            token: &token.hash(),
            owner: request.owner.as_ref(),
            metadata: request.metadata.as_ref(),
            ttl,
            compat: request.compat,
            max_live_locks: rules.map(|r| r.max_live_locks),
        };
        let actor = self.actor(call).await?;
        if request.mode == LockMode::Shared {
            return self.acquire_shared(call, &lease, &actor, wait, idempotency::key(&retry), token).await;
        }
        let attempt = self.waiting.acquire(&lease, &actor, wait, idempotency::key(&retry)).await?;
        let retry_after = retry_after(attempt.wake_in);
        Ok(match attempt.acquired {
            locks::Acquired::Granted(lock) => {
                self.count(call.api, "acquired", attempt.events);
                Acquired::Granted(Granted { lock, token })
            }
            locks::Acquired::Held { lock, retry_after } => {
                self.conflict(call.api, &actor);
                Acquired::Held { lock, waiters: attempt.waiters, retry_after }
            }
            locks::Acquired::Queued { waiters } => {
                self.conflict(call.api, &actor);
                Acquired::Queued { waiters, retry_after }
            }
            locks::Acquired::OverQuota => return Err(over_quota(rules).into()),
        })
    }

    /// A shared lease: granted beside other readers, failing fast or waiting
    /// in the lock's queue behind the writers queued first.
    async fn acquire_shared(
        &self,
        call: &Call<'_>,
        lease: &locks::NewLease<'_>,
        actor: &Actor,
        wait: Duration,
        idempotency_key: Option<&str>,
        token: LockToken,
    ) -> Result<Acquired, LeaseError> {
        let mut options =
            locks::AcquireOptions { waiter: None, idempotency_key, waiter_lease: self.settings.place_lease };
        let mut attempt = self.db(shared::acquire_shared(&self.pool, lease, actor, &options)).await?;
        let done =
            |outcome: &SharedOutcome| matches!(outcome, SharedOutcome::Granted(_) | SharedOutcome::OverQuota);
        if !wait.is_zero() && !done(&attempt.outcome) {
            let queue = lease.name.as_str();
            let waiting =
                self.waiting.in_line(lease.namespace, queue, LockMode::Shared, actor, wait, async |place| {
                    options.waiter = Some(place);
                    let attempt = shared::acquire_shared(&self.pool, lease, actor, &options).await?;
                    Ok(Try { wake_in: attempt.wake_in, done: done(&attempt.outcome), outcome: attempt })
                });
            attempt = waiting.await?;
        }
        let retry_after = retry_after(attempt.wake_in);
        let lock = |fencing_token, account_id, owner, expires_at, acquired_at, ttl_seconds, metadata| Lock {
            namespace: lease.namespace.as_str().to_owned(),
            name: lease.name.as_str().to_owned(),
            fencing_token,
            account_id,
            owner,
            metadata,
            ttl_seconds,
            acquired_at,
            expires_at,
            api: call.api,
            mutex_id: None,
            mode: LockMode::Shared,
            set_id: None,
        };
        Ok(match attempt.outcome {
            SharedOutcome::Granted(h) => {
                self.count(call.api, "acquired", attempt.events);
                let lock = lock(
                    h.fencing_token,
                    h.account_id,
                    h.owner,
                    h.expires_at,
                    h.acquired_at,
                    h.ttl_seconds,
                    h.metadata,
                );
                Acquired::Granted(Granted { lock, token })
            }
            SharedOutcome::Held { fencing_token, account_id, owner, expires_at } => {
                self.conflict(call.api, actor);
                let mut held = lock(fencing_token, account_id, owner, expires_at, expires_at, 0, None);
                held.mode = LockMode::Exclusive;
                Acquired::Held { lock: held, waiters: attempt.waiters, retry_after }
            }
            SharedOutcome::Queued => {
                self.conflict(call.api, actor);
                Acquired::Queued { waiters: attempt.waiters, retry_after }
            }
            SharedOutcome::OverQuota => return Err(over_quota(call.caller.map(|c| self.rules(c))).into()),
        })
    }

    /// The answer to a retried shared grant: the same reader's lease while
    /// it lives, else why it ended.
    async fn replay_reader(
        &self,
        namespace: &NamespaceName,
        name: &LockName,
        token: &LockToken,
        call: &Call<'_>,
    ) -> Result<Lock, LeaseError> {
        let found = self.db(shared::readers(&self.pool, namespace, name, Some(&token.hash()))).await?;
        match found.into_iter().next() {
            Some(reader) => Ok(super::change::reader_lock(namespace, name, reader, call.api)),
            None => Err(self.lease_lost(namespace, name, Writer::Token(&token.hash())).await),
        }
    }

    /// The answer to a retried grant that was made before: the same lease
    /// while it lives, else why it ended.
    pub(super) async fn replay_grant(
        &self,
        namespace: &NamespaceName,
        name: &LockName,
        token: &LockToken,
    ) -> Result<Lock, LeaseError> {
        match self.db(locks::find_held_by(&self.pool, namespace, name, &token.hash())).await? {
            Some(lock) => Ok(lock),
            None => Err(self.lease_lost(namespace, name, Writer::Token(&token.hash())).await),
        }
    }

    /// A precise `lease_lost`: why the writer's token no longer names a live lease.
    pub(super) async fn lease_lost(
        &self,
        namespace: &NamespaceName,
        name: &LockName,
        writer: Writer<'_>,
    ) -> LeaseError {
        match self.db(lease_end::diagnose(&self.pool, namespace, name, writer)).await {
            Ok(end) => LockError::LeaseEnded(end).into(),
            Err(_) => LockError::LeaseLost.into(),
        }
    }
}
