use std::time::Duration;

use leasehold::admin::KeyCreated;
use leasehold::domain::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    error_code, json, key, spawn_app, spawn_app_with, start_replica, test_settings, wait_for_settled_audit,
    wait_until, TestApp,
};

async fn call(app: &TestApp, key: &KeyCreated, method: Method, path: &str, body: Value) -> reqwest::Response {
    app.request(method, path, key).json(&body).send().await.unwrap()
}

#[tokio::test]
async fn admin_routes_refuse_client_and_support_keys() {
    let app = spawn_app().await;
    let support = key(&app.pool, "acme", Role::Support).await;

    for who in [&app.acme, &support] {
        let response = call(&app, who, Method::GET, "/v1/admin/accounts", json!({})).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(error_code(response).await, "forbidden");
    }
}

#[tokio::test]
async fn accounts_are_created_listed_shown_and_change_plan() {
    let app = spawn_app().await;
    let admin = key(&app.pool, "acme", Role::Admin).await;

    let created = call(
        &app,
        &admin,
        Method::POST,
        "/v1/admin/accounts",
        json!({"name": "initech", "plan": "hobbyist"}),
    )
    .await;
    let again = call(
        &app,
        &admin,
        Method::POST,
        "/v1/admin/accounts",
        json!({"name": "initech", "plan": "hobbyist"}),
    )
    .await;
    let bad =
        call(&app, &admin, Method::POST, "/v1/admin/accounts", json!({"name": "x", "plan": "gold"})).await;
    let upgraded =
        call(&app, &admin, Method::PATCH, "/v1/admin/accounts/initech", json!({"plan": "business"})).await;
    let list = json(call(&app, &admin, Method::GET, "/v1/admin/accounts?limit=2", json!({})).await).await;
    let shown = json(call(&app, &admin, Method::GET, "/v1/admin/accounts/acme", json!({})).await).await;
    let missing = call(&app, &admin, Method::GET, "/v1/admin/accounts/nobody", json!({})).await;

    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(again).await, "already_exists");
    assert_eq!(error_code(bad).await, "invalid_plan");
    assert_eq!(json(upgraded).await["plan"], "business");
    assert_eq!(list["accounts"].as_array().unwrap().len(), 2);
    assert_eq!(list["next_after"], list["accounts"][1]["name"]);
    assert_eq!(shown["plan"], "business");
    assert_eq!(shown["namespaces"][0]["name"], "acme");
    assert_eq!(shown["keys"].as_array().unwrap().len(), 2);
    assert_eq!(error_code(missing).await, "account_not_found");
}

#[tokio::test]
async fn a_disabled_accounts_keys_stop_working_on_every_replica() {
    let mut settings = test_settings();
    settings.auth.recheck_seconds = 1;
    let app = spawn_app_with(|s| s.auth.recheck_seconds = 1).await;
    let other_replica = start_replica(&settings, app.pool.clone());
    let admin = key(&app.pool, "globex", Role::Admin).await;
    let on = |address: String| {
        let (client, key) = (app.client.clone(), app.acme.key.clone());
        async move {
            client.get(format!("{address}/v1/locks/before")).bearer_auth(key).send().await.unwrap().status()
        }
    };
    assert_eq!(app.acquire(&app.acme, "/v1/locks/before", json!({})).await.status(), StatusCode::CREATED);
    assert_eq!(on(other_replica.clone()).await, StatusCode::OK);

    let response =
        call(&app, &admin, Method::PATCH, "/v1/admin/accounts/acme", json!({"disabled": true})).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert!(json(response).await["disabled_at"].is_string());
    for address in [app.address.clone(), other_replica] {
        wait_until(Duration::from_secs(3), || async {
            on(address.clone()).await == StatusCode::UNAUTHORIZED
        })
        .await;
    }
    let enabled =
        call(&app, &admin, Method::PATCH, "/v1/admin/accounts/acme", json!({"disabled": false})).await;
    assert!(json(enabled).await["disabled_at"].is_null());
}

#[tokio::test]
async fn keys_are_shown_once_and_listed_without_secrets_with_their_last_use() {
    let app = spawn_app().await;
    let admin = key(&app.pool, "acme", Role::Admin).await;

    let created = json(
        call(&app, &admin, Method::POST, "/v1/admin/accounts/globex/keys", json!({"role": "support"})).await,
    )
    .await;
    let new_key = created["key"].as_str().unwrap().to_owned();
    let used =
        app.client.get(format!("{}/v1/audit", app.address)).bearer_auth(&new_key).send().await.unwrap();
    let listing = call(&app, &admin, Method::GET, "/v1/admin/accounts/globex/keys", json!({})).await;
    let text = listing.text().await.unwrap();

    assert_eq!(used.status(), StatusCode::OK);
    assert!(!text.contains(crate::helpers::secret_of(&new_key)), "the secret is never listed");
    assert!(!text.contains("argon2"));
    let listed: Value = serde_json::from_str(&text).unwrap();
    let entry = listed["keys"].as_array().unwrap().iter().find(|k| k["key_id"] == created["key_id"]).unwrap();
    assert_eq!(entry["role"], "support");
    assert!(entry["created_at"].is_string() && entry["last_used_at"].is_string());
}

