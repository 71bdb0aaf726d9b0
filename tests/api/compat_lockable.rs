//! Lockable's documented calls, replayed against Leasehold.

use std::sync::Arc;

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::Barrier;

use leasehold::admin;
use leasehold::domain::{Plan, Role};

use crate::helpers::{error_code, json, key, spawn_app, spawn_app_with, wait_for_lapse, TestApp};

/// `curl https://HOST/v1/{op}/{name} -u KEY:`
async fn call(app: &TestApp, key: &str, op: &str, name: &str) -> Response {
    app.client.get(app.url(&format!("/v1/{op}/{name}"))).basic_auth(key, Some("")).send().await.unwrap()
}

async fn answer(response: Response) -> Value {
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store", "these GETs change state");
    json(response).await
}

#[tokio::test]
async fn the_documented_acquire_heartbeat_release_cycle() {
    let app = spawn_app().await;
    let key = &app.hobby.key;
    let name = "acme-company-foo-system-parallel-batch-job";

    assert_eq!(answer(call(&app, key, "acquire", name).await).await, json!({"response": true}));
    assert_eq!(answer(call(&app, key, "acquire", name).await).await, json!({"response": false}));
    assert_eq!(answer(call(&app, key, "heartbeat", name).await).await, json!({"response": true}));
    assert_eq!(answer(call(&app, key, "release", name).await).await, json!({"response": true}));
    assert_eq!(answer(call(&app, key, "release", name).await).await, json!({"response": false}));
    assert_eq!(answer(call(&app, key, "heartbeat", name).await).await, json!({"response": false}));
    assert_eq!(answer(call(&app, key, "acquire", name).await).await, json!({"response": true}));

    let events: Vec<String> = app.events("public", name).await.into_iter().map(|(e, _)| e).collect();
    assert_eq!(events, ["acquired", "renewed", "released", "acquired"]);
}

#[tokio::test]
async fn bearer_auth_and_post_work_too() {
    let app = spawn_app().await;

    let response =
        app.client.post(app.url("/v1/acquire/job")).bearer_auth(&app.acme.key).send().await.unwrap();

    assert_eq!(answer(response).await, json!({"response": true}));
}

#[tokio::test]
async fn missing_or_bad_credentials_are_unauthorized() {
    let app = spawn_app().await;

    let none = app.client.get(app.url("/v1/acquire/job")).send().await.unwrap();
    let bad = call(&app, "00000000-0000-0000-0000-000000000000", "acquire", "job").await;

    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(bad).await, "unauthorized");
}

#[tokio::test]
async fn the_lock_lives_in_the_keys_default_namespace_with_the_plans_lease() {
    let app = spawn_app().await;

    call(&app, &app.hobby.key, "acquire", "h").await;
    call(&app, &app.acme.key, "acquire", "b").await;

    assert_eq!(app.lease_seconds("public", "h").await, 60);
    assert_eq!(app.lease_seconds("acme", "b").await, 300);
}

#[tokio::test]
async fn a_business_key_chooses_its_lease_within_its_plan_and_a_hobbyist_cannot() {
    let app = spawn_app().await;

    let chosen = call(&app, &app.acme.key, "acquire", "b?ttl=5").await;
    let too_long = call(&app, &app.acme.key, "acquire", "c?ttl=1801").await;
    let hobbyist = call(&app, &app.hobby.key, "acquire", "h?ttl=5").await;

    assert_eq!(answer(chosen).await, json!({"response": true}));
    assert_eq!(app.lease_seconds("acme", "b").await, 5);
    assert_eq!(too_long.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(too_long).await, "invalid_ttl");
    assert_eq!(hobbyist.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(hobbyist).await, "plan_forbids");
}

#[tokio::test]
async fn another_account_can_neither_take_renew_nor_release_the_lock() {
    let app = spawn_app().await;
    admin::create_account(&app.pool, "hobby2", Plan::Hobbyist).await.unwrap();
    let other = admin::create_key(&app.pool, "hobby2", Role::Client, None).await.unwrap();
    call(&app, &app.hobby.key, "acquire", "shared-name").await;

    for op in ["acquire", "heartbeat", "release"] {
        let response = call(&app, &other.key, op, "shared-name").await;
        assert_eq!(answer(response).await, json!({"response": false}), "{op}");
    }
    let holder = call(&app, &app.hobby.key, "heartbeat", "shared-name").await;
    assert_eq!(answer(holder).await, json!({"response": true}));
}

