//! Plan quotas: `max_live_locks`, enforced in the statements that grant
//! leases (one at a time and in group commit's sets, on several replicas at
//! once), and `max_namespaces`.

use std::sync::Arc;

use leasehold::admin::KeyCreated;
use leasehold::config::Settings;
use leasehold::domain::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::Barrier;

use crate::helpers::{error_code, json, key, spawn_app_with, start_replica, wait_until, TestApp};

const MAX: u32 = 5;

fn quota(settings: &mut Settings) {
    settings.plans.business.max_live_locks = MAX;
    settings.plans.business.max_namespaces = 2;
}

/// Acquires every lock of `names` at once, spread over `servers`; the
/// statuses and bodies, in order.
async fn burst(
    app: &TestApp,
    servers: &[String],
    key: &KeyCreated,
    names: &[String],
) -> Vec<(StatusCode, Value)> {
    let barrier = Arc::new(Barrier::new(names.len()));
    let tasks = names.iter().enumerate().map(|(i, name)| {
        let url = format!("{}/v1/locks/{name}", servers[i % servers.len()]);
        let request = app.client.post(url).bearer_auth(&key.key).json(&json!({"ttl_seconds": 60}));
        let barrier = barrier.clone();
        tokio::spawn(async move {
            barrier.wait().await;
            let response = request.send().await.unwrap();
            (response.status(), response.json().await.unwrap_or(Value::Null))
        })
    });
    futures_util::future::join_all(tasks).await.into_iter().map(Result::unwrap).collect()
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// Grants and `quota_exceeded` refusals among `answers`; fails on anything else.
fn tally(answers: &[(StatusCode, Value)]) -> (usize, usize) {
    let mut counts = (0, 0);
    for (status, body) in answers {
        match (*status, body["error"]["code"].as_str()) {
            (StatusCode::CREATED, _) => counts.0 += 1,
            (StatusCode::FORBIDDEN, Some("quota_exceeded")) => {
                let message = body["error"]["message"].as_str().unwrap();
                assert!(message.contains(&MAX.to_string()), "the message names the limit: {message}");
                counts.1 += 1;
            }
            other => panic!("unexpected answer {other:?}: {body}"),
        }
    }
    counts
}

async fn live_locks(app: &TestApp, account: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM locks l JOIN accounts a ON a.id = l.account_id
         WHERE a.name = $1 AND l.expires_at > now()",
    )
    .bind(account)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

async fn assert_a_burst_grants_exactly_the_quota(app: &TestApp, servers: &[String]) {
    let answers = burst(app, servers, &app.acme, &names("burst", 24)).await;
    assert_eq!(tally(&answers), (MAX as usize, 24 - MAX as usize));
    assert_eq!(live_locks(app, "acme").await, i64::from(MAX));
    // Another account's room is its own.
    let other = app.acquire(&app.globex, "/v1/locks/globex-job", json!({})).await;
    assert_eq!(other.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn quota_a_burst_through_group_commit_on_two_replicas_grants_exactly_max_live_locks() {
    let mut settings = None;
    let app = spawn_app_with(|s| {
        quota(s);
        settings = Some(s.clone());
    })
    .await;
    let second = start_replica(&settings.unwrap(), app.pool.clone());
    assert_a_burst_grants_exactly_the_quota(&app, &[app.address.clone(), second]).await;
}

#[tokio::test]
async fn quota_a_burst_of_single_statements_on_two_replicas_grants_exactly_max_live_locks() {
    let mut settings = None;
    let app = spawn_app_with(|s| {
        quota(s);
        s.group_commit.enabled = false;
        settings = Some(s.clone());
    })
    .await;
    let second = start_replica(&settings.unwrap(), app.pool.clone());
    assert_a_burst_grants_exactly_the_quota(&app, &[app.address.clone(), second]).await;
}

#[tokio::test]
async fn quota_room_comes_back_when_a_lease_is_released_or_lapses_and_renewals_need_none() {
    let app = spawn_app_with(quota).await;
    let mut tokens = Vec::new();
    for name in names("held", MAX as usize - 1) {
        let path = format!("/v1/locks/{name}");
        let granted = json(app.acquire(&app.acme, &path, json!({"ttl_seconds": 60})).await).await;
        tokens.push((name, granted["lock_token"].as_str().unwrap().to_owned()));
    }
    let short = app.acquire(&app.acme, "/v1/locks/short", json!({"ttl_seconds": 1})).await;
    assert_eq!(short.status(), StatusCode::CREATED);
    let refused = app.acquire(&app.acme, "/v1/locks/one-more", json!({})).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(refused).await, "quota_exceeded");

    // At the limit, a held lease still renews.
    let (name, token) = &tokens[0];
    assert_eq!(app.renew(&app.acme, &format!("/v1/locks/{name}"), token).await.status(), StatusCode::OK);

    // A waiting acquire over quota is refused at once, not after its wait.
    let started = std::time::Instant::now();
    let waited = app.acquire(&app.acme, "/v1/locks/one-more", json!({"wait_seconds": 20})).await;
    assert_eq!(error_code(waited).await, "quota_exceeded");
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "it did not wait out its 20 s");

    let released = app.release(&app.acme, &format!("/v1/locks/{name}"), token).await;
    assert_eq!(released.status(), StatusCode::NO_CONTENT);
    let granted = app.acquire(&app.acme, "/v1/locks/one-more", json!({})).await;
    assert_eq!(granted.status(), StatusCode::CREATED);

    // The one-second lease lapses: its room is free again, though the
    // sweeper may not have removed it yet.
    let refused = app.acquire(&app.acme, "/v1/locks/two-more", json!({})).await;
    assert_eq!(error_code(refused).await, "quota_exceeded");
    wait_for_lapse_of(&app, "short").await;
    let granted = app.acquire(&app.acme, "/v1/locks/two-more", json!({})).await;
    assert_eq!(granted.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn quota_holds_for_readers_and_lock_sets_which_fit_whole_or_not_at_all() {
    let app = spawn_app_with(quota).await;
    for name in names("reader", MAX as usize - 2) {
        let path = format!("/v1/locks/{name}");
        let read = app.acquire(&app.acme, &path, json!({"mode": "shared", "ttl_seconds": 60})).await;
        assert_eq!(read.status(), StatusCode::CREATED);
    }
    // Two places left: a set of three does not fit, and takes none.
    let set = app.acquire(&app.acme, "/v1/lock-sets", json!({"names": ["s1", "s2", "s3"]})).await;
    assert_eq!(error_code(set).await, "quota_exceeded");
    assert_eq!(live_locks(&app, "acme").await, i64::from(MAX) - 2);
    let set = app.acquire(&app.acme, "/v1/lock-sets", json!({"names": ["s1", "s2"]})).await;
    assert_eq!(set.status(), StatusCode::CREATED);
    // Full: a new reader of a lock already read is refused too.
    let read = app.acquire(&app.acme, "/v1/locks/reader-0", json!({"mode": "shared"})).await;
    assert_eq!(error_code(read).await, "quota_exceeded");
}

#[tokio::test]
async fn quota_counts_readers_of_shared_locks_and_a_taken_over_lapsed_lease_is_no_extra() {
    let app = spawn_app_with(quota).await;
    for name in names("reader", MAX as usize - 1) {
        let read = app
            .acquire(&app.acme, &format!("/v1/locks/{name}"), json!({"mode": "shared", "ttl_seconds": 60}))
            .await;
        assert_eq!(read.status(), StatusCode::CREATED);
    }
    let lapsing = app.acquire(&app.acme, "/v1/locks/lapsing", json!({"ttl_seconds": 1})).await;
    assert_eq!(lapsing.status(), StatusCode::CREATED);
    let refused = app.acquire(&app.acme, "/v1/locks/another", json!({})).await;
    assert_eq!(error_code(refused).await, "quota_exceeded");
    wait_for_lapse_of(&app, "lapsing").await;
    // Taking over the account's own lapsed lease: the lapsed one no longer counts.
    let retaken = app.acquire(&app.acme, "/v1/locks/lapsing", json!({"ttl_seconds": 60})).await;
    assert_eq!(retaken.status(), StatusCode::CREATED);
    let refused = app.acquire(&app.acme, "/v1/locks/another", json!({})).await;
    assert_eq!(error_code(refused).await, "quota_exceeded");
}

async fn wait_for_lapse_of(app: &TestApp, name: &'static str) {
    wait_until(std::time::Duration::from_secs(10), || async {
        sqlx::query_scalar::<_, bool>(
            "SELECT NOT EXISTS (SELECT FROM locks WHERE name = $1 AND expires_at > now())",
        )
        .bind(name)
        .fetch_one(&app.pool)
        .await
        .unwrap()
    })
    .await;
}

#[tokio::test]
async fn quota_max_namespaces_holds_for_concurrent_owners_and_the_admin_api() {
    let app = spawn_app_with(quota).await;
    let owner = key(&app.pool, "acme", Role::Owner).await;
    // acme owns one namespace (its own) of its two.
    let tasks = (0..6).map(|i| {
        let request = app
            .request(Method::POST, "/v1/account/namespaces", &owner)
            .json(&json!({"name": format!("acme-extra-{i}")}));
        tokio::spawn(async move { request.send().await.unwrap() })
    });
    let mut statuses = Vec::new();
    for task in futures_util::future::join_all(tasks).await {
        let response = task.unwrap();
        let status = response.status();
        if status == StatusCode::FORBIDDEN {
            let body = json(response).await;
            assert_eq!(body["error"]["code"], "quota_exceeded");
            assert!(body["error"]["message"].as_str().unwrap().contains('2'));
        }
        statuses.push(status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::FORBIDDEN).count(), 5, "{statuses:?}");

    let admin = key(&app.pool, "acme", Role::Admin).await;
    let by_admin = app
        .request(Method::POST, "/v1/admin/namespaces", &admin)
        .json(&json!({"name": "acme-by-admin", "account": "acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(by_admin).await, "quota_exceeded");
    let owned: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM namespaces n JOIN accounts a ON a.id = n.account_id WHERE a.name = 'acme'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(owned, 2);
}
