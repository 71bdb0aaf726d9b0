use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{error_code, json, key, spawn_app, spawn_app_with};
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

#[tokio::test]
async fn a_subdomain_of_the_base_domain_defaults_to_its_accounts_namespace_and_serves_only_its_keys() {
    let app = spawn_app_with(|s| s.http.base_domain = Some("Locks.Example.com".into())).await;
    let in_public =
        leasehold::admin::create_key(&app.pool, "acme", Role::Client, Some("public")).await.unwrap();
    let acquire = |host: &'static str, key: &str| {
        let name = host.split('.').next().unwrap();
        let request =
            app.client.post(app.url(&format!("/v1/locks/via-{name}"))).bearer_auth(key).header("Host", host);
        request.json(&json!({})).send()
    };

    let on_subdomain = json(acquire("acme.locks.example.com:7010", &in_public.key).await.unwrap()).await;
    let elsewhere = json(acquire("localhost", &in_public.key).await.unwrap()).await;
    let other_tenant = acquire("acme.locks.example.com", &app.globex.key).await.unwrap();
    let hobbyist = json(acquire("hobby.locks.example.com", &app.hobby.key).await.unwrap()).await;

    assert_eq!(on_subdomain["namespace"], "acme", "the subdomain's account's namespace, not the key's");
    assert_eq!(elsewhere["namespace"], "public", "without one, the key's own default");
    assert_eq!(other_tenant.status(), reqwest::StatusCode::NOT_FOUND);
    assert_eq!(error_code(other_tenant).await, "namespace_not_found");
    assert_eq!(hobbyist["namespace"], "public", "a hobbyist account's namespace is the shared one");
}
