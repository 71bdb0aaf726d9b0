//! Support's lease analysis of an account and of a namespace, from real
//! leases: released ones, and ones left to expire with one-second TTLs.

use std::time::Duration;

use leasehold::domain::Role;
use leasehold::store::lease_analysis::{self, Scope};
use reqwest::header::COOKIE;
use reqwest::StatusCode;
use serde_json::json;

use crate::console_http::{client, sign_in};
use crate::helpers::{json as body_of, key, spawn_app_with, wait_until, TestApp};

async fn expired(app: &TestApp, name: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM lock_events WHERE event = 'expired' AND name = $1")
        .bind(name)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// Takes `path` with a one-second lease and waits until the sweeper has
/// recorded its expiry (the `n`th of that lock).
async fn lapse(app: &TestApp, key: &leasehold::admin::KeyCreated, path: &str, name: &str, n: i64) {
    assert_eq!(app.acquire(key, path, json!({"ttl_seconds": 1})).await.status(), StatusCode::CREATED);
    wait_until(Duration::from_secs(10), || async { expired(app, name).await == n }).await;
}

async fn hold_and_release(app: &TestApp, key: &leasehold::admin::KeyCreated, path: &str) {
    let grant = body_of(app.acquire(key, path, json!({"ttl_seconds": 30})).await).await;
    let released = app.release(key, path, grant["lock_token"].as_str().unwrap()).await;
    assert_eq!(released.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn the_analysis_counts_releases_and_expiries_and_names_the_locks_and_keys_that_lapse() {
    let app = spawn_app_with(|s| s.sweeper.interval_ms = 50).await;
    let second = key(&app.pool, "acme", Role::Client).await;
    let support = key(&app.pool, "globex", Role::Support).await;
    for _ in 0..4 {
        hold_and_release(&app, &app.acme, "/v1/locks/steady").await;
    }
    hold_and_release(&app, &app.acme, "/v1/locks/flaky").await;
    tokio::join!(
        lapse(&app, &app.acme, "/v1/locks/flaky", "flaky", 1),
        lapse(&app, &second, "/v1/locks/other", "other", 1),
        lapse(&app, &app.globex, "/v1/locks/theirs", "theirs", 1),
    );
    lapse(&app, &app.acme, "/v1/locks/flaky", "flaky", 2).await;
    let acme: i64 =
        sqlx::query_scalar("SELECT id FROM accounts WHERE name = 'acme'").fetch_one(&app.pool).await.unwrap();

    let ends = lease_analysis::ends_by_day(&app.pool, Scope::Account(acme), 30).await.unwrap();
    let held = lease_analysis::hold_times(&app.pool, Scope::Account(acme), 30).await.unwrap();
    let locks = lease_analysis::lapsing_locks(&app.pool, Scope::Account(acme), 30, 10).await.unwrap();
    let keys = lease_analysis::lapsing_keys(&app.pool, Scope::Namespace("acme"), 30, 10).await.unwrap();

    assert_eq!(ends.len(), 30);
    let today = ends.last().unwrap();
    assert_eq!((today.released, today.expired, today.force_released), (5, 3, 0));
    assert_eq!(held.leases, 8);
    let (p50, p90, p99, max) = (held.p50.unwrap(), held.p90.unwrap(), held.p99.unwrap(), held.max.unwrap());
    assert!(p50 <= p90 && p90 <= p99 && p99 <= max, "{held:?}");
    assert!(p50 < 1.0, "most leases were released at once: {held:?}");
    assert!((0.9..5.0).contains(&max), "a lapsed lease was held about its one-second TTL: {held:?}");
    let locks: Vec<(&str, i64, i64)> =
        locks.iter().map(|l| (l.name.as_str(), l.expired, l.released)).collect();
    assert_eq!(locks, [("flaky", 2, 1), ("other", 1, 0)]);
    let keys: Vec<(&str, i64, i64)> =
        keys.iter().map(|k| (k.key_id.as_str(), k.expired, k.released)).collect();
    assert_eq!(keys, [(app.acme.key_id.as_str(), 2, 5), (second.key_id.as_str(), 1, 0)]);

    let (cookie, _) = sign_in(&app, &support.key).await.1.unwrap();
    let page = |path: &'static str| {
        let request = client().get(format!("{}{path}", app.address)).header(COOKIE, &cookie);
        async move { request.send().await.unwrap() }
    };
    let account = page("/console/accounts/acme/analysis").await.text().await.unwrap();
    assert!(account.contains("<svg role=\"img\" aria-label=\"Leases released and expired"), "{account}");
    assert!(account.contains(": 5 released, 3 expired</title>"), "{account}");
    assert!(account.contains("id=\"hold-times\"") && account.contains("2.00"), "{account}");
    assert!(account
        .contains("/console/audit?namespace=acme&amp;name=flaky&amp;kind=lock&amp;event=expired&amp;since="));
    assert!(
        account.contains(&format!("/console/audit?key_id={}&amp;kind=lock&amp;event=expired", second.key_id))
    );
    assert!(!account.contains("theirs"), "another account's lapses are not this account's");
    let namespace = page("/console/namespaces/acme/analysis?days=7").await.text().await.unwrap();
    assert!(namespace.contains("flaky") && namespace.contains("last 7 UTC days"), "{namespace}");
    assert!(!namespace.contains("theirs"));
    assert!(page("/console/accounts/acme")
        .await
        .text()
        .await
        .unwrap()
        .contains("/console/accounts/acme/analysis"));
    assert_eq!(page("/console/accounts/acme/analysis?days=0").await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(page("/console/namespaces/acme/analysis?days=91").await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(page("/console/namespaces/nowhere/analysis").await.status(), StatusCode::NOT_FOUND);
}
