//! The optional parts of a lock request: TTL, owner and metadata.

use serde_json::value::RawValue;

use super::InvalidInput;

/// A lease length in seconds, before any plan's bounds are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ttl(u32);

impl Ttl {
    /// No plan may grant more than a week; mutex.uno-style day-long leases fit.
    pub const MAX_SECONDS: u32 = 7 * 24 * 3600;

    pub fn parse(seconds: i64) -> Result<Self, InvalidInput> {
        match u32::try_from(seconds) {
            Ok(s) if (1..=Self::MAX_SECONDS).contains(&s) => Ok(Self(s)),
            _ => Err(InvalidInput::new(
                "invalid_ttl",
                format!("ttl_seconds must be between 1 and {}", Self::MAX_SECONDS),
            )),
        }
    }

    pub fn from_seconds(seconds: u32) -> Self {
        Self(seconds.clamp(1, Self::MAX_SECONDS))
    }

    pub fn seconds(self) -> u32 {
        self.0
    }
}

/// Free text naming who holds a lock (a host, a job), for people reading state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner(String);

impl Owner {
    pub const MAX_LEN: usize = 255;

    pub fn parse(raw: String) -> Result<Self, InvalidInput> {
        if raw.is_empty() || raw.chars().count() > Self::MAX_LEN || raw.chars().any(char::is_control) {
            return Err(InvalidInput::new(
                "invalid_owner",
                "owner must be 1 to 255 characters without control characters",
            ));
        }
        Ok(Self(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a resource wrote under a lease, as its verification records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note(String);

impl Note {
    pub const MAX_BYTES: usize = 1024;

    pub fn parse(raw: String) -> Result<Self, InvalidInput> {
        // A NUL cannot be stored in PostgreSQL text.
        if raw.is_empty() || raw.len() > Self::MAX_BYTES || raw.contains('\0') {
            return Err(InvalidInput::new(
                "invalid_note",
                "note must be 1 to 1024 bytes of text without NUL",
            ));
        }
        Ok(Self(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A JSON value attached to a lock, kept in the client's own encoding.
#[derive(Debug, Clone)]
pub struct Metadata(Box<RawValue>);

impl Metadata {
    /// `None` for JSON null. PostgreSQL cannot store a NUL character in
    /// JSON, so metadata containing one is refused here.
    pub fn parse(raw: Box<RawValue>) -> Result<Option<Self>, InvalidInput> {
        if raw.get().to_ascii_lowercase().contains("\\u0000") {
            return Err(InvalidInput::new("invalid_metadata", "metadata may not contain NUL characters"));
        }
        Ok((raw.get() != "null").then_some(Self(raw)))
    }

    pub fn size(&self) -> usize {
        self.0.get().len()
    }

    pub fn as_raw(&self) -> &RawValue {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_accepts_one_second_to_a_week() {
        assert_eq!(Ttl::parse(1).unwrap().seconds(), 1);
        assert_eq!(Ttl::parse(604_800).unwrap().seconds(), 604_800);
    }

    #[test]
    fn ttl_rejects_zero_negative_and_huge() {
        for bad in [0, -5, 604_801, i64::MAX] {
            assert_eq!(Ttl::parse(bad).unwrap_err().code, "invalid_ttl");
        }
    }

    #[test]
    fn owner_rejects_control_characters_and_overlong() {
        assert!(Owner::parse("worker-7 (eu)".into()).is_ok());
        assert!(Owner::parse(String::new()).is_err());
        assert!(Owner::parse("a\nb".into()).is_err());
        assert!(Owner::parse("x".repeat(256)).is_err());
    }

    #[test]
    fn null_metadata_is_no_metadata() {
        let null = RawValue::from_string("null".into()).unwrap();
        assert!(Metadata::parse(null).unwrap().is_none());
        let obj = RawValue::from_string(r#"{"a":1}"#.into()).unwrap();
        assert_eq!(Metadata::parse(obj).unwrap().unwrap().size(), 7);
    }

    #[test]
    fn metadata_with_a_nul_character_is_refused() {
        let nul = RawValue::from_string(r#"{"a":"\u0000"}"#.into()).unwrap();
        assert_eq!(Metadata::parse(nul).unwrap_err().code, "invalid_metadata");
    }
}
