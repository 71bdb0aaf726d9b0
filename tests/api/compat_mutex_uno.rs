//! mutex.uno's documented calls, replayed against Leasehold.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;

use reqwest::{Response, StatusCode};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::sync::Barrier;
use uuid::Uuid;

use crate::helpers::{spawn_app, spawn_app_with_anonymous_compat, start_replica, test_settings, TestApp};
use crate::proxy::Proxy;

const KEY: &str = "/api/my-mutex";

async fn send(app: &TestApp, method: reqwest::Method, if_match: Option<&str>) -> Response {
    let request = app.client.request(method, app.url(KEY));
    let request = match if_match {
        Some(tag) => request.header("If-Match", tag),
        None => request,
    };
    request.send().await.unwrap()
}

async fn post(app: &TestApp) -> Response {
    send(app, reqwest::Method::POST, None).await
}

/// Checks a mutex answer (`{"id", "timestamp"}`, `ETag`, `Last-Modified`)
/// and returns its body and ETag.
async fn mutex(response: Response, status: StatusCode) -> (Value, String) {
    assert_eq!(response.status(), status);
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let last_modified = response.headers()["last-modified"].to_str().unwrap().to_owned();
    assert_eq!(response.headers()["cache-control"], "no-store", "a mutex's state is never cached");
    let body: Value = response.json().await.unwrap();
    let id = Uuid::parse_str(body["id"].as_str().unwrap()).unwrap();
    assert_eq!(id.get_version_num(), 4);
    assert_eq!(etag, format!("\"{id}\""));
    let timestamp = body["timestamp"].as_str().unwrap();
    assert_eq!(last_modified, timestamp);
    assert_eq!(timestamp.len(), "1970-01-01T00:00:00.000Z".len(), "{timestamp}");
    assert!(timestamp.ends_with('Z'));
    assert_eq!(body.as_object().unwrap().len(), 2);
    (body, etag)
}

async fn empty(response: Response, status: StatusCode) {
    assert_eq!(response.status(), status);
    assert!(response.bytes().await.unwrap().is_empty(), "no body");
}

#[tokio::test]
async fn acquire_then_conflict_then_status_then_release() {
    let app = spawn_app_with_anonymous_compat().await;

    let (acquired, _) = mutex(post(&app).await, StatusCode::CREATED).await;
    let (held, _) = mutex(post(&app).await, StatusCode::CONFLICT).await;
    let (status, _) = mutex(send(&app, reqwest::Method::GET, None).await, StatusCode::OK).await;
    empty(send(&app, reqwest::Method::DELETE, None).await, StatusCode::NO_CONTENT).await;
    empty(send(&app, reqwest::Method::DELETE, None).await, StatusCode::NOT_FOUND).await;
    empty(send(&app, reqwest::Method::GET, None).await, StatusCode::NOT_FOUND).await;

    assert_eq!(held, acquired, "409 shows the original mutex");
    assert_eq!(status, acquired);
}

#[tokio::test]
async fn if_match_with_the_current_etag_replaces_the_mutex_in_one_step() {
    let app = spawn_app_with_anonymous_compat().await;
    let (first, etag) = mutex(post(&app).await, StatusCode::CREATED).await;

    let (second, _) = mutex(send(&app, reqwest::Method::POST, Some(&etag)).await, StatusCode::CREATED).await;

    assert_ne!(second["id"], first["id"]);
    let events = app.events("public", "my-mutex").await;
    let kinds: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(kinds, ["acquired", "released", "acquired"]);
    assert!(events[2].1 > events[0].1, "the new mutex has a higher fencing token");
}

#[tokio::test]
async fn if_match_with_another_etag_is_precondition_failed_with_the_current_mutex() {
    let app = spawn_app_with_anonymous_compat().await;
    let (current, _) = mutex(post(&app).await, StatusCode::CREATED).await;
    let stale = format!("\"{}\"", Uuid::new_v4());

    let (replace, _) =
        mutex(send(&app, reqwest::Method::POST, Some(&stale)).await, StatusCode::PRECONDITION_FAILED).await;
    let (release, _) =
        mutex(send(&app, reqwest::Method::DELETE, Some(&stale)).await, StatusCode::PRECONDITION_FAILED).await;

    assert_eq!(replace, current);
    assert_eq!(release, current);
    mutex(send(&app, reqwest::Method::GET, None).await, StatusCode::OK).await;
}

#[tokio::test]
async fn if_match_when_there_is_no_mutex_acquires() {
    let app = spawn_app_with_anonymous_compat().await;
    let stale = format!("\"{}\"", Uuid::new_v4());

    mutex(send(&app, reqwest::Method::POST, Some(&stale)).await, StatusCode::CREATED).await;
}

