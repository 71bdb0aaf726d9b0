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

#[tokio::test]
async fn with_a_certificate_and_key_it_serves_https_only() {
    let app = spawn_app().await;
    let identity = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, identity.cert.pem()).unwrap();
    std::fs::write(&key, identity.key_pair.serialize_pem()).unwrap();
    let trusting = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(identity.cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let args = ["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()];
    let server = ServedBinary::start(&app, "https", &trusting, &args, &[]).await;

    let lock = format!("{}/v1/locks/over-tls", server.base);
    let granted = trusting.post(&lock).bearer_auth(&app.acme.key).json(&json!({})).send().await.unwrap();
    let plain = app.client.get(server.base.replace("https://", "http://") + "/healthz").send().await;

    assert_eq!(granted.status(), StatusCode::CREATED);
    assert!(plain.map_or(true, |r| !r.status().is_success()), "plain HTTP is not served on the TLS port");
    assert!(server.stop().await.contains("scheme=\"https\""));
}
