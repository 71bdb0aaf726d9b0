//! The start-up durability check. A 2xx promises that the change survives a
//! crash; that holds only when PostgreSQL flushes commits to disk before it
//! answers. An acquire acknowledged and then lost in a crash would let a
//! second client take a lock the first still holds, so the server refuses to
//! serve on a database that could lose it, unless told otherwise.

use sqlx::PgPool;

/// How safe the database's commit settings are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Durability {
    /// `fsync` on, `synchronous_commit` `on` or `remote_apply`.
    Safe,
    /// `synchronous_commit = remote_write`: flushed on the primary; a standby
    /// has it in memory only.
    Weakened(String),
    /// Commits may be lost in a crash.
    Unsafe(String),
}

/// Judges the two settings as PostgreSQL reports them.
pub fn judge(fsync: &str, synchronous_commit: &str) -> Durability {
    if fsync != "on" {
        return Durability::Unsafe(format!(
            "fsync is {fsync}: a crash of the machine can lose acknowledged commits"
        ));
    }
    match synchronous_commit {
        "on" | "remote_apply" => Durability::Safe,
        "remote_write" => Durability::Weakened(
            "synchronous_commit is remote_write: a commit is acknowledged before the standby flushes it"
                .into(),
        ),
        other => Durability::Unsafe(format!(
            "synchronous_commit is {other}: PostgreSQL acknowledges commits before they are on disk"
        )),
    }
}

/// Reads the settings the server's own sessions run with.
pub async fn inspect(pool: &PgPool) -> Result<Durability, sqlx::Error> {
    let (fsync, synchronous_commit): (String, String) =
        sqlx::query_as("SELECT current_setting('fsync'), current_setting('synchronous_commit')")
            .fetch_one(pool)
            .await?;
    Ok(judge(&fsync, &synchronous_commit))
}

/// Refuses an unsafe database unless `allow_unsafe`; warns about a weakened one.
pub async fn ensure(pool: &PgPool, allow_unsafe: bool) -> anyhow::Result<()> {
    match inspect(pool).await? {
        Durability::Safe => Ok(()),
        Durability::Weakened(why) => {
            tracing::warn!("{why}; a failover may lose acknowledged lock operations");
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

    #[test]
    fn fsync_and_synchronous_commit_on_or_remote_apply_are_safe() {
        assert_eq!(judge("on", "on"), Durability::Safe);
        assert_eq!(judge("on", "remote_apply"), Durability::Safe);
    }

    #[test]
    fn remote_write_is_weakened_but_served() {
        assert!(matches!(judge("on", "remote_write"), Durability::Weakened(_)));
    }

    #[test]
    fn fsync_off_or_asynchronous_commit_is_unsafe() {
        assert!(matches!(judge("off", "on"), Durability::Unsafe(_)));
        assert!(matches!(judge("on", "off"), Durability::Unsafe(_)));
        assert!(matches!(judge("on", "local"), Durability::Unsafe(_)));
    }
}