#[tokio::test]
async fn another_key_of_the_same_account_is_the_same_holder() {
    let app = spawn_app().await;
    let second = key(&app.pool, "acme", Role::Client).await;
    call(&app, &app.acme.key, "acquire", "job").await;

    let again = call(&app, &second.key, "acquire", "job").await;
    let heartbeat = call(&app, &second.key, "heartbeat", "job").await;
    let release = call(&app, &second.key, "release", "job").await;

    assert_eq!(answer(again).await, json!({"response": false}), "acquire fails even for the holder");
    assert_eq!(answer(heartbeat).await, json!({"response": true}));
    assert_eq!(answer(release).await, json!({"response": true}));
}

#[tokio::test]
async fn a_lapsed_lease_cannot_be_renewed_and_is_free_to_acquire() {
    let app = spawn_app_with(|s| s.sweeper.interval_ms = 3_600_000).await;
    call(&app, &app.acme.key, "acquire", "short?ttl=1").await;
    wait_for_lapse(&app.pool).await;

    let heartbeat = call(&app, &app.acme.key, "heartbeat", "short").await;
    let acquire = call(&app, &app.acme.key, "acquire", "short").await;

    assert_eq!(answer(heartbeat).await, json!({"response": false}));
    assert_eq!(answer(acquire).await, json!({"response": true}));
    let events: Vec<String> = app.events("acme", "short").await.into_iter().map(|(e, _)| e).collect();
    assert_eq!(events, ["acquired", "expired", "acquired"], "the lapse is recorded once");
}

#[tokio::test]
async fn concurrent_lockable_acquires_grant_exactly_one() {
    let app = spawn_app().await;
    let barrier = Arc::new(Barrier::new(50));

    let attempts = (0..50).map(|_| {
        let (client, url, key, barrier) =
            (app.client.clone(), app.url("/v1/acquire/contended"), app.acme.key.clone(), barrier.clone());
        tokio::spawn(async move {
            barrier.wait().await;
            let response = client.get(url).basic_auth(key, Some("")).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.unwrap()["response"].as_bool().unwrap()
        })
    });
    let granted = futures_util::future::join_all(attempts).await.into_iter().filter(|r| *r.as_ref().unwrap());

    assert_eq!(granted.count(), 1);
    assert_eq!(app.events("acme", "contended").await.len(), 1);
}

#[tokio::test]
async fn a_ttl_that_is_not_a_number_of_seconds_is_refused_naming_ttl() {
    let app = spawn_app().await;

    for bad in ["abc", "0", "-5", "1.5"] {
        let response = call(&app, &app.acme.key, "acquire", &format!("b?ttl={bad}")).await;

        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "ttl={bad}");
        let body = json(response).await;
        assert_eq!(body["error"]["code"], "invalid_ttl");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("ttl must be a whole number of seconds"), "{message}");
    }
    assert_eq!(answer(call(&app, &app.acme.key, "acquire", "b").await).await, json!({"response": true}));
}

#[tokio::test]
async fn with_a_path_prefix_every_compatibility_api_also_answers_under_it() {
    let prefix = leasehold::config::PathPrefix::try_from("/v1/api".to_owned()).unwrap();
    let app = spawn_app_with(|s| s.compat.path_prefix = Some(prefix)).await;
    let key = &app.acme.key;
    let under = |path: &str| app.client.get(app.url(&format!("/v1/api{path}"))).basic_auth(key, Some(""));

    let lockable = answer(under("/v1/acquire/prefixed").send().await.unwrap()).await;
    let locklock = under("/lock/key/prefixed").send().await.unwrap();
    let mutex_uno = under("/api/prefixed").send().await.unwrap();
    let native = app.client.get(app.url("/v1/api/v1/locks/prefixed")).bearer_auth(key).send().await.unwrap();

    assert_eq!(lockable, json!({"response": true}));
    assert_eq!(answer(call(&app, key, "acquire", "prefixed").await).await, json!({"response": false}));
    assert_eq!(locklock.status(), StatusCode::OK, "Locklock sees the lock held");
    assert_eq!(mutex_uno.status(), StatusCode::OK, "mutex.uno sees the lock held");
    assert_eq!(native.status(), StatusCode::NOT_FOUND, "only the compatibility APIs move");
}
