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
