//! Renew, release, handover, force release and reads, for every API.

use super::idempotency::{self, fingerprint};
use super::{Call, Granted, LeaseError, Leases};
use crate::domain::{
    Actor, CompatHolder, Holder, Lock, LockError, LockMode, LockName, NamespaceName, Owner, Principal, Proof,
    Ttl,
};
use crate::store::force_release::Ended;
use crate::store::handover::{self, HandoverItem, Next};
use crate::store::holders::HolderChange;
use crate::store::locks::batch::ChangeItem;
use crate::store::locks::verify::Writer;
use crate::store::locks::{self, shared, LeaseChange, ListQuery};
use crate::store::waiters::{self, LockState};
use crate::store::StoreError;
use crate::tenancy::Access;

/// A reader's renewed shared lease, as the lock API shows a lease.
pub(super) fn reader_lock(
    namespace: &NamespaceName,
    name: &LockName,
    holder: Holder,
    api: crate::domain::Api,
) -> Lock {
    Lock {
        namespace: namespace.as_str().to_owned(),
        name: name.as_str().to_owned(),
        fencing_token: holder.fencing_token,
        account_id: holder.account_id,
        owner: holder.owner,
        metadata: holder.metadata,
        ttl_seconds: holder.ttl_seconds,
        acquired_at: holder.acquired_at,
        expires_at: holder.expires_at,
        api,
        mutex_id: None,
        mode: LockMode::Shared,
        set_id: None,
    }
}

/// The lock a request names: `namespace` `None` is the caller's default.
#[derive(Debug, Clone)]
pub struct LockRef {
    pub namespace: Option<NamespaceName>,
    pub name: LockName,
}

/// A handover: the lease that follows the one the proof holds.
#[derive(Debug)]
pub struct HandoverRequest {
    pub owner: Option<Owner>,
    /// Within the plan; `None` keeps the lease's length.
    pub ttl: Option<Ttl>,
    pub compat: Option<CompatHolder>,
}

/// A page of live locks: names in `[from, to)` (a prefix's range), after
/// the cursor `after`, at most `limit`.
#[derive(Debug, Default, Clone, Copy)]
pub struct ListPage<'a> {
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub after: Option<&'a str>,
    pub limit: i64,
}

/// An administrator ends someone's lease.
pub struct ForceRelease<'a> {
    pub namespace: &'a NamespaceName,
    pub name: &'a str,
    pub reason: &'a str,
}

impl Leases {
    /// Extends the live lease `proof` holds, to `ttl` if given (within the plan).
    pub async fn renew(
        &self,
        call: &Call<'_>,
        lock: LockRef,
        proof: Proof<'_>,
        ttl: Option<Ttl>,
    ) -> Result<Lock, LeaseError> {
        let namespace = self.authorize(call, lock.namespace, Access::Write).await?;
        let ttl = self.lease_length(call, ttl)?;
        let ttl_part = ttl.map_or(0, |t| t.seconds()).to_be_bytes();
        let token_part = proof.token_bytes();
        let retry =
            self.claim(call, fingerprint("renew", &namespace, &lock.name, &[token_part, &ttl_part])).await?;
        if let Some(renewed) = retry.as_ref().and_then(|r| r.record.outcome.clone()) {
            return Ok(renewed.0);
        }
        let actor = self.actor(call).await?;
        let change = LeaseChange {
            namespace: &namespace,
            name: &lock.name,
            proof,
            actor: &actor,
            idempotency_key: idempotency::key(&retry),
        };
        let set = self.sets.as_ref().zip(ChangeItem::new(&change, ttl));
        let renewed = match set {
            Some((sets, item)) => self.db(sets.renewals.run(item)).await?,
            None => self.db(locks::renew(&self.pool, &change, ttl)).await?,
        };
        let renewed = match (renewed, proof) {
            (None, Proof::Token(token)) => {
                let reader = HolderChange { namespace: &namespace, name: &lock.name, token, actor: &actor };
                let renewed = shared::renew_shared(&self.pool, &reader, ttl);
                self.db(renewed).await?.map(|h| reader_lock(&namespace, &lock.name, h, call.api))
            }
            (renewed, _) => renewed,
        };
        match renewed {
            Some(lock) => {
                self.count(call.api, "renewed", 1);
                Ok(lock)
            }
            None => Err(self.lost(call, &change).await),
        }
    }

    /// Ends the live lease `proof` holds.
    pub async fn release(&self, call: &Call<'_>, lock: LockRef, proof: Proof<'_>) -> Result<(), LeaseError> {
        let namespace = self.authorize(call, lock.namespace, Access::Write).await?;
        let token_part = proof.token_bytes();
        let retry = self.claim(call, fingerprint("release", &namespace, &lock.name, &[token_part])).await?;
        if idempotency::completed(&retry) {
            return Ok(());
        }
        let actor = self.actor(call).await?;
        let change = LeaseChange {
            namespace: &namespace,
            name: &lock.name,
            proof,
            actor: &actor,
            idempotency_key: idempotency::key(&retry),
        };
        let released = match self.sets.as_ref().zip(ChangeItem::new(&change, None)) {
            Some((sets, item)) => self.db(sets.releases.run(item)).await?,
            None => self.db(locks::release(&self.pool, &change)).await?,
        };
        let released = match (released, proof) {
            (None, Proof::Token(token)) => {
                let reader = HolderChange { namespace: &namespace, name: &lock.name, token, actor: &actor };
                self.db(shared::release_shared(&self.pool, &reader)).await?
            }
            (released, _) => released.is_some(),
        };
        if released {
            self.count(call.api, "released", 1);
            return Ok(());
        }
        Err(self.lost(call, &change).await)
    }

