use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{error_code, spawn_app, wait_until};

#[tokio::test]
async fn requests_without_a_valid_key_are_unauthorized() {
    let app = spawn_app().await;
    let known_id_wrong_secret = format!("lh_{}_{}", app.acme.key_id, "A".repeat(43));
    let unknown_id = format!("lh_0123456789abcdef_{}", "A".repeat(43));

    for header in [
        None,
        Some("Bearer nonsense".to_owned()),
        Some(format!("Bearer {known_id_wrong_secret}")),
        Some(format!("Bearer {unknown_id}")),
        Some("Digest x".into()),
    ] {
        let mut request = app.client.post(format!("{}/v1/locks/x", app.address));
        if let Some(h) = &header {
            request = request.header("Authorization", h);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{header:?}");
        assert!(response.headers().contains_key("www-authenticate"));
        assert_eq!(error_code(response).await, "unauthorized");
    }
    let held: i64 = sqlx::query_scalar("SELECT count(*) FROM locks").fetch_one(&app.pool).await.unwrap();
    assert_eq!(held, 0);
}

#[tokio::test]
async fn basic_auth_with_the_key_as_user_name_works() {
    let app = spawn_app().await;

    let response = app
        .client
        .post(format!("{}/v1/locks/basic", app.address))
        .basic_auth(&app.acme.key, Some(""))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_revoked_key_stops_working_within_five_seconds() {
    let app = spawn_app().await;
    assert_eq!(app.acquire(&app.acme, "/v1/locks/before", json!({})).await.status(), StatusCode::CREATED);

    leasehold::admin::revoke_key(&app.pool, &app.acme.key_id).await.unwrap();

    wait_until(Duration::from_secs(5) + Duration::from_millis(500), || async {
        app.request(Method::GET, "/v1/locks/before", &app.acme).send().await.unwrap().status()
            == StatusCode::UNAUTHORIZED
    })
    .await;
    assert_eq!(app.acquire(&app.acme, "/v1/locks/after", json!({})).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn keys_are_stored_only_as_argon2id_hashes() {
    let app = spawn_app().await;
    let (hash,): (String,) = sqlx::query_as("SELECT secret_hash FROM api_keys WHERE id = $1")
        .bind(&app.acme.key_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$"));
    let secret = crate::helpers::secret_of(&app.acme.key);
    assert!(!hash.contains(secret));
}
