//! Who holds a lease, and how each API proves it: the native API by the
//! lease's lock token; the compatibility APIs, which have no such token, by
//! what they record with the lease (the account, a Locklock secret, a
//! mutex.uno acquisition id).

use std::net::IpAddr;

use uuid::Uuid;

use super::LockTokenHash;

/// The API a request came through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Api {
    #[default]
    Native,
    Lockable,
    Locklock,
    MutexUno,
}

impl Api {
    pub const ALL: [Api; 4] = [Api::Native, Api::Lockable, Api::Locklock, Api::MutexUno];

    pub fn as_str(self) -> &'static str {
        match self {
            Api::Native => "native",
            Api::Lockable => "lockable",
            Api::Locklock => "locklock",
            Api::MutexUno => "mutex_uno",
        }
    }

    /// The value of the `compat_api` column: NULL for a native lease.
    pub fn column(self) -> Option<&'static str> {
        (self != Api::Native).then(|| self.as_str())
    }

    pub fn from_column(raw: Option<&str>) -> Self {
        Self::ALL.into_iter().find(|api| Some(api.as_str()) == raw).unwrap_or_default()
    }
}

/// What a compatibility API records with a lease it grants, to know its
/// holder later. A native grant records nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompatHolder {
    pub api: Api,
    /// Locklock: the hash of the secret a release must present.
    pub secret_hash: Option<[u8; 32]>,
    /// mutex.uno: the acquisition's id, which is also its ETag.
    pub mutex_id: Option<Uuid>,
}

/// What a renew, release or handover must show about the live lease.
#[derive(Clone, Copy)]
pub enum Proof<'a> {
    /// The native API: the lease's lock token.
    Token(&'a LockTokenHash),
    /// A compatibility API: the lease was taken through `api` and, where
    /// given, by this account, with this secret (Locklock: a lease with a
    /// secret is released only with it) and under this id.
    Compat { api: Api, account_id: Option<i64>, secret_hash: Option<&'a [u8; 32]>, mutex_id: Option<Uuid> },
}

impl Proof<'_> {
    pub fn token(&self) -> Option<&LockTokenHash> {
        match self {
            Proof::Token(token) => Some(token),
            Proof::Compat { .. } => None,
        }
    }

    /// The lock token's hash, or nothing: what an Idempotency-Key's
    /// fingerprint takes of the proof.
    pub fn token_bytes(&self) -> &[u8] {
        self.token().map_or(&[], |t| &t.0[..])
    }
}

/// Who acts, as the audit trail and the admin log record it.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    /// The acting key; `None` for an anonymous caller or the command line.
    pub key_id: Option<String>,
    /// The key's account, or the reserved anonymous account for an anonymous
    /// caller; `None` for the command line.
    pub account_id: Option<i64>,
    /// Where the request came from, for the admin log: the peer's address,
    /// or `cli:<user>`.
    pub source: String,
    /// The peer's address, which an anonymous caller's audit rows record.
    pub client_addr: Option<IpAddr>,
    pub request_id: Option<String>,
}

impl Actor {
    /// The command line, as the operating-system user running it.
    pub fn command_line() -> Self {
        let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
        Self { source: format!("cli:{user}"), ..Self::default() }
    }

    /// The key id the audit trail records: an anonymous caller's is `anonymous`.
    pub fn audit_key_id(&self) -> &str {
        self.key_id.as_deref().unwrap_or("anonymous")
    }

    /// Only an anonymous caller's address is recorded; a key names the others.
    pub fn audit_addr(&self) -> Option<IpAddr> {
        self.client_addr.filter(|_| self.key_id.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apis_round_trip_through_their_column() {
        for api in Api::ALL {
            assert_eq!(Api::from_column(api.column()), api);
        }
        assert_eq!(Api::Native.column(), None);
    }

    #[test]
    fn only_anonymous_callers_have_their_address_recorded() {
        let addr = Some("192.0.2.1".parse().unwrap());
        let anonymous = Actor { client_addr: addr, ..Actor::default() };
        assert_eq!((anonymous.audit_key_id(), anonymous.audit_addr()), ("anonymous", addr));
        let keyed = Actor { key_id: Some("k".into()), client_addr: addr, ..Actor::default() };
        assert_eq!((keyed.audit_key_id(), keyed.audit_addr()), ("k", None));
    }
}
