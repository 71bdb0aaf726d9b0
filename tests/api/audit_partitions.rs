use leasehold::audit_maintenance;
use serde_json::json;

use crate::helpers::{spawn_app, test_settings};

async fn partitions(pool: &sqlx::PgPool) -> Vec<String> {
    leasehold::store::partitions::list(pool).await.unwrap()
}

#[tokio::test]
async fn the_audit_trail_is_partitioned_by_month_with_months_ahead() {
    let app = spawn_app().await;
    app.acquire(&app.acme, "/v1/locks/job", json!({})).await;

    let (strategy,): (String,) = sqlx::query_as(
        "SELECT partstrat::text FROM pg_partitioned_table WHERE partrelid = 'lock_events'::regclass",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let (this_month, in_three): (String, String) = sqlx::query_as(
        "SELECT 'lock_events_p' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMM'),
                'lock_events_p' || to_char((now() AT TIME ZONE 'UTC') + interval '3 months', 'YYYYMM')",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let (where_it_went,): (String,) =
        sqlx::query_as("SELECT tableoid::regclass::text FROM lock_events WHERE name = 'job'")
            .fetch_one(&app.pool)
            .await
            .unwrap();

    assert_eq!(strategy, "r");
    let names = partitions(&app.pool).await;
    assert!(names.contains(&this_month) && names.contains(&in_three), "{names:?}");
    assert_eq!(where_it_went, this_month);
}

#[tokio::test]
async fn retention_drops_whole_months_past_it_and_keeps_the_rest() {
    let app = spawn_app().await;
    app.acquire(&app.acme, "/v1/locks/recent", json!({})).await;
    sqlx::query(
        "SELECT lock_events_create_partitions(now() - interval '26 months', now() - interval '24 months')",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO lock_events (occurred_at, event, namespace, name, fencing_token, account_id, key_id, expires_at)
         VALUES (now() - interval '25 months', 'acquired', 'acme', 'ancient', 1, 1, 'k', now())",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let before = partitions(&app.pool).await.len();

    let dropped = audit_maintenance::run_once(&app.pool, &test_settings().audit).await.unwrap();

    assert_eq!(dropped.len(), 3, "{dropped:?}");
    assert_eq!(partitions(&app.pool).await.len(), before - 3);
    let names: Vec<String> =
        sqlx::query_scalar("SELECT name FROM lock_events ORDER BY id").fetch_all(&app.pool).await.unwrap();
    assert_eq!(names, ["recent"]);
}
