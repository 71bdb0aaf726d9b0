//! Per-account daily usage: `GET /v1/account/usage` and
//! `GET /v1/admin/accounts/{account}/usage`, counted from the audit trail by
//! the rollup task, plus each replica's conflicts and waits.

use std::time::Duration;

use chrono::NaiveDate;
use leasehold::admin::KeyCreated;
use leasehold::domain::Role;
use leasehold::usage::rollup;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    error_code, json, key, spawn_app_with, start_replica, test_settings, wait_for_settled_audit, wait_until,
    TestApp,
};

/// A server whose rollup runs every second.
async fn spawn_usage_app() -> TestApp {
    spawn_app_with(|s| s.usage.rollup_interval_seconds = 1).await
}

/// A server whose rollup task never runs within a test: the test runs passes.
async fn spawn_manual_app() -> TestApp {
    spawn_app_with(|s| s.usage.rollup_interval_seconds = 3600).await
}

async fn usage(app: &TestApp, key: &KeyCreated, path: &str) -> reqwest::Response {
    app.request(Method::GET, path, key).send().await.unwrap()
}

/// The last day (today) of the owner's usage.
async fn today(app: &TestApp, owner: &KeyCreated) -> Value {
    let body = json(usage(app, owner, "/v1/account/usage").await).await;
    body["days"].as_array().unwrap().last().unwrap().clone()
}

/// Polls today's row until it has `expected`'s fields and values.
async fn await_today(app: &TestApp, owner: &KeyCreated, expected: Value) {
    let wanted = expected.as_object().unwrap().clone();
    wait_until(Duration::from_secs(30), || async {
        let row = today(app, owner).await;
        wanted.iter().all(|(field, value)| &row[field] == value)
    })
    .await;
}

async fn today_by_database(app: &TestApp) -> NaiveDate {
    sqlx::query_scalar("SELECT (now() AT TIME ZONE 'UTC')::date").fetch_one(&app.pool).await.unwrap()
}

/// Waits until a rollup pass has counted past everything written so far.
async fn await_a_later_pass(app: &TestApp) {
    let now: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT now()").fetch_one(&app.pool).await.unwrap();
    wait_until(Duration::from_secs(30), || async {
        let counted: chrono::DateTime<chrono::Utc> =
            sqlx::query_scalar("SELECT counted_until FROM usage_rollup").fetch_one(&app.pool).await.unwrap();
        counted > now
    })
    .await;
}

