//! The embedded migrations, and whether a database's schema matches them.

use sqlx::migrate::Migrator;
use sqlx::PgPool;

use super::StoreError;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, PartialEq, Eq)]
pub enum SchemaState {
    Current,
    /// Migrations this binary has that the database lacks.
    Behind {
        pending: usize,
    },
    /// The database has migrations this binary does not know: a newer release
    /// migrated it.
    Ahead {
        unknown: Vec<i64>,
    },
    /// An applied migration differs from this binary's, or failed half-way.
    Diverged {
        version: i64,
    },
}

pub async fn apply_migrations(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

pub async fn state(pool: &PgPool) -> Result<SchemaState, StoreError> {
    let exists: bool =
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL").fetch_one(pool).await?;
    let applied: Vec<(i64, Vec<u8>, bool)> = if exists {
        sqlx::query_as("SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(pool)
            .await?
    } else {
        Vec::new()
    };
    Ok(compare(&applied))
}

fn compare(applied: &[(i64, Vec<u8>, bool)]) -> SchemaState {
    let known: Vec<_> = MIGRATOR.iter().filter(|m| m.migration_type.is_up_migration()).collect();
    let unknown: Vec<i64> =
        applied.iter().map(|(v, _, _)| *v).filter(|v| !known.iter().any(|m| m.version == *v)).collect();
    if !unknown.is_empty() {
        return SchemaState::Ahead { unknown };
    }
    for (version, checksum, success) in applied {
        let ours = known.iter().find(|m| m.version == *version).expect("checked above");
        if !success || ours.checksum.as_ref() != checksum.as_slice() {
            return SchemaState::Diverged { version: *version };
        }
    }
    match known.len() - applied.len() {
        0 => SchemaState::Current,
        pending => SchemaState::Behind { pending },
    }
}
