//! Which namespaces a caller may reach. Another tenant's private namespace is
//! indistinguishable from one that does not exist.

use std::time::Duration;

use moka::sync::Cache;
use sqlx::PgPool;

use crate::domain::{LockError, NamespaceName, Principal};
use crate::store::{self, namespaces::Owner, StoreError};

/// What a caller wants to do in a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

#[derive(Debug, thiserror::Error)]
pub enum TenancyError {
    #[error(transparent)]
    Refused(#[from] LockError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Namespace owners, remembered briefly: namespaces change rarely and are
/// consulted on every request.
#[derive(Clone)]
pub struct Namespaces {
    pool: PgPool,
    owners: Cache<String, Owner>,
}

impl Namespaces {
    pub fn new(pool: PgPool) -> Self {
        let owners = Cache::builder().max_capacity(100_000).time_to_live(Duration::from_secs(10)).build();
        Self { pool, owners }
    }

    /// The namespace, if `caller` may have `access` to it.
    pub async fn authorize(
        &self,
        caller: &Principal,
        namespace: NamespaceName,
        access: Access,
    ) -> Result<NamespaceName, TenancyError> {
        let owner = self.owner(&namespace).await?.ok_or(LockError::NamespaceNotFound)?;
        let reachable = match owner {
            None => true,
            Some(account) => caller.sees_all_tenants() || caller.account_id == account,
        };
        if !reachable {
            return Err(LockError::NamespaceNotFound.into());
        }
        if access == Access::Write && !caller.may_write() {
            return Err(LockError::Forbidden("support keys are read-only").into());
        }
        Ok(namespace)
    }

    async fn owner(&self, namespace: &NamespaceName) -> Result<Option<Owner>, StoreError> {
        if let Some(owner) = self.owners.get(namespace.as_str()) {
            return Ok(Some(owner));
        }
        let owner = store::namespaces::owner(&self.pool, namespace).await?;
        if let Some(owner) = owner {
            self.owners.insert(namespace.as_str().to_owned(), owner);
        }
        Ok(owner)
    }
}
