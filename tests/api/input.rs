use reqwest::{Method, StatusCode};

use leasehold::domain::Role;

use crate::helpers::{error_code, key, spawn_app};

#[tokio::test]
async fn a_body_over_16_kib_is_too_large() {
    let app = spawn_app().await;
    let body = format!(r#"{{"owner": "{}"}}"#, "x".repeat(17 * 1024));

    let response = app.request(Method::POST, "/v1/locks/big", &app.acme).body(body).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(response).await, "payload_too_large");
}

#[tokio::test]
async fn bad_bodies_get_a_code_that_says_what_is_wrong() {
    let app = spawn_app().await;
    for (body, code) in [
        ("{", "invalid_json"),
        ("{} trailing", "invalid_json"),
        (r#"{"ttl": 30}"#, "invalid_body"),
        (r#"{"ttl_seconds": "30"}"#, "invalid_ttl"),
        (r#"{"owner": ""}"#, "invalid_owner"),
        (r#"{"owner": "a\nb"}"#, "invalid_owner"),
        ("[]", "invalid_body"),
    ] {
        let response = app.request(Method::POST, "/v1/locks/b", &app.acme).body(body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error_code(response).await, code, "{body}");
    }
}

#[tokio::test]
async fn bad_lock_names_are_rejected() {
    let app = spawn_app().await;
    let long = "a".repeat(256);
    for name in ["a%20b", "caf%C3%A9", long.as_str(), "semi;colon"] {
        let response =
            app.request(Method::POST, &format!("/v1/locks/{name}"), &app.acme).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{name}");
        assert_eq!(error_code(response).await, "invalid_lock_name");
    }
}

/// Found by schemathesis: `?after=` with a NUL reached PostgreSQL (a 500).
#[tokio::test]
async fn a_nul_anywhere_in_the_url_is_refused_before_any_route_sees_it() {
    let app = spawn_app().await;
    let admin = key(&app.pool, "acme", Role::Admin).await;

    for path in [
        "/v1/locks/a%00b",
        "/v1/admin/accounts?after=a%00b",
        "/v1/admin/accounts/ac%00me",
        "/v1/admin/namespaces?account=a%00",
        "/v1/audit?owner=x%00y",
        "/v1/namespaces/acme/locks?prefix=%00",
    ] {
        let response = app.request(Method::GET, path, &admin).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(error_code(response).await, "invalid_url", "{path}");
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_json() {
    let app = spawn_app().await;

    let missing = app.request(Method::GET, "/v2/nothing", &app.acme).send().await.unwrap();
    let wrong_method = app.request(Method::PUT, "/v1/locks/x", &app.acme).send().await.unwrap();

    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(missing).await, "not_found");
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(wrong_method).await, "method_not_allowed");
}

/// RFC 9110: a 405 names the methods the resource does serve.
#[tokio::test]
async fn a_method_not_allowed_names_the_allowed_ones() {
    let app = spawn_app().await;

    for (path, allowed) in [
        ("/v1/locks/x", "GET, POST, DELETE"),
        ("/v1/locks/x/renew", "POST"),
        ("/v1/audit", "GET"),
        ("/v1/admin/accounts/acme", "GET, PATCH"),
        ("/v1/acquire/x", "GET, POST"),
        ("/healthz", "GET"),
    ] {
        let response = app.request(Method::PUT, path, &app.acme).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_eq!(response.headers()["allow"], allowed, "{path}");
    }
}

#[tokio::test]
async fn nothing_a_client_sends_produces_a_server_error() {
    let app = spawn_app().await;
    let bodies = [
        "\0",
        "null",
        "{\"metadata\": null}",
        "{\"ttl_seconds\": 1e309}",
        "{\"ttl_seconds\": 99999999999999999999999}",
        "{\"owner\": \"\\ud800\"}",
        &"[".repeat(10_000),
        "{\"metadata\": {\"a\": \"\\u0000\"}}",
        "\u{feff}{}",
    ];
    let paths =
        ["/v1/locks/x", "/v1/locks/x/renew", "/v1/namespaces/acme/locks/x", "/v1/namespaces/%FF/locks/x"];
    for path in paths {
        for body in bodies {
            for method in [Method::POST, Method::DELETE, Method::GET] {
                let response = app
                    .request(method.clone(), path, &app.acme)
                    .header("Lock-Token", "bad token")
                    .body(body.to_owned())
                    .send()
                    .await
                    .unwrap();
                assert!(
                    !response.status().is_server_error(),
                    "{method} {path} {body:?}: {}",
                    response.status()
                );
            }
        }
    }
}

/// The OpenAPI document allows `null` for the optional bodies (found by
/// schemathesis): it means no options, like an empty body.
#[tokio::test]
async fn a_null_body_is_an_empty_one() {
    let app = spawn_app().await;

    let response =
        app.request(Method::POST, "/v1/locks/null-body", &app.acme).body("null").send().await.unwrap();

    assert_eq!(response.status(), StatusCode::CREATED);
}

/// Found by schemathesis: a NUL in an admin body's account name reached
/// PostgreSQL (a 500). No body field may carry one.
#[tokio::test]
async fn a_nul_in_any_json_body_is_refused_before_any_route_sees_it() {
    let app = spawn_app().await;
    let admin = key(&app.pool, "acme", Role::Admin).await;

    for (method, path, body) in [
        (Method::POST, "/v1/admin/namespaces", r#"{"name": "n0", "account": "a\u0000b"}"#),
        (Method::POST, "/v1/admin/accounts", r#"{"name": "x\u0000", "plan": "business"}"#),
        (Method::POST, "/v1/locks/nul-owner", r#"{"owner": "cron\u0000"}"#),
    ] {
        let response = app.request(method.clone(), path, &admin).body(body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(error_code(response).await, "invalid_json", "{path}");
    }
}
