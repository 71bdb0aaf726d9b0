use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{error_code, json, spawn_app, spawn_app_with, wait_for_lapse};

#[tokio::test]
async fn renew_extends_the_lease_and_keeps_the_fencing_token() {
    let app = spawn_app().await;
    let grant = json(app.acquire(&app.acme, "/v1/locks/r", json!({"ttl_seconds": 10})).await).await;
    let token = grant["lock_token"].as_str().unwrap();

    let response = app
        .request(Method::POST, "/v1/locks/r/renew", &app.acme)
        .header("Lock-Token", token)
        .json(&json!({"ttl_seconds": 600}))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let renewed = json(response).await;
    assert_eq!(renewed["fencing_token"], grant["fencing_token"]);
    assert_eq!(renewed["ttl_seconds"], 600);
    assert!(renewed["expires_at"].as_str() > grant["expires_at"].as_str());
    assert!(renewed.get("lock_token").is_none());
    let events: Vec<String> = app.events("acme", "r").await.into_iter().map(|e| e.0).collect();
    assert_eq!(events, ["acquired", "renewed"]);
}

#[tokio::test]
async fn renew_without_a_ttl_keeps_the_lease_length() {
    let app = spawn_app().await;
    let grant = json(app.acquire(&app.acme, "/v1/locks/r", json!({"ttl_seconds": 42})).await).await;

    let renewed =
        json(app.renew(&app.acme, "/v1/locks/r", grant["lock_token"].as_str().unwrap()).await).await;

    assert_eq!(renewed["ttl_seconds"], 42);
}

#[tokio::test]
async fn the_token_may_come_in_x_lock_token_or_the_body() {
    let app = spawn_app().await;
    let grant = json(app.acquire(&app.acme, "/v1/locks/t", json!({})).await).await;
    let token = grant["lock_token"].as_str().unwrap();

    let by_header = app
        .request(Method::POST, "/v1/locks/t/renew", &app.acme)
        .header("X-Lock-Token", token)
        .send()
        .await
        .unwrap();
    let by_body = app
        .request(Method::DELETE, "/v1/locks/t", &app.acme)
        .json(&json!({"lock_token": token}))
        .send()
        .await
        .unwrap();

    assert_eq!(by_header.status(), StatusCode::OK);
    assert_eq!(by_body.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn renew_or_release_without_a_token_is_a_bad_request() {
    let app = spawn_app().await;
    app.acquire(&app.acme, "/v1/locks/t", json!({})).await;

    let renew = app.request(Method::POST, "/v1/locks/t/renew", &app.acme).send().await.unwrap();
    let release = app.request(Method::DELETE, "/v1/locks/t", &app.acme).send().await.unwrap();

    assert_eq!(renew.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(renew).await, "missing_lock_token");
    assert_eq!(error_code(release).await, "missing_lock_token");
}

#[tokio::test]
async fn a_wrong_token_neither_renews_nor_releases() {
    let app = spawn_app().await;
    app.acquire(&app.acme, "/v1/locks/w", json!({})).await;

    let renew = app.renew(&app.acme, "/v1/locks/w", "not-the-token").await;
    let release = app.release(&app.acme, "/v1/locks/w", "not-the-token").await;

    assert_eq!(renew.status(), StatusCode::GONE);
    assert_eq!(error_code(renew).await, "lease_lost");
    assert_eq!(release.status(), StatusCode::GONE);
    assert_eq!(app.status(&app.acme, "/v1/locks/w").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn release_frees_the_lock_and_a_second_release_is_gone() {
    let app = spawn_app().await;
    let grant = json(app.acquire(&app.acme, "/v1/locks/x", json!({})).await).await;
    let token = grant["lock_token"].as_str().unwrap();

    let first = app.release(&app.acme, "/v1/locks/x", token).await;
    let second = app.release(&app.acme, "/v1/locks/x", token).await;

    assert_eq!(first.status(), StatusCode::NO_CONTENT);
    assert_eq!(second.status(), StatusCode::GONE);
    assert_eq!(app.status(&app.acme, "/v1/locks/x").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.acquire(&app.acme, "/v1/locks/x", json!({})).await.status(), StatusCode::CREATED);
    let events: Vec<String> = app.events("acme", "x").await.into_iter().map(|e| e.0).collect();
    assert_eq!(events, ["acquired", "released", "acquired"]);
}

#[tokio::test]
async fn renew_and_release_after_expiry_are_gone() {
    let app = spawn_app_with(|s| s.sweeper.interval_ms = 3_600_000).await;
    let grant = json(app.acquire(&app.acme, "/v1/locks/e", json!({"ttl_seconds": 1})).await).await;
    let token = grant["lock_token"].as_str().unwrap();
    wait_for_lapse(&app.pool).await;

    let renew = app.renew(&app.acme, "/v1/locks/e", token).await;
    let release = app.release(&app.acme, "/v1/locks/e", token).await;

    assert_eq!(renew.status(), StatusCode::GONE);
    assert_eq!(release.status(), StatusCode::GONE);
    let events: Vec<String> = app.events("acme", "e").await.into_iter().map(|e| e.0).collect();
    assert_eq!(events, ["acquired"], "nothing is recorded for a lease that had lapsed");
}

#[tokio::test]
async fn a_token_from_an_earlier_lease_cannot_touch_the_current_one() {
    let app = spawn_app().await;
    let old = json(app.acquire(&app.acme, "/v1/locks/o", json!({})).await).await;
    let old_token = old["lock_token"].as_str().unwrap();
    app.release(&app.acme, "/v1/locks/o", old_token).await;
    app.acquire(&app.acme, "/v1/locks/o", json!({})).await;

    assert_eq!(app.renew(&app.acme, "/v1/locks/o", old_token).await.status(), StatusCode::GONE);
    assert_eq!(app.release(&app.acme, "/v1/locks/o", old_token).await.status(), StatusCode::GONE);
    assert_eq!(app.status(&app.acme, "/v1/locks/o").await.status(), StatusCode::OK);
}
