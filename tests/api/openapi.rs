use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{json, spawn_app};

/// Every native route, as (method, path). Add a route here when you add it
/// to the server: the test then fails until the document describes it.
const NATIVE_ROUTES: &[(&str, &str)] = &[
    ("get", "/"),
    ("post", "/v1/locks/{name}"),
    ("get", "/v1/locks/{name}"),
    ("delete", "/v1/locks/{name}"),
    ("post", "/v1/locks/{name}/renew"),
    ("post", "/v1/locks/{name}/handover"),
    ("post", "/v1/locks/{name}/verify"),
    ("post", "/v1/namespaces/{namespace}/locks/{name}"),
    ("get", "/v1/namespaces/{namespace}/locks/{name}"),
    ("delete", "/v1/namespaces/{namespace}/locks/{name}"),
    ("post", "/v1/namespaces/{namespace}/locks/{name}/renew"),
    ("post", "/v1/namespaces/{namespace}/locks/{name}/handover"),
    ("get", "/v1/namespaces/{namespace}/locks"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/v1/audit"),
    ("get", "/v1/locks/{name}/history"),
    ("get", "/v1/namespaces/{namespace}/locks/{name}/history"),
    ("get", "/v1/locks/{name}/events"),
    ("get", "/v1/namespaces/{namespace}/locks/{name}/events"),
    ("get", "/v1/events"),
    ("get", "/v1/namespaces/{namespace}/events"),
    ("post", "/v1/signup"),
    ("get", "/v1/account"),
    ("get", "/v1/account/usage"),
    ("get", "/v1/account/keys"),
    ("post", "/v1/account/keys"),
    ("delete", "/v1/account/keys/{key_id}"),
    ("post", "/v1/account/keys/{key_id}/rotate"),
    ("post", "/v1/account/namespaces"),
    ("delete", "/v1/account/namespaces/{namespace}"),
    ("post", "/v1/admin/accounts"),
    ("get", "/v1/admin/accounts"),
    ("get", "/v1/admin/accounts/{account}"),
    ("patch", "/v1/admin/accounts/{account}"),
    ("get", "/v1/admin/accounts/{account}/usage"),
    ("get", "/v1/admin/accounts/{account}/keys"),
    ("post", "/v1/admin/accounts/{account}/keys"),
    ("delete", "/v1/admin/keys/{key_id}"),
    ("post", "/v1/admin/keys/{key_id}/rotate"),
    ("get", "/v1/admin/namespaces"),
    ("post", "/v1/admin/namespaces"),
    ("delete", "/v1/admin/namespaces/{namespace}"),
    ("delete", "/v1/admin/namespaces/{namespace}/locks/{name}"),
    ("get", "/v1/admin/log"),
    ("post", "/v1/webhooks"),
    ("get", "/v1/webhooks"),
    ("delete", "/v1/webhooks/{webhook_id}"),
    ("get", "/v1/webhooks/{webhook_id}/deliveries"),
];

async fn document(app: &crate::helpers::TestApp) -> Value {
    let response = app.client.get(format!("{}/openapi.json", app.address)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    json(response).await
}

#[tokio::test]
async fn the_openapi_document_covers_every_native_route() {
    let app = spawn_app().await;

    let doc = document(&app).await;

    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    for (method, path) in NATIVE_ROUTES {
        let operation = &doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is not documented");
        assert!(
            operation["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{method} {path} has no responses"
        );
    }
    let acquire = &doc["paths"]["/v1/locks/{name}"]["post"];
    for status in ["201", "400", "401", "403", "404", "409", "413", "422", "503"] {
        assert!(acquire["responses"][status].is_object(), "acquire does not document {status}");
    }
    let params: Vec<&str> =
        acquire["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert!(!params.contains(&"namespace"), "the short form has no namespace parameter");
}

#[tokio::test]
async fn every_documented_operation_is_served() {
    let app = spawn_app().await;
    let doc = document(&app).await;

    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let concrete = path
                .replace("{namespace}", "acme")
                .replace("{name}", "probe")
                .replace("{account}", "acme")
                .replace("{key_id}", "0123456789abcdef");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = app.request(method.clone(), &concrete, &app.acme).send().await.unwrap();
            assert_ne!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            if response.status() == StatusCode::NOT_FOUND {
                assert_ne!(
                    json(response).await["error"]["code"],
                    "not_found",
                    "{method} {path} is not served"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_compatibility_routes_are_documented_under_their_own_tag() {
    let app = spawn_app().await;
    let doc = document(&app).await;

    for (method, path) in [
        ("get", "/v1/acquire/{name}"),
        ("post", "/v1/acquire/{name}"),
        ("get", "/v1/heartbeat/{name}"),
        ("get", "/v1/release/{name}"),
        ("post", "/lock/key/{name}"),
        ("delete", "/lock/uuid/{uuid}"),
        ("get", "/lock/uuid/{uuid}"),
        ("post", "/api/{key}"),
        ("delete", "/api/{key}"),
        ("get", "/api/{key}"),
    ] {
        let operation = &doc["paths"][path][method];
        assert_eq!(operation["tags"], serde_json::json!(["compat"]), "{method} {path}");
    }
}

/// OpenAPI requires unique operation ids; tools that follow links (and SDK
/// generators) resolve operations by them.
#[tokio::test]
async fn every_operation_id_is_unique() {
    let app = spawn_app().await;
    let doc = document(&app).await;

    let mut seen = std::collections::HashMap::new();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let Some(id) = operation["operationId"].as_str() else { continue };
            if let Some(first) = seen.insert(id.to_owned(), format!("{method} {path}")) {
                panic!("operationId {id} names both {first} and {method} {path}");
            }
        }
    }
    assert!(seen.len() > 40, "{} operations", seen.len());
}

#[tokio::test]
async fn the_root_links_to_every_entry_point_and_sends_a_browser_to_the_console() {
    let app = spawn_app().await;
    let no_redirects =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    let index: Value = app.client.get(app.url("/")).send().await.unwrap().json().await.unwrap();
    let browser =
        no_redirects.get(app.url("/")).header("Accept", "text/html,*/*;q=0.8").send().await.unwrap();

    for link in ["openapi", "console", "healthz", "readyz", "metrics"] {
        let path = index["links"][link].as_str().unwrap_or_else(|| panic!("no link {link}: {index}"));
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK, "{link} at {path}");
    }
    assert_eq!(browser.status(), reqwest::StatusCode::SEE_OTHER);
    assert_eq!(browser.headers()["location"], "/console");
}
