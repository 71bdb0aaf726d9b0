//! Reaching the writable primary among several PostgreSQL hosts, named the
//! libpq way: `postgres://u@h1:5432,h2:5433/db?target_session_attrs=read-write`.
//!
//! sqlx connects to one host and its URL parser refuses a host list, so the
//! list is split here into one set of connect options per host. The pool is
//! pointed at the host that is writable now; a follower checks that host
//! every second on a connection of its own, and after a failover points the
//! pool at the new primary. Pooled connections made before the move are
//! dropped at their next check-out, and every new connection proves it is on
//! a writable host before it is used, so no statement runs on a standby. A
//! writable host that waits for a synchronous standby none of its standbys
//! is (a former primary whose Patroni died) is used only if no other fits.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

/// Which server a connection may settle on (libpq's `target_session_attrs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionAttrs {
    /// Whichever answers first: one host, or an endpoint that moves itself.
    Any,
    /// Not in recovery and not read-only by default.
    ReadWrite,
    /// Not in recovery.
    Primary,
}

impl FromStr for SessionAttrs {
    type Err = InvalidDatabaseUrl;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "any" => Ok(Self::Any),
            "read-write" => Ok(Self::ReadWrite),
            "primary" => Ok(Self::Primary),
            other => Err(InvalidDatabaseUrl(format!(
                "target_session_attrs={other} is not supported: leasehold writes on every request, so it \
                 needs read-write, primary or any"
            ))),
        }
    }
}

/// A `DATABASE_URL` that does not parse; never quotes the URL (it may hold a password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("DATABASE_URL is not a valid PostgreSQL URL: {0}")]
pub struct InvalidDatabaseUrl(String);

/// A database URL with one or several hosts.
#[derive(Debug, Clone)]
pub struct DatabaseUrl {
    hosts: Vec<PgConnectOptions>,
    session: SessionAttrs,
}

impl DatabaseUrl {
    /// Parses `postgres://[user[:password]@]host[:port][,host[:port]...][/db][?params]`.
    /// Without `target_session_attrs`, one host means `any` (as libpq) and
    /// several mean `read-write`: a lock server on a standby can do nothing.
    pub fn parse(url: &str) -> Result<Self, InvalidDatabaseUrl> {
        let invalid = |why: &str| InvalidDatabaseUrl(why.to_owned());
        let (scheme, rest) = url.split_once("://").ok_or_else(|| invalid("it has no scheme"))?;
        if scheme != "postgres" && scheme != "postgresql" {
            return Err(invalid("the scheme must be postgres:// or postgresql://"));
        }
        let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        let (userinfo, host_list) = match authority.rfind('@') {
            Some(at) => authority.split_at(at + 1),
            None => ("", authority),
        };
        let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
        let mut session = None;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            match pair.split_once('=') {
                Some(("target_session_attrs", value)) => session = Some(value.parse()?),
                _ => kept.push(pair),
            }
        }
        let query = if kept.is_empty() { String::new() } else { format!("?{}", kept.join("&")) };
        let hosts = host_list
            .split(',')
            .map(|host| {
                if host.is_empty() && host_list.contains(',') {
                    return Err(invalid("the host list has an empty entry"));
                }
                let options =
                    PgConnectOptions::from_str(&format!("{scheme}://{userinfo}{host}{path}{query}"))
                        .map_err(|e| InvalidDatabaseUrl(format!("host {host:?}: {e}")))?;
                // sqlx keeps an IPv6 literal's brackets, which no resolver takes.
                let bare = options.get_host().trim_start_matches('[').trim_end_matches(']').to_owned();
                Ok(options.host(&bare))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let default = if hosts.len() > 1 { SessionAttrs::ReadWrite } else { SessionAttrs::Any };
        Ok(Self { session: session.unwrap_or(default), hosts })
    }

    pub fn session(&self) -> SessionAttrs {
        self.session
    }

    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    /// Applies `adjust` to every host's connect options.
    pub fn map_options(mut self, adjust: impl Fn(PgConnectOptions) -> PgConnectOptions) -> Self {
        self.hosts = self.hosts.into_iter().map(adjust).collect();
        self
    }

    pub fn options(&self, host: usize) -> &PgConnectOptions {
        &self.hosts[host]
    }

    fn describe(&self, host: usize) -> String {
        let options = &self.hosts[host];
        format!("{}:{}", options.get_host(), options.get_port())
    }
}

/// How well the server `conn` is on suits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fit {
    /// A standby, or read-only when read-write is wanted.
    Unsuitable,
    /// Writable, but waiting for a synchronous standby that none of its
    /// standbys is: a former primary whose Patroni died, left running
    /// beside the new primary. Its commits hang; used only if nothing fits
    /// better.
    Stranded,
    Suitable,
}

