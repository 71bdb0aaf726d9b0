//! Settings: built-in defaults, then an optional TOML file, then environment
//! variables (`LEASEHOLD_LISTEN`, `LEASEHOLD_DATABASE__MAX_CONNECTIONS`, ...),
//! then `DATABASE_URL`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, Environment, File, FileFormat};
use secrecy::SecretString;
use serde::Deserialize;

use crate::domain::Plans;

const DEFAULTS: &str = include_str!("../config/defaults.toml");

/// `LEASEHOLD_*` variables that are not server settings: the config file's
/// path, and what the `leasehold lock` client and its commands read. A server
/// started from within `leasehold lock run` must not trip over them.
const NOT_SETTINGS: &[&str] = &[
    "LEASEHOLD_CONFIG",
    "LEASEHOLD_URL",
    "LEASEHOLD_API_KEY",
    "LEASEHOLD_LOCK_TOKEN",
    "LEASEHOLD_FENCING_TOKEN",
];

fn server_variables() -> std::collections::HashMap<String, String> {
    std::env::vars().filter(|(name, _)| !NOT_SETTINGS.contains(&name.as_str())).collect()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub listen: SocketAddr,
    pub database_url: Option<SecretString>,
    /// Apply pending migrations at start instead of refusing to serve.
    pub migrate: bool,
    /// Serve even when PostgreSQL's fsync or synchronous_commit is off.
    pub allow_unsafe_durability: bool,
    pub log_format: LogFormat,
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub sweeper: SweeperSettings,
    pub auth: AuthSettings,
    pub rate_limit: RateLimitSettings,
    pub waiting: WaitingSettings,
    pub group_commit: GroupCommitSettings,
    pub idempotency: IdempotencySettings,
    pub compat: CompatSettings,
    pub plans: Plans,
    pub audit: AuditSettings,
    pub console: ConsoleSettings,
    pub webhooks: WebhookSettings,
    pub watch: WatchSettings,
    pub signup: SignupSettings,
    pub usage: UsageSettings,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Worker threads; defaults to the number of cores.
    pub workers: Option<usize>,
    pub body_limit_bytes: usize,
    pub shutdown_timeout_seconds: u64,
    /// HTTPS: a PEM certificate chain and its private key (both or neither).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Custom subdomains: a request to `<account>.<base_domain>` acts in
    /// that account's namespace by default (`http::subdomain`).
    pub base_domain: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub max_connections: u32,
    /// How long a request may wait for the database before it gets a 503.
    pub timeout_ms: u64,
}

impl DatabaseSettings {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweeperSettings {
    pub interval_ms: u64,
    pub batch_size: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// How long a verified key skips argon2.
    pub cache_seconds: u64,
    /// How often a cached key is checked for revocation.
    pub recheck_seconds: u64,
    /// A refused key is answered no sooner than this after the request
    /// began, whether its id is unknown or its secret wrong, so timing does
    /// not tell which (longer than an argon2 verification).
    pub failure_floor_ms: u64,
    /// How long a key and secret that failed verification are refused
    /// without running argon2 again.
    pub failure_cache_seconds: u64,
}

/// Rate limits per replica: one bucket per client address for requests
/// without a verified key, one per key sized by its plan.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    pub enabled: bool,
    /// Per client address, for requests without a verified key.
    pub anonymous: Limit,
    pub hobbyist: Limit,
    pub business: Limit,
}

/// One token bucket's size.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// Sustained requests per second.
    pub per_second: f64,
    /// How many may come at once.
    pub burst: u32,
}

/// Group commit: concurrent lock operations of one kind sent as one
/// set-based statement (`leases::batch`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupCommitSettings {
    pub enabled: bool,
    /// The most operations in one statement.
    pub max_set: usize,
    /// Statements of one kind (acquire, renew, release, handover) in flight at once.
    pub statements_in_flight: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitingSettings {
    /// A waiter's place lapses this long after its last try.
    pub place_lease_ms: u64,
}

impl WaitingSettings {
    pub fn place_lease(&self) -> Duration {
        Duration::from_millis(self.place_lease_ms)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdempotencySettings {
    /// Idempotency-Key records are kept at least this long.
    pub retention_hours: u32,
}

/// The Lockable, Locklock and mutex.uno compatibility APIs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompatSettings {
    /// The compatibility APIs also answer under this prefix (`/v1/api`), for
    /// clients whose base URL carries a path.
    pub path_prefix: Option<PathPrefix>,
    pub locklock: LocklockSettings,
    pub mutex_uno: MutexUnoSettings,
}

/// A URL path prefix: `/` and one or more segments of letters, digits and
/// `-._~`, with no trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct PathPrefix(String);

impl PathPrefix {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PathPrefix {
    type Error = String;

