//! The console for owner keys: their own account, usage chart and keys, and
//! nothing of support's pages or other tenants.

use leasehold::domain::Role;
use reqwest::header::{COOKIE, LOCATION};
use reqwest::StatusCode;
use serde_json::json;

use crate::console_http::{client, hidden, sign_in};
use crate::helpers::{key, secret_of, spawn_app, TestApp};

/// One day of usage for `account`, `days_ago` (UTC) days back.
async fn usage(app: &TestApp, account: &str, days_ago: i32, acquired: i64, expired: i64) {
    sqlx::query(
        "INSERT INTO account_usage (account_id, day, acquired, expired)
         SELECT id, (now() AT TIME ZONE 'UTC')::date - $2, $3, $4 FROM accounts WHERE name = $1",
    )
    .bind(account)
    .bind(days_ago)
    .bind(acquired)
    .bind(expired)
    .execute(&app.pool)
    .await
    .unwrap();
}

async fn get(app: &TestApp, cookie: &str, path: &str) -> reqwest::Response {
    client().get(format!("{}{path}", app.address)).header(COOKIE, cookie).send().await.unwrap()
}

async fn post(app: &TestApp, cookie: &str, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    client().post(format!("{}{path}", app.address)).header(COOKIE, cookie).form(form).send().await.unwrap()
}

#[tokio::test]
async fn an_owner_signs_in_to_its_own_account_usage_chart_and_keys() {
    let app = spawn_app().await;
    let owner = key(&app.pool, "acme", Role::Owner).await;
    usage(&app, "acme", 1, 7, 2).await;
    usage(&app, "acme", 40, 555, 0).await;
    usage(&app, "globex", 1, 999, 9).await;

    let (response, session) = sign_in(&app, &owner.key).await;
    let (cookie, _) = session.expect("an owner key signs in");
    let account = get(&app, &cookie, "/console/account").await.text().await.unwrap();
    let keys = get(&app, &cookie, "/console/account/keys").await.text().await.unwrap();

    assert_eq!(response.headers()[LOCATION], "/console/account");
    assert!(account.contains("<h1>Account acme</h1>") && account.contains("business"), "{account}");
    assert!(
        account.contains("<svg role=\"img\" aria-label=\"Locks acquired and leases expired"),
        "{account}"
    );
    assert_eq!(account.matches("<rect").count(), 30, "a bar a day for 30 days");
    assert!(account.contains(": 7 acquired, 2 expired</title>"), "{account}");
    assert!(!account.contains("999") && !account.contains("555"), "no other account's, no older day");
    assert!(account.contains("<code>acme</code>"), "its namespace: {account}");
    assert!(keys.contains(&app.acme.key_id) && keys.contains(&owner.key_id), "{keys}");
    assert!(!keys.contains(&app.globex.key_id) && !keys.contains(secret_of(&app.acme.key)));
}

