//! Semaphores: never more holders than the limit, whatever races; per-holder
//! renew and release; fair waiting; every grant and end in the audit trail.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::Barrier;

use crate::helpers::{error_code, json, spawn_app, wait_until};

const PATH: &str = "/v1/semaphores/workers";

async fn live_holders(app: &crate::helpers::TestApp, name: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM semaphores s, unnest(s.holders) h WHERE s.name = $1 AND h.expires_at > now()",
    )
    .bind(name)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_semaphore_admits_up_to_its_limit_and_then_is_full() {
    let app = spawn_app().await;
    let body = json!({"limit": 2, "ttl_seconds": 30, "owner": "w"});

    let first = app.acquire(&app.acme, PATH, body.clone()).await;
    let second = app.acquire(&app.acme, PATH, body.clone()).await;
    let third = app.acquire(&app.acme, PATH, body).await;

    assert_eq!(first.status(), StatusCode::CREATED);
    assert_eq!(second.status(), StatusCode::CREATED);
    let (first, second) = (json(first).await, json(second).await);
    assert_eq!((first["holders"].as_i64(), second["holders"].as_i64()), (Some(1), Some(2)));
    assert_eq!(second["limit"], 2);
    assert!(second["fencing_token"].as_i64() > first["fencing_token"].as_i64());
    assert_ne!(first["lock_token"], second["lock_token"]);
    assert_eq!(third.status(), StatusCode::CONFLICT);
    let retry_after: u32 = third.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    let refused = json(third).await;
    assert_eq!(refused["error"]["code"], "semaphore_full");
    assert_eq!((refused["limit"].as_i64(), refused["holders"].as_i64()), (Some(2), Some(2)));
}

#[tokio::test]
async fn a_hundred_racing_acquires_never_exceed_the_limit() {
    let app = Arc::new(spawn_app().await);
    let barrier = Arc::new(Barrier::new(100));
    let racers: Vec<_> = (0..100)
        .map(|_| {
            let (app, barrier) = (app.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let response = app.acquire(&app.acme, PATH, json!({"limit": 5, "ttl_seconds": 60})).await;
                let status = response.status();
                (status, json(response).await)
            })
        })
        .collect();
    let mut granted = Vec::new();
    for racer in racers {
        let (status, body) = racer.await.unwrap();
        match status {
            StatusCode::CREATED => granted.push(body["fencing_token"].as_i64().unwrap()),
            StatusCode::CONFLICT => assert_eq!(body["error"]["code"], "semaphore_full"),
            other => panic!("unexpected {other}: {body}"),
        }
    }

    granted.sort();
    granted.dedup();
    assert_eq!(granted.len(), 5, "granted fencing tokens: {granted:?}");
    assert_eq!(live_holders(&app, "workers").await, 5);
    let acquired: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM lock_events WHERE name = 'workers' AND kind = 'semaphore' AND event = 'acquired'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(acquired, 5);
}

#[tokio::test]
async fn another_limit_is_refused_while_holders_live_and_taken_once_none_do() {
    let app = spawn_app().await;
    let grant = json(app.acquire(&app.acme, PATH, json!({"limit": 3})).await).await;

    let mismatch = app.acquire(&app.acme, PATH, json!({"limit": 4})).await;
    assert_eq!(mismatch.status(), StatusCode::CONFLICT);
    let body = json(mismatch).await;
    assert_eq!((body["error"]["code"].as_str(), body["limit"].as_i64()), (Some("limit_mismatch"), Some(3)));

    let token = grant["lock_token"].as_str().unwrap();
    assert_eq!(app.release(&app.acme, PATH, token).await.status(), StatusCode::NO_CONTENT);
    let regrant = json(app.acquire(&app.acme, PATH, json!({"limit": 4})).await).await;
    assert_eq!(regrant["limit"], 4);
}

#[tokio::test]
async fn renew_and_release_act_on_the_one_holder_whose_token_is_sent() {
    let app = spawn_app().await;
    let a = json(app.acquire(&app.acme, PATH, json!({"limit": 2, "ttl_seconds": 10})).await).await;
    let b = json(app.acquire(&app.acme, PATH, json!({"limit": 2, "ttl_seconds": 10})).await).await;
    let (a_token, b_token) = (a["lock_token"].as_str().unwrap(), b["lock_token"].as_str().unwrap());

    let renewed = app
        .request(Method::POST, &format!("{PATH}/renew"), &app.acme)
        .header("Lock-Token", a_token)
        .json(&json!({"ttl_seconds": 600}))
        .send()
        .await
        .unwrap();
    assert_eq!(renewed.status(), StatusCode::OK);
    let renewed = json(renewed).await;
    assert_eq!(renewed["fencing_token"], a["fencing_token"]);
    assert_eq!(renewed["ttl_seconds"], 600);
    assert!(renewed.get("lock_token").is_none());

    assert_eq!(app.release(&app.acme, PATH, b_token).await.status(), StatusCode::NO_CONTENT);
    let again = app.release(&app.acme, PATH, b_token).await;
    assert_eq!(again.status(), StatusCode::GONE);
    let again = json(again).await;
    assert_eq!(
        (again["error"]["code"].as_str(), again["error"]["reason"].as_str()),
        (Some("lease_lost"), Some("released"))
    );
    let state = json(app.status(&app.acme, PATH).await).await;
    let holders = state["holders"].as_array().unwrap();
    assert_eq!(holders.len(), 1);
    assert_eq!(holders[0]["fencing_token"], a["fencing_token"]);
    assert!(holders[0]["expires_at"].as_str() > a["expires_at"].as_str());
    let unknown = app.renew(&app.acme, PATH, "not-a-token").await;
    assert_eq!(unknown.status(), StatusCode::GONE);
}