#[tokio::test]
async fn delete_with_the_current_etag_releases_only_that_mutex() {
    let app = spawn_app_with_anonymous_compat().await;
    let (_, etag) = mutex(post(&app).await, StatusCode::CREATED).await;

    empty(send(&app, reqwest::Method::DELETE, Some(&etag)).await, StatusCode::NO_CONTENT).await;
    mutex(post(&app).await, StatusCode::CREATED).await;

    let (_, _) =
        mutex(send(&app, reqwest::Method::DELETE, Some(&etag)).await, StatusCode::PRECONDITION_FAILED).await;
}

#[tokio::test]
async fn mutexes_last_the_configured_day_within_the_callers_plan() {
    let app = spawn_app_with_anonymous_compat().await;

    post(&app).await;
    let hobbyist = app.client.post(app.url("/api/h")).bearer_auth(&app.hobby.key).send().await.unwrap();
    let business = app.client.post(app.url("/api/b")).bearer_auth(&app.acme.key).send().await.unwrap();

    assert_eq!(hobbyist.status(), StatusCode::CREATED);
    assert_eq!(business.status(), StatusCode::CREATED);
    assert_eq!(app.lease_seconds("public", "my-mutex").await, 86_400);
    assert_eq!(app.lease_seconds("public", "h").await, 60);
    assert_eq!(app.lease_seconds("acme", "b").await, 1800);
}

#[tokio::test]
async fn anonymous_calls_are_refused_unless_enabled() {
    let app = spawn_app().await;

    let response = post(&app).await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_database_outage_is_bad_gateway() {
    let seeded = spawn_app().await;
    let direct = PgConnectOptions::from_str(&seeded.database_url).unwrap();
    let host = if direct.get_host() == "localhost" { "127.0.0.1" } else { direct.get_host() };
    let target: SocketAddr = format!("{host}:{}", direct.get_port()).parse().unwrap();
    let proxy = Proxy::start(target).await;
    let mut settings = test_settings();
    settings.compat.mutex_uno.anonymous = true;
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(settings.database.timeout())
        .connect_lazy_with(direct.clone().host("127.0.0.1").port(proxy.address.port()));
    let address = start_replica(&settings, pool);

    proxy.cut();
    let during = seeded.client.post(format!("{address}{KEY}")).send().await.unwrap();
    proxy.restore();
    let after = seeded.client.post(format!("{address}{KEY}")).send().await.unwrap();

    assert_eq!(during.status(), StatusCode::BAD_GATEWAY);
    assert!(during.headers().contains_key("retry-after"));
    assert_eq!(after.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_free_mutex_reserved_for_queued_waiters_is_too_many_requests() {
    let app = spawn_app_with_anonymous_compat().await;
    sqlx::query(
        "INSERT INTO lock_waiters (namespace, name, account_id, key_id, deadline, expires_at)
         SELECT 'public', 'my-mutex', id, 'waiter', now() + interval '1 minute', now() + interval '1 minute'
         FROM accounts WHERE name = 'hobby'",
    )
    .execute(&app.pool)
    .await
    .unwrap();

    let response = post(&app).await;

    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn concurrent_acquires_and_replacements_leave_one_mutex() {
    let app = spawn_app_with_anonymous_compat().await;
    let (_, etag) = mutex(post(&app).await, StatusCode::CREATED).await;
    let barrier = Arc::new(Barrier::new(40));

    // Half try a plain acquire, half replace the current mutex by its ETag.
    let attempts = (0..40).map(|i| {
        let (client, url, etag, barrier) = (app.client.clone(), app.url(KEY), etag.clone(), barrier.clone());
        tokio::spawn(async move {
            barrier.wait().await;
            let request = client.post(url);
            let request = if i % 2 == 0 { request.header("If-Match", etag) } else { request };
            request.send().await.unwrap().status()
        })
    });
    let statuses: Vec<StatusCode> =
        futures_util::future::join_all(attempts).await.into_iter().map(Result::unwrap).collect();

    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
    let live: i64 = sqlx::query_scalar("SELECT count(*) FROM locks").fetch_one(&app.pool).await.unwrap();
    assert_eq!(live, 1);
}

#[tokio::test]
async fn if_match_takes_one_etag_with_or_without_quotes() {
    let app = spawn_app_with_anonymous_compat().await;
    let (first, etag) = mutex(post(&app).await, StatusCode::CREATED).await;

    let star = send(&app, reqwest::Method::POST, Some("*")).await;
    let list = send(&app, reqwest::Method::POST, Some(&format!("{etag}, \"{}\"", Uuid::new_v4()))).await;
    let bare = send(&app, reqwest::Method::POST, Some(first["id"].as_str().unwrap())).await;

    mutex(star, StatusCode::PRECONDITION_FAILED).await;
    mutex(list, StatusCode::PRECONDITION_FAILED).await;
    mutex(bare, StatusCode::CREATED).await;
}
