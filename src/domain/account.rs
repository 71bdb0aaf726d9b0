use std::fmt;
use std::str::FromStr;

use super::{InvalidInput, KeyId, NamespaceName, Plan};

/// An account's name. A business account's private namespace carries the same
/// name, so account names follow the namespace rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountName(NamespaceName);

impl AccountName {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let name = NamespaceName::parse(raw).map_err(|_| {
            InvalidInput::new(
                "invalid_account_name",
                "account names are 1 to 63 characters of a-z 0-9 - _, starting with a letter or digit",
            )
        })?;
        if name.is_public() {
            return Err(InvalidInput::new("invalid_account_name", "\"public\" is reserved"));
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn namespace(&self) -> NamespaceName {
        self.0.clone()
    }
}

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Lock operations in its account's namespaces and the public namespace.
    Client,
    /// A client key's rights, plus its own account's management: keys,
    /// namespaces, the account's overview (`/v1/account`).
    Owner,
    /// Read-only access to every tenant's locks and audit trail.
    Support,
    /// Everything.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Owner => "owner",
            Role::Support => "support",
            Role::Admin => "admin",
        }
    }
}

impl FromStr for Role {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "client" => Ok(Role::Client),
            "owner" => Ok(Role::Owner),
            "support" => Ok(Role::Support),
            "admin" => Ok(Role::Admin),
            _ => Err(InvalidInput::new("invalid_role", "role is client, owner, support or admin")),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is calling: an authenticated key and its account.
#[derive(Debug, Clone)]
pub struct Principal {
    pub key_id: KeyId,
    pub account_id: i64,
    pub plan: Plan,
    pub role: Role,
    /// Where `/v1/locks/{name}` points for this key.
    pub namespace: NamespaceName,
}

impl Principal {
    /// Support and admin keys see every tenant.
    pub fn sees_all_tenants(&self) -> bool {
        matches!(self.role, Role::Support | Role::Admin)
    }

    /// The one account whose audit events this key may read; `None` for
    /// support and admin keys, which read every tenant's.
    pub fn audit_account(&self) -> Option<i64> {
        (!self.sees_all_tenants()).then_some(self.account_id)
    }

    pub fn may_write(&self) -> bool {
        matches!(self.role, Role::Client | Role::Owner | Role::Admin)
    }

    /// Owner keys manage their own account (`/v1/account`).
    pub fn owns_account(&self) -> bool {
        self.role == Role::Owner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_is_not_an_account_name() {
        assert!(AccountName::parse("public").is_err());
        assert_eq!(AccountName::parse("acme").unwrap().namespace().as_str(), "acme");
    }

    #[test]
    fn roles_round_trip() {
        for role in [Role::Client, Role::Owner, Role::Support, Role::Admin] {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().is_err());
    }
}