    /// Ends the live lease `proof` holds and grants the next, in one step.
    pub async fn hand_over(
        &self,
        call: &Call<'_>,
        lock: LockRef,
        proof: Proof<'_>,
        request: HandoverRequest,
    ) -> Result<Granted, LeaseError> {
        let namespace = self.authorize(call, lock.namespace, Access::Write).await?;
        let ttl = self.lease_length(call, request.ttl)?;
        let token_part = proof.token_bytes();
        let content =
            serde_json::json!([request.owner.as_ref().map(Owner::as_str), ttl.map(|t| t.seconds())]);
        let print =
            fingerprint("handover", &namespace, &lock.name, &[token_part, content.to_string().as_bytes()]);
        let retry = self.claim(call, print).await?;
        let token = idempotency::grant_token(&retry, call);
        if idempotency::completed(&retry) {
            let lock = self.replay_grant(&namespace, &lock.name, &token).await?;
            return Ok(Granted { lock, token });
        }
        let actor = self.actor(call).await?;
        let change = LeaseChange {
            namespace: &namespace,
            name: &lock.name,
            proof,
            actor: &actor,
            idempotency_key: idempotency::key(&retry),
        };
        let next = Next { token: &token.hash(), owner: request.owner.as_ref(), ttl, compat: request.compat };
        let handed = match self.sets.as_ref().zip(HandoverItem::new(&change, &next)) {
            Some((sets, item)) => self.db(sets.handovers.run(item)).await?,
            None => self.db(handover::hand_over(&self.pool, &change, &next)).await?,
        };
        let handed = match (handed, proof) {
            (None, Proof::Token(old)) => {
                let reader =
                    HolderChange { namespace: &namespace, name: &lock.name, token: old, actor: &actor };
                let successor = shared::hand_over_shared(&self.pool, &reader, next.token, next.owner, ttl);
                self.db(successor).await?.map(|h| reader_lock(&namespace, &lock.name, h, call.api))
            }
            (handed, _) => handed,
        };
        match handed {
            Some(lock) => {
                self.count(call.api, "handed_over", 2);
                Ok(Granted { lock, token })
            }
            None => Err(self.lost(call, &change).await),
        }
    }

    /// A lock's live lease and how many wait for it.
    pub async fn status(&self, call: &Call<'_>, lock: LockRef) -> Result<LockState, LeaseError> {
        let namespace = self.authorize(call, lock.namespace, Access::Read).await?;
        let found = self.db(waiters::lock_state(&self.pool, &namespace, &lock.name)).await?;
        found.ok_or_else(|| LockError::NotHeld.into())
    }

    /// A page of a namespace's live locks; in the shared namespace a client
    /// lists only its own account's.
    pub async fn list(
        &self,
        caller: &Principal,
        namespace: NamespaceName,
        page: ListPage<'_>,
    ) -> Result<Vec<Lock>, LeaseError> {
        let namespace = self.namespaces.authorize(caller, namespace, Access::Read).await?;
        let query = ListQuery {
            namespace: &namespace,
            account_id: (namespace.is_public() && !caller.sees_all_tenants()).then_some(caller.account_id),
            from: page.from,
            to: page.to,
            after: page.after,
            limit: page.limit,
        };
        Ok(self.db(locks::list_live(&self.pool, &query)).await?)
    }

    /// An administrator ends a live lease, recorded in the audit trail and
    /// the admin log; `None` when the lock has no live lease.
    pub async fn force_release(
        &self,
        actor: &Actor,
        force: ForceRelease<'_>,
    ) -> Result<Option<Ended>, LeaseError> {
        let released = crate::admin::actions::force_release(
            &self.pool,
            actor,
            force.namespace,
            force.name,
            force.reason,
        );
        let ended = self.db(async {
            released.await.map_err(|e| match e {
                crate::admin::AdminError::Store(e) => e,
                other => StoreError::corrupt(other),
            })
        });
        let ended = ended.await?;
        if ended.is_some() {
            self.count(crate::domain::Api::Native, "force_released", 1);
        }
        Ok(ended)
    }

    /// A TTL a renew or handover asks for, within the caller's plan.
    pub(super) fn lease_length(&self, call: &Call<'_>, ttl: Option<Ttl>) -> Result<Option<Ttl>, LeaseError> {
        match (ttl, call.caller) {
            (Some(ttl), Some(caller)) => Ok(Some(self.rules(caller).lease(Some(ttl))?)),
            (ttl, _) => Ok(ttl),
        }
    }

    /// Why a change found no lease: for a lock token, how its lease ended;
    /// for a compatibility proof, the live lease it does not hold, if any.
    async fn lost(&self, call: &Call<'_>, change: &LeaseChange<'_>) -> LeaseError {
        self.count(call.api, "lease_lost", 0);
        if let Proof::Token(token) = change.proof {
            return self.lease_lost(change.namespace, change.name, Writer::Token(token)).await;
        }
        match self.db(locks::find_live(&self.pool, change.namespace, change.name)).await {
            Ok(Some(lock)) => LeaseError::HeldByAnother(Box::new(lock)),
            Ok(None) => LockError::NotHeld.into(),
            Err(e) => e.into(),
        }
    }
}
