use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The secret that proves a client holds a lease: 256 random bits. Only its
/// hash is stored; a fast hash suffices since the token cannot be guessed.
pub struct LockToken(String);

/// SHA-256 of a lock token, as stored in the locks table.
#[derive(Clone, PartialEq, Eq)]
pub struct LockTokenHash(pub [u8; 32]);

impl LockToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The token a retried request must get again: derived from the caller's
    /// API-key secret and the Idempotency-Key record's random nonce, so it is
    /// reproducible by whoever holds the key and stored nowhere.
    pub fn derive(api_key_secret: &str, nonce: &[u8]) -> Self {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(api_key_secret.as_bytes()).expect("HMAC takes any key length");
        mac.update(b"leasehold lock token\0");
        mac.update(nonce);
        Self(URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    /// Any presented token is hashed as it is: a malformed one simply matches
    /// no lease, so clients learn `lease_lost`, not a parsing detail.
    pub fn presented(raw: &str) -> Self {
        Self(raw.to_owned())
    }

    pub fn hash(&self) -> LockTokenHash {
        LockTokenHash(Sha256::digest(self.0.as_bytes()).into())
    }

    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for LockToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LockToken(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_presented_token_hashes_like_the_generated_one() {
        let token = LockToken::generate();
        assert!(token.hash() == LockToken::presented(token.reveal()).hash());
        assert!(token.hash() != LockToken::generate().hash());
    }

    #[test]
    fn derived_tokens_depend_on_both_the_secret_and_the_nonce() {
        let token = LockToken::derive("secret", b"nonce-1").hash();
        assert!(token == LockToken::derive("secret", b"nonce-1").hash());
        assert!(token != LockToken::derive("secret", b"nonce-2").hash());
        assert!(token != LockToken::derive("other", b"nonce-1").hash());
    }

    #[test]
    fn debug_hides_the_token() {
        let token = LockToken::generate();
        assert!(!format!("{token:?}").contains(token.reveal()));
    }
}
