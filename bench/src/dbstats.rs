//! What the database did: the locks table's update and dead-tuple counters,
//! table and index sizes, and the WAL position (cluster-wide: other users of
//! the same PostgreSQL add to it).

use serde::Serialize;
use sqlx::PgPool;

#[derive(Debug, Clone, Copy, Default, Serialize, sqlx::FromRow)]
pub struct Snapshot {
    pub wal_bytes: f64,
    pub locks_heap_bytes: i64,
    pub locks_index_bytes: i64,
    pub events_bytes: i64,
    pub locks_updates: i64,
    pub locks_hot_updates: i64,
    pub locks_dead_tuples: i64,
    pub locks_live_tuples: i64,
}

pub async fn snapshot(pool: &PgPool) -> anyhow::Result<Snapshot> {
    Ok(sqlx::query_as(
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8 AS wal_bytes,
                pg_relation_size('locks') AS locks_heap_bytes,
                pg_indexes_size('locks') AS locks_index_bytes,
                (SELECT coalesce(sum(pg_total_relation_size(relid)), 0)::int8
                 FROM pg_partition_tree('lock_events')) AS events_bytes,
                n_tup_upd AS locks_updates, n_tup_hot_upd AS locks_hot_updates,
                n_dead_tup AS locks_dead_tuples, n_live_tup AS locks_live_tuples
         FROM pg_stat_user_tables WHERE relname = 'locks'",
    )
    .fetch_one(pool)
    .await?)
}

/// Machine-wide busy CPU time, in seconds, from /proc/stat.
pub fn cpu_busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: f64 = fields.iter().sum();
    let idle = fields.get(3).copied().unwrap_or(0.0) + fields.get(4).copied().unwrap_or(0.0);
    (total - idle) / 100.0
}

/// CPU time of this process (the servers and the load generator), in seconds.
pub fn own_cpu_seconds() -> f64 {
    cpu_seconds("/proc/self/stat")
}

/// CPU time of the process `pid` (a server run as a child), in seconds.
pub fn process_cpu_seconds(pid: u32) -> f64 {
    cpu_seconds(&format!("/proc/{pid}/stat"))
}

fn cpu_seconds(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    // Every field keeps its place (the state is a letter), so that utime
    // and stime, the 14th and 15th fields, are the 12th and 13th after ")".
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}
