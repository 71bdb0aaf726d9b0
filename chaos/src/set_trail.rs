//! The lock sets' grants as the audit trail has them at the end of a run:
//! per set, the `acquired` rows of its members.

use sqlx::{Connection, PgConnection};

use crate::checker::lock_sets::SetGrant;
use crate::client::NAMESPACE;

const SET_GRANTS: &str = "
SELECT set_id::text, array_agg(DISTINCT coalesce(request_id, '')), array_agg(name),
       count(DISTINCT occurred_at)
FROM lock_events
WHERE namespace = $1 AND event = 'acquired' AND set_id IS NOT NULL
GROUP BY set_id";

type Row = (String, Vec<String>, Vec<String>, i64);

pub async fn read(url: &str) -> anyhow::Result<Vec<SetGrant>> {
    let mut conn = PgConnection::connect(url).await?;
    let rows: Vec<Row> = sqlx::query_as(SET_GRANTS).bind(NAMESPACE).fetch_all(&mut conn).await?;
    conn.close().await?;
    Ok(rows
        .into_iter()
        .map(|(set_id, request_ids, names, statements)| {
            // A name that is no `lock-N` cannot match what a client asked for.
            let mut members: Vec<u32> = names
                .iter()
                .map(|n| n.strip_prefix("lock-").and_then(|n| n.parse().ok()).unwrap_or(u32::MAX))
                .collect();
            members.sort_unstable();
            SetGrant { set_id, request_ids, members, statements }
        })
        .collect())
}
