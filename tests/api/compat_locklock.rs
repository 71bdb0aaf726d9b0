//! Locklock's documented calls, replayed against Leasehold.

use std::sync::Arc;

use chrono::DateTime;
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{json, Value};
use tokio::sync::Barrier;

use crate::helpers::{
    error_code, json, spawn_app, spawn_app_with, spawn_app_with_anonymous_compat, wait_for_lapse, TestApp,
};

const ID: &str = "0d9bb4b6-4e1c-4d0e-9a07-7a2f3f0c5e11";

fn uuid_path() -> String {
    format!("/lock/uuid/{ID}")
}

/// `curl -X POST https://HOST/lock/uuid/<uuid>`, with a JSON body when given.
fn post(app: &TestApp, path: &str, body: Option<Value>) -> RequestBuilder {
    with_body(app.client.post(app.url(path)), body)
}

fn delete(app: &TestApp, path: &str, body: Option<Value>) -> RequestBuilder {
    with_body(app.client.delete(app.url(path)), body)
}

fn with_body(request: RequestBuilder, body: Option<Value>) -> RequestBuilder {
    match body {
        Some(body) => request.header("Content-Type", "application/json").body(body.to_string()),
        None => request,
    }
}

fn seconds_between(body: &Value, from: &str, to: &str) -> i64 {
    let at = |field: &str| DateTime::parse_from_rfc3339(body[field].as_str().unwrap()).unwrap();
    (at(to) - at(from)).num_seconds()
}

#[tokio::test]
async fn the_documented_acquire_and_release() {
    let app = spawn_app_with_anonymous_compat().await;

    let acquired = post(&app, &uuid_path(), None).send().await.unwrap();
    assert_eq!(acquired.status(), StatusCode::CREATED);
    let body = json(acquired).await;
    assert_eq!(body["id"], ID);
    assert_eq!(body["data"], Value::Null);
    assert_eq!(seconds_between(&body, "acquired_at", "expires_at"), 300, "max_expires_in applies");

    let released = delete(&app, &uuid_path(), None).send().await.unwrap();
    assert_eq!(released.status(), StatusCode::NO_CONTENT);
    let events: Vec<String> = app.events("public", ID).await.into_iter().map(|(e, _)| e).collect();
    assert_eq!(events, ["acquired", "released"]);
}

#[tokio::test]
async fn the_documented_secret_and_expires_in_example() {
    let app = spawn_app_with_anonymous_compat().await;

    let acquired = post(&app, &uuid_path(), Some(json!({"secret": "super-secret", "expires_in": 300})))
        .send()
        .await
        .unwrap();
    assert_eq!(acquired.status(), StatusCode::CREATED);
    assert_eq!(seconds_between(&json(acquired).await, "acquired_at", "expires_at"), 300);

    let without = delete(&app, &uuid_path(), None).send().await.unwrap();
    let wrong = delete(&app, &uuid_path(), Some(json!({"secret": "guess"}))).send().await.unwrap();
    assert_eq!(without.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(without).await, "secret_mismatch");
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);

    let right = delete(&app, &uuid_path(), Some(json!({"secret": "super-secret"}))).send().await.unwrap();
    assert_eq!(right.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn the_secret_is_stored_only_as_a_hash() {
    let app = spawn_app_with_anonymous_compat().await;

    post(&app, &uuid_path(), Some(json!({"secret": "super-secret"}))).send().await.unwrap();
    let status = json(app.client.get(app.url(&uuid_path())).send().await.unwrap()).await;

    let anywhere: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT FROM locks l WHERE l::text LIKE '%super-secret%')
             OR EXISTS (SELECT FROM lock_events e WHERE e::text LIKE '%super-secret%')
             OR EXISTS (SELECT FROM locks WHERE position('super-secret'::bytea IN compat_secret_hash) > 0)",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(!anywhere, "the clear secret must not be stored");
    assert!(!status.to_string().contains("secret"), "state never shows the secret: {status}");
}

#[tokio::test]
async fn a_held_lock_is_conflict_with_its_expiry() {
    let app = spawn_app_with_anonymous_compat().await;
    let first = json(post(&app, &uuid_path(), None).send().await.unwrap()).await;

    let second = post(&app, &uuid_path(), None).send().await.unwrap();

    assert_eq!(second.status(), StatusCode::CONFLICT);
    assert!(second.headers().contains_key("retry-after"));
    let body = json(second).await;
    assert_eq!(body["error"]["code"], "lock_held");
    assert_eq!(body["expires_at"], first["expires_at"]);
}

