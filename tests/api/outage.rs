use std::net::SocketAddr;
use std::str::FromStr;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::{error_code, spawn_app, start_replica, test_settings};
use crate::proxy::Proxy;

#[tokio::test]
async fn a_database_outage_answers_503_and_the_server_heals_when_it_returns() {
    let seeded = spawn_app().await; // a migrated database with tenants
    let direct = PgConnectOptions::from_str(&seeded.database_url).unwrap();
    let target: SocketAddr = format!("{}:{}", resolve(direct.get_host()), direct.get_port()).parse().unwrap();
    let proxy = Proxy::start(target).await;
    let settings = test_settings();
    let through_proxy = direct.clone().host("127.0.0.1").port(proxy.address.port());
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(settings.database.timeout())
        .connect_lazy_with(through_proxy);
    let address = start_replica(&settings, pool);
    let acquire = |name: &'static str| {
        let request = seeded
            .client
            .post(format!("{address}/v1/locks/{name}"))
            .bearer_auth(&seeded.acme.key)
            .json(&json!({}));
        async move { request.send().await.unwrap() }
    };
    assert_eq!(acquire("before").await.status(), StatusCode::CREATED);

    proxy.cut();
    let started = Instant::now();
    let during = acquire("during").await;
    let waited = started.elapsed();
    let ready = seeded.client.get(format!("{address}/readyz")).send().await.unwrap();

    assert_eq!(during.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(during.headers().contains_key("retry-after"));
    assert!(waited < settings.database.timeout() + Duration::from_secs(2), "answered in {waited:?}");
    assert_eq!(error_code(during).await, "database_unavailable");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);

    proxy.restore();
    assert_eq!(acquire("after").await.status(), StatusCode::CREATED);
    assert_eq!(acquire("before").await.status(), StatusCode::CONFLICT, "state survived the outage");
    let during_held: i64 = sqlx::query_scalar("SELECT count(*) FROM locks WHERE name = 'during'")
        .fetch_one(&seeded.pool)
        .await
        .unwrap();
    assert_eq!(during_held, 0);
}

fn resolve(host: &str) -> &str {
    if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    }
}
