use leasehold::domain::Role;
use serde_json::json;

use crate::console_webdriver::Browser;
use crate::helpers::{json, key, spawn_app, wait_for_settled_audit};

#[tokio::test]
#[ignore = "needs Debian's chromium and chromium-driver: .ci/run installs them and runs it"]
async fn support_staff_sign_in_search_read_a_timeline_and_force_release_in_a_real_browser() {
    let app = spawn_app().await;
    let admin = key(&app.pool, "globex", Role::Admin).await;
    let path = "/v1/locks/nightly-billing";
    let first =
        json(app.acquire(&app.acme, path, json!({"owner": "cron@host-1", "ttl_seconds": 60})).await).await;
    app.renew(&app.acme, path, first["lock_token"].as_str().unwrap()).await;
    app.release(&app.acme, path, first["lock_token"].as_str().unwrap()).await;
    app.acquire(&app.acme, path, json!({"owner": "cron@host-2", "ttl_seconds": 600})).await;
    wait_for_settled_audit(&app.pool).await;
    let browser = Browser::start().await;

    // Signed out, the console leads to the sign-in form.
    browser.goto(&format!("{}/console", app.address)).await;
    assert!(browser.url().await.ends_with("/console/login"));
    browser.screenshot("1-sign-in").await;
    browser.fill("#key", &admin.key).await;
    browser.click("button[type=submit]").await;
    assert!(browser.url().await.ends_with("/console/audit"), "{}", browser.url().await);

    // Search for the lock's events.
    browser.fill("#name", "nightly-billing").await;
    browser.click("form.filters button[type=submit]").await;
    browser.screenshot("2-audit-search").await;
    let results = browser.page_text().await;
    assert!(results.contains("acme/nightly-billing") && results.contains("renewed"), "{results}");

    // Its page: the current lease, and the timeline of leases.
    browser.click("a[href='/console/locks/acme/nightly-billing']").await;
    assert_eq!(browser.text("h1").await, "Lock acme/nightly-billing");
    let state = browser.text("dl.facts").await;
    assert!(state.contains("cron@host-2") && state.contains("acme"), "{state}");
    let leases = browser.text("table").await;
    assert!(leases.contains("released by key") && leases.contains("held now"), "{leases}");
    browser.screenshot("3-lock-page").await;

    // An admin force-releases it with a reason.
    browser.fill("#reason", "host-2 is gone, ticket 4711").await;
    browser.click("button.danger").await;
    wait_for_settled_audit(&app.pool).await;
    browser.goto(&browser.url().await).await;
    assert_eq!(browser.text("p.notice").await, "The lease was force-released.");
    assert!(browser.text("main").await.contains("Not held."));
    let leases = browser.text("table").await;
    assert!(leases.contains("force-released by key") && leases.contains("ticket 4711"), "{leases}");
    browser.screenshot("4-force-released").await;
    let recorded: (String, String) = sqlx::query_as(
        "SELECT key_id, reason FROM lock_events WHERE event = 'force_released' AND name = 'nightly-billing'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(recorded, (admin.key_id.clone(), "host-2 is gone, ticket 4711".to_owned()));

    // The account page lists keys by id, never their secrets.
    browser.click("a[href='/console/accounts/acme']").await;
    let page = browser.text("main").await;
    assert!(page.contains(&app.acme.key_id) && page.contains("business"), "{page}");
    assert!(!page.contains(crate::helpers::secret_of(&app.acme.key)));
    browser.screenshot("5-account-page").await;

    // Signing out ends the session.
    browser.click("form.signout button").await;
    assert!(browser.url().await.ends_with("/console/login"));
    browser.goto(&format!("{}/console/audit", app.address)).await;
    assert!(browser.url().await.ends_with("/console/login"));
    browser.quit().await;
}

#[tokio::test]
#[ignore = "needs Debian's chromium and chromium-driver: .ci/run installs them and runs it"]
async fn an_owner_sees_its_usage_chart_and_keys_and_support_a_lease_analysis_in_a_real_browser() {
    let app = spawn_app().await;
    let owner = key(&app.pool, "acme", Role::Owner).await;
    let support = key(&app.pool, "globex", Role::Support).await;
    sqlx::query(
        "INSERT INTO account_usage (account_id, day, acquired, expired)
         SELECT id, (now() AT TIME ZONE 'UTC')::date - 1, 12, 3 FROM accounts WHERE name = 'acme'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let grant = json(app.acquire(&app.acme, "/v1/locks/report", json!({"ttl_seconds": 60})).await).await;
    app.release(&app.acme, "/v1/locks/report", grant["lock_token"].as_str().unwrap()).await;
    let browser = Browser::start().await;

    // An owner signs in to its own account: the usage chart and its keys.
    browser.goto(&format!("{}/console/login", app.address)).await;
    browser.fill("#key", &owner.key).await;
    browser.click("button[type=submit]").await;
    assert!(browser.url().await.ends_with("/console/account"), "{}", browser.url().await);
    assert_eq!(browser.text("h1").await, "Account acme");
    browser.text("figure.chart svg").await;
    assert!(browser.text("main").await.contains("12 acquired"), "{}", browser.text("main").await);
    browser.screenshot("6-owner-account").await;
    browser.click("a[href='/console/account/keys']").await;
    let keys = browser.text("#keys").await;
    assert!(keys.contains(&app.acme.key_id) && keys.contains(&owner.key_id), "{keys}");

    // It makes a key, whose secret shows once.
    browser.click("#create-key").await;
    assert!(browser.text("#new-key").await.starts_with("lh_"));
    browser.screenshot("7-owner-new-key").await;
    browser.click("form.signout button").await;
    browser.screenshot("7b-signed-out").await;
    assert!(
        browser.url().await.ends_with("/console/login"),
        "{}: {}",
        browser.url().await,
        browser.page_text().await
    );

    // Support opens the account's lease analysis.
    browser.fill("#key", &support.key).await;
    browser.click("button[type=submit]").await;
    browser.goto(&format!("{}/console/accounts/acme", app.address)).await;
    browser.click("a[href='/console/accounts/acme/analysis']").await;
    assert_eq!(browser.text("h1").await, "Lease analysis of account acme");
    browser.text("figure.chart svg").await;
    assert!(browser.text("main").await.contains("1 released"), "{}", browser.text("main").await);
    browser.screenshot("8-lease-analysis").await;
    browser.quit().await;
}
