//! Semaphores: up to `limit` holders of one name at once.

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;

use super::InvalidInput;

/// How many holders a semaphore admits at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SemaphoreLimit(u16);

impl SemaphoreLimit {
    pub const MAX: u16 = 10_000;

    pub fn parse(limit: i64) -> Result<Self, InvalidInput> {
        match u16::try_from(limit) {
            Ok(n) if (1..=Self::MAX).contains(&n) => Ok(Self(n)),
            _ => {
                Err(InvalidInput::new("invalid_limit", format!("limit must be between 1 and {}", Self::MAX)))
            }
        }
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

/// One live holder of a semaphore's permit (never with its token).
#[derive(Debug, Clone)]
pub struct Holder {
    pub fencing_token: i64,
    pub account_id: i64,
    pub owner: Option<String>,
    pub metadata: Option<Box<RawValue>>,
    pub ttl_seconds: i32,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A semaphore with at least one live holder.
#[derive(Debug, Clone)]
pub struct Semaphore {
    pub namespace: String,
    pub name: String,
    pub limit: u16,
    /// In the order they were granted.
    pub holders: Vec<Holder>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_is_between_one_and_ten_thousand() {
        assert_eq!(SemaphoreLimit::parse(1).unwrap().get(), 1);
        assert_eq!(SemaphoreLimit::parse(10_000).unwrap().get(), 10_000);
        for bad in [0, -1, 10_001, i64::MAX] {
            assert_eq!(SemaphoreLimit::parse(bad).unwrap_err().code, "invalid_limit");
        }
    }
}