#[tokio::test]
async fn an_owner_session_finds_no_support_page_and_no_other_account() {
    let app = spawn_app().await;
    let owner = key(&app.pool, "acme", Role::Owner).await;
    let support = key(&app.pool, "globex", Role::Support).await;
    app.acquire(&app.acme, "/v1/locks/job", json!({})).await;
    let (cookie, csrf) = sign_in(&app, &owner.key).await.1.unwrap();
    let (staff, _) = sign_in(&app, &support.key).await.1.unwrap();

    for path in [
        "/console/audit",
        "/console/audit?account=globex",
        "/console/accounts",
        "/console/accounts/globex",
        "/console/accounts/acme",
        "/console/accounts/acme/analysis",
        "/console/namespaces/acme/analysis",
        "/console/locks",
        "/console/locks/acme/job",
        "/console/semaphores/acme/job",
    ] {
        assert_eq!(get(&app, &cookie, path).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let release =
        post(&app, &cookie, "/console/locks/acme/job/release", &[("csrf", &csrf), ("reason", "r")]).await;
    assert_eq!(release.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.status(&app.acme, "/v1/locks/job").await.status(), StatusCode::OK);
    assert_eq!(get(&app, &cookie, "/console").await.headers()[LOCATION], "/console/account");
    let signed_out = post(&app, &cookie, "/console/logout", &[("csrf", &csrf)]).await;
    assert_eq!(signed_out.headers()[LOCATION], "/console/login");
    assert_eq!(get(&app, &cookie, "/console/account").await.headers()[LOCATION], "/console/login");
    assert_eq!(get(&app, &staff, "/console/account").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(get(&app, &staff, "/console/account/keys").await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_owner_creates_rotates_and_revokes_keys_only_with_the_sessions_csrf_token() {
    let app = spawn_app().await;
    let owner = key(&app.pool, "acme", Role::Owner).await;
    let (cookie, csrf) = sign_in(&app, &owner.key).await.1.unwrap();
    let keys_of_acme = || async {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM api_keys k JOIN accounts a ON a.id = k.account_id WHERE a.name = 'acme'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        n
    };
    let before = keys_of_acme().await;

    let forged = post(&app, &cookie, "/console/account/keys", &[("csrf", "x"), ("role", "client")]).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(keys_of_acme().await, before);

    let created = post(&app, &cookie, "/console/account/keys", &[("csrf", &csrf), ("role", "client")]).await;
    assert_eq!(created.status(), StatusCode::OK, "the secret is on the answer, not behind a redirect");
    assert_eq!(created.headers()["cache-control"], "no-store");
    let page = created.text().await.unwrap();
    let new_key = page.split("<code id=\"new-key\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    let new = leasehold::admin::KeyCreated {
        key_id: new_key.split('_').nth(1).unwrap().to_owned(),
        key: new_key.clone(),
        account: "acme".into(),
        role: Role::Client,
        namespace: "acme".into(),
    };
    assert_eq!(app.acquire(&new, "/v1/locks/with-new-key", json!({})).await.status(), StatusCode::CREATED);
    let listed = get(&app, &cookie, "/console/account/keys").await.text().await.unwrap();
    assert!(listed.contains(&new.key_id) && !listed.contains(secret_of(&new.key)), "shown once");

    let rotate = |id: &str| format!("/console/account/keys/{id}/rotate");
    let foreign = post(&app, &cookie, &rotate(&app.globex.key_id), &[("csrf", &csrf)]).await;
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);
    let rotated = post(&app, &cookie, &rotate(&app.acme.key_id), &[("csrf", &csrf)]).await;
    assert_eq!(rotated.status(), StatusCode::OK);
    let page = rotated.text().await.unwrap();
    assert!(page.contains("id=\"new-key\">lh_") && page.contains(&app.acme.key_id), "{page}");

    let revoke = format!("/console/account/keys/{}/revoke", new.key_id);
    let forged = post(&app, &cookie, &revoke, &[("csrf", "x")]).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let revoked = post(&app, &cookie, &revoke, &[("csrf", &csrf)]).await;
    assert_eq!(revoked.headers()[LOCATION], "/console/account/keys?notice=revoked");
    let revoked_at: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT revoked_at FROM api_keys WHERE id = $1")
            .bind(&new.key_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(revoked_at.is_some());
    let logged: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM admin_log WHERE key_id = $1 AND source LIKE '%(console)' ORDER BY id",
    )
    .bind(&owner.key_id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(logged, ["key.create", "key.rotate", "key.revoke"]);
    let secrets_logged: i64 =
        sqlx::query_scalar("SELECT count(*) FROM admin_log WHERE details::text LIKE '%' || $1 || '%'")
            .bind(secret_of(&new.key))
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(secrets_logged, 0);
}

#[tokio::test]
async fn a_business_owner_creates_a_namespace_from_its_account_page() {
    let app = spawn_app().await;
    let owner = key(&app.pool, "acme", Role::Owner).await;
    let (cookie, _) = sign_in(&app, &owner.key).await.1.unwrap();
    let page = get(&app, &cookie, "/console/account").await.text().await.unwrap();
    let csrf = hidden(page.split("/console/account/namespaces").nth(1).unwrap(), "csrf");

    let created =
        post(&app, &cookie, "/console/account/namespaces", &[("csrf", &csrf), ("name", "acme-jobs")]).await;
    let duplicate =
        post(&app, &cookie, "/console/account/namespaces", &[("csrf", &csrf), ("name", "acme-jobs")]).await;

    assert_eq!(created.headers()[LOCATION], "/console/account?notice=namespace_created");
    assert_eq!(duplicate.status(), StatusCode::BAD_REQUEST);
    let page = get(&app, &cookie, "/console/account").await.text().await.unwrap();
    assert!(page.contains("<code>acme-jobs</code>"), "{page}");
}
