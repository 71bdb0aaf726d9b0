use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::Barrier;

use crate::helpers::{error_code, json, spawn_app, spawn_app_with, wait_for_lapse};

#[tokio::test]
async fn acquire_of_a_free_lock_grants_a_lease() {
    let app = spawn_app().await;

    let response = app
        .acquire(
            &app.acme,
            "/v1/locks/nightly-billing",
            json!({"ttl_seconds": 30, "owner": "cron@host-1", "metadata": {"run": 7}}),
        )
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["location"], "/v1/namespaces/acme/locks/nightly-billing");
    let body = json(response).await;
    assert_eq!(body["namespace"], "acme");
    assert_eq!(body["name"], "nightly-billing");
    assert_eq!(body["owner"], "cron@host-1");
    assert_eq!(body["ttl_seconds"], 30);
    assert_eq!(body["metadata"], json!({"run": 7}));
    assert!(body["fencing_token"].as_i64().unwrap() > 0);
    let acquired = chrono::DateTime::parse_from_rfc3339(body["acquired_at"].as_str().unwrap()).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!((expires - acquired).num_seconds(), 30);
    assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));
    assert!(body["lock_token"].as_str().unwrap().len() >= 43);
}

#[tokio::test]
async fn the_lock_token_is_stored_only_as_a_hash() {
    let app = spawn_app().await;

    let body = json(app.acquire(&app.acme, "/v1/locks/a", json!({})).await).await;

    let token = body["lock_token"].as_str().unwrap();
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT token_hash FROM locks").fetch_one(&app.pool).await.unwrap();
    assert_eq!(stored, Sha256::digest(token.as_bytes()).to_vec());
    let anywhere: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT FROM lock_events e WHERE e::text LIKE '%' || $1 || '%')
             OR EXISTS (SELECT FROM locks l WHERE l::text LIKE '%' || $1 || '%')",
    )
    .bind(token)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(!anywhere, "the clear token must not be stored");
}

#[tokio::test]
async fn second_acquire_of_a_held_lock_is_conflict_with_state_and_retry_after() {
    let app = spawn_app().await;
    let first =
        json(app.acquire(&app.acme, "/v1/locks/deploy", json!({"ttl_seconds": 90, "owner": "a"})).await)
            .await;

    let response = app.acquire(&app.acme, "/v1/locks/deploy", json!({"owner": "b"})).await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    let retry_after: u32 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((89..=90).contains(&retry_after), "{retry_after}");
    let body = json(response).await;
    assert_eq!(body["error"]["code"], "lock_held");
    assert_eq!(body["lock"]["owner"], "a");
    assert_eq!(body["lock"]["fencing_token"], first["fencing_token"]);
    assert!(body["lock"].get("lock_token").is_none(), "a conflict never reveals the token");
}

#[tokio::test]
async fn concurrent_acquires_of_one_name_grant_exactly_one() {
    let app = spawn_app().await;
    let barrier = Arc::new(Barrier::new(200));

    let attempts = (0..200).map(|i| {
        let (client, url, key, barrier) = (
            app.client.clone(),
            format!("{}/v1/locks/contended", app.address),
            app.acme.key.clone(),
            barrier.clone(),
        );
        tokio::spawn(async move {
            barrier.wait().await;
            client
                .post(url)
                .bearer_auth(key)
                .json(&json!({"owner": format!("worker-{i}")}))
                .send()
                .await
                .unwrap()
                .status()
        })
    });
    let statuses: Vec<StatusCode> =
        futures_util::future::join_all(attempts).await.into_iter().map(Result::unwrap).collect();

    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1);
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count(), 199);
    assert_eq!(app.events("acme", "contended").await.len(), 1, "one acquisition, one audit row");
}

