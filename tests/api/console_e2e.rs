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
