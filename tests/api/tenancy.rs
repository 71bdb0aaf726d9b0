use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{error_code, json, key, spawn_app};
use leasehold::domain::Role;

#[tokio::test]
async fn another_tenants_private_namespace_looks_like_one_that_does_not_exist() {
    let app = spawn_app().await;
    let grant = json(app.acquire(&app.acme, "/v1/locks/secret-job", json!({})).await).await;
    let token = grant["lock_token"].as_str().unwrap();

    for (method, path) in [
        (Method::POST, "/v1/namespaces/{ns}/locks/secret-job"),
        (Method::GET, "/v1/namespaces/{ns}/locks/secret-job"),
        (Method::DELETE, "/v1/namespaces/{ns}/locks/secret-job"),
        (Method::POST, "/v1/namespaces/{ns}/locks/secret-job/renew"),
        (Method::GET, "/v1/namespaces/{ns}/locks"),
    ] {
        let answer = |ns: &'static str| {
            let request = app
                .request(method.clone(), &path.replace("{ns}", ns), &app.globex)
                .header("Lock-Token", token);
            async move {
                let response = request.send().await.unwrap();
                (response.status(), json(response).await)
            }
        };
        let (other_status, other_body) = answer("acme").await;
        let (missing_status, missing_body) = answer("no-such-namespace").await;
        assert_eq!(other_status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(other_body["error"]["code"], "namespace_not_found");
        assert_eq!((other_status, &other_body), (missing_status, &missing_body), "{method} {path}");
    }
    assert_eq!(app.status(&app.acme, "/v1/locks/secret-job").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_hobbyist_cannot_reach_a_private_namespace() {
    let app = spawn_app().await;

    let response = app.acquire(&app.hobby, "/v1/namespaces/acme/locks/x", json!({})).await;

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(response).await, "namespace_not_found");
}

#[tokio::test]
async fn an_invalid_namespace_is_not_found_too() {
    let app = spawn_app().await;
    let response = app.status(&app.acme, "/v1/namespaces/NOT_VALID/locks/x").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(response).await, "namespace_not_found");
}

#[tokio::test]
async fn support_reads_every_tenant_but_changes_nothing() {
    let app = spawn_app().await;
    let support = key(&app.pool, "globex", Role::Support).await;
    app.acquire(&app.acme, "/v1/locks/j", json!({"owner": "acme-worker"})).await;

    let state = json(app.status(&support, "/v1/namespaces/acme/locks/j").await).await;
    let listing =
        json(app.request(Method::GET, "/v1/namespaces/acme/locks", &support).send().await.unwrap()).await;
    let write = app.acquire(&support, "/v1/namespaces/acme/locks/k", json!({})).await;

    assert_eq!(state["owner"], "acme-worker");
    assert_eq!(listing["locks"].as_array().unwrap().len(), 1);
    assert_eq!(write.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(write).await, "forbidden");
}

#[tokio::test]
async fn admins_reach_every_namespace() {
    let app = spawn_app().await;
    let admin = key(&app.pool, "globex", Role::Admin).await;

    let response = app.acquire(&admin, "/v1/namespaces/acme/locks/ops", json!({})).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(json(response).await["namespace"], Value::from("acme"));
}
