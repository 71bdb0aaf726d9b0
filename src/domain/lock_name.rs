use std::fmt;

use super::InvalidInput;

/// A lock's name: 1 to 255 characters of `A-Z a-z 0-9 . _ - : @`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LockName(String);

impl LockName {
    pub const MAX_LEN: usize = 255;

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        // `.` and `..` are path segments a URL resolves away: no client
        // could name such a lock in a request path.
        let dots = raw == "." || raw == "..";
        if raw.is_empty() || raw.len() > Self::MAX_LEN || !raw.bytes().all(is_name_byte) || dots {
            return Err(InvalidInput::new(
                "invalid_lock_name",
                "lock names are 1 to 255 characters of A-Z a-z 0-9 . _ - : @, and not . or ..",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The end of the names a non-empty `prefix` covers: `[prefix, end)`, with
/// the prefix's last byte + 1. Name bytes are ASCII below `~`, so it stays ASCII.
pub fn prefix_end(prefix: &str) -> Result<String, InvalidInput> {
    if prefix.is_empty() || prefix.len() > LockName::MAX_LEN || !prefix.bytes().all(is_name_byte) {
        return Err(InvalidInput::new("invalid_prefix", "prefix may contain only lock-name characters"));
    }
    let mut end = prefix.as_bytes().to_vec();
    *end.last_mut().expect("prefix is not empty") += 1;
    Ok(String::from_utf8(end).expect("ASCII"))
}

/// Whether a byte may appear in a lock name (and so in a name prefix).
pub fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':' | b'@')
}

impl fmt::Display for LockName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_allowed_character() {
        let name = "AZaz09._-:@";
        assert_eq!(LockName::parse(name).unwrap().as_str(), name);
    }

    #[test]
    fn accepts_the_longest_name() {
        assert!(LockName::parse(&"a".repeat(255)).is_ok());
    }

    #[test]
    fn rejects_empty_overlong_and_foreign_characters() {
        for bad in ["", &"a".repeat(256), "a/b", "a b", "é", "a\0b", "lock%20", ".", ".."] {
            let err = LockName::parse(bad).unwrap_err();
            assert_eq!(err.code, "invalid_lock_name", "{bad:?}");
        }
    }
}