#[tokio::test]
async fn usage_counts_each_accounts_operations_conflicts_and_waits_exactly() {
    let app = spawn_usage_app().await;
    let acme = key(&app.pool, "acme", Role::Owner).await;
    let globex = key(&app.pool, "globex", Role::Owner).await;
    let admin = key(&app.pool, "globex", Role::Admin).await;

    let a = json(app.acquire(&app.acme, "/v1/locks/a", json!({})).await).await;
    let a_token = a["lock_token"].as_str().unwrap();
    assert_eq!(app.renew(&app.acme, "/v1/locks/a", a_token).await.status(), StatusCode::OK);
    assert_eq!(app.release(&app.acme, "/v1/locks/a", a_token).await.status(), StatusCode::NO_CONTENT);
    let lapsing = app.acquire(&app.acme, "/v1/locks/b", json!({"ttl_seconds": 1})).await;
    assert_eq!(lapsing.status(), StatusCode::CREATED);
    assert_eq!(app.acquire(&app.acme, "/v1/locks/c", json!({})).await.status(), StatusCode::CREATED);
    let conflict = app.acquire(&app.acme, "/v1/locks/c", json!({})).await;
    assert_eq!(conflict.status(), StatusCode::CONFLICT);
    let waited = app.acquire(&app.acme, "/v1/locks/c", json!({"wait_seconds": 1})).await;
    assert_eq!(waited.status(), StatusCode::CONFLICT);
    let forced = app
        .request(Method::DELETE, "/v1/admin/namespaces/acme/locks/c", &admin)
        .json(&json!({"reason": "usage test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(forced.status(), StatusCode::OK);
    let x = json(app.acquire(&app.globex, "/v1/locks/x", json!({})).await).await;
    app.release(&app.globex, "/v1/locks/x", x["lock_token"].as_str().unwrap()).await;
    wait_until(Duration::from_secs(10), || async {
        app.events("acme", "b").await.iter().any(|(event, _)| event == "expired")
    })
    .await;

    let acme_counts = json!({"acquired": 3, "renewed": 1, "released": 1, "expired": 1,
        "force_released": 1, "conflicts": 2, "waits": 1});
    await_today(&app, &acme, acme_counts.clone()).await;
    await_a_later_pass(&app).await;
    let row = today(&app, &acme).await;
    for (field, value) in acme_counts.as_object().unwrap() {
        assert_eq!(&row[field], value, "acme's {field}");
    }
    assert!(row["peak_live_locks"].as_i64().unwrap() <= 2, "acme held at most two locks at once");
    assert_eq!(row["date"], today_by_database(&app).await.to_string());
    let row = today(&app, &globex).await;
    let globex_counts = json!({"acquired": 1, "renewed": 0, "released": 1, "expired": 0,
        "force_released": 0, "conflicts": 0, "waits": 0});
    for (field, value) in globex_counts.as_object().unwrap() {
        assert_eq!(&row[field], value, "globex's {field}");
    }
}

#[tokio::test]
async fn usage_peak_live_locks_is_the_most_leases_held_at_once_today() {
    let app = spawn_usage_app().await;
    let globex = key(&app.pool, "globex", Role::Owner).await;
    let mut held = Vec::new();
    for (path, body) in [
        ("/v1/locks/one", json!({})),
        ("/v1/locks/two", json!({})),
        ("/v1/locks/read", json!({"mode": "shared"})),
        ("/v1/semaphores/pool", json!({"limit": 2})),
    ] {
        let granted = app.acquire(&app.globex, path, body).await;
        assert_eq!(granted.status(), StatusCode::CREATED, "{path}");
        held.push((path, json(granted).await["lock_token"].as_str().unwrap().to_owned()));
    }

    await_today(&app, &globex, json!({"peak_live_locks": 4})).await;
    for (path, token) in &held {
        assert_eq!(app.release(&app.globex, path, token).await.status(), StatusCode::NO_CONTENT, "{path}");
    }
    await_a_later_pass(&app).await;

    let row = today(&app, &globex).await;
    assert_eq!(row["peak_live_locks"], 4, "the peak stays when the locks go");
    assert_eq!(row["acquired"], 4);
    assert_eq!(row["released"], 4);
}

#[tokio::test]
async fn usage_ranges_default_to_thirty_days_and_bad_dates_are_refused() {
    let app = spawn_manual_app().await;
    let owner = key(&app.pool, "acme", Role::Owner).await;
    let today = today_by_database(&app).await;

    let body = json(usage(&app, &owner, "/v1/account/usage").await).await;
    let days = body["days"].as_array().unwrap();
    assert_eq!(body["account"], "acme");
    assert_eq!(days.len(), 30);
    assert_eq!(days[29]["date"], today.to_string());
    assert_eq!(days[0]["date"], (today - chrono::Days::new(29)).to_string());
    assert!(days.iter().all(|d| d["acquired"] == 0 && d["waits"] == 0 && d["peak_live_locks"] == 0));
    let body = json(usage(&app, &owner, "/v1/account/usage?from=2026-02-27&to=2026-03-01").await).await;
    let dates: Vec<&str> =
        body["days"].as_array().unwrap().iter().map(|d| d["date"].as_str().unwrap()).collect();
    assert_eq!(dates, ["2026-02-27", "2026-02-28", "2026-03-01"]);

    for (query, code) in [
        ("from=2026-13-01", "invalid_date"),
        ("to=yesterday", "invalid_date"),
        ("from=2026-11-28&to=2026-11-27", "invalid_range"),
        ("from=2025-01-01&to=2026-01-02", "invalid_range"),
        ("colour=red", "invalid_query"),
    ] {
        let refused = usage(&app, &owner, &format!("/v1/account/usage?{query}")).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(error_code(refused).await, code, "{query}");
    }
}

#[tokio::test]
async fn usage_admins_read_any_accounts_and_other_keys_are_forbidden() {
    let app = spawn_manual_app().await;
    let admin = key(&app.pool, "globex", Role::Admin).await;

    let acme = usage(&app, &admin, "/v1/admin/accounts/acme/usage?from=2026-11-01&to=2026-11-07").await;
    let unknown = usage(&app, &admin, "/v1/admin/accounts/nobody/usage").await;
    let client_own = usage(&app, &app.acme, "/v1/account/usage").await;
    let client_admin = usage(&app, &app.acme, "/v1/admin/accounts/acme/usage").await;
    let admin_own = usage(&app, &admin, "/v1/account/usage").await;

    assert_eq!(acme.status(), StatusCode::OK);
    let body = json(acme).await;
    assert_eq!(body["account"], "acme");
    assert_eq!(body["days"].as_array().unwrap().len(), 7);
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(unknown).await, "account_not_found");
    for refused in [client_own, client_admin, admin_own] {
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert_eq!(error_code(refused).await, "forbidden");
    }
}

#[tokio::test]
async fn usage_rollups_of_several_replicas_at_once_count_each_event_once() {
    const LOCKS: usize = 30;
    let app = spawn_usage_app().await;
    let mut settings = test_settings();
    settings.usage.rollup_interval_seconds = 1;
    let replicas = [
        app.address.clone(),
        start_replica(&settings, app.pool.clone()),
        start_replica(&settings, app.pool.clone()),
    ];
    let owner = key(&app.pool, "acme", Role::Owner).await;

    let mut tasks = Vec::new();
    for i in 0..LOCKS {
        let (client, key) = (app.client.clone(), app.acme.key.clone());
        let url = format!("{}/v1/locks/many-{i}", replicas[i % replicas.len()]);
        tasks.push(tokio::spawn(async move {
            let granted: Value = client
                .post(&url)
                .bearer_auth(&key)
                .json(&json!({}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let token = granted["lock_token"].as_str().unwrap().to_owned();
            client.delete(&url).bearer_auth(&key).header("Lock-Token", token).send().await.unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let passes: Vec<_> = (0..8)
        .map(|_| {
            let pool = app.pool.clone();
            tokio::spawn(async move { rollup::pass(&pool).await.unwrap() })
        })
        .collect();
    for pass in passes {
        pass.await.unwrap();
    }

    await_today(&app, &owner, json!({"acquired": LOCKS, "released": LOCKS})).await;
    await_a_later_pass(&app).await;
    let row = today(&app, &owner).await;
    assert_eq!(
        (row["acquired"].as_u64(), row["released"].as_u64()),
        (Some(LOCKS as u64), Some(LOCKS as u64))
    );
}

#[tokio::test]
async fn usage_of_an_older_trail_is_counted_a_day_per_pass() {
    let app = spawn_manual_app().await;
    let owner = key(&app.pool, "acme", Role::Owner).await;
    sqlx::query("SELECT lock_events_create_partitions(now() - interval '5 days', now())")
        .execute(&app.pool)
        .await
        .unwrap();
    let midnight = "date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'";
    for (days_ago, event) in
        [(3, "acquired"), (3, "acquired"), (2, "renewed"), (1, "released"), (1, "expired")]
    {
        sqlx::query(&format!(
            "INSERT INTO lock_events (occurred_at, event, namespace, name, fencing_token, account_id, key_id, expires_at)
             SELECT {midnight} - make_interval(days => $1) + interval '12 hours', $2, 'acme', 'old', 1, id, 'k', now()
             FROM accounts WHERE name = 'acme'"
        ))
        .bind(days_ago)
        .bind(event)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    sqlx::query(&format!("UPDATE usage_rollup SET counted_until = {midnight} - interval '3 days'"))
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(app.acquire(&app.acme, "/v1/locks/new", json!({})).await.status(), StatusCode::CREATED);
    wait_for_settled_audit(&app.pool).await;

    let mut windows = Vec::new();
    loop {
        let window = rollup::pass(&app.pool).await.unwrap().expect("no other replica rolls up");
        windows.push(window);
        if !window.behind {
            break;
        }
    }

    assert_eq!(windows.len(), 4, "three whole days, then today's part: {windows:?}");
    for window in &windows[..3] {
        assert_eq!(window.until - window.start, chrono::TimeDelta::days(1));
    }
    let today = today_by_database(&app).await;
    let from = today - chrono::Days::new(3);
    let body = json(usage(&app, &owner, &format!("/v1/account/usage?from={from}&to={today}")).await).await;
    let counts: Vec<(i64, i64, i64, i64)> = body["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let n = |field: &str| d[field].as_i64().unwrap();
            (n("acquired"), n("renewed"), n("released"), n("expired"))
        })
        .collect();
    assert_eq!(counts, [(2, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 1), (1, 0, 0, 0)]);
}