    fn try_from(prefix: String) -> Result<Self, String> {
        let segment_ok = |segment: &str| {
            !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        };
        match prefix.strip_prefix('/') {
            Some(rest) if rest.split('/').all(segment_ok) => Ok(Self(prefix)),
            _ => Err(format!(
                "compat.path_prefix {prefix:?} must be a path such as \"/v1/api\": a leading /, no trailing /, \
                 segments of letters, digits and -._~"
            )),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocklockSettings {
    /// Unauthenticated calls act in the public namespace.
    pub anonymous: bool,
    /// Anonymous callers' longest (and default) expires_in.
    pub max_expires_in: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MutexUnoSettings {
    /// Unauthenticated calls act in the public namespace.
    pub anonymous: bool,
    /// A mutex's lease, within the caller's plan.
    pub ttl_seconds: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// Audit events older than this are dropped, a whole month at a time.
    pub retention_days: u32,
    /// Monthly partitions of the audit trail are created this far ahead.
    pub months_ahead: u32,
    /// How often partitions are created ahead and old ones dropped.
    pub maintenance_interval_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSettings {
    /// A console session ends this long after sign-in.
    pub session_seconds: u64,
}

/// Webhooks: each audit event POSTed to the endpoints that asked for it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Deliver to private, loopback and link-local addresses (development, tests).
    pub allow_private_addresses: bool,
    /// How often a replica looks for events to deliver when it has none in hand.
    pub poll_interval_ms: u64,
    /// How long a receiver has to answer.
    pub timeout_ms: u64,
    pub max_per_account: i64,
    /// Deliveries one replica has in flight at once.
    pub concurrency: usize,
    /// The first retry's delay; it doubles per failed attempt up to `backoff_max_ms`.
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    /// An event still failing this long after its first attempt is given up.
    pub give_up_hours: u64,
    /// The CA certificates HTTPS endpoints are checked against (PEM).
    pub ca_bundle: PathBuf,
}

impl WebhookSettings {
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// Self-service sign-up, `POST /v1/signup` (docs/accounts.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignupSettings {
    /// Off: the route answers 403 `signup_disabled`.
    pub enabled: bool,
    /// Sign-ups one client address may make per hour, per replica.
    pub per_hour: u32,
}

/// Per-account daily usage (docs/accounts.md#usage).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageSettings {
    /// How often a replica counts new audit events into the daily rows,
    /// samples live locks and writes the conflicts and waits it counted.
    pub rollup_interval_seconds: u64,
}

impl UsageSettings {
    pub fn rollup_interval(&self) -> Duration {
        Duration::from_secs(self.rollup_interval_seconds.max(1))
    }
}

/// Watching the audit trail as Server-Sent Events (`GET {lock}/events`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchSettings {
    /// Streams one key may have open at once, per replica.
    pub max_streams_per_key: usize,
    /// A quiet stream sends a comment line this often.
    pub keep_alive_seconds: u64,
    /// How often the replica's feed reads new events while any stream is open.
    pub poll_interval_ms: u64,
}

impl WatchSettings {
    pub fn keep_alive(&self) -> Duration {
        Duration::from_secs(self.keep_alive_seconds)
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }
}

impl Settings {
    /// The built-in defaults alone, ignoring files and the environment.
    pub fn defaults() -> Self {
        Self::build(None, false).expect("the built-in defaults are valid")
    }

    /// Defaults, then `file`, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, config::ConfigError> {
        Self::build(file, true)
    }

    fn build(file: Option<&Path>, environment: bool) -> Result<Self, config::ConfigError> {
        let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        if let Some(file) = file {
            builder = builder.add_source(File::from(file).format(FileFormat::Toml));
        }
        if environment {
            builder = builder.add_source(
                Environment::with_prefix("LEASEHOLD")
                    .prefix_separator("_")
                    .separator("__")
                    .try_parsing(true)
                    .source(Some(server_variables())),
            );
            if let Ok(url) = std::env::var("DATABASE_URL") {
                builder = builder.set_override("database_url", url)?;
            }
        }
        builder.build()?.try_deserialize()
    }

    pub fn require_database_url(&self) -> anyhow::Result<&SecretString> {
        self.database_url.as_ref().ok_or_else(|| {
            anyhow::anyhow!(
                "no database configured: set DATABASE_URL (or LEASEHOLD_DATABASE_URL, or \
                 database_url in the config file) to a PostgreSQL URL such as \
                 postgres://leasehold@localhost/leasehold, or run `leasehold dev`"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_listen_on_port_7010_with_default_plans() {
        let settings = Settings::defaults();
        assert_eq!(settings.listen.to_string(), "127.0.0.1:7010");
        assert_eq!(settings.plans, Plans::default());
        assert!(!settings.migrate);
        assert!(settings.database_url.is_none());
    }

    #[test]
    fn a_compat_path_prefix_is_a_plain_path_without_a_trailing_slash() {
        for good in ["/v1/api", "/locks", "/a-b/c.d_e~f"] {
            assert_eq!(PathPrefix::try_from(good.to_owned()).unwrap().as_str(), good);
        }
        for bad in ["", "/", "v1/api", "/v1/api/", "/v1//api", "/{name}", "/a b", "/ä"] {
            assert!(PathPrefix::try_from(bad.to_owned()).is_err(), "{bad:?} was accepted");
        }
    }
}
