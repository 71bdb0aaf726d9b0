use std::time::Duration;

use leasehold::domain::Role;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{redirect, StatusCode};
use serde_json::json;

use crate::helpers::{
    json as body_of, key, spawn_app, spawn_app_with, test_settings as app_settings, wait_for_lapse,
    wait_for_settled_audit, wait_until, TestApp,
};

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(redirect::Policy::none()).build().unwrap()
}

/// The value of a named cookie a response sets, with its attributes.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).map(|i| i + marker.len()).expect("the hidden field");
    html[start..].split('"').next().unwrap().to_owned()
}

/// Signs in; returns the session cookie header and the CSRF token of the
/// page sign-in leads to.
pub async fn sign_in(app: &TestApp, key: &str) -> (reqwest::Response, Option<(String, String)>) {
    let http = client();
    let form = http.get(format!("{}/console/login", app.address)).send().await.unwrap();
    let login_cookie = set_cookie(&form, "lh_login").unwrap();
    let token = hidden(&form.text().await.unwrap(), "csrf");
    let cookie = login_cookie.split(';').next().unwrap().to_owned();
    let response = http
        .post(format!("{}/console/login", app.address))
        .header(COOKIE, cookie)
        .form(&[("key", key), ("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    let session = set_cookie(&response, "lh_session").map(|c| c.split(';').next().unwrap().to_owned());
    let csrf = match &session {
        Some(cookie) => {
            let home = response.headers()[LOCATION].to_str().unwrap();
            let page =
                http.get(format!("{}{home}", app.address)).header(COOKIE, cookie).send().await.unwrap();
            Some((cookie.clone(), hidden(&page.text().await.unwrap(), "csrf")))
        }
        None => None,
    };
    (response, csrf)
}

#[tokio::test]
async fn the_session_cookie_is_http_only_same_site_strict_and_expires() {
    let app = spawn_app().await;
    let support = key(&app.pool, "acme", Role::Support).await;

    let (response, session) = sign_in(&app, &support.key).await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/console/audit");
    let cookie = set_cookie(&response, "lh_session").unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age=28800"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(session.is_some());
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM console_sessions WHERE expires_at > now()")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, 1);
}

#[tokio::test]
async fn client_keys_and_forged_sign_in_forms_are_refused() {
    let app = spawn_app().await;

    let (as_client, session) = sign_in(&app, &app.acme.key).await;
    let forged = client()
        .post(format!("{}/console/login", app.address))
        .form(&[("key", app.acme.key.as_str()), ("csrf", "made-up")])
        .send()
        .await
        .unwrap();

    assert_eq!(as_client.status(), StatusCode::UNAUTHORIZED);
    assert!(session.is_none());
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn forms_without_the_sessions_csrf_token_change_nothing() {
    let app = spawn_app().await;
    let admin = key(&app.pool, "globex", Role::Admin).await;
    app.acquire(&app.acme, "/v1/locks/job", json!({})).await;
    let (_, session) = sign_in(&app, &admin.key).await;
    let (cookie, csrf) = session.unwrap();
    let http = client();
    let release = format!("{}/console/locks/acme/job/release", app.address);

    let forged =
        http.post(&release).header(COOKIE, &cookie).form(&[("csrf", "x"), ("reason", "r")]).send().await;
    let still_held = app.status(&app.acme, "/v1/locks/job").await.status();
    let genuine = http
        .post(&release)
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str()), ("reason", "r")])
        .send()
        .await;

    assert_eq!(forged.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(still_held, StatusCode::OK);
    let genuine = genuine.unwrap();
    assert_eq!(genuine.status(), StatusCode::SEE_OTHER);
    assert_eq!(genuine.headers()[LOCATION], "/console/locks/acme/job?notice=released");
    assert_eq!(app.status(&app.acme, "/v1/locks/job").await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn support_keys_may_read_but_not_force_release() {
    let app = spawn_app().await;
    let support = key(&app.pool, "acme", Role::Support).await;
    app.acquire(&app.acme, "/v1/locks/job", json!({})).await;
    let (cookie, csrf) = sign_in(&app, &support.key).await.1.unwrap();
    let http = client();

    let page =
        http.get(format!("{}/console/locks/acme/job", app.address)).header(COOKIE, &cookie).send().await;
    let release = http
        .post(format!("{}/console/locks/acme/job/release", app.address))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str()), ("reason", "r")])
        .send()
        .await
        .unwrap();

    let html = page.unwrap().text().await.unwrap();
    assert!(html.contains("Current state") && !html.contains("Force release"));
    assert_eq!(release.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn pages_need_no_script_and_nothing_from_elsewhere() {
    let app = spawn_app().await;
    let support = key(&app.pool, "acme", Role::Support).await;
    app.acquire(&app.acme, "/v1/locks/job", json!({"owner": "<b>bold</b>"})).await;
    let (cookie, _) = sign_in(&app, &support.key).await.1.unwrap();

    for path in [
        "/console/audit?name=job",
        "/console/locks/acme/job",
        "/console/semaphores/acme/job",
        "/console/accounts/acme",
        "/console/login",
    ] {
        let response =
            client().get(format!("{}{path}", app.address)).header(COOKIE, &cookie).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'"));
        let html = response.text().await.unwrap();
        assert!(
            !html.contains("<script") && !html.contains("http://") && !html.contains("https://"),
            "{path}"
        );
        assert!(html.contains("<html lang=\"en\">") && html.contains("<h1>"), "{path}");
        assert!(!html.contains("<b>bold</b>"), "owners are escaped: {path}");
    }
}

#[tokio::test]
async fn a_session_ends_when_it_expires_or_its_key_is_revoked() {
    let app = spawn_app_with(|s| s.console.session_seconds = 1).await;
    let support = key(&app.pool, "acme", Role::Support).await;
    let admin = key(&app.pool, "acme", Role::Admin).await;
    let signed_out = |cookie: String| {
        let url = format!("{}/console/audit", app.address);
        async move {
            client().get(url).header(COOKIE, cookie).send().await.unwrap().status() == StatusCode::SEE_OTHER
        }
    };

    let (expiring, _) = sign_in(&app, &support.key).await.1.unwrap();
    wait_until(Duration::from_secs(5), || signed_out(expiring.clone())).await;
    leasehold::audit_maintenance::run_once(&app.pool, &app_settings().audit).await.unwrap();
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM console_sessions").fetch_one(&app.pool).await.unwrap();
    assert_eq!(left, 0, "expired sessions are forgotten");

    let (revoked, _) = sign_in(&app, &admin.key).await.1.unwrap();
    sqlx::query("UPDATE console_sessions SET expires_at = now() + interval '1 hour'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert!(!signed_out(revoked.clone()).await);
    leasehold::admin::revoke_key(&app.pool, &admin.key_id).await.unwrap();
    assert!(signed_out(revoked).await, "a revoked key's session ends at once");
}

/// A console page's HTML, read with a session cookie; it must be there.
async fn page(app: &TestApp, cookie: &str, path: &str) -> String {
    let response =
        client().get(format!("{}{path}", app.address)).header(COOKIE, cookie).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.text().await.unwrap()
}

#[tokio::test]
async fn the_semaphore_page_shows_its_limit_live_holders_and_their_leases() {
    let app = spawn_app().await;
    let support = key(&app.pool, "globex", Role::Support).await;
    let path = "/v1/semaphores/workers";
    let gone = body_of(app.acquire(&app.acme, path, json!({"limit": 3, "owner": "worker-1"})).await).await;
    let live = body_of(app.acquire(&app.acme, path, json!({"limit": 3, "owner": "worker-2"})).await).await;
    app.release(&app.acme, path, gone["lock_token"].as_str().unwrap()).await;
    app.acquire(&app.acme, "/v1/locks/workers", json!({"owner": "a-lock-of-that-name"})).await;
    wait_for_settled_audit(&app.pool).await;
    let (cookie, _) = sign_in(&app, &support.key).await.1.unwrap();

    let html = page(&app, &cookie, "/console/semaphores/acme/workers").await;
    let signed_out = client().get(format!("{}/console/semaphores/acme/workers", app.address)).send().await;

    assert!(html.contains("Semaphore <code>acme/workers</code>"), "{html}");
    assert!(html.contains("3 holders at once") && html.contains("1 of 3"), "{html}");
    let holders = html.split("Live holders").nth(1).unwrap().split("</table>").next().unwrap();
    assert!(holders.contains(&format!("<th scope=\"row\">{}</th>", live["fencing_token"])), "{holders}");
    assert!(holders.contains("worker-2") && !holders.contains("worker-1"), "{holders}");
    assert!(holders.contains("href=\"/console/accounts/acme\"") && holders.contains(&app.acme.key_id));
    let leases = html.split("Each lease of a permit").nth(1).unwrap().split("</table>").next().unwrap();
    assert!(leases.contains("worker-1") && leases.contains("released by key"), "{leases}");
    assert!(!html.contains("a-lock-of-that-name"), "a lock of the same name is another thing");
    assert_eq!(signed_out.unwrap().headers()[LOCATION], "/console/login");
}

#[tokio::test]
async fn the_account_page_lists_the_semaphore_permits_it_holds() {
    let app = spawn_app().await;
    let support = key(&app.pool, "globex", Role::Support).await;
    let path = "/v1/semaphores/workers";
    let gone = body_of(app.acquire(&app.acme, path, json!({"limit": 3, "owner": "worker-1"})).await).await;
    app.acquire(&app.acme, path, json!({"limit": 3, "owner": "worker-2"})).await;
    app.acquire(&app.globex, "/v1/semaphores/elsewhere", json!({"limit": 3, "owner": "globex-worker"})).await;
    app.release(&app.acme, path, gone["lock_token"].as_str().unwrap()).await;
    let (cookie, _) = sign_in(&app, &support.key).await.1.unwrap();

    let html = page(&app, &cookie, "/console/accounts/acme").await;

    let permits = html.split("Permits this account holds").nth(1).unwrap().split("</table>").next().unwrap();
    assert!(permits.contains("href=\"/console/semaphores/acme/workers\"") && permits.contains("worker-2"));
    assert!(!permits.contains("worker-1") && !permits.contains("globex-worker"), "{permits}");
}

#[tokio::test]
async fn audit_rows_say_what_they_are_about_and_link_to_its_page() {
    let app = spawn_app().await;
    let support = key(&app.pool, "globex", Role::Support).await;
    app.acquire(&app.acme, "/v1/semaphores/workers", json!({"limit": 2, "owner": "w"})).await;
    app.acquire(&app.acme, "/v1/locks/workers", json!({"owner": "l"})).await;
    wait_for_settled_audit(&app.pool).await;
    let (cookie, _) = sign_in(&app, &support.key).await.1.unwrap();

    let html = page(&app, &cookie, "/console/audit?name=workers").await;
    let lock_page = page(&app, &cookie, "/console/locks/acme/workers").await;
    let semaphores_only = page(&app, &cookie, "/console/audit?name=workers&kind=semaphore").await;

    let rows: Vec<&str> = html.split("<tr>").skip(2).collect();
    assert_eq!(rows.len(), 2, "{html}");
    let row_of = |owner: &str| *rows.iter().find(|r| r.contains(&format!("<td>{owner}</td>"))).unwrap();
    assert!(row_of("w").contains("<td>semaphore</td>"));
    assert!(row_of("w").contains("href=\"/console/semaphores/acme/workers\""));
    assert!(
        row_of("l").contains("<td>lock</td>") && row_of("l").contains("href=\"/console/locks/acme/workers\"")
    );
    assert!(!lock_page.contains("<td>semaphore</td>"), "the lock's page shows only the lock's events");
    assert_eq!(semaphores_only.split("<tr>").skip(2).count(), 1, "{semaphores_only}");
    assert!(semaphores_only.contains("<option value=\"semaphore\" selected>"), "the form keeps the filter");
}

#[tokio::test]
async fn the_lock_page_shows_the_set_a_lease_belongs_to_and_its_other_members() {
    let app = spawn_app().await;
    let support = key(&app.pool, "globex", Role::Support).await;
    let set = body_of(app.acquire(&app.acme, "/v1/lock-sets", json!({"names": ["b", "a", "c"]})).await).await;
    let set_id = set["set_id"].as_str().unwrap();
    wait_for_settled_audit(&app.pool).await;
    let (cookie, _) = sign_in(&app, &support.key).await.1.unwrap();

    let html = page(&app, &cookie, "/console/locks/acme/b").await;
    let audit = page(&app, &cookie, "/console/audit?name=a").await;

    let facts = html.split("<dl class=\"facts\">").nth(1).unwrap().split("</dl>").next().unwrap();
    assert!(facts.contains("Lock set") && facts.contains(set_id), "{facts}");
    assert!(
        facts.contains("href=\"/console/locks/acme/a\"") && facts.contains("href=\"/console/locks/acme/c\"")
    );
    assert!(!facts.contains("href=\"/console/locks/acme/b\""), "not itself: {facts}");
    let leases = html.split("Each lease of this lock").nth(1).unwrap().split("</table>").next().unwrap();
    assert!(leases.contains("Lock set") && leases.contains(set_id), "{leases}");
    assert!(audit.contains(&format!("<code>{set_id}</code>")), "{audit}");
}

#[tokio::test]
async fn the_lock_page_shows_a_shared_locks_mode_and_every_reader() {
    let app = spawn_app().await;
    let support = key(&app.pool, "globex", Role::Support).await;
    let read = |owner: &'static str| {
        app.acquire(&app.acme, "/v1/locks/doc", json!({"mode": "shared", "owner": owner}))
    };
    let (first, second) = (body_of(read("reader-1").await).await, body_of(read("reader-2").await).await);
    wait_for_settled_audit(&app.pool).await;
    let (cookie, _) = sign_in(&app, &support.key).await.1.unwrap();

    let html = page(&app, &cookie, "/console/locks/acme/doc").await;
    let audit = page(&app, &cookie, "/console/audit?name=doc").await;

    let facts = html.split("<dl class=\"facts\">").nth(1).unwrap().split("</dl>").next().unwrap();
    assert!(facts.contains("shared, by 2 readers"), "{facts}");
    let readers = html.split("Readers, in the order").nth(1).unwrap().split("</table>").next().unwrap();
    for (reader, owner) in [(&first, "reader-1"), (&second, "reader-2")] {
        assert!(
            readers.contains(&format!("<th scope=\"row\">{}</th>", reader["fencing_token"])),
            "{readers}"
        );
        assert!(readers.contains(owner), "{readers}");
    }
    assert!(readers.contains(&app.acme.key_id) && readers.contains("href=\"/console/accounts/acme\""));
    let leases = html.split("Each lease of this lock").nth(1).unwrap().split("</table>").next().unwrap();
    assert!(leases.contains("Mode") && leases.matches("<td>shared</td>").count() == 2, "{leases}");
    assert_eq!(audit.matches("<td>shared lock</td>").count(), 2, "{audit}");
}

/// The `href` of the page's "Next page" link, unescaped.
fn next_link(html: &str) -> Option<String> {
    let link = html.split("rel=\"next\"").next().filter(|_| html.contains("rel=\"next\""))?;
    let href = link.rsplit("href=\"").next()?.split('"').next()?;
    Some(href.replace("&amp;", "&"))
}

/// What the rows of a list link to under `prefix`, in order.
fn row_links(html: &str, prefix: &str) -> Vec<String> {
    let marker = format!("<th scope=\"row\"><a href=\"{prefix}");
    html.split(&marker).skip(1).map(|rest| rest.split('"').next().unwrap().to_owned()).collect()
}

/// The row of a table whose row header is `header`.
fn row<'a>(html: &'a str, header: &str) -> &'a str {
    let th = format!("<th scope=\"row\">{header}</th>");
    html.split("<tr").find(|r| r.contains(&th)).unwrap_or_else(|| panic!("no row {header}: {html}"))
}

#[tokio::test]
async fn the_accounts_page_lists_accounts_with_the_leases_they_hold_now() {
    let app = spawn_app().await;
    let support = key(&app.pool, "globex", Role::Support).await;
    app.acquire(&app.acme, "/v1/locks/job", json!({})).await;
    app.acquire(&app.acme, "/v1/namespaces/public/locks/doc", json!({"mode": "shared"})).await;
    app.acquire(&app.globex, "/v1/namespaces/public/locks/doc", json!({"mode": "shared"})).await;
    app.acquire(&app.acme, "/v1/semaphores/workers", json!({"limit": 2})).await;
    let gone = body_of(app.acquire(&app.hobby, "/v1/locks/gone", json!({})).await).await;
    app.release(&app.hobby, "/v1/locks/gone", gone["lock_token"].as_str().unwrap()).await;
    let (cookie, _) = sign_in(&app, &support.key).await.1.unwrap();

    let html = page(&app, &cookie, "/console/accounts").await;
    let acme_page = page(&app, &cookie, "/console/accounts/acme").await;

    let counts = |account: &str| {
        let row = row(&html, &format!("<a href=\"/console/accounts/{account}\">{account}</a>"));
        let cells: Vec<&str> =
            row.split("<td class=\"count\">").skip(1).map(|c| c.split('<').next().unwrap()).collect();
        (cells[0].to_owned(), cells[1].to_owned())
    };
    assert_eq!(counts("acme"), ("2".into(), "1".into()), "its lock and its read of a shared lock; a permit");
    assert_eq!(counts("globex"), ("1".into(), "0".into()), "the other reader counts too");
    assert_eq!(counts("hobby"), ("0".into(), "0".into()), "a released lease is not held");
    assert!(row(&html, "<a href=\"/console/accounts/acme\">acme</a>").contains("business"));
    assert!(row(&html, "<a href=\"/console/accounts/acme\">acme</a>").contains("enabled"));
    let leases =
        acme_page.split("Leases this account holds now").nth(1).unwrap().split("</table>").next().unwrap();
    assert!(
        leases.contains("href=\"/console/locks/acme/job\"")
            && leases.contains("href=\"/console/locks/public/doc\"")
    );
}

#[tokio::test]
async fn the_accounts_page_refuses_a_client_key() {
    let app = spawn_app().await;
    // A client key cannot sign in; a session made for it all the same is
    // refused by the page, as by every console page.
    sqlx::query(
        "INSERT INTO console_sessions (id_hash, key_id, csrf_token, expires_at)
         VALUES (sha256('forged-client-session'::bytea), $1, 'x', now() + interval '1 hour')",
    )
    .bind(&app.acme.key_id)
    .execute(&app.pool)
    .await
    .unwrap();
    let url = format!("{}/console/accounts", app.address);

    let (signed_in, session) = sign_in(&app, &app.acme.key).await;
    let forged = client().get(&url).header(COOKIE, "lh_session=forged-client-session").send().await.unwrap();
    let signed_out = client().get(&url).send().await.unwrap();

    assert_eq!(signed_in.status(), StatusCode::UNAUTHORIZED);
    assert!(session.is_none());
    assert_eq!(forged.status(), StatusCode::SEE_OTHER);
    assert_eq!(forged.headers()[LOCATION], "/console/login");
    assert_eq!(signed_out.headers()[LOCATION], "/console/login");
}

#[tokio::test]
async fn the_accounts_page_pages_through_every_account_in_name_order() {
    let app = spawn_app().await;
    let support = key(&app.pool, "globex", Role::Support).await;
    let every: Vec<String> =
        sqlx::query_scalar("SELECT name FROM accounts ORDER BY name").fetch_all(&app.pool).await.unwrap();
    let (cookie, _) = sign_in(&app, &support.key).await.1.unwrap();

    let mut seen = Vec::new();
    let mut next = Some("/console/accounts?limit=2".to_owned());
    while let Some(path) = next {
        let html = page(&app, &cookie, &path).await;
        let names = row_links(&html, "/console/accounts/");
        assert!(names.len() <= 2, "{path}: {names:?}");
        seen.extend(names);
        next = next_link(&html);
    }

    assert!(every.len() > 2, "more than a page: {every:?}");
    assert_eq!(seen, every);
}

#[tokio::test]
async fn the_live_locks_page_lists_a_held_lock_with_its_holder_and_links() {
    let app = spawn_app().await;
    let support = key(&app.pool, "globex", Role::Support).await;
    let held = body_of(app.acquire(&app.acme, "/v1/locks/job", json!({"owner": "cron@host-1"})).await).await;
    let (cookie, _) = sign_in(&app, &support.key).await.1.unwrap();

    let html = page(&app, &cookie, "/console/locks").await;

    let row = row(&html, "<a href=\"/console/locks/acme/job\">job</a>");
    assert!(row.contains("<td>acme</td>") && row.contains("<td>exclusive</td>"), "{row}");
    assert!(row.contains("<a href=\"/console/accounts/acme\">acme</a>"), "{row}");
    assert!(
        row.contains("cron@host-1") && row.contains(&format!("<td>{}</td>", held["fencing_token"])),
        "{row}"
    );
    assert!(row.contains("Z</time> (in "), "its expiry, and how far off: {row}");
}

#[tokio::test]
async fn the_live_locks_page_filters_by_namespace_and_name_prefix() {
    let app = spawn_app().await;
    let support = key(&app.pool, "globex", Role::Support).await;
    for (key, path) in
        [(&app.acme, "/v1/locks/job-1"), (&app.acme, "/v1/locks/other"), (&app.globex, "/v1/locks/job-2")]
    {
        assert_eq!(app.acquire(key, path, json!({})).await.status(), StatusCode::CREATED);
    }
    let (cookie, _) = sign_in(&app, &support.key).await.1.unwrap();

    let all = page(&app, &cookie, "/console/locks").await;
    let acme = page(&app, &cookie, "/console/locks?namespace=acme").await;
    let acme_jobs = page(&app, &cookie, "/console/locks?namespace=acme&prefix=job").await;
    let bad = client()
        .get(format!("{}/console/locks?namespace=Not%20One", app.address))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();

    let links = |html: &str| row_links(html, "/console/locks/");
    assert_eq!(links(&all), ["acme/job-1", "acme/other", "globex/job-2"]);
    assert_eq!(links(&acme), ["acme/job-1", "acme/other"]);
    assert_eq!(links(&acme_jobs), ["acme/job-1"]);
    assert!(
        acme_jobs.contains("value=\"acme\"") && acme_jobs.contains("value=\"job\""),
        "the form keeps them"
    );
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_released_lock_leaves_the_live_locks_page() {
    let app = spawn_app().await;
    let support = key(&app.pool, "globex", Role::Support).await;
    let held = body_of(app.acquire(&app.acme, "/v1/locks/job", json!({})).await).await;
    let (cookie, _) = sign_in(&app, &support.key).await.1.unwrap();
    let before = page(&app, &cookie, "/console/locks").await;

    app.release(&app.acme, "/v1/locks/job", held["lock_token"].as_str().unwrap()).await;
    let after = page(&app, &cookie, "/console/locks").await;

    assert_eq!(row_links(&before, "/console/locks/"), ["acme/job"]);
    assert!(
        row_links(&after, "/console/locks/").is_empty() && after.contains("No live locks match."),
        "{after}"
    );
}

#[tokio::test]
async fn the_live_locks_page_pages_in_namespace_and_name_order_and_shows_shared_locks() {
    let app = spawn_app().await;
    let support = key(&app.pool, "globex", Role::Support).await;
    for name in ["c", "a", "b"] {
        app.acquire(&app.acme, &format!("/v1/locks/{name}"), json!({})).await;
    }
    for reader in [&app.acme, &app.globex] {
        app.acquire(reader, "/v1/namespaces/public/locks/doc", json!({"mode": "shared"})).await;
    }
    let (cookie, _) = sign_in(&app, &support.key).await.1.unwrap();

    let mut pages = Vec::new();
    let mut next = Some("/console/locks?limit=2".to_owned());
    while let Some(path) = next {
        let html = page(&app, &cookie, &path).await;
        next = next_link(&html);
        pages.push(html);
    }

    let links: Vec<Vec<String>> = pages.iter().map(|html| row_links(html, "/console/locks/")).collect();
    assert_eq!(links, [vec!["acme/a", "acme/b"], vec!["acme/c", "public/doc"]]);
    let shared = row(&pages[1], "<a href=\"/console/locks/public/doc\">doc</a>");
    assert!(shared.contains("shared, 2 readers"), "{shared}");
    assert!(
        shared.contains("/console/accounts/acme") && shared.contains("/console/accounts/globex"),
        "{shared}"
    );
}

#[tokio::test]
async fn the_lock_page_shows_the_leases_metadata_pretty_printed_and_escaped() {
    let app = spawn_app().await;
    let support = key(&app.pool, "globex", Role::Support).await;
    let metadata = json!({"ticket": "<b>4711</b>", "steps": [1, 2]});
    app.acquire(&app.acme, "/v1/locks/job", json!({"metadata": metadata})).await;
    app.acquire(&app.acme, "/v1/locks/plain", json!({})).await;
    let (cookie, _) = sign_in(&app, &support.key).await.1.unwrap();

    let html = page(&app, &cookie, "/console/locks/acme/job").await;
    let plain = page(&app, &cookie, "/console/locks/acme/plain").await;

    let shown = html.split("<pre class=\"metadata\">").nth(1).unwrap().split("</pre>").next().unwrap();
    assert!(shown.contains("&lt;b&gt;4711&lt;/b&gt;") && !html.contains("<b>4711</b>"), "{shown}");
    assert!(shown.contains(": [\n    1,\n    2\n  ],\n"), "one element a line: {shown}");
    assert!(plain.contains("<dt>Metadata</dt><dd>—</dd>"), "{plain}");
}

#[tokio::test]
async fn the_live_leases_row_says_it_is_held_now_and_ended_ones_how_they_ended() {
    // The sweeper stays out of the way so that the takeover records the lapse.
    let app = spawn_app_with(|s| s.sweeper.interval_ms = 3_600_000).await;
    let support = key(&app.pool, "globex", Role::Support).await;
    let path = "/v1/locks/job";
    let released = body_of(app.acquire(&app.acme, path, json!({})).await).await;
    app.release(&app.acme, path, released["lock_token"].as_str().unwrap()).await;
    let lapsed = body_of(app.acquire(&app.acme, path, json!({"ttl_seconds": 1})).await).await;
    wait_for_lapse(&app.pool).await;
    let taker = body_of(app.acquire(&app.acme, path, json!({})).await).await;
    let handed = app
        .request(reqwest::Method::POST, &format!("{path}/handover"), &app.acme)
        .header("Lock-Token", taker["lock_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let live = body_of(handed).await;
    wait_for_settled_audit(&app.pool).await;
    let (cookie, _) = sign_in(&app, &support.key).await.1.unwrap();

    let html = page(&app, &cookie, "/console/locks/acme/job").await;

    let leases = html.split("Each lease of this lock").nth(1).unwrap().split("</table>").next().unwrap();
    let row_of = |lease: &serde_json::Value| row(leases, &lease["fencing_token"].to_string());
    let now = row_of(&live);
    assert!(now.contains("held-now") && now.contains("<strong>held now</strong>, expires in "), "{now}");
    assert!(row_of(&released).contains(&format!("released by key <code>{}</code></td>", app.acme.key_id)));
    let taken = format!(
        "expired</span> (not renewed in time), then taken over by fencing token {}",
        taker["fencing_token"]
    );
    assert!(row_of(&lapsed).contains(&taken), "{}", row_of(&lapsed));
    let handover = format!("handed over to fencing token {}", live["fencing_token"]);
    assert!(row_of(&taker).contains(&handover), "{}", row_of(&taker));
    assert!(!leases.contains("or its end is older"), "no hedging: {leases}");
}

#[tokio::test]
async fn signed_in_pages_link_to_the_audit_search_accounts_and_live_locks() {
    let app = spawn_app().await;
    let support = key(&app.pool, "globex", Role::Support).await;
    let (cookie, _) = sign_in(&app, &support.key).await.1.unwrap();

    for path in ["/console/audit", "/console/accounts", "/console/locks", "/console/accounts/acme"] {
        let html = page(&app, &cookie, path).await;

        let nav = html.split("<nav aria-label=\"Main\">").nth(1).unwrap().split("</nav>").next().unwrap();
        for link in ["/console/audit", "/console/accounts", "/console/locks"] {
            assert!(nav.contains(&format!("href=\"{link}\"")), "{path}: {nav}");
        }
    }
}
