//! A lock held through any API is held for all of them: Lockable, Locklock,
//! mutex.uno and the native API share one lock table.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::sync::Barrier;

use crate::helpers::{json, spawn_app_with_anonymous_compat, wait_until, TestApp};

/// A UUID, so that Locklock can name it; in `public`, where all four meet.
const NAME: &str = "5b1e9c7a-3f0d-4c2e-8a6b-9d4f2e1c0b7a";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Api {
    Native,
    Lockable,
    Locklock,
    MutexUno,
}

const ALL: [Api; 4] = [Api::Native, Api::Lockable, Api::Locklock, Api::MutexUno];

/// Acquires through `api`; whether it was granted.
async fn acquire(app: &TestApp, api: Api) -> bool {
    let client = &app.client;
    match api {
        Api::Native => {
            let response =
                app.acquire(&app.hobby, &format!("/v1/namespaces/public/locks/{NAME}"), json!({})).await;
            response.status() == StatusCode::CREATED
        }
        Api::Lockable => {
            let url = app.url(&format!("/v1/acquire/{NAME}"));
            let response = client.get(url).basic_auth(&app.hobby.key, Some("")).send().await.unwrap();
            json(response).await == json!({"response": true})
        }
        Api::Locklock => {
            let response = client.post(app.url(&format!("/lock/uuid/{NAME}"))).send().await.unwrap();
            response.status() == StatusCode::CREATED
        }
        Api::MutexUno => {
            let response = client.post(app.url(&format!("/api/{NAME}"))).send().await.unwrap();
            response.status() == StatusCode::CREATED
        }
    }
}

/// Whether `api` reports the lock as held.
async fn seen_held(app: &TestApp, api: Api) -> bool {
    let client = &app.client;
    match api {
        Api::Native => {
            let response = app.status(&app.globex, &format!("/v1/namespaces/public/locks/{NAME}")).await;
            response.status() == StatusCode::OK
        }
        // Lockable has no read: a refused acquire is how it sees a held lock.
        Api::Lockable => !acquire(app, Api::Lockable).await,
        Api::Locklock => {
            let response = client.get(app.url(&format!("/lock/uuid/{NAME}"))).send().await.unwrap();
            response.status() == StatusCode::OK
        }
        Api::MutexUno => {
            let response = client.get(app.url(&format!("/api/{NAME}"))).send().await.unwrap();
            response.status() == StatusCode::OK
        }
    }
}

#[tokio::test]
async fn a_lock_held_through_one_api_is_held_for_the_other_three() {
    for holder in ALL {
        let app = spawn_app_with_anonymous_compat().await;
        assert!(acquire(&app, holder).await, "{holder:?} acquires");

        for other in ALL.into_iter().filter(|api| *api != holder) {
            assert!(seen_held(&app, other).await, "{other:?} sees the lock {holder:?} holds");
            assert!(!acquire(&app, other).await, "{other:?} cannot take the lock {holder:?} holds");
        }
        let live: i64 = sqlx::query_scalar("SELECT count(*) FROM locks").fetch_one(&app.pool).await.unwrap();
        assert_eq!(live, 1);
    }
}

#[tokio::test]
async fn no_api_releases_a_lock_held_through_another() {
    let app = spawn_app_with_anonymous_compat().await;
    let native =
        json(app.acquire(&app.hobby, &format!("/v1/namespaces/public/locks/{NAME}"), json!({})).await).await;

    let lockable = app
        .client
        .get(app.url(&format!("/v1/release/{NAME}")))
        .basic_auth(&app.hobby.key, Some(""))
        .send()
        .await
        .unwrap();
    let locklock = app.client.delete(app.url(&format!("/lock/uuid/{NAME}"))).send().await.unwrap();
    let mutex_uno = app.client.delete(app.url(&format!("/api/{NAME}"))).send().await.unwrap();

    assert_eq!(json(lockable).await, json!({"response": false}));
    assert_eq!(locklock.status(), StatusCode::FORBIDDEN);
    assert_eq!(mutex_uno.status(), StatusCode::PRECONDITION_FAILED);
    let status = json(app.status(&app.hobby, &format!("/v1/namespaces/public/locks/{NAME}")).await).await;
    assert_eq!(status["fencing_token"], native["fencing_token"], "the native lease is intact");
}

#[tokio::test]
async fn mutex_uno_names_a_foreign_lease_by_a_stable_id() {
    let app = spawn_app_with_anonymous_compat().await;
    acquire(&app, Api::Locklock).await;

    let first = app.client.get(app.url(&format!("/api/{NAME}"))).send().await.unwrap();
    let second = app.client.get(app.url(&format!("/api/{NAME}"))).send().await.unwrap();

    let etag = first.headers()["etag"].clone();
    assert_eq!(etag, second.headers()["etag"]);
    let body: Value = first.json().await.unwrap();
    assert_eq!(etag.to_str().unwrap(), format!("\"{}\"", body["id"].as_str().unwrap()));
}

#[tokio::test]
async fn fencing_tokens_keep_increasing_across_apis() {
    let app = spawn_app_with_anonymous_compat().await;
    let path = format!("/v1/namespaces/public/locks/{NAME}");
    let native = json(app.acquire(&app.hobby, &path, json!({})).await).await;
    app.release(&app.hobby, &path, native["lock_token"].as_str().unwrap()).await;

    acquire(&app, Api::MutexUno).await;
    let after = json(app.status(&app.hobby, &path).await).await;

    assert!(after["fencing_token"].as_i64() > native["fencing_token"].as_i64());
}

#[tokio::test]
async fn concurrent_acquires_through_all_four_apis_grant_exactly_one() {
    let app = Arc::new(spawn_app_with_anonymous_compat().await);
    let barrier = Arc::new(Barrier::new(40));

    let attempts = (0..40).map(|i| {
        let (app, barrier) = (app.clone(), barrier.clone());
        tokio::spawn(async move {
            barrier.wait().await;
            acquire(&app, ALL[i % 4]).await
        })
    });
    let granted = futures_util::future::join_all(attempts).await.into_iter().filter(|r| *r.as_ref().unwrap());

    assert_eq!(granted.count(), 1);
    let acquired: i64 = sqlx::query_scalar("SELECT count(*) FROM lock_events WHERE event = 'acquired'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(acquired, 1);
}

#[tokio::test]
async fn a_release_through_a_compat_api_wakes_native_waiters_at_once() {
    let app = Arc::new(spawn_app_with_anonymous_compat().await);
    acquire(&app, Api::Locklock).await;
    let waiter = {
        let app = app.clone();
        tokio::spawn(async move {
            let path = format!("/v1/namespaces/public/locks/{NAME}");
            let started = Instant::now();
            let response = app.acquire(&app.hobby, &path, json!({"wait_seconds": 20})).await;
            (response.status(), started.elapsed())
        })
    };
    wait_until(Duration::from_secs(10), || async {
        let waiting: i64 =
            sqlx::query_scalar("SELECT count(*) FROM lock_waiters").fetch_one(&app.pool).await.unwrap();
        waiting == 1
    })
    .await;

    let released = app.client.delete(app.url(&format!("/lock/uuid/{NAME}"))).send().await.unwrap();

    assert_eq!(released.status(), StatusCode::NO_CONTENT);
    let (status, waited) = waiter.await.unwrap();
    assert_eq!(status, StatusCode::CREATED);
    assert!(waited < Duration::from_secs(10), "woken by the release, not by its deadline: {waited:?}");
}
