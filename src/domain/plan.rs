use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

use super::{InvalidInput, LockError, Metadata, Ttl};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Hobbyist,
    Business,
}

impl Plan {
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Hobbyist => "hobbyist",
            Plan::Business => "business",
        }
    }
}

impl FromStr for Plan {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "hobbyist" => Ok(Plan::Hobbyist),
            "business" => Ok(Plan::Business),
            _ => Err(InvalidInput::new("invalid_plan", "plan is hobbyist or business")),
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one plan allows. Plans are configuration; these are the defaults.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PlanRules {
    pub default_ttl_seconds: u32,
    pub min_ttl_seconds: u32,
    pub max_ttl_seconds: u32,
    /// 0 forbids metadata.
    pub metadata_max_bytes: usize,
    pub private_namespaces: bool,
    /// The longest an acquire may wait for the lock.
    pub max_wait_seconds: u32,
    /// Live leases an account may hold at once (exclusive leases, lock-set
    /// members and readers' leases); enforced where leases are granted.
    pub max_live_locks: u32,
    /// Private namespaces an account may own.
    pub max_namespaces: u32,
}

impl PlanRules {
    /// The lease a request gets: its own TTL within bounds, or the default.
    /// A plan with one fixed TTL forbids choosing; others reject what is out
    /// of range as invalid.
    pub fn lease(&self, requested: Option<Ttl>) -> Result<Ttl, LockError> {
        let Some(ttl) = requested else {
            return Ok(Ttl::from_seconds(self.default_ttl_seconds));
        };
        let (min, max) = (self.min_ttl_seconds, self.max_ttl_seconds);
        match ttl.seconds() {
            s if (min..=max).contains(&s) => Ok(ttl),
            _ if min == max => {
                Err(LockError::PlanForbids(format!("your plan has a fixed lease of {min} seconds")))
            }
            _ => Err(InvalidInput::new(
                "invalid_ttl",
                format!("ttl_seconds must be between {min} and {max} on your plan"),
            )
            .into()),
        }
    }

    /// How long a request may wait; more than the plan allows is invalid.
    pub fn wait(&self, seconds: i64) -> Result<std::time::Duration, LockError> {
        match u32::try_from(seconds) {
            Ok(s) if s <= self.max_wait_seconds => Ok(std::time::Duration::from_secs(s.into())),
            _ => Err(InvalidInput::new(
                "invalid_wait",
                format!("wait_seconds must be between 0 and {} on your plan", self.max_wait_seconds),
            )
            .into()),
        }
    }

    pub fn check_metadata(&self, metadata: &Metadata) -> Result<(), LockError> {
        if self.metadata_max_bytes == 0 {
            return Err(LockError::PlanForbids("your plan does not allow metadata".into()));
        }
        if metadata.size() > self.metadata_max_bytes {
            return Err(InvalidInput::new(
                "invalid_metadata",
                format!("metadata may be at most {} bytes of JSON", self.metadata_max_bytes),
            )
            .into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Plans {
    pub hobbyist: PlanRules,
    pub business: PlanRules,
}

impl Plans {
    pub fn rules(&self, plan: Plan) -> &PlanRules {
        match plan {
            Plan::Hobbyist => &self.hobbyist,
            Plan::Business => &self.business,
        }
    }
}

impl Default for Plans {
    fn default() -> Self {
        Self {
            hobbyist: PlanRules {
                default_ttl_seconds: 60,
                min_ttl_seconds: 60,
                max_ttl_seconds: 60,
                metadata_max_bytes: 0,
                private_namespaces: false,
                max_wait_seconds: 30,
                max_live_locks: 1_000,
                max_namespaces: 0,
            },
            business: PlanRules {
                default_ttl_seconds: 300,
                min_ttl_seconds: 1,
                max_ttl_seconds: 1800,
                metadata_max_bytes: 4096,
                private_namespaces: true,
                max_wait_seconds: 30,
                max_live_locks: 100_000,
                max_namespaces: 50,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ttl(s: i64) -> Option<Ttl> {
        Some(Ttl::parse(s).unwrap())
    }

    #[test]
    fn hobbyist_gets_a_fixed_minute_and_cannot_choose() {
        let rules = Plans::default().hobbyist;
        assert_eq!(rules.lease(None).unwrap().seconds(), 60);
        assert_eq!(rules.lease(ttl(60)).unwrap().seconds(), 60);
        assert!(matches!(rules.lease(ttl(30)), Err(LockError::PlanForbids(_))));
    }

    #[test]
    fn business_chooses_within_bounds() {
        let rules = Plans::default().business;
        assert_eq!(rules.lease(None).unwrap().seconds(), 300);
        assert_eq!(rules.lease(ttl(1)).unwrap().seconds(), 1);
        assert!(matches!(rules.lease(ttl(1801)), Err(LockError::Invalid(e)) if e.code == "invalid_ttl"));
    }

    #[test]
    fn metadata_needs_a_plan_that_allows_it_and_fits() {
        let meta = |s: &str| {
            Metadata::parse(serde_json::value::RawValue::from_string(s.into()).unwrap()).unwrap().unwrap()
        };
        let plans = Plans::default();
        assert!(matches!(plans.hobbyist.check_metadata(&meta("{}")), Err(LockError::PlanForbids(_))));
        assert!(plans.business.check_metadata(&meta("{}")).is_ok());
        let big = format!("\"{}\"", "x".repeat(4096));
        assert!(matches!(plans.business.check_metadata(&meta(&big)), Err(LockError::Invalid(_))));
    }
}
