use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{json, spawn_app, spawn_app_with, wait_for_lapse, wait_until};

async fn scrape(app: &crate::helpers::TestApp) -> String {
    let response = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(content_type, "application/openmetrics-text; version=1.0.0; charset=utf-8");
    let text = response.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF:\n{text}");
    text
}

#[tokio::test]
async fn a_scraper_asking_for_the_prometheus_text_format_gets_it() {
    let app = spawn_app().await;
    let scrape =
        app.client.get(format!("{}/metrics", app.address)).header("Accept", "text/plain;version=0.0.4");

    let response = scrape.send().await.unwrap();

    assert_eq!(response.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    let text = response.text().await.unwrap();
    assert!(!text.contains("# EOF"), "{text}");
    assert!(text.contains("# TYPE leasehold_audit_rows_total counter\n"), "{text}");
}

/// The value of the one sample line that starts with `series`.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(series))?.rsplit(' ').next()?.parse().ok()
}

#[tokio::test]
async fn metrics_expose_every_documented_series_without_a_key() {
    let app = spawn_app().await;
    app.acquire(&app.acme, "/v1/locks/a", json!({})).await;

    let text = scrape(&app).await;

    for series in [
        "leasehold_http_requests_total{",
        "leasehold_http_request_duration_seconds_bucket{",
        "leasehold_lock_outcomes_total{",
        "leasehold_audit_rows_total ",
        "leasehold_sweeper_batch_size_bucket{",
        "leasehold_live_locks ",
        "leasehold_waiters ",
        "leasehold_sweeper_lag_seconds ",
        "leasehold_pool_connections_in_use ",
        "leasehold_pool_connections_idle ",
        "leasehold_pool_connections_max ",
        "leasehold_key_cache_lookups_total ",
        "leasehold_key_cache_misses_total ",
    ] {
        assert!(text.lines().any(|l| l.starts_with(series)), "no {series:?} in:\n{text}");
    }
    assert_eq!(value(&text, "leasehold_live_locks "), Some(1.0));
}

#[tokio::test]
async fn lock_outcomes_are_counted_by_api_and_outcome() {
    let app = spawn_app().await;
    let granted = json(app.acquire(&app.acme, "/v1/locks/a", json!({})).await).await;
    let token = granted["lock_token"].as_str().unwrap().to_owned();
    assert_eq!(app.acquire(&app.acme, "/v1/locks/a", json!({})).await.status(), StatusCode::CONFLICT);
    assert_eq!(app.renew(&app.acme, "/v1/locks/a", &token).await.status(), StatusCode::OK);
    assert_eq!(app.release(&app.acme, "/v1/locks/a", &token).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.release(&app.acme, "/v1/locks/a", &token).await.status(), StatusCode::GONE);

    let text = scrape(&app).await;

    for outcome in ["acquired", "conflict", "renewed", "released", "lease_lost"] {
        let series = format!("leasehold_lock_outcomes_total{{api=\"native\",outcome=\"{outcome}\"}}");
        assert_eq!(value(&text, &series), Some(1.0), "{series} in:\n{text}");
    }
    assert_eq!(value(&text, "leasehold_audit_rows_total "), Some(3.0));
    let acquires = "leasehold_http_requests_total{method=\"POST\",route=\"/v1/locks/{name}\",status=\"201\"}";
    assert_eq!(value(&text, acquires), Some(1.0), "{text}");
    assert_eq!(value(&text, "leasehold_key_cache_misses_total "), Some(1.0));
    assert!(value(&text, "leasehold_key_cache_lookups_total ").unwrap() >= 5.0);
}

#[tokio::test]
async fn swept_leases_count_as_expired() {
    let app = spawn_app_with(|s| s.sweeper.interval_ms = 50).await;
    app.acquire(&app.acme, "/v1/locks/a", json!({"ttl_seconds": 1})).await;
    wait_for_lapse(&app.pool).await;

    wait_until(std::time::Duration::from_secs(10), || async {
        value(&scrape(&app).await, "leasehold_lock_outcomes_total{api=\"sweeper\",outcome=\"expired\"}")
            == Some(1.0)
    })
    .await;
}