#[tokio::test]
async fn a_rotated_key_keeps_working_for_its_grace_period_beside_the_new_one() {
    let app = spawn_app_with(|s| s.auth.recheck_seconds = 1).await;
    let admin = key(&app.pool, "globex", Role::Admin).await;

    let rotated = call(
        &app,
        &admin,
        Method::POST,
        &format!("/v1/admin/keys/{}/rotate", app.acme.key_id),
        json!({"grace_seconds": 2}),
    )
    .await;
    assert_eq!(rotated.status(), StatusCode::CREATED);
    let rotated = json(rotated).await;
    let new_key = rotated["key"].as_str().unwrap().to_owned();
    let too_long = call(
        &app,
        &admin,
        Method::POST,
        &format!("/v1/admin/keys/{}/rotate", app.globex.key_id),
        json!({"grace_seconds": 999999999}),
    )
    .await;

    assert_eq!(rotated["replaces"], app.acme.key_id.as_str());
    assert_eq!(rotated["namespace"], "acme");
    assert_eq!(app.acquire(&app.acme, "/v1/locks/old", json!({})).await.status(), StatusCode::CREATED);
    let with_new =
        app.client.post(format!("{}/v1/locks/new", app.address)).bearer_auth(&new_key).send().await.unwrap();
    assert_eq!(with_new.status(), StatusCode::CREATED);
    wait_until(Duration::from_secs(6), || async {
        app.status(&app.acme, "/v1/locks/old").await.status() == StatusCode::UNAUTHORIZED
    })
    .await;
    assert_eq!(error_code(too_long).await, "invalid_grace");
}

#[tokio::test]
async fn a_revoked_key_is_refused_and_revoking_twice_is_not_found() {
    let app = spawn_app().await;
    let admin = key(&app.pool, "globex", Role::Admin).await;
    let path = format!("/v1/admin/keys/{}", app.acme.key_id);

    let first = call(&app, &admin, Method::DELETE, &path, json!({})).await;
    let second = call(&app, &admin, Method::DELETE, &path, json!({})).await;

    assert_eq!(first.status(), StatusCode::NO_CONTENT);
    assert_eq!(second.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(second).await, "key_not_found");
}

#[tokio::test]
async fn namespaces_are_created_for_business_accounts_and_deleted_only_when_empty() {
    let app = spawn_app().await;
    let admin = key(&app.pool, "globex", Role::Admin).await;

    let created = call(
        &app,
        &admin,
        Method::POST,
        "/v1/admin/namespaces",
        json!({"name": "acme-prod", "account": "acme"}),
    )
    .await;
    let for_hobbyist =
        call(&app, &admin, Method::POST, "/v1/admin/namespaces", json!({"name": "h2", "account": "hobby"}))
            .await;
    let listed =
        json(call(&app, &admin, Method::GET, "/v1/admin/namespaces?account=acme", json!({})).await).await;
    let lease = json(app.acquire(&app.acme, "/v1/namespaces/acme-prod/locks/job", json!({})).await).await;
    let busy = call(&app, &admin, Method::DELETE, "/v1/admin/namespaces/acme-prod", json!({})).await;
    app.release(&app.acme, "/v1/namespaces/acme-prod/locks/job", lease["lock_token"].as_str().unwrap()).await;
    let deleted = call(&app, &admin, Method::DELETE, "/v1/admin/namespaces/acme-prod", json!({})).await;
    let with_keys = call(&app, &admin, Method::DELETE, "/v1/admin/namespaces/acme", json!({})).await;
    let public = call(&app, &admin, Method::DELETE, "/v1/admin/namespaces/public", json!({})).await;

    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(error_code(for_hobbyist).await, "refused");
    let names: Vec<_> = listed["namespaces"].as_array().unwrap().iter().map(|n| n["name"].clone()).collect();
    assert_eq!(names, ["acme", "acme-prod"]);
    assert_eq!(error_code(busy).await, "namespace_not_empty");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(error_code(with_keys).await, "namespace_in_use");
    assert_eq!(error_code(public).await, "namespace_shared");
}

