//! The start-up durability check. A 2xx promises that the change survives a
//! crash; that holds only when PostgreSQL flushes commits to disk before it
//! answers. An acquire acknowledged and then lost in a crash would let a
//! second client take a lock the first still holds, so the server refuses to
//! serve on a database that could lose it, unless told otherwise.

use sqlx::PgPool;

/// How safe the database's commit settings are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Durability {
    /// Commits are on disk before they are acknowledged, and on a
    /// synchronous standby too when there are standbys.
    Safe,
    /// Crash-safe on the primary, but a failover may lose acknowledged
    /// commits: served, with a warning (and `/readyz` says why).
    Weakened(String),
    /// Commits may be lost in a crash.
    Unsafe(String),
}

impl Durability {
    /// The warning `/readyz` reports, if any.
    pub fn warning(&self) -> Option<&str> {
        match self {
            Self::Safe => None,
            Self::Weakened(why) | Self::Unsafe(why) => Some(why),
        }
    }
}

/// The settings that decide whether an acknowledged commit survives a crash
/// or a failover, as the server's own sessions see them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CommitSettings {
    pub fsync: String,
    pub synchronous_commit: String,
    pub synchronous_standby_names: String,
    /// Standbys streaming from this server now.
    pub standbys: i64,
}

/// Judges the settings. Without standbys every `synchronous_commit` but
/// `off` flushes the commit before answering; with standbys, only a named
/// synchronous standby and `on` or `remote_apply` keep an acknowledged
/// commit through a failover.
pub fn judge(settings: &CommitSettings) -> Durability {
    let CommitSettings { fsync, synchronous_commit, synchronous_standby_names, standbys } = settings;
    if fsync != "on" {
        return Durability::Unsafe(format!(
            "fsync is {fsync}: a crash of the machine can lose acknowledged commits"
        ));
    }
    if synchronous_commit == "off" {
        return Durability::Unsafe(
            "synchronous_commit is off: PostgreSQL acknowledges commits before they are on disk".into(),
        );
    }
    if synchronous_standby_names.is_empty() {
        return match standbys {
            0 => Durability::Safe,
            n => Durability::Weakened(format!(
                "replication to the {n} standby(s) is asynchronous (synchronous_standby_names is empty): a \
                 failover may lose acknowledged leases; name a synchronous standby (Patroni: synchronous_mode: true)"
            )),
        };
    }
    match synchronous_commit.as_str() {
        "on" | "remote_apply" => Durability::Safe,
        "remote_write" => Durability::Weakened(
            "synchronous_commit is remote_write: a commit is acknowledged before the standby flushes it, \
             so a failover may lose acknowledged leases"
                .into(),
        ),
        other => Durability::Weakened(format!(
            "synchronous_commit is {other}: commits do not wait for the synchronous standby, so a failover \
             may lose acknowledged leases"
        )),
    }
}

/// Reads the settings the server's own sessions run with.
pub async fn inspect(pool: &PgPool) -> Result<Durability, sqlx::Error> {
    let settings: CommitSettings = sqlx::query_as(
        "SELECT current_setting('fsync') AS fsync, \
                current_setting('synchronous_commit') AS synchronous_commit, \
                current_setting('synchronous_standby_names') AS synchronous_standby_names, \
                (SELECT count(*) FROM pg_stat_replication) AS standbys",
    )
    .fetch_one(pool)
    .await?;
    Ok(judge(&settings))
}

/// Refuses an unsafe database unless `allow_unsafe`; warns about a weakened one.
pub async fn ensure(pool: &PgPool, allow_unsafe: bool) -> anyhow::Result<()> {
    match inspect(pool).await? {
        Durability::Safe => Ok(()),
        Durability::Weakened(why) => {
            tracing::warn!("{why}");
            Ok(())
        }
        Durability::Unsafe(why) if allow_unsafe => {
            tracing::warn!("{why}; serving anyway (--allow-unsafe-durability): a crash may break mutual exclusion");
            Ok(())
        }
        Durability::Unsafe(why) => anyhow::bail!(
            "{why}. An acknowledged acquire lost in a crash breaks mutual exclusion, so leasehold refuses \
             to serve: set fsync = on and synchronous_commit = on (or remote_apply) in postgresql.conf, \
             or start with --allow-unsafe-durability (LEASEHOLD_ALLOW_UNSAFE_DURABILITY=true) if you accept that"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(fsync: &str, synchronous_commit: &str, names: &str, standbys: i64) -> CommitSettings {
        CommitSettings {
            fsync: fsync.into(),
            synchronous_commit: synchronous_commit.into(),
            synchronous_standby_names: names.into(),
            standbys,
        }
    }

    #[test]
    fn a_lone_server_that_flushes_before_answering_is_safe() {
        for commit in ["on", "remote_apply", "remote_write", "local"] {
            assert_eq!(judge(&settings("on", commit, "", 0)), Durability::Safe, "{commit}");
        }
    }

    #[test]
    fn fsync_off_or_asynchronous_commit_is_unsafe() {
        assert!(matches!(judge(&settings("off", "on", "", 0)), Durability::Unsafe(_)));
        assert!(matches!(judge(&settings("on", "off", "*", 1)), Durability::Unsafe(_)));
    }

    #[test]
    fn a_synchronous_standby_with_on_or_remote_apply_is_safe() {
        assert_eq!(judge(&settings("on", "on", "\"pg2\"", 2)), Durability::Safe);
        assert_eq!(judge(&settings("on", "remote_apply", "ANY 1 (*)", 1)), Durability::Safe);
    }

    #[test]
    fn asynchronous_replication_is_served_with_a_warning_about_failover() {
        let durability = judge(&settings("on", "on", "", 2));
        assert!(
            matches!(&durability, Durability::Weakened(why) if why.contains("asynchronous")),
            "{durability:?}"
        );
    }

    #[test]
    fn commits_that_do_not_wait_for_the_standby_flush_are_weakened() {
        for commit in ["remote_write", "local"] {
            let durability = judge(&settings("on", commit, "*", 1));
            assert!(
                matches!(&durability, Durability::Weakened(why) if why.contains(commit)),
                "{durability:?}"
            );
        }
    }
}
