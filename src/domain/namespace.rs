use std::fmt;

use super::InvalidInput;

/// A namespace's name: 1 to 63 characters of `a-z 0-9 - _`, starting with a
/// letter or digit. Business accounts own a namespace named after them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NamespaceName(String);

impl NamespaceName {
    pub const PUBLIC: &'static str = "public";

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let valid = (1..=63).contains(&raw.len())
            && raw.as_bytes()[0].is_ascii_alphanumeric()
            && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !valid {
            return Err(InvalidInput::new(
                "invalid_namespace",
                "namespaces are 1 to 63 characters of a-z 0-9 - _, starting with a letter or digit",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn public() -> Self {
        Self(Self::PUBLIC.to_owned())
    }

    pub fn is_public(&self) -> bool {
        self.0 == Self::PUBLIC
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NamespaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_lowercase_names() {
        assert!(NamespaceName::parse("acme-prod_1").is_ok());
        assert!(NamespaceName::parse("public").unwrap().is_public());
    }

    #[test]
    fn rejects_uppercase_leading_dash_and_overlong() {
        for bad in ["", "Acme", "-acme", "_x", "a.b", &"a".repeat(64)] {
            assert_eq!(NamespaceName::parse(bad).unwrap_err().code, "invalid_namespace");
        }
    }
}
