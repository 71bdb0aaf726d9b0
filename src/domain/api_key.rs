use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

/// The public half of an API key, safe to log and store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyId(String);

impl KeyId {
    const LEN: usize = 16;

    pub fn parse(raw: &str) -> Option<Self> {
        let valid =
            raw.len() == Self::LEN && raw.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        valid.then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A full API key, `lh_<key id>_<secret>`: 64 bits of public id and 256 bits
/// of secret. Its `Debug` never shows the secret.
pub struct ApiKey {
    id: KeyId,
    secret: SecretString,
}

impl ApiKey {
    const PREFIX: &'static str = "lh_";

    pub fn generate() -> Self {
        let mut id = [0u8; 8];
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut id);
        rand::rngs::OsRng.fill_bytes(&mut secret);
        Self {
            id: KeyId(id.iter().map(|b| format!("{b:02x}")).collect()),
            secret: URL_SAFE_NO_PAD.encode(secret).into(),
        }
    }

    /// Splits a presented key; `None` when it cannot be one of ours.
    pub fn parse(raw: &str) -> Option<Self> {
        let rest = raw.strip_prefix(Self::PREFIX)?;
        let (id, secret) = rest.split_once('_')?;
        let secret_ok =
            secret.len() == 43 && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        secret_ok.then_some(())?;
        Some(Self { id: KeyId::parse(id)?, secret: secret.into() })
    }

    pub fn id(&self) -> &KeyId {
        &self.id
    }

    pub fn secret(&self) -> &str {
        self.secret.expose_secret()
    }

    /// The whole key, to show once to whoever created it.
    pub fn reveal(&self) -> String {
        format!("{}{}_{}", Self::PREFIX, self.id, self.secret())
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey").field("id", &self.id).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_back() {
        let key = ApiKey::generate();
        let parsed = ApiKey::parse(&key.reveal()).unwrap();
        assert_eq!(parsed.id(), key.id());
        assert_eq!(parsed.secret(), key.secret());
    }

    #[test]
    fn generated_keys_differ() {
        assert_ne!(ApiKey::generate().reveal(), ApiKey::generate().reveal());
    }

    #[test]
    fn debug_hides_the_secret() {
        let key = ApiKey::generate();
        assert!(!format!("{key:?}").contains(key.secret()));
    }

    #[test]
    fn rejects_malformed_keys() {
        let good = ApiKey::generate().reveal();
        for bad in ["", "lh_", "lh_abc_def", &good[1..], &format!("{good}x"), &good.replace("lh_", "xx_")] {
            assert!(ApiKey::parse(bad).is_none(), "{bad}");
        }
    }
}
