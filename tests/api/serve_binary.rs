//! `leasehold serve` as an operator runs it: the real binary, its logs.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app, ServedBinary};

#[tokio::test]
async fn each_request_is_logged_once_and_a_routine_4xx_is_no_warning() {
    let app = spawn_app().await;
    let server = ServedBinary::start(&app, "http", &app.client, &[], &[("RUST_LOG", "info")]).await;
    let lock = format!("{}/v1/locks/logged", server.base);
    let acquire = || app.client.post(&lock).bearer_auth(&app.acme.key).json(&json!({ "ttl_seconds": 30 }));
    let mut ids = Vec::new();
    let expected = [
        (acquire(), StatusCode::CREATED),
        (acquire(), StatusCode::CONFLICT),
        (app.client.get(format!("{}/no/such/route", server.base)), StatusCode::NOT_FOUND),
        (app.client.post(&lock).bearer_auth(&app.acme.key).body("{not json"), StatusCode::BAD_REQUEST),
        (app.client.get(&lock), StatusCode::UNAUTHORIZED),
    ];
    for (request, status) in expected {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status);
        ids.push(response.headers()["x-request-id"].to_str().unwrap().to_owned());
    }

    let logs = server.stop().await;
    for id in &ids {
        let lines: Vec<&str> = logs.lines().filter(|line| line.contains(id.as_str())).collect();
        assert_eq!(lines.len(), 1, "request {id} is logged once: {lines:#?}");
        assert!(lines[0].contains(" INFO "), "a client's mistake is logged at INFO: {}", lines[0]);
    }
    assert!(!logs.contains(" WARN ") && !logs.contains(" ERROR "), "no warning for routine answers:\n{logs}");
}
