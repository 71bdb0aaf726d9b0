use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    error_code, json, spawn_app, spawn_app_with, start_replica, test_settings, wait_until, TestApp,
};

async fn waiters(app: &TestApp, path: &str) -> i64 {
    let state = json(app.status(&app.acme, path).await).await;
    state["waiters"].as_i64().unwrap_or(-1)
}

/// Fifty waiters queue one after the other, alternating between two
/// replicas; each holds the lock briefly and releases it. They must be granted
/// in arrival order, one at a time.
#[tokio::test]
async fn waiters_are_granted_in_arrival_order_across_replicas_without_overlap() {
    const WAITERS: usize = 50;
    let app = spawn_app().await;
    let replicas = [app.address.clone(), start_replica(&test_settings(), app.pool.clone())];
    let holder = json(app.acquire(&app.acme, "/v1/locks/queue", json!({"ttl_seconds": 60})).await).await;

    let mut tasks = Vec::new();
    for i in 0..WAITERS {
        let (client, key) = (app.client.clone(), app.acme.key.clone());
        let url = format!("{}/v1/locks/queue", replicas[i % 2]);
        tasks.push(tokio::spawn(async move {
            let response =
                client.post(&url).bearer_auth(&key).json(&json!({"wait_seconds": 30})).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::CREATED, "waiter {i}");
            let grant: Value = response.json().await.unwrap();
            let token = grant["lock_token"].as_str().unwrap().to_owned();
            let released =
                client.delete(&url).bearer_auth(&key).header("Lock-Token", token).send().await.unwrap();
            assert_eq!(released.status(), StatusCode::NO_CONTENT);
            (i, grant["fencing_token"].as_i64().unwrap())
        }));
        // The next waiter arrives only once this one holds its place.
        wait_until(Duration::from_secs(10), || async {
            waiters(&app, "/v1/locks/queue").await == i as i64 + 1
        })
        .await;
    }
    app.release(&app.acme, "/v1/locks/queue", holder["lock_token"].as_str().unwrap()).await;
    let mut grants: Vec<(usize, i64)> = Vec::new();
    for task in tasks {
        grants.push(task.await.unwrap());
    }

    grants.sort_by_key(|(_, fencing)| *fencing);
    let order: Vec<usize> = grants.iter().map(|(i, _)| *i).collect();
    assert_eq!(order, (0..WAITERS).collect::<Vec<_>>(), "granted in arrival order");
    let events: Vec<String> = app.events("acme", "queue").await.into_iter().map(|(e, _)| e).collect();
    let alternating: Vec<&str> =
        ["acquired", "released"].iter().copied().cycle().take(2 * (WAITERS + 1)).collect();
    assert_eq!(events, alternating, "no two leases overlapped");
}

#[tokio::test]
async fn a_fail_fast_acquire_does_not_get_ahead_of_a_waiter() {
    let app = spawn_app().await;
    // A waiter on some replica, about to try again: its place is live.
    sqlx::query(
        "INSERT INTO lock_waiters (namespace, name, account_id, key_id, deadline, expires_at)
         SELECT 'acme', 'fair', id, 'someone', now() + interval '30 s', now() + interval '5 s'
         FROM accounts WHERE name = 'acme'",
    )
    .execute(&app.pool)
    .await
    .unwrap();

    let response = app.acquire(&app.acme, "/v1/locks/fair", json!({})).await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.headers().contains_key("retry-after"));
    let body = json(response).await;
    assert_eq!(body["error"]["code"], "lock_held");
    assert_eq!(body["waiters"], 1);
}

#[tokio::test]
async fn a_waiter_whose_client_goes_away_leaves_the_queue() {
    let app = spawn_app().await;
    app.acquire(&app.acme, "/v1/locks/busy", json!({})).await;
    let impatient = app
        .client
        .post(format!("{}/v1/locks/busy", app.address))
        .bearer_auth(&app.acme.key)
        .json(&json!({"wait_seconds": 20}))
        .timeout(Duration::from_millis(1500))
        .send();
    let watcher = async {
        wait_until(Duration::from_secs(5), || async { waiters(&app, "/v1/locks/busy").await == 1 }).await;
    };

    let (gone, _) = tokio::join!(impatient, watcher);
    assert!(gone.unwrap_err().is_timeout());

    // Its place is given up at once, not left to lapse.
    wait_until(Duration::from_secs(2), || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM lock_waiters").fetch_one(&app.pool).await.unwrap()
            == 0
    })
    .await;
}

#[tokio::test]
async fn a_lease_that_lapses_while_others_wait_is_granted_within_100_ms_of_its_expiry() {
    let app = spawn_app_with(|s| s.sweeper.interval_ms = 3_600_000).await;
    let holder = json(app.acquire(&app.acme, "/v1/locks/lapse", json!({"ttl_seconds": 1})).await).await;

    let waiter = app.acquire(&app.acme, "/v1/locks/lapse", json!({"wait_seconds": 5})).await;

    assert_eq!(waiter.status(), StatusCode::CREATED);
    let grant = json(waiter).await;
    let late_ms: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM e.occurred_at - $1::timestamptz)::float8 * 1000
         FROM lock_events e WHERE e.event = 'acquired' AND e.fencing_token = $2",
    )
    .bind(chrono::DateTime::parse_from_rfc3339(holder["expires_at"].as_str().unwrap()).unwrap())
    .bind(grant["fencing_token"].as_i64().unwrap())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!((0.0..100.0).contains(&late_ms), "granted {late_ms} ms after the lapse");
}

#[tokio::test]
async fn a_waiter_that_runs_out_of_time_gets_conflict_and_leaves() {
    let app = spawn_app().await;
    app.acquire(&app.acme, "/v1/locks/long", json!({"ttl_seconds": 60})).await;

    let response = app.acquire(&app.acme, "/v1/locks/long?wait=1", json!({})).await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(response).await, "lock_held");
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM lock_waiters").fetch_one(&app.pool).await.unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn a_wait_beyond_the_plan_is_invalid() {
    let app = spawn_app().await;
    for (path, body) in [
        ("/v1/locks/w", json!({"wait_seconds": 31})),
        ("/v1/locks/w?wait=31", json!({})),
        ("/v1/locks/w", json!({"wait_seconds": -1})),
    ] {
        let response = app.acquire(&app.acme, path, body.clone()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path} {body}");
        assert_eq!(error_code(response).await, "invalid_wait");
    }
}

#[tokio::test]
async fn a_free_lock_is_granted_at_once_to_a_waiting_request() {
    let app = spawn_app().await;
    let response = app.acquire(&app.acme, "/v1/locks/free", json!({"wait_seconds": 10})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM lock_waiters").fetch_one(&app.pool).await.unwrap();
    assert_eq!(left, 0, "no place was taken");
}

#[tokio::test]
async fn status_honours_if_none_match() {
    let app = spawn_app().await;
    let grant = json(app.acquire(&app.acme, "/v1/locks/etag", json!({})).await).await;
    let tag = format!("\"{}\"", grant["fencing_token"]);

    let same = app
        .request(reqwest::Method::GET, "/v1/locks/etag", &app.acme)
        .header("If-None-Match", &tag)
        .send()
        .await
        .unwrap();
    let other = app
        .request(reqwest::Method::GET, "/v1/locks/etag", &app.acme)
        .header("If-None-Match", "\"0\"")
        .send()
        .await
        .unwrap();

    assert_eq!(same.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(same.headers()["etag"], tag.as_str());
    assert_eq!(other.status(), StatusCode::OK);
    assert_eq!(other.headers()["etag"], tag.as_str());
}
