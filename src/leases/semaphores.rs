//! Semaphores, for every caller: plan rules, Idempotency-Key, fair waiting.

use serde_json::json;

use super::idempotency::{self, fingerprint};
use super::waiting::Try;
use super::{retry_after, Call, LeaseError, Leases, LockRef};
use crate::domain::{
    Actor, Holder, LockError, LockMode, LockToken, Metadata, NamespaceName, Owner, Semaphore, SemaphoreLimit,
    Ttl,
};
use crate::store::holders::HolderChange;
use crate::store::semaphores::{
    self, NewPermit, PermitItem, PermitRelease, SemaphoreAttempt, SemaphoreGrant, SemaphoreOutcome,
};
use crate::store::StoreError;
use crate::tenancy::Access;

/// An acquire of a semaphore's permit, as parsed by its API.
#[derive(Debug)]
pub struct PermitRequest {
    pub semaphore: LockRef,
    pub limit: SemaphoreLimit,
    pub ttl: Option<Ttl>,
    pub owner: Option<Owner>,
    pub metadata: Option<Metadata>,
    pub wait_seconds: i64,
}

#[derive(Debug)]
pub enum PermitAcquired {
    Granted { grant: SemaphoreGrant, token: LockToken, namespace: NamespaceName },
    Full { holders: i64, limit: u16, retry_after: u32 },
    LimitMismatch { limit: u16 },
}

/// A permit held, as renewals answer it.
#[derive(Debug)]
pub struct Permit {
    pub namespace: NamespaceName,
    pub holder: Holder,
    pub limit: u16,
}

impl Leases {
    /// Takes one of a semaphore's permits, failing fast or waiting in line.
    pub async fn acquire_permit(
        &self,
        call: &Call<'_>,
        request: PermitRequest,
    ) -> Result<PermitAcquired, LeaseError> {
        let caller = call.caller.ok_or(LockError::Forbidden("semaphores need an API key"))?;
        let namespace = self.authorize(call, request.semaphore.namespace.clone(), Access::Write).await?;
        let rules = self.rules(caller);
        let ttl = rules.lease(request.ttl)?;
        let wait = rules.wait(request.wait_seconds)?;
        if let Some(metadata) = &request.metadata {
            rules.check_metadata(metadata)?;
        }
        let name = &request.semaphore.name;
        let content = json!([
            request.limit.get(),
            ttl.seconds(),
            request.owner.as_ref().map(Owner::as_str),
            request.metadata.as_ref().map(|m| m.as_raw().get()),
            wait.as_secs()
        ]);
        let print = fingerprint("semaphore", &namespace, name, &[content.to_string().as_bytes()]);
        let retry = self.claim(call, print).await?;
        let token = idempotency::grant_token(&retry, call);
        if idempotency::completed(&retry) {
            let found =
                self.db(semaphores::find_holder(&self.pool, &namespace, name, &token.hash().0)).await?;
            let Some((holder, limit)) = found else {
                return Err(self.permit_lost(&namespace, name, &token).await);
            };
            let grant = SemaphoreGrant { holder, holders: 0, limit };
            return Ok(PermitAcquired::Granted { grant, token, namespace });
        }
        let actor = self.actor(call).await?;
        let hash = token.hash();
        let mut permit = NewPermit {
            namespace: &namespace,
            name,
            limit: request.limit,
            token: &hash,
            owner: request.owner.as_ref(),
            metadata: request.metadata.as_ref(),
            ttl,
            idempotency_key: idempotency::key(&retry),
            waiter: None,
            waiter_lease: self.settings.place_lease,
        };
        let mut attempt = self.db(self.try_permit(&permit, &actor)).await?;
        if !wait.is_zero() && matches!(attempt.outcome, SemaphoreOutcome::Full { .. }) {
            let queue = semaphores::queue_name(name);
            attempt = self
                .waiting
                .in_line(&namespace, &queue, LockMode::Shared, &actor, wait, async |place| {
                    permit.waiter = Some(place);
                    let attempt = self.try_permit(&permit, &actor).await?;
                    let done = !matches!(attempt.outcome, SemaphoreOutcome::Full { .. });
                    Ok(Try { wake_in: attempt.wake_in, done, outcome: attempt })
                })
                .await?;
        }
        Ok(self.judge_permit(call, &actor, attempt, token, namespace))
    }