#[tokio::test]
async fn release_of_a_lock_nobody_holds_is_not_found() {
    let app = spawn_app_with_anonymous_compat().await;

    let response = delete(&app, &uuid_path(), None).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(response).await, "lock_not_held");
}

#[tokio::test]
async fn get_shows_the_state_or_not_found() {
    let app = spawn_app_with_anonymous_compat().await;
    let missing = app.client.get(app.url(&uuid_path())).send().await.unwrap();
    let acquired = json(post(&app, &uuid_path(), None).send().await.unwrap()).await;

    let state = app.client.get(app.url(&uuid_path())).send().await.unwrap();

    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(state.status(), StatusCode::OK);
    assert_eq!(json(state).await, acquired);
}

#[tokio::test]
async fn a_uuid_path_takes_only_a_uuid() {
    let app = spawn_app_with_anonymous_compat().await;

    let response = post(&app, "/lock/uuid/not-a-uuid", None).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(response).await, "invalid_uuid");
}

#[tokio::test]
async fn uuids_name_one_lock_whatever_their_spelling() {
    let app = spawn_app_with_anonymous_compat().await;
    post(&app, &uuid_path(), None).send().await.unwrap();

    let upper = post(&app, &format!("/lock/uuid/{}", ID.to_uppercase()), None).send().await.unwrap();

    assert_eq!(upper.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn anonymous_calls_are_refused_unless_enabled() {
    let app = spawn_app().await;

    let response = post(&app, &uuid_path(), None).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn anonymous_calls_are_audited_as_the_anonymous_actor_with_the_client_address() {
    let app = spawn_app_with_anonymous_compat().await;

    post(&app, &uuid_path(), None).send().await.unwrap();
    delete(&app, &uuid_path(), None).send().await.unwrap();

    let events: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT e.event, a.name, e.key_id, host(e.client_addr)
         FROM lock_events e JOIN accounts a ON a.id = e.account_id WHERE e.name = $1 ORDER BY e.id",
    )
    .bind(ID)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let anonymous = |event: &str| {
        (event.to_owned(), "_anonymous".to_owned(), "anonymous".to_owned(), Some("127.0.0.1".to_owned()))
    };
    assert_eq!(events, [anonymous("acquired"), anonymous("released")]);
}

#[tokio::test]
async fn keyed_calls_are_audited_under_their_key_without_an_address() {
    let app = spawn_app().await;

    post(&app, &uuid_path(), None).bearer_auth(&app.acme.key).send().await.unwrap();

    let (key_id, addr): (String, Option<String>) =
        sqlx::query_as("SELECT key_id, host(client_addr) FROM lock_events WHERE name = $1")
            .bind(ID)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((key_id, addr), (app.acme.key_id.clone(), None));
}

#[tokio::test]
async fn anonymous_callers_choose_expires_in_up_to_the_configured_bound() {
    let app = spawn_app_with_anonymous_compat().await;

    let short = post(&app, &uuid_path(), Some(json!({"expires_in": 2}))).send().await.unwrap();
    let long =
        post(&app, "/lock/uuid/1d9bb4b6-4e1c-4d0e-9a07-7a2f3f0c5e11", Some(json!({"expires_in": 301})))
            .send()
            .await
            .unwrap();

    assert_eq!(seconds_between(&json(short).await, "acquired_at", "expires_at"), 2);
    assert_eq!(long.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(long).await, "invalid_ttl");
}

#[tokio::test]
async fn keyed_callers_get_their_plans_longest_lease_and_bounds() {
    let app = spawn_app().await;

    let business = post(&app, &uuid_path(), None).bearer_auth(&app.acme.key).send().await.unwrap();
    let hobbyist = post(&app, "/lock/uuid/1d9bb4b6-4e1c-4d0e-9a07-7a2f3f0c5e11", None)
        .bearer_auth(&app.hobby.key)
        .send()
        .await
        .unwrap();
    let hobbyist_choice =
        post(&app, "/lock/uuid/2d9bb4b6-4e1c-4d0e-9a07-7a2f3f0c5e11", Some(json!({"expires_in": 300})))
            .bearer_auth(&app.hobby.key)
            .send()
            .await
            .unwrap();

    assert_eq!(seconds_between(&json(business).await, "acquired_at", "expires_at"), 1800);
    assert_eq!(seconds_between(&json(hobbyist).await, "acquired_at", "expires_at"), 60);
    assert_eq!(hobbyist_choice.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(hobbyist_choice).await, "plan_forbids");
}

#[tokio::test]
async fn custom_names_and_data_need_a_business_plan() {
    let app = spawn_app_with_anonymous_compat().await;

    let hobbyist = post(&app, "/lock/key/nightly", None).bearer_auth(&app.hobby.key).send().await.unwrap();
    let anonymous_data = post(&app, &uuid_path(), Some(json!({"data": {"run": 1}}))).send().await.unwrap();
    let anonymous_key = post(&app, "/lock/key/nightly", None).send().await.unwrap();
    let business = post(&app, "/lock/key/nightly", Some(json!({"data": {"run": 1}})))
        .bearer_auth(&app.acme.key)
        .send()
        .await
        .unwrap();

    assert_eq!(hobbyist.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(hobbyist).await, "plan_forbids");
    assert_eq!(anonymous_data.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(anonymous_data).await, "plan_forbids");
    assert_eq!(anonymous_key.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(business.status(), StatusCode::CREATED);
    let body = json(business).await;
    assert_eq!((body["id"].clone(), body["data"].clone()), (json!("nightly"), json!({"run": 1})));
    assert_eq!(app.events("acme", "nightly").await.len(), 1, "in the key's own namespace");
}

#[tokio::test]
async fn other_accounts_never_see_the_data_of_a_public_lock() {
    let app = spawn_app().await;
    post(&app, &uuid_path(), Some(json!({"data": {"run": 1}})))
        .bearer_auth(&app.acme.key)
        .send()
        .await
        .unwrap();

    let own =
        json(app.client.get(app.url(&uuid_path())).bearer_auth(&app.acme.key).send().await.unwrap()).await;
    let other =
        json(app.client.get(app.url(&uuid_path())).bearer_auth(&app.globex.key).send().await.unwrap()).await;

    assert_eq!(own["data"], json!({"run": 1}));
    assert_eq!(other["data"], Value::Null);
}

#[tokio::test]
async fn a_lapsed_lock_needs_no_secret_and_is_free_again() {
    let app = spawn_app_with(|s| {
        s.compat.locklock.anonymous = true;
        s.sweeper.interval_ms = 3_600_000;
    })
    .await;
    post(&app, &uuid_path(), Some(json!({"secret": "s", "expires_in": 1}))).send().await.unwrap();
    wait_for_lapse(&app.pool).await;

    let release = delete(&app, &uuid_path(), None).send().await.unwrap();
    let again = post(&app, &uuid_path(), None).send().await.unwrap();

    assert_eq!(release.status(), StatusCode::NOT_FOUND);
    assert_eq!(again.status(), StatusCode::CREATED);
    let events: Vec<String> = app.events("public", ID).await.into_iter().map(|(e, _)| e).collect();
    assert_eq!(events, ["acquired", "expired", "acquired"]);
}

#[tokio::test]
async fn concurrent_anonymous_acquires_grant_exactly_one() {
    let app = spawn_app_with_anonymous_compat().await;
    let barrier = Arc::new(Barrier::new(50));

    let attempts = (0..50).map(|i| {
        let (client, url, barrier) = (app.client.clone(), app.url(&uuid_path()), barrier.clone());
        tokio::spawn(async move {
            barrier.wait().await;
            let body = json!({"secret": format!("worker-{i}")}).to_string();
            client.post(url).body(body).send().await.unwrap().status()
        })
    });
    let statuses: Vec<StatusCode> =
        futures_util::future::join_all(attempts).await.into_iter().map(Result::unwrap).collect();

    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1);
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count(), 49);
    assert_eq!(app.events("public", ID).await.len(), 1);
}

#[tokio::test]
async fn empty_secrets_and_non_positive_lifetimes_are_bad_requests() {
    let app = spawn_app_with_anonymous_compat().await;

    let empty = post(&app, &uuid_path(), Some(json!({"secret": ""}))).send().await.unwrap();
    let zero = post(&app, &uuid_path(), Some(json!({"expires_in": 0}))).send().await.unwrap();
    let unknown = post(&app, &uuid_path(), Some(json!({"ttl": 5}))).send().await.unwrap();

    assert_eq!(error_code(empty).await, "invalid_secret");
    assert_eq!(error_code(zero).await, "invalid_ttl");
    assert_eq!(error_code(unknown).await, "invalid_body");
    assert!(app.events("public", ID).await.is_empty(), "bad input changes nothing");
}
