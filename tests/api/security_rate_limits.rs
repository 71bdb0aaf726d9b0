//! Rate limits: per client address for calls without a verified key, per key
//! (by plan) once a key is verified; 429 with Retry-After and RateLimit-*.

use leasehold::http::rate_limit::Limit;
use reqwest::StatusCode;

use crate::helpers::{error_code, spawn_app_with};

/// Practically no refill during a test.
const TIGHT: Limit = Limit { per_second: 0.001, burst: 3 };

#[tokio::test]
async fn calls_without_a_key_are_limited_per_address_with_429_and_headers() {
    let app = spawn_app_with(|s| s.rate_limit.anonymous = TIGHT).await;
    let call = || app.client.get(format!("{}/v1/locks/anything", app.address)).send();

    for remaining in ["2", "1", "0"] {
        let allowed = call().await.unwrap();
        assert_eq!(allowed.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(allowed.headers()["ratelimit-limit"], "3");
        assert_eq!(allowed.headers()["ratelimit-remaining"], remaining);
    }
    let refused = call().await.unwrap();

    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1);
    assert_eq!(refused.headers()["ratelimit-remaining"], "0");
    assert!(refused.headers().contains_key("ratelimit-reset"));
    assert_eq!(error_code(refused).await, "rate_limited");
}

#[tokio::test]
async fn a_verified_key_is_limited_by_its_plan_and_others_are_not_affected() {
    let app = spawn_app_with(|s| s.rate_limit.business = TIGHT).await;
    // The first use verifies the key (and counts against the address).
    assert_eq!(app.status(&app.acme, "/v1/locks/x").await.status(), StatusCode::NOT_FOUND);

    for _ in 0..TIGHT.burst {
        assert_eq!(app.status(&app.acme, "/v1/locks/x").await.status(), StatusCode::NOT_FOUND);
    }
    let refused = app.status(&app.acme, "/v1/locks/x").await;

    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(app.status(&app.globex, "/v1/locks/x").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.status(&app.hobby, "/v1/namespaces/public/locks/x").await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn health_checks_are_never_limited() {
    let app = spawn_app_with(|s| s.rate_limit.anonymous = TIGHT).await;

    for _ in 0..10 {
        let health = app.client.get(format!("{}/healthz", app.address)).send().await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);
    }
}