async fn fit(conn: &mut PgConnection, session: SessionAttrs) -> Result<Fit, sqlx::Error> {
    if session == SessionAttrs::Any {
        return Ok(Fit::Suitable);
    }
    let (in_recovery, read_only, stranded): (bool, bool, bool) = sqlx::query_as(
        "SELECT pg_is_in_recovery(), current_setting('transaction_read_only') = 'on', \
                current_setting('synchronous_standby_names') <> '' \
                AND NOT EXISTS (SELECT FROM pg_stat_replication)",
    )
    .fetch_one(conn)
    .await?;
    Ok(match (in_recovery || (session == SessionAttrs::ReadWrite && read_only), stranded) {
        (true, _) => Fit::Unsuitable,
        (false, true) => Fit::Stranded,
        (false, false) => Fit::Suitable,
    })
}

/// The error a connection to an unsuitable host fails with: an I/O error, so
/// that requests answer 503 and retry, as for a host that is down.
fn not_writable(host: &str) -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::other(format!("{host} is not a writable primary")))
}

/// Where the pool connects, shared by the pool's hooks and the follower.
pub struct Primary {
    url: DatabaseUrl,
    /// The host the pool connects to, and when it was last moved.
    current: Mutex<(usize, Option<Instant>)>,
    /// Wakes the follower early: a new connection found its host unsuitable.
    look_again: Notify,
    moves: watch::Sender<u64>,
    probe_timeout: Duration,
}

