use std::sync::Arc;

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};
use tokio::sync::Barrier;

use crate::helpers::{error_code, json, spawn_app, spawn_app_with, wait_for_lapse, TestApp};

fn with_key(request: RequestBuilder, key: &str) -> RequestBuilder {
    request.header("Idempotency-Key", key)
}

async fn acquire_with_key(app: &TestApp, path: &str, key: &str, body: Value) -> reqwest::Response {
    with_key(app.request(Method::POST, path, &app.acme), key).json(&body).send().await.unwrap()
}

async fn reason(response: reqwest::Response) -> String {
    assert_eq!(response.status(), StatusCode::GONE);
    json(response).await["error"]["reason"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_retried_acquire_gets_the_same_grant() {
    let app = spawn_app().await;

    let first = acquire_with_key(&app, "/v1/locks/job", "attempt-1", json!({"ttl_seconds": 30})).await;
    let retry = acquire_with_key(&app, "/v1/locks/job", "attempt-1", json!({"ttl_seconds": 30})).await;

    assert_eq!(first.status(), StatusCode::CREATED);
    assert_eq!(retry.status(), StatusCode::CREATED);
    let (first, retry) = (json(first).await, json(retry).await);
    for field in ["lock_token", "fencing_token", "expires_at", "acquired_at"] {
        assert_eq!(first[field], retry[field], "{field}");
    }
    assert_eq!(app.events("acme", "job").await.len(), 1, "acquired once");
}

#[tokio::test]
async fn concurrent_retries_of_one_acquire_all_get_the_one_grant() {
    let app = spawn_app().await;
    let barrier = Arc::new(Barrier::new(10));
    let tasks = (0..10).map(|_| {
        let (client, url, key, barrier) = (
            app.client.clone(),
            format!("{}/v1/locks/dup", app.address),
            app.acme.key.clone(),
            barrier.clone(),
        );
        tokio::spawn(async move {
            barrier.wait().await;
            let response =
                client.post(url).bearer_auth(key).header("Idempotency-Key", "same").send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        })
    });
    let answers: Vec<(StatusCode, Value)> =
        futures_util::future::join_all(tasks).await.into_iter().map(Result::unwrap).collect();

    assert!(answers.iter().all(|(status, _)| *status == StatusCode::CREATED), "{answers:?}");
    assert!(answers.iter().all(|(_, body)| body["lock_token"] == answers[0].1["lock_token"]));
    assert_eq!(app.events("acme", "dup").await.len(), 1);
}

#[tokio::test]
async fn reusing_an_idempotency_key_for_another_request_is_refused() {
    let app = spawn_app().await;
    acquire_with_key(&app, "/v1/locks/a", "k", json!({"ttl_seconds": 30})).await;

    let other_body = acquire_with_key(&app, "/v1/locks/a", "k", json!({"ttl_seconds": 31})).await;
    let other_lock = acquire_with_key(&app, "/v1/locks/b", "k", json!({"ttl_seconds": 30})).await;

    assert_eq!(other_body.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(other_body).await, "idempotency_key_reused");
    assert_eq!(error_code(other_lock).await, "idempotency_key_reused");
    assert_eq!(app.status(&app.acme, "/v1/locks/b").await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_retried_release_and_renew_answer_as_the_first_time() {
    let app = spawn_app().await;
    let grant = json(app.acquire(&app.acme, "/v1/locks/r", json!({"ttl_seconds": 30})).await).await;
    let token = grant["lock_token"].as_str().unwrap();
    let renew = || {
        with_key(app.request(Method::POST, "/v1/locks/r/renew", &app.acme), "renew-1")
            .header("Lock-Token", token)
    };
    let release = || {
        with_key(app.request(Method::DELETE, "/v1/locks/r", &app.acme), "release-1")
            .header("Lock-Token", token)
    };

    let renewed = json(renew().send().await.unwrap()).await;
    let renewed_again = renew().send().await.unwrap();
    assert_eq!(renewed_again.status(), StatusCode::OK);
    assert_eq!(json(renewed_again).await["expires_at"], renewed["expires_at"], "the lease it renewed");

    assert_eq!(release().send().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(release().send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let events: Vec<String> = app.events("acme", "r").await.into_iter().map(|e| e.0).collect();
    assert_eq!(events, ["acquired", "renewed", "released"]);
}

#[tokio::test]
async fn a_retried_acquire_whose_lease_ended_reports_why() {
    let app = spawn_app().await;
    let grant = json(acquire_with_key(&app, "/v1/locks/gone", "k1", json!({})).await).await;
    app.release(&app.acme, "/v1/locks/gone", grant["lock_token"].as_str().unwrap()).await;

    let retry = acquire_with_key(&app, "/v1/locks/gone", "k1", json!({})).await;

    assert_eq!(reason(retry).await, "released");
    assert_eq!(
        app.status(&app.acme, "/v1/locks/gone").await.status(),
        StatusCode::NOT_FOUND,
        "not re-acquired"
    );
}

#[tokio::test]
async fn lease_lost_says_why() {
    let app = spawn_app_with(|s| s.sweeper.interval_ms = 3_600_000).await;
    let released = json(app.acquire(&app.acme, "/v1/locks/a", json!({})).await).await;
    let released_token = released["lock_token"].as_str().unwrap();
    app.release(&app.acme, "/v1/locks/a", released_token).await;
    let lapsed = json(app.acquire(&app.acme, "/v1/locks/b", json!({"ttl_seconds": 1})).await).await;
    let superseded = json(app.acquire(&app.acme, "/v1/locks/c", json!({"ttl_seconds": 1})).await).await;
    wait_for_lapse(&app.pool).await;
    app.acquire(&app.acme, "/v1/locks/c", json!({})).await;

    assert_eq!(reason(app.renew(&app.acme, "/v1/locks/a", released_token).await).await, "released");
    assert_eq!(
        reason(app.renew(&app.acme, "/v1/locks/b", lapsed["lock_token"].as_str().unwrap()).await).await,
        "expired"
    );
    assert_eq!(
        reason(app.release(&app.acme, "/v1/locks/c", superseded["lock_token"].as_str().unwrap()).await).await,
        "superseded"
    );
    assert_eq!(reason(app.release(&app.acme, "/v1/locks/c", "never-issued").await).await, "unknown_token");
}

#[tokio::test]
async fn a_malformed_idempotency_key_is_rejected() {
    let app = spawn_app().await;
    let response = acquire_with_key(&app, "/v1/locks/x", &"k".repeat(256), json!({})).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(response).await, "invalid_idempotency_key");
}
