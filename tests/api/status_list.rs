use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{error_code, json, spawn_app};

#[tokio::test]
async fn status_of_a_free_lock_is_not_held() {
    let app = spawn_app().await;

    let response = app.status(&app.acme, "/v1/locks/free").await;

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(response).await, "lock_not_held");
}

#[tokio::test]
async fn status_of_a_held_lock_shows_the_lease_without_its_token() {
    let app = spawn_app().await;
    let grant =
        json(app.acquire(&app.acme, "/v1/locks/s", json!({"owner": "me", "metadata": {"k": "v"}})).await)
            .await;

    let response = app.status(&app.acme, "/v1/namespaces/acme/locks/s").await;

    assert_eq!(response.status(), StatusCode::OK);
    let state = json(response).await;
    assert!(state.get("lock_token").is_none());
    for field in [
        "namespace",
        "name",
        "fencing_token",
        "owner",
        "acquired_at",
        "expires_at",
        "ttl_seconds",
        "metadata",
    ] {
        assert_eq!(state[field], grant[field], "{field}");
    }
}

#[tokio::test]
async fn in_the_public_namespace_others_see_only_that_a_name_is_held_and_until_when() {
    let app = spawn_app().await;
    let grant = json(
        app.acquire(
            &app.acme,
            "/v1/namespaces/public/locks/shared",
            json!({"owner": "acme-7", "metadata": {"secret": 1}}),
        )
        .await,
    )
    .await;

    let seen_by_other = json(app.status(&app.hobby, "/v1/locks/shared").await).await;
    let seen_by_holder = json(app.status(&app.acme, "/v1/namespaces/public/locks/shared").await).await;

    assert_eq!(seen_by_other["expires_at"], grant["expires_at"]);
    assert_eq!(seen_by_other["owner"], Value::Null);
    assert_eq!(seen_by_other["metadata"], Value::Null);
    assert_eq!(seen_by_holder["owner"], "acme-7");
    let conflict = json(app.acquire(&app.hobby, "/v1/locks/shared", json!({})).await).await;
    assert_eq!(conflict["lock"]["owner"], Value::Null);
    assert_eq!(conflict["lock"]["metadata"], Value::Null);
}

#[tokio::test]
async fn only_the_holders_token_releases_a_public_lock() {
    let app = spawn_app().await;
    let grant = json(app.acquire(&app.hobby, "/v1/locks/p", json!({})).await).await;
    let token = grant["lock_token"].as_str().unwrap();

    let by_other_without_token = app.release(&app.acme, "/v1/namespaces/public/locks/p", "guess").await;
    let by_other_with_token = app.release(&app.acme, "/v1/namespaces/public/locks/p", token).await;

    assert_eq!(by_other_without_token.status(), StatusCode::GONE);
    // The token is the proof of holding, whoever presents it.
    assert_eq!(by_other_with_token.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn listing_pages_through_live_locks_in_name_order() {
    let app = spawn_app().await;
    for name in ["job:a", "job:b", "job:c", "job:d", "other"] {
        app.acquire(&app.acme, &format!("/v1/locks/{name}"), json!({})).await;
    }

    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = "/v1/namespaces/acme/locks?prefix=job:&limit=3".to_owned();
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = json(app.request(Method::GET, &url, &app.acme).send().await.unwrap()).await;
        names
            .extend(page["locks"].as_array().unwrap().iter().map(|l| l["name"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }

    assert_eq!(names, ["job:a", "job:b", "job:c", "job:d"]);
}

#[tokio::test]
async fn a_public_listing_shows_only_the_callers_own_locks() {
    let app = spawn_app().await;
    app.acquire(&app.hobby, "/v1/locks/mine", json!({})).await;
    app.acquire(&app.acme, "/v1/namespaces/public/locks/theirs", json!({})).await;

    let page =
        json(app.request(Method::GET, "/v1/namespaces/public/locks", &app.hobby).send().await.unwrap()).await;

    let names: Vec<&str> =
        page["locks"].as_array().unwrap().iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["mine"]);
}

#[tokio::test]
async fn listing_rejects_bad_limits_and_cursors() {
    let app = spawn_app().await;
    for (query, code) in [
        ("limit=0", "invalid_limit"),
        ("limit=1001", "invalid_limit"),
        ("limit=x", "invalid_query"),
        ("cursor=%25%25", "invalid_cursor"),
        ("prefix=a%20b", "invalid_prefix"),
    ] {
        let response = app
            .request(Method::GET, &format!("/v1/namespaces/acme/locks?{query}"), &app.acme)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(error_code(response).await, code, "{query}");
    }
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn_app().await;
    let health = app.client.get(format!("{}/healthz", app.address)).send().await.unwrap();
    let ready = app.client.get(format!("{}/readyz", app.address)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(ready.status(), StatusCode::OK);
}
