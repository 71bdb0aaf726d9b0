//! The audit trail as the primary has it at the end of an `--ha` run: every
//! `lock_events` row of the chaos namespace, and the rows left in `locks`.

use sqlx::{Connection, PgConnection};

use crate::client::NAMESPACE;

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: i64,
    pub event: String,
    /// The N of `lock-N`.
    pub lock: u32,
    pub fencing_token: i64,
    /// Hex SHA-256 of the lock token (on `acquired` events).
    pub token_hash: Option<String>,
    /// Microseconds since the Unix epoch, by the database clock.
    pub occurred_at: i64,
    /// `None` for `-infinity` (a lease released in place).
    pub expires_at: Option<i64>,
}

#[derive(Debug, Default)]
pub struct Trail {
    /// In id order: per lock, the order the statements took effect in.
    pub events: Vec<Event>,
    /// (lock, fencing token) of every lease row still in `locks`.
    pub in_place: Vec<(u32, i64)>,
}

const EVENTS: &str = "
SELECT id, event, name, fencing_token, encode(token_hash, 'hex'),
       (extract(epoch FROM occurred_at) * 1e6)::bigint,
       CASE WHEN isfinite(expires_at) THEN (extract(epoch FROM expires_at) * 1e6)::bigint END
FROM lock_events WHERE namespace = $1 ORDER BY id";

type Row = (i64, String, String, i64, Option<String>, i64, Option<i64>);

/// Reads the trail from the database at `url` (the primary).
pub async fn read(url: &str) -> anyhow::Result<Trail> {
    let mut conn = PgConnection::connect(url).await?;
    let rows: Vec<Row> = sqlx::query_as(EVENTS).bind(NAMESPACE).fetch_all(&mut conn).await?;
    let events = rows
        .into_iter()
        .filter_map(|(id, event, name, fencing_token, token_hash, occurred_at, expires_at)| {
            let lock = lock_number(&name)?;
            Some(Event { id, event, lock, fencing_token, token_hash, occurred_at, expires_at })
        })
        .collect();
    let places: Vec<(String, i64)> =
        sqlx::query_as("SELECT name, fencing_token FROM locks WHERE namespace = $1")
            .bind(NAMESPACE)
            .fetch_all(&mut conn)
            .await?;
    let in_place = places.into_iter().filter_map(|(name, f)| Some((lock_number(&name)?, f))).collect();
    conn.close().await?;
    Ok(Trail { events, in_place })
}

fn lock_number(name: &str) -> Option<u32> {
    name.strip_prefix("lock-")?.parse().ok()
}
