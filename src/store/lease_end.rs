//! Why a lock token (or a fencing token) no longer names a live lease, for a
//! precise `lease_lost`.

use sqlx::PgPool;

use super::locks::verify::Writer;
use super::StoreError;
use crate::domain::{LeaseEnd, LockName, NamespaceName};

#[derive(sqlx::FromRow)]
struct Evidence {
    still_in_place: bool,
    our_fencing: Option<i64>,
    ended_by: Option<String>,
    live_fencing: Option<i64>,
}

/// Looks the token's lease up in the audit trail (its `acquired` event keeps
/// the token's hash) and finds how that lease ended.
const DIAGNOSE: &str = r#"
WITH ours AS (
    SELECT fencing_token, occurred_at FROM lock_events
    WHERE namespace = $1 AND name = $2 AND event = 'acquired'
      AND (token_hash = $3::bytea OR fencing_token = $4::bigint)
    ORDER BY id DESC
    LIMIT 1
)
SELECT
    EXISTS (SELECT FROM locks WHERE namespace = $1 AND name = $2
            AND (token_hash = $3::bytea OR fencing_token = $4::bigint)
            AND expires_at <> '-infinity') AS still_in_place,
    (SELECT fencing_token FROM ours) AS our_fencing,
    (SELECT e.event FROM lock_events e, ours
     WHERE e.namespace = $1 AND e.name = $2 AND e.occurred_at >= ours.occurred_at
       AND e.fencing_token = ours.fencing_token
       AND e.event NOT IN ('acquired', 'renewed', 'verified')
     ORDER BY e.id
     LIMIT 1) AS ended_by,
    (SELECT fencing_token FROM locks WHERE namespace = $1 AND name = $2 AND expires_at > now()) AS live_fencing
"#;

pub async fn diagnose(
    pool: &PgPool,
    namespace: &NamespaceName,
    name: &LockName,
    writer: Writer<'_>,
) -> Result<LeaseEnd, StoreError> {
    let (token, fencing) = match writer {
        Writer::Token(hash) => (Some(&hash.0[..]), None),
        Writer::Fencing(token) => (None, Some(token)),
    };
    let evidence: Evidence = sqlx::query_as(DIAGNOSE)
        .bind(namespace.as_str())
        .bind(name.as_str())
        .bind(token)
        .bind(fencing)
        .fetch_one(pool)
        .await?;
    Ok(judge(&evidence))
}

fn judge(e: &Evidence) -> LeaseEnd {
    let Some(ours) = e.our_fencing else {
        return if e.still_in_place { LeaseEnd::Expired } else { LeaseEnd::UnknownToken };
    };
    let superseded = e.live_fencing.is_some_and(|live| live > ours);
    match e.ended_by.as_deref() {
        _ if e.still_in_place => LeaseEnd::Expired,
        Some("expired") if !superseded => LeaseEnd::Expired,
        Some("expired") => LeaseEnd::Superseded,
        Some(_) => LeaseEnd::Released,
        None if superseded => LeaseEnd::Superseded,
        None => LeaseEnd::Expired,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evidence(
        still_in_place: bool,
        ours: Option<i64>,
        ended_by: Option<&str>,
        live: Option<i64>,
    ) -> Evidence {
        Evidence {
            still_in_place,
            our_fencing: ours,
            ended_by: ended_by.map(str::to_owned),
            live_fencing: live,
        }
    }

    #[test]
    fn judges_each_way_a_lease_ends() {
        assert_eq!(judge(&evidence(false, None, None, None)), LeaseEnd::UnknownToken);
        assert_eq!(judge(&evidence(true, Some(3), None, None)), LeaseEnd::Expired);
        assert_eq!(judge(&evidence(false, Some(3), Some("released"), Some(9))), LeaseEnd::Released);
        assert_eq!(judge(&evidence(false, Some(3), Some("expired"), None)), LeaseEnd::Expired);
        assert_eq!(judge(&evidence(false, Some(3), Some("expired"), Some(9))), LeaseEnd::Superseded);
    }
}