    /// One try, through group commit when it is on.
    async fn try_permit(
        &self,
        permit: &NewPermit<'_>,
        actor: &Actor,
    ) -> Result<SemaphoreAttempt, StoreError> {
        match &self.sets {
            Some(sets) => sets.permits.run(PermitItem::new(permit, actor)).await,
            None => semaphores::acquire(&self.pool, permit, actor).await,
        }
    }

    fn judge_permit(
        &self,
        call: &Call<'_>,
        actor: &Actor,
        attempt: SemaphoreAttempt,
        token: LockToken,
        namespace: NamespaceName,
    ) -> PermitAcquired {
        match attempt.outcome {
            SemaphoreOutcome::Granted(grant) => {
                self.count(call.api, "acquired", attempt.events);
                PermitAcquired::Granted { grant, token, namespace }
            }
            SemaphoreOutcome::Full { holders, limit, .. } => {
                self.conflict(call.api, actor);
                let retry_after = retry_after(attempt.wake_in);
                PermitAcquired::Full { holders, limit, retry_after }
            }
            SemaphoreOutcome::LimitMismatch { limit } => {
                self.count(call.api, "conflict", 0);
                PermitAcquired::LimitMismatch { limit }
            }
        }
    }

    /// Extends the permit `token` holds.
    pub async fn renew_permit(
        &self,
        call: &Call<'_>,
        semaphore: LockRef,
        token: &LockToken,
        ttl: Option<Ttl>,
    ) -> Result<Permit, LeaseError> {
        let namespace = self.authorize(call, semaphore.namespace, Access::Write).await?;
        let ttl = self.lease_length(call, ttl)?;
        let actor = self.actor(call).await?;
        let hash = token.hash();
        let change =
            HolderChange { namespace: &namespace, name: &semaphore.name, token: &hash, actor: &actor };
        match self.db(semaphores::renew(&self.pool, &change, ttl)).await? {
            Some((holder, limit)) => {
                self.count(call.api, "renewed", 1);
                Ok(Permit { namespace, holder, limit })
            }
            None => Err(self.permit_lost(&namespace, &semaphore.name, token).await),
        }
    }

    /// Ends the permit `token` holds.
    pub async fn release_permit(
        &self,
        call: &Call<'_>,
        semaphore: LockRef,
        token: &LockToken,
    ) -> Result<(), LeaseError> {
        let namespace = self.authorize(call, semaphore.namespace, Access::Write).await?;
        let actor = self.actor(call).await?;
        let hash = token.hash();
        let change =
            HolderChange { namespace: &namespace, name: &semaphore.name, token: &hash, actor: &actor };
        let release = async {
            match &self.sets {
                Some(sets) => sets.permit_releases.run(PermitRelease::new(&change)).await,
                None => semaphores::release(&self.pool, &change).await,
            }
        };
        if self.db(release).await? {
            self.count(call.api, "released", 1);
            return Ok(());
        }
        Err(self.permit_lost(&namespace, &semaphore.name, token).await)
    }

    /// A semaphore's live holders; `None` when none lives.
    pub async fn semaphore(
        &self,
        call: &Call<'_>,
        semaphore: LockRef,
    ) -> Result<(NamespaceName, Option<Semaphore>), LeaseError> {
        let namespace = self.authorize(call, semaphore.namespace, Access::Read).await?;
        let found = self.db(semaphores::find_live(&self.pool, &namespace, &semaphore.name)).await?;
        Ok((namespace, found))
    }

    async fn permit_lost(
        &self,
        namespace: &NamespaceName,
        name: &crate::domain::LockName,
        token: &LockToken,
    ) -> LeaseError {
        match self.db(semaphores::diagnose(&self.pool, namespace, name, &token.hash())).await {
            Ok(end) => LockError::LeaseEnded(end).into(),
            Err(_) => LockError::LeaseLost.into(),
        }
    }
}
