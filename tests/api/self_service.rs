//! Self-service accounts: sign-up, owner keys and `/v1/account`.

use leasehold::admin::KeyCreated;
use leasehold::domain::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{error_code, json, key, spawn_app, spawn_app_with, TestApp};

async fn spawn_signup_app() -> TestApp {
    spawn_app_with(|s| s.signup.enabled = true).await
}

async fn sign_up(app: &TestApp, name: &str) -> reqwest::Response {
    app.client.post(app.url("/v1/signup")).json(&json!({ "account": name })).send().await.unwrap()
}

/// A signed-up key as the helpers take it.
fn as_key(body: &Value) -> KeyCreated {
    KeyCreated {
        key_id: body["key_id"].as_str().unwrap().to_owned(),
        key: body["key"].as_str().unwrap().to_owned(),
        account: body["account"].as_str().unwrap().to_owned(),
        role: Role::Owner,
        namespace: "public".to_owned(),
    }
}

async fn logged_actions(app: &TestApp, key_id: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT action FROM admin_log WHERE key_id = $1 ORDER BY id")
        .bind(key_id)
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn self_service_signup_makes_a_hobbyist_account_whose_owner_key_acquires_locks() {
    let app = spawn_signup_app().await;

    let created = sign_up(&app, "newcomer").await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let body = json(created).await;
    assert_eq!(body["account"], "newcomer");
    assert_eq!(body["plan"], "hobbyist");
    assert_eq!(body["role"], "owner");
    let owner = as_key(&body);

    let granted = app.acquire(&owner, "/v1/locks/signup-lock", json!({})).await;
    assert_eq!(granted.status(), StatusCode::CREATED);
    let taken = sign_up(&app, "newcomer").await;
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    let plan: String = sqlx::query_scalar("SELECT plan FROM accounts WHERE name = 'newcomer'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(plan, "hobbyist");
}

#[tokio::test]
async fn self_service_signup_is_forbidden_when_disabled() {
    let app = spawn_app().await;
    let refused = sign_up(&app, "newcomer").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(refused).await, "signup_disabled");
    let malformed =
        app.client.post(app.url("/v1/signup")).body("{").header("Content-Type", "application/json");
    assert_eq!(error_code(malformed.send().await.unwrap()).await, "signup_disabled");
}

#[tokio::test]
async fn self_service_signup_is_limited_per_client_address() {
    let app = spawn_app_with(|s| {
        s.signup.enabled = true;
        s.signup.per_hour = 3;
    })
    .await;
    for n in 0..3 {
        assert_eq!(sign_up(&app, &format!("user{n}")).await.status(), StatusCode::CREATED);
    }
    let limited = sign_up(&app, "user3").await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(error_code(limited).await, "rate_limited");
}

#[tokio::test]
async fn self_service_owner_sees_its_account_and_manages_its_keys() {
    let app = spawn_signup_app().await;
    let owner = as_key(&json(sign_up(&app, "solo").await).await);
    let held = app.acquire(&owner, "/v1/locks/busy", json!({})).await;
    assert_eq!(held.status(), StatusCode::CREATED);

    let account = json(app.request(Method::GET, "/v1/account", &owner).send().await.unwrap()).await;
    assert_eq!(account["account"], "solo");
    assert_eq!(account["plan"], "hobbyist");
    assert!(account["limits"]["max_ttl_seconds"].is_number());
    assert_eq!(account["namespaces"], json!([]));
    assert_eq!(account["live_locks"][0]["name"], "busy");
    assert_eq!(account["usage_today"]["acquired"], 1);

    let created =
        app.request(Method::POST, "/v1/account/keys", &owner).json(&json!({"role": "client"})).send();
    let created = created.await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let client: KeyCreated = {
        let body = json(created).await;
        assert_eq!(body["role"], "client");
        KeyCreated { role: Role::Client, ..as_key(&body) }
    };
    assert_eq!(app.acquire(&client, "/v1/locks/by-client", json!({})).await.status(), StatusCode::CREATED);

    let listed = json(app.request(Method::GET, "/v1/account/keys", &owner).send().await.unwrap()).await;
    let keys = listed["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|k| k.get("key").is_none() && k.get("secret_hash").is_none()));

    let path = format!("/v1/account/keys/{}/rotate", client.key_id);
    let rotated = app.request(Method::POST, &path, &owner).json(&json!({"grace_seconds": 60})).send();
    let rotated = json(rotated.await.unwrap()).await;
    assert_eq!(rotated["replaces"], client.key_id.as_str());
    let new_client = KeyCreated { role: Role::Client, ..as_key(&rotated) };

    let revoke_path = format!("/v1/account/keys/{}", new_client.key_id);
    let revoked = app.request(Method::DELETE, &revoke_path, &owner).send().await.unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    leasehold_waits_for_refusal(&app, &new_client).await;

    let others = format!("/v1/account/keys/{}", app.acme.key_id);
    let not_found = app.request(Method::DELETE, &others, &owner).send().await.unwrap();
    assert_eq!(not_found.status(), StatusCode::NOT_FOUND);
    let rotate_others = format!("/v1/account/keys/{}/rotate", app.acme.key_id);
    let not_found = app.request(Method::POST, &rotate_others, &owner).json(&json!({})).send().await.unwrap();
    assert_eq!(not_found.status(), StatusCode::NOT_FOUND);

    assert_eq!(logged_actions(&app, &owner.key_id).await, ["key.create", "key.rotate", "key.revoke"]);
}

/// A revoked key is refused within the auth cache's recheck interval.
async fn leasehold_waits_for_refusal(app: &TestApp, revoked: &KeyCreated) {
    crate::helpers::wait_until(std::time::Duration::from_secs(15), || async {
        let answer = app.request(Method::GET, "/v1/locks/anything", revoked).send().await.unwrap();
        answer.status() == StatusCode::UNAUTHORIZED
    })
    .await;
}

#[tokio::test]
async fn self_service_owner_cannot_touch_its_accounts_staff_keys() {
    let app = spawn_app().await;
    let owner = key(&app.pool, "acme", Role::Owner).await;
    let admin = key(&app.pool, "acme", Role::Admin).await;

    let rotate = format!("/v1/account/keys/{}/rotate", admin.key_id);
    let rotated = app.request(Method::POST, &rotate, &owner).json(&json!({})).send().await.unwrap();
    assert_eq!(rotated.status(), StatusCode::NOT_FOUND);
    let revoke = format!("/v1/account/keys/{}", admin.key_id);
    let revoked = app.request(Method::DELETE, &revoke, &owner).send().await.unwrap();
    assert_eq!(revoked.status(), StatusCode::NOT_FOUND);
    let made = app.request(Method::POST, "/v1/account/keys", &owner).json(&json!({"role": "admin"}));
    assert_eq!(error_code(made.send().await.unwrap()).await, "invalid_role");
    let listed = json(app.request(Method::GET, "/v1/account/keys", &owner).send().await.unwrap()).await;
    let roles: Vec<&str> =
        listed["keys"].as_array().unwrap().iter().map(|k| k["role"].as_str().unwrap()).collect();
    assert!(roles.iter().all(|r| matches!(*r, "client" | "owner")), "{roles:?}");
}

#[tokio::test]
async fn self_service_namespaces_need_a_business_plan() {
    let app = spawn_signup_app().await;
    let hobbyist = as_key(&json(sign_up(&app, "small").await).await);
    let refused =
        app.request(Method::POST, "/v1/account/namespaces", &hobbyist).json(&json!({"name": "small-ns"}));
    let refused = refused.send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(refused).await, "plan_forbids");

    let owner = key(&app.pool, "acme", Role::Owner).await;
    let created =
        app.request(Method::POST, "/v1/account/namespaces", &owner).json(&json!({"name": "acme-jobs"}));
    assert_eq!(created.send().await.unwrap().status(), StatusCode::CREATED);
    let account = json(app.request(Method::GET, "/v1/account", &owner).send().await.unwrap()).await;
    assert_eq!(account["namespaces"], json!(["acme", "acme-jobs"]));
    let others = app.request(Method::DELETE, "/v1/account/namespaces/globex", &owner).send().await.unwrap();
    assert_eq!(others.status(), StatusCode::NOT_FOUND);
    let deleted =
        app.request(Method::DELETE, "/v1/account/namespaces/acme-jobs", &owner).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(logged_actions(&app, &owner.key_id).await, ["namespace.create", "namespace.delete"]);
}

#[tokio::test]
async fn self_service_routes_refuse_client_keys_and_owner_keys_act_as_clients() {
    let app = spawn_app().await;
    let routes = [
        (Method::GET, "/v1/account"),
        (Method::GET, "/v1/account/keys"),
        (Method::POST, "/v1/account/keys"),
        (Method::DELETE, "/v1/account/keys/some-key"),
        (Method::POST, "/v1/account/keys/some-key/rotate"),
        (Method::POST, "/v1/account/namespaces"),
        (Method::DELETE, "/v1/account/namespaces/acme"),
    ];
    for (method, path) in routes {
        let refused = app.request(method.clone(), path, &app.acme).json(&json!({})).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(error_code(refused).await, "forbidden", "{method} {path}");
    }
    let owner = key(&app.pool, "acme", Role::Owner).await;
    let granted = app.acquire(&owner, "/v1/locks/owned", json!({"ttl_seconds": 30})).await;
    assert_eq!(granted.status(), StatusCode::CREATED);
    let named = app.acquire(&owner, "/v1/namespaces/public/locks/shared", json!({})).await;
    assert_eq!(named.status(), StatusCode::CREATED);
    let elsewhere = app.acquire(&owner, "/v1/namespaces/globex/locks/x", json!({})).await;
    assert_eq!(elsewhere.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn self_service_admin_cli_creates_owner_keys() {
    let app = spawn_app().await;
    let url = app.database_url.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_leasehold"))
            .args(["admin", "key", "create", "--account", "acme", "--role", "owner", "--json"])
            .env("DATABASE_URL", url)
            .env_remove("LEASEHOLD_CONFIG")
            .output()
            .expect("the binary runs")
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let body: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(body["role"], "owner");
    let owner = KeyCreated {
        role: Role::Owner,
        ..as_key(&json!({"key_id": body["key_id"], "key": body["key"], "account": "acme"}))
    };
    let account = app.request(Method::GET, "/v1/account", &owner).send().await.unwrap();
    assert_eq!(account.status(), StatusCode::OK);
}