#[tokio::test]
async fn status_shows_the_limit_and_holders_but_never_a_token() {
    let app = spawn_app().await;
    let free = json(app.status(&app.acme, PATH).await).await;
    assert_eq!(free["holders"], json!([]));
    assert_eq!(free["limit"], Value::Null);
    app.acquire(&app.acme, PATH, json!({"limit": 3, "owner": "host-1"})).await;

    let state = json(app.status(&app.acme, PATH).await).await;

    assert_eq!(state["limit"], 3);
    assert_eq!(state["holders"][0]["owner"], "host-1");
    assert!(!state.to_string().contains("lock_token"));
}

#[tokio::test]
async fn a_waiter_gets_the_permit_a_holder_gives_back() {
    let app = Arc::new(spawn_app().await);
    let holder = json(app.acquire(&app.acme, PATH, json!({"limit": 1, "ttl_seconds": 60})).await).await;
    let waiter = tokio::spawn({
        let app = app.clone();
        async move { app.acquire(&app.acme, PATH, json!({"limit": 1, "wait_seconds": 20})).await }
    });
    wait_until(Duration::from_secs(10), || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM lock_waiters WHERE name = 'semaphore/workers'")
            .fetch_one(&app.pool)
            .await
            .unwrap()
            == 1
    })
    .await;

    app.release(&app.acme, PATH, holder["lock_token"].as_str().unwrap()).await;

    let granted = waiter.await.unwrap();
    assert_eq!(granted.status(), StatusCode::CREATED);
    assert!(json(granted).await["fencing_token"].as_i64() > holder["fencing_token"].as_i64());
}

#[tokio::test]
async fn a_lapsed_permit_frees_its_place_and_its_expiry_is_recorded_once() {
    let app = spawn_app().await;
    let lapsing = json(app.acquire(&app.acme, PATH, json!({"limit": 1, "ttl_seconds": 1})).await).await;
    wait_until(Duration::from_secs(10), || async { live_holders(&app, "workers").await == 0 }).await;

    let next = app.acquire(&app.acme, PATH, json!({"limit": 1})).await;

    assert_eq!(next.status(), StatusCode::CREATED);
    let events: Vec<(String, i64)> = sqlx::query_as(
        "SELECT event, fencing_token FROM lock_events WHERE name = 'workers' AND kind = 'semaphore' ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let lapsed = lapsing["fencing_token"].as_i64().unwrap();
    let expiries = events.iter().filter(|(e, f)| e == "expired" && *f == lapsed).count();
    assert_eq!(expiries, 1, "{events:?}");
}

#[tokio::test]
async fn bad_limits_are_refused_and_other_tenants_namespaces_are_not_found() {
    let app = spawn_app().await;
    for body in [json!({}), json!({"limit": 0}), json!({"limit": 10001}), json!({"limit": "2"})] {
        let response = app.acquire(&app.acme, PATH, body.clone()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    assert_eq!(error_code(app.acquire(&app.acme, PATH, json!({"limit": 0})).await).await, "invalid_limit");

    let foreign =
        app.acquire(&app.globex, "/v1/namespaces/acme/semaphores/workers", json!({"limit": 1})).await;

    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(foreign).await, "namespace_not_found");
}

#[tokio::test]
async fn the_audit_trail_tells_a_semaphore_from_a_lock_of_the_same_name() {
    let app = spawn_app().await;
    app.acquire(&app.acme, PATH, json!({"limit": 2})).await;
    app.acquire(&app.acme, "/v1/locks/workers", json!({})).await;
    crate::helpers::wait_for_settled_audit(&app.pool).await;

    let page = json(app.status(&app.acme, "/v1/audit?name=workers&kind=semaphore").await).await;

    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{page}");
    assert_eq!((events[0]["kind"].as_str(), events[0]["mode"].as_str()), (Some("semaphore"), Some("shared")));
    let bad = app.status(&app.acme, "/v1/audit?kind=mutex").await;
    assert_eq!(error_code(bad).await, "invalid_kind");
}

#[tokio::test]
async fn a_waiter_whose_client_goes_away_leaves_the_queue() {
    let app = spawn_app().await;
    app.acquire(&app.acme, PATH, json!({"limit": 1})).await;
    let impatient = app
        .client
        .post(format!("{}{PATH}", app.address))
        .bearer_auth(&app.acme.key)
        .json(&json!({"limit": 1, "wait_seconds": 20}))
        .timeout(Duration::from_millis(1500))
        .send();
    let queued = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM lock_waiters").fetch_one(&app.pool).await.unwrap()
    };
    let watcher = wait_until(Duration::from_secs(5), || async { queued().await == 1 });

    let (gone, _) = tokio::join!(impatient, watcher);

    assert!(gone.unwrap_err().is_timeout());
    // Its place is given up at once, not left to lapse.
    wait_until(Duration::from_secs(2), || async { queued().await == 0 }).await;
}
