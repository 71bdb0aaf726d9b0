//! The audit trail is append-only, whatever role the application connects
//! with: UPDATE, DELETE and TRUNCATE of `lock_events` are refused.

use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_application_cannot_change_or_delete_audit_rows() {
    let app = spawn_app().await;
    app.acquire(&app.acme, "/v1/locks/nightly", json!({})).await;
    let before = app.events("acme", "nightly").await;
    assert_eq!(before.len(), 1);

    let attempts =
        ["UPDATE lock_events SET owner = 'someone else'", "DELETE FROM lock_events", "TRUNCATE lock_events"];
    for statement in attempts {
        let refused = sqlx::query(statement).execute(&app.pool).await.expect_err(statement);
        assert!(refused.to_string().contains("append-only"), "{statement}: {refused}");
    }

    assert_eq!(app.events("acme", "nightly").await, before);
}

/// A partition is a table of its own: truncating the one that holds the
/// rows is refused as well.
#[tokio::test]
async fn the_application_cannot_truncate_an_audit_partition() {
    let app = spawn_app().await;
    app.acquire(&app.acme, "/v1/locks/nightly", json!({})).await;
    let partition: String = sqlx::query_scalar("SELECT tableoid::regclass::text FROM lock_events LIMIT 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();

    let refused =
        sqlx::query(&format!("TRUNCATE {partition}")).execute(&app.pool).await.expect_err("refused");

    assert!(refused.to_string().contains("append-only"), "{refused}");
    assert_eq!(app.events("acme", "nightly").await.len(), 1);
}