#[tokio::test]
async fn fencing_tokens_increase_across_release_and_reacquire() {
    let app = spawn_app().await;
    let mut last = 0;
    for _ in 0..5 {
        let body = json(app.acquire(&app.acme, "/v1/locks/f", json!({})).await).await;
        let fencing = body["fencing_token"].as_i64().unwrap();
        assert!(fencing > last, "{fencing} after {last}");
        last = fencing;
        let released = app.release(&app.acme, "/v1/locks/f", body["lock_token"].as_str().unwrap()).await;
        assert_eq!(released.status(), StatusCode::NO_CONTENT);
    }
}

#[tokio::test]
async fn takeover_of_an_expired_lease_gets_a_higher_fencing_token_and_records_the_expiry() {
    // The sweeper stays out of the way so that the takeover records the lapse.
    let app = spawn_app_with(|s| s.sweeper.interval_ms = 3_600_000).await;
    let first = json(app.acquire(&app.acme, "/v1/locks/short", json!({"ttl_seconds": 1})).await).await;
    wait_for_lapse(&app.pool).await;

    let response = app.acquire(&app.acme, "/v1/locks/short", json!({})).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let second = json(response).await;
    assert!(second["fencing_token"].as_i64() > first["fencing_token"].as_i64());
    let events = app.events("acme", "short").await;
    let first_token = first["fencing_token"].as_i64().unwrap();
    let second_token = second["fencing_token"].as_i64().unwrap();
    assert_eq!(
        events,
        vec![
            ("acquired".into(), first_token),
            ("expired".into(), first_token),
            ("acquired".into(), second_token)
        ]
    );
}

#[tokio::test]
async fn hobbyists_cannot_choose_their_ttl_or_attach_metadata() {
    let app = spawn_app().await;

    let ttl = app.acquire(&app.hobby, "/v1/locks/h", json!({"ttl_seconds": 30})).await;
    assert_eq!(ttl.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(ttl).await, "plan_forbids");
    let metadata = app.acquire(&app.hobby, "/v1/locks/h", json!({"metadata": {"a": 1}})).await;
    assert_eq!(metadata.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(metadata).await, "plan_forbids");

    let granted = app.acquire(&app.hobby, "/v1/locks/h", json!({})).await;
    assert_eq!(granted.status(), StatusCode::CREATED);
    let body = json(granted).await;
    assert_eq!(body["ttl_seconds"], 60);
    assert_eq!(body["namespace"], "public");
}

#[tokio::test]
async fn business_ttl_outside_the_plan_is_invalid() {
    let app = spawn_app().await;
    for ttl in [0, -1, 1801] {
        let response = app.acquire(&app.acme, "/v1/locks/b", json!({"ttl_seconds": ttl})).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{ttl}");
        assert_eq!(error_code(response).await, "invalid_ttl");
    }
    let meta = json!({"metadata": {"blob": "x".repeat(5000)}});
    let response = app.acquire(&app.acme, "/v1/locks/b", meta).await;
    assert_eq!(error_code(response).await, "invalid_metadata");
    let held: i64 = sqlx::query_scalar("SELECT count(*) FROM locks").fetch_one(&app.pool).await.unwrap();
    assert_eq!(held, 0, "a refused request changes nothing");
}

#[tokio::test]
async fn acquisition_is_audited_with_key_and_request_id() {
    let app = spawn_app().await;

    let response = app.acquire(&app.acme, "/v1/locks/audited", json!({"owner": "me"})).await;

    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body = json(response).await;
    let (event, key_id, owner, recorded_request, fencing): (
        String,
        String,
        Option<String>,
        Option<String>,
        i64,
    ) = sqlx::query_as("SELECT event, key_id, owner, request_id, fencing_token FROM lock_events")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(event, "acquired");
    assert_eq!(key_id, app.acme.key_id);
    assert_eq!(owner.as_deref(), Some("me"));
    assert_eq!(recorded_request.as_deref(), Some(request_id.as_str()));
    assert_eq!(fencing, body["fencing_token"].as_i64().unwrap());
}