impl Primary {
    pub fn new(url: DatabaseUrl, probe_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            url,
            current: Mutex::new((0, None)),
            look_again: Notify::new(),
            moves: watch::channel(0).0,
            probe_timeout,
        })
    }

    /// Starts on the first suitable host, or the first listed if none
    /// answers yet (the follower keeps looking).
    pub async fn locate(&self) {
        if let Some(host) = self.find().await {
            self.current.lock().expect("not poisoned").0 = host;
        }
    }

    /// The connect options of the host the pool should use now.
    pub fn current_options(&self) -> PgConnectOptions {
        self.url.options(self.current().0).clone()
    }

    /// Counts the pool's moves to another host: the LISTEN connection
    /// subscribes to it and re-subscribes on the new primary.
    pub fn moves(&self) -> watch::Receiver<u64> {
        self.moves.subscribe()
    }

    fn current(&self) -> (usize, Option<Instant>) {
        *self.current.lock().expect("not poisoned")
    }

    /// Whether a pooled connection made `age` ago predates the last move, so
    /// it may lead to the old primary.
    pub fn predates_move(&self, age: Duration) -> bool {
        self.current().1.is_some_and(|moved| age > moved.elapsed())
    }

    /// Checks a new pooled connection; an unsuitable one is refused and the
    /// follower looks for the primary at once.
    pub async fn check_new(&self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        if fit(conn, self.url.session()).await? > Fit::Unsuitable {
            return Ok(());
        }
        self.look_again.notify_one();
        Err(not_writable(&self.url.describe(self.current().0)))
    }

    /// Tries the hosts in turn: the first that suits, else the first that
    /// is stranded, if any.
    pub async fn find(&self) -> Option<usize> {
        let mut stranded = None;
        for host in 0..self.url.host_count() {
            match tokio::time::timeout(self.probe_timeout, self.probe(host)).await {
                Ok(Ok(Fit::Suitable)) => return Some(host),
                Ok(Ok(Fit::Stranded)) => {
                    tracing::debug!(host = %self.url.describe(host), "writable, but no synchronous standby streams from it");
                    stranded = stranded.or(Some(host));
                }
                Ok(Ok(Fit::Unsuitable)) => {
                    tracing::debug!(host = %self.url.describe(host), "not a writable primary")
                }
                Ok(Err(error)) => tracing::debug!(host = %self.url.describe(host), %error, "no answer"),
                Err(_) => tracing::debug!(host = %self.url.describe(host), "no answer in time"),
            }
        }
        stranded
    }

    async fn probe(&self, host: usize) -> Result<Fit, sqlx::Error> {
        let mut conn = self.url.options(host).connect().await?;
        let fit = fit(&mut conn, self.url.session()).await;
        let _ = conn.close().await;
        fit
    }

    /// Points the pool at `host` (a no-op if it already is).
    pub fn point_at(&self, pool: &PgPool, host: usize) {
        let mut current = self.current.lock().expect("not poisoned");
        if current.0 == host {
            return;
        }
        tracing::warn!(from = %self.url.describe(current.0), to = %self.url.describe(host), "following the primary");
        *current = (host, Some(Instant::now()));
        pool.set_connect_options(self.url.options(host).clone());
        self.moves.send_modify(|moves| *moves += 1);
    }

    /// Watches the current host every second (or at once when a new pooled
    /// connection found it unsuitable) and follows the primary when it moves.
    pub async fn follow(self: Arc<Self>, pool: PgPool, stop: CancellationToken) {
        let mut watching: Option<PgConnection> = None;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.look_again.notified() => watching = None,
                _ = tokio::time::sleep(FOLLOW_EVERY) => {}
            }
            if pool.is_closed() {
                return;
            }
            let host = self.current().0;
            // A stranded host is looked past every second, in case the
            // new primary is elsewhere.
            let still_primary = match watching.as_mut() {
                Some(conn) => tokio::time::timeout(self.probe_timeout, fit(conn, self.url.session()))
                    .await
                    .is_ok_and(|fit| fit.is_ok_and(|fit| fit == Fit::Suitable)),
                None => false,
            };
            if still_primary {
                continue;
            }
            watching = None;
            match self.find().await {
                Some(found) => {
                    self.point_at(&pool, found);
                    let connect = self.url.options(found).connect();
                    watching =
                        tokio::time::timeout(self.probe_timeout, connect).await.ok().and_then(Result::ok);
                }
                None => {
                    tracing::warn!(host = %self.url.describe(host), "no writable primary answers; looking again")
                }
            }
        }
    }
}

/// How often the follower checks that the pool's host is still the primary.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(url: &DatabaseUrl) -> Vec<String> {
        (0..url.host_count()).map(|host| url.describe(host)).collect()
    }

    #[test]
    fn a_host_list_becomes_one_set_of_options_per_host() {
        let url = DatabaseUrl::parse(
            "postgres://u:secret@h1:5432,h2:5433,[::1]:5434/db?target_session_attrs=read-write&sslmode=disable",
        )
        .unwrap();
        assert_eq!(hosts(&url), ["h1:5432", "h2:5433", "::1:5434"]);
        assert_eq!(url.session(), SessionAttrs::ReadWrite);
        let second = url.options(1);
        assert_eq!(second.get_username(), "u");
        assert_eq!(second.get_database(), Some("db"));
    }

    #[test]
    fn several_hosts_default_to_read_write_and_one_host_to_any() {
        assert_eq!(DatabaseUrl::parse("postgres://u@h1,h2/db").unwrap().session(), SessionAttrs::ReadWrite);
        assert_eq!(DatabaseUrl::parse("postgres://u@h1/db").unwrap().session(), SessionAttrs::Any);
        assert_eq!(
            DatabaseUrl::parse("postgresql://h1,h2/db?target_session_attrs=primary").unwrap().session(),
            SessionAttrs::Primary
        );
    }

    #[test]
    fn read_only_targets_and_broken_lists_are_refused_without_quoting_the_password() {
        for url in [
            "postgres://u:secret@h1,h2/db?target_session_attrs=standby",
            "postgres://u:secret@h1,,h2/db",
            "mysql://u:secret@h1/db",
            "postgres://u:secret@h1:notaport/db",
        ] {
            let error = DatabaseUrl::parse(url).unwrap_err().to_string();
            assert!(!error.contains("secret"), "{error}");
        }
    }
}
