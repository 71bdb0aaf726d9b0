use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tokio::sync::Barrier;

use crate::helpers::{json, spawn_app_with, start_replica, test_settings, wait_for_lapse, wait_until};
use leasehold::store::sweep;

#[tokio::test]
async fn the_sweeper_deletes_lapsed_leases_and_records_each_expiry_once() {
    let app = spawn_app_with(|s| s.sweeper.interval_ms = 50).await;
    for i in 0..20 {
        app.acquire(&app.acme, &format!("/v1/locks/s{i}"), json!({"ttl_seconds": 1})).await;
    }

    wait_until(Duration::from_secs(10), || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM locks").fetch_one(&app.pool).await.unwrap() == 0
    })
    .await;

    let expired: Vec<(String, i64)> =
        sqlx::query_as("SELECT name, count(*) FROM lock_events WHERE event = 'expired' GROUP BY name")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(expired.len(), 20);
    assert!(expired.iter().all(|(_, n)| *n == 1));
}

#[tokio::test]
async fn an_expired_lease_is_free_before_anything_sweeps_it() {
    let app = spawn_app_with(|s| s.sweeper.interval_ms = 3_600_000).await;
    app.acquire(&app.acme, "/v1/locks/lapsing", json!({"ttl_seconds": 1})).await;
    wait_for_lapse(&app.pool).await;

    assert_eq!(app.status(&app.acme, "/v1/locks/lapsing").await.status(), StatusCode::NOT_FOUND);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM locks").fetch_one(&app.pool).await.unwrap();
    assert_eq!(rows, 1, "the row is still there; only the clock freed it");
    assert_eq!(app.acquire(&app.acme, "/v1/locks/lapsing", json!({})).await.status(), StatusCode::CREATED);
}

/// Hundreds of leases lapse at once; three sweepers and two replicas taking
/// the locks over race for them. Every lapse is recorded exactly once.
#[tokio::test]
async fn takeovers_racing_sweepers_record_every_lapse_exactly_once() {
    const LOCKS: usize = 300;
    let app = spawn_app_with(|s| s.sweeper.interval_ms = 3_600_000).await;
    let second_replica = start_replica(&test_settings(), app.pool.clone());
    let mut first_tokens = HashMap::new();
    for i in 0..LOCKS {
        let grant =
            json(app.acquire(&app.acme, &format!("/v1/locks/lapse-{i}"), json!({"ttl_seconds": 1})).await)
                .await;
        first_tokens.insert(format!("lapse-{i}"), grant["fencing_token"].as_i64().unwrap());
    }
    wait_for_lapse(&app.pool).await;

    let barrier = Arc::new(Barrier::new(3 + LOCKS));
    let sweepers = (0..3).map(|_| {
        let (pool, barrier) = (app.pool.clone(), barrier.clone());
        tokio::spawn(async move {
            barrier.wait().await;
            // As the sweeper does: one pass finds them, small batches take them.
            let keys = sweep::lapsed_keys(&pool, 1000).await.unwrap();
            for chunk in keys.chunks(7) {
                sweep::sweep_keys(&pool, chunk).await.unwrap();
            }
        })
    });
    let takeovers = (0..LOCKS).map(|i| {
        let base = if i % 2 == 0 { app.address.clone() } else { second_replica.clone() };
        let (client, key, barrier) = (app.client.clone(), app.acme.key.clone(), barrier.clone());
        tokio::spawn(async move {
            barrier.wait().await;
            let url = format!("{base}/v1/locks/lapse-{i}");
            client.post(url).bearer_auth(key).send().await.unwrap().status()
        })
    });
    let (_, statuses) =
        tokio::join!(futures_util::future::join_all(sweepers), futures_util::future::join_all(takeovers));

    assert!(statuses.into_iter().all(|s| s.unwrap() == StatusCode::CREATED));
    let expired: Vec<(String, i64)> =
        sqlx::query_as("SELECT name, fencing_token FROM lock_events WHERE event = 'expired' ORDER BY name")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(expired.len(), LOCKS, "one expiry per lapsed lease, no more, no fewer");
    for (name, fencing) in expired {
        assert_eq!(
            first_tokens.remove(&name),
            Some(fencing),
            "{name}: the expiry names the lapsed lease, once"
        );
    }
    assert!(first_tokens.is_empty());
}

/// Release marks the row instead of deleting it, so a name used again is
/// rewritten in place; the next acquire records no expiry for it, and the
/// old token still reads as released.
#[tokio::test]
async fn a_released_name_is_taken_again_in_place_without_an_expiry() {
    let app = spawn_app_with(|s| s.sweeper.interval_ms = 50).await;
    let path = "/v1/locks/reused";
    let first = json(app.acquire(&app.acme, path, json!({})).await).await;
    let first_token = first["lock_token"].as_str().unwrap();
    assert_eq!(app.release(&app.acme, path, first_token).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.status(&app.acme, path).await.status(), StatusCode::NOT_FOUND);
    let marked: bool = sqlx::query_scalar("SELECT expires_at = '-infinity' FROM locks WHERE name = 'reused'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(marked, "the released row stays, marked");

    let second = json(app.acquire(&app.acme, path, json!({})).await).await;

    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM locks").fetch_one(&app.pool).await.unwrap();
    assert_eq!(rows, 1);
    let events: Vec<String> = app.events("acme", "reused").await.into_iter().map(|(e, _)| e).collect();
    assert_eq!(events, ["acquired", "released", "acquired"]);
    assert!(second["fencing_token"].as_i64() > first["fencing_token"].as_i64());
    let stale = json(app.renew(&app.acme, path, first_token).await).await;
    assert_eq!(stale["error"]["reason"], "released", "{stale}");
}

/// A released row that nobody takes again is deleted by the sweeper once its
/// lease began over a minute ago, with no event (its release was recorded).
#[tokio::test]
async fn the_sweeper_deletes_long_released_rows_without_an_event() {
    let app = spawn_app_with(|s| s.sweeper.interval_ms = 50).await;
    for name in ["old", "recent"] {
        let grant = json(app.acquire(&app.acme, &format!("/v1/locks/{name}"), json!({})).await).await;
        app.release(&app.acme, &format!("/v1/locks/{name}"), grant["lock_token"].as_str().unwrap()).await;
    }
    sqlx::query("UPDATE locks SET acquired_at = now() - interval '2 minutes' WHERE name = 'old'")
        .execute(&app.pool)
        .await
        .unwrap();

    wait_until(Duration::from_secs(10), || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM locks WHERE name = 'old'")
            .fetch_one(&app.pool)
            .await
            .unwrap()
            == 0
    })
    .await;

    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM locks").fetch_all(&app.pool).await.unwrap();
    assert_eq!(names, ["recent"]);
    let expired: i64 = sqlx::query_scalar("SELECT count(*) FROM lock_events WHERE event = 'expired'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(expired, 0);
}
