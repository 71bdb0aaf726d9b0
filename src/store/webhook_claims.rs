//! The delivery worker's statements: claiming webhooks with an event to
//! deliver, and recording how an attempt went.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::audit::Position;
use super::StoreError;

/// A webhook claimed for one attempt at the next event after its cursor.
#[derive(Debug, Clone)]
pub struct Claim {
    pub webhook_id: Uuid,
    pub url: String,
    pub secret: String,
    /// The cursor as claimed: the outcome moves it only from here.
    pub cursor: Position,
    pub event: Position,
    /// 1 for the first attempt at this event.
    pub attempt: i32,
    /// When the claim was made, by the database's clock.
    pub claimed_at: DateTime<Utc>,
}

type ClaimRow = (Uuid, String, String, DateTime<Utc>, i64, DateTime<Utc>, i64, i32, DateTime<Utc>);

/// Claims up to `limit` webhooks that are due and have a settled event (one
/// stamped before `horizon`) after their cursor, and pushes their
/// `next_attempt_at` out by `lease`, so that no other replica claims them
/// while this attempt runs. Locked rows are skipped, not waited for.
pub async fn claim(
    ex: impl PgExecutor<'_>,
    horizon: DateTime<Utc>,
    lease: Duration,
    limit: i64,
) -> Result<Vec<Claim>, StoreError> {
    let rows: Vec<ClaimRow> = sqlx::query_as(
        "WITH due AS (
            SELECT w.id, next.occurred_at, next.id AS event_id
            FROM webhooks w
            CROSS JOIN LATERAL (
                SELECT e.occurred_at, e.id FROM lock_events e
                WHERE e.account_id = w.account_id
                  AND e.event = ANY(w.events)
                  AND (w.namespace IS NULL OR e.namespace = w.namespace)
                  AND e.occurred_at >= w.cursor_at
                  AND (e.occurred_at, e.id) > (w.cursor_at, w.cursor_id)
                  AND e.occurred_at < $1
                ORDER BY e.occurred_at, e.id
                LIMIT 1
            ) next
            WHERE w.deleted_at IS NULL AND w.next_attempt_at <= now()
            ORDER BY w.next_attempt_at
            LIMIT $3
            FOR UPDATE OF w SKIP LOCKED
        )
        UPDATE webhooks w
        SET next_attempt_at = now() + make_interval(secs => $2),
            first_attempt_at = coalesce(w.first_attempt_at, now())
        FROM due WHERE w.id = due.id
        RETURNING w.id, w.url, w.secret, w.cursor_at, w.cursor_id, due.occurred_at, due.event_id,
                  w.attempts + 1, now()",
    )
    .bind(horizon)
    .bind(lease.as_secs_f64())
    .bind(limit)
    .fetch_all(ex)
    .await?;
    Ok(rows.into_iter().map(claim_of).collect())
}

fn claim_of(row: ClaimRow) -> Claim {
    let (webhook_id, url, secret, cursor_at, cursor_id, event_at, event_id, attempt, claimed_at) = row;
    Claim {
        webhook_id,
        url,
        secret,
        cursor: Position { occurred_at: cursor_at, id: cursor_id },
        event: Position { occurred_at: event_at, id: event_id },
        attempt,
        claimed_at,
    }
}

/// How an attempt went, as the worker saw it.
pub struct Attempt<'a> {
    pub delivered: bool,
    pub duration: Duration,
    pub status_code: Option<u16>,
    pub error: Option<&'a str>,
}

/// When to retry a failed event: `initial`, doubling per failed attempt, up
/// to `max`; an event first attempted `give_up` ago or longer is given up.
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub give_up: Duration,
}

/// Logs the attempt and, if the cursor is still where the claim found it,
/// moves it past the event (delivered, or given up) or schedules the retry.
/// Returns the outcome logged: `delivered`, `failed` or `given_up`.
pub async fn record(
    ex: impl PgExecutor<'_>,
    claim: &Claim,
    attempt: &Attempt<'_>,
    backoff: &Backoff,
) -> Result<String, StoreError> {
    let outcome = sqlx::query_scalar(
        "WITH verdict AS (
            SELECT w.id,
                   CASE WHEN $5 THEN 'delivered'
                        WHEN w.first_attempt_at <= now() - make_interval(secs => $13) THEN 'given_up'
                        ELSE 'failed' END AS outcome
            FROM webhooks w
            WHERE w.id = $1 AND w.cursor_at = $2 AND w.cursor_id = $3
            FOR UPDATE
        ), moved AS (
            UPDATE webhooks w
            SET cursor_at = CASE WHEN v.outcome = 'failed' THEN w.cursor_at ELSE $4 END,
                cursor_id = CASE WHEN v.outcome = 'failed' THEN w.cursor_id ELSE $6 END,
                attempts = CASE WHEN v.outcome = 'failed' THEN w.attempts + 1 ELSE 0 END,
                first_attempt_at = CASE WHEN v.outcome = 'failed' THEN w.first_attempt_at END,
                next_attempt_at = CASE WHEN v.outcome = 'failed'
                    THEN now() + make_interval(secs => least($11 * 2 ^ least(w.attempts, 30), $12))
                    ELSE now() END
            FROM verdict v WHERE w.id = v.id
            RETURNING v.outcome
        )
        INSERT INTO webhook_deliveries
            (webhook_id, event_id, attempt, attempted_at, duration_ms, status_code, error, outcome)
        SELECT $1, $6, $7, $8, $9, $10, $14,
               coalesce((SELECT outcome FROM moved), CASE WHEN $5 THEN 'delivered' ELSE 'failed' END)
        RETURNING outcome",
    )
    .bind(claim.webhook_id)
    .bind(claim.cursor.occurred_at)
    .bind(claim.cursor.id)
    .bind(claim.event.occurred_at)
    .bind(attempt.delivered)
    .bind(claim.event.id)
    .bind(claim.attempt)
    .bind(claim.claimed_at)
    .bind(i32::try_from(attempt.duration.as_millis()).unwrap_or(i32::MAX))
    .bind(attempt.status_code.map(i32::from))
    .bind(backoff.initial.as_secs_f64())
    .bind(backoff.max.as_secs_f64())
    .bind(backoff.give_up.as_secs_f64())
    .bind(attempt.error)
    .fetch_one(ex)
    .await?;
    Ok(outcome)
}