#[tokio::test]
async fn force_release_ends_the_lease_and_records_who_and_why() {
    let app = spawn_app().await;
    let admin = key(&app.pool, "globex", Role::Admin).await;
    let lease = json(app.acquire(&app.acme, "/v1/locks/stuck", json!({"owner": "cron@host-1"})).await).await;
    let path = "/v1/admin/namespaces/acme/locks/stuck";

    let without_reason = call(&app, &admin, Method::DELETE, path, json!({})).await;
    let released =
        call(&app, &admin, Method::DELETE, path, json!({"reason": "host-1 is dead, ticket 4711"})).await;
    let again = call(&app, &admin, Method::DELETE, path, json!({"reason": "again"})).await;
    let renew = app.renew(&app.acme, "/v1/locks/stuck", lease["lock_token"].as_str().unwrap()).await;

    assert_eq!(error_code(without_reason).await, "invalid_reason");
    assert_eq!(released.status(), StatusCode::OK);
    assert_eq!(json(released).await["released"]["owner"], "cron@host-1");
    assert_eq!(error_code(again).await, "lock_not_held");
    assert_eq!(renew.status(), StatusCode::GONE);
    let (event, key_id, account_id, reason): (String, String, i64, Option<String>) = sqlx::query_as(
        "SELECT event, key_id, account_id, reason FROM lock_events WHERE name = 'stuck' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let acme_id: i64 =
        sqlx::query_scalar("SELECT id FROM accounts WHERE name = 'acme'").fetch_one(&app.pool).await.unwrap();
    assert_eq!((event.as_str(), key_id.as_str()), ("force_released", admin.key_id.as_str()));
    assert_eq!(account_id, acme_id, "the holder sees how its lease ended");
    assert_eq!(reason.as_deref(), Some("host-1 is dead, ticket 4711"));
    wait_for_settled_audit(&app.pool).await;
    let history =
        json(app.request(Method::GET, "/v1/locks/stuck/history", &app.acme).send().await.unwrap()).await;
    assert_eq!(history["events"][0]["event"], "force_released");
    assert_eq!(history["events"][0]["reason"], "host-1 is dead, ticket 4711");
}

#[tokio::test]
async fn every_admin_change_is_logged_and_the_log_is_append_only() {
    let app = spawn_app().await;
    let admin = key(&app.pool, "globex", Role::Admin).await;
    call(&app, &admin, Method::POST, "/v1/admin/accounts", json!({"name": "initech", "plan": "business"}))
        .await;
    call(&app, &admin, Method::PATCH, "/v1/admin/accounts/initech", json!({"disabled": true})).await;

    let log = json(call(&app, &admin, Method::GET, "/v1/admin/log", json!({})).await).await;
    let tampering = sqlx::query("UPDATE admin_log SET action = 'nothing'").execute(&app.pool).await;
    let deleting = sqlx::query("DELETE FROM admin_log").execute(&app.pool).await;

    let entries = log["entries"].as_array().unwrap();
    let actions: Vec<_> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["account.update", "account.create"]);
    assert_eq!(entries[0]["key_id"], admin.key_id.as_str());
    assert_eq!(entries[0]["target"], "initech");
    assert_eq!(entries[0]["source"], "127.0.0.1");
    assert!(entries[0]["request_id"].is_string() && entries[0]["occurred_at"].is_string());
    assert!(tampering.is_err() && deleting.is_err());
}

#[tokio::test]
async fn an_account_shows_every_live_lease_it_holds_a_shared_locks_read_leases_too() {
    let app = spawn_app().await;
    let admin = key(&app.pool, "acme", Role::Admin).await;
    let catalog = "/v1/namespaces/public/locks/catalog";
    let read = |holder| app.acquire(holder, catalog, json!({"mode": "shared", "owner": "reader"}));
    let (first, second) = (json(read(&app.hobby).await).await, json(read(&app.acme).await).await);
    app.acquire(&app.acme, "/v1/locks/own", json!({})).await;

    let hobby = json(call(&app, &admin, Method::GET, "/v1/admin/accounts/hobby", json!({})).await).await;
    let acme = json(call(&app, &admin, Method::GET, "/v1/admin/accounts/acme", json!({})).await).await;

    let leases = |account: &Value| -> Vec<(String, String, i64)> {
        let listed = account["live_locks"].as_array().unwrap().iter();
        listed
            .map(|l| {
                (
                    l["name"].as_str().unwrap().into(),
                    l["mode"].as_str().unwrap().into(),
                    l["fencing_token"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        leases(&hobby),
        [("catalog".to_owned(), "shared".to_owned(), first["fencing_token"].as_i64().unwrap())]
    );
    let acme_leases = leases(&acme);
    assert_eq!(acme_leases.len(), 2, "{acme_leases:?}");
    assert!(acme_leases.contains(&(
        "catalog".into(),
        "shared".into(),
        second["fencing_token"].as_i64().unwrap()
    )));
}
