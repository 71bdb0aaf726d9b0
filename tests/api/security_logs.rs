//! No secret (API key, lock token, Locklock secret, console session id) ever
//! appears in the logs, in an error body or in the audit trail. The real
//! binary serves at debug level while a workload touches every kind of
//! secret; then its whole output and the audit tables are searched.

use std::time::Duration;

use leasehold::domain::Role;
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{key, spawn_app, ServedBinary};

/// What the workload saw: every secret it used, and every error body.
#[derive(Default)]
struct Seen {
    secrets: Vec<String>,
    error_bodies: Vec<String>,
}

impl Seen {
    async fn answer(&mut self, response: Response) -> (StatusCode, Value, Option<String>) {
        let status = response.status();
        let cookie = response.headers().get(SET_COOKIE).map(|c| c.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap();
        if !status.is_success() && !status.is_redirection() {
            self.error_bodies.push(text.clone());
        }
        (status, serde_json::from_str(&text).unwrap_or(Value::Null), cookie)
    }
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().split_once('=').unwrap().1.to_owned()
}

async fn workload(base: &str, acme_key: &str, admin_key: &str, seen: &mut Seen) {
    let http = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let call =
        |method: Method, path: &str| http.request(method, format!("{base}{path}")).bearer_auth(acme_key);
    let forged = format!("{}{}", &acme_key[..20], "A".repeat(43));
    seen.secrets.extend([acme_key.to_owned(), acme_key[20..].to_owned(), forged[20..].to_owned()]);

    // Native: acquire, renew (header), handover, release (body), and failures.
    let (_, lease, _) =
        seen.answer(call(Method::POST, "/v1/locks/secretive").json(&json!({})).send().await.unwrap()).await;
    let token = lease["lock_token"].as_str().unwrap().to_owned();
    seen.answer(
        call(Method::POST, "/v1/locks/secretive/renew").header("Lock-Token", &token).send().await.unwrap(),
    )
    .await;
    let handover = call(Method::POST, "/v1/locks/secretive/handover").header("Lock-Token", &token);
    let (_, next, _) = seen.answer(handover.json(&json!({})).send().await.unwrap()).await;
    let next_token = next["lock_token"].as_str().unwrap().to_owned();
    let stale = call(Method::POST, "/v1/locks/secretive/renew").header("Lock-Token", &token);
    assert_eq!(seen.answer(stale.send().await.unwrap()).await.0, StatusCode::GONE);
    let release = call(Method::DELETE, "/v1/locks/secretive").json(&json!({ "lock_token": next_token }));
    seen.answer(release.send().await.unwrap()).await;
    seen.secrets.extend([token, next_token]);
    let basic = http.get(format!("{base}/v1/locks/secretive")).basic_auth(acme_key, Some(""));
    seen.answer(basic.send().await.unwrap()).await;
    let wrong = http.get(format!("{base}/v1/locks/secretive")).bearer_auth(&forged);
    assert_eq!(seen.answer(wrong.send().await.unwrap()).await.0, StatusCode::UNAUTHORIZED);

    // Locklock: a secret at acquire, a wrong one and the right one at release.
    let secret = "locklock-secret-0f9e8d7c6b5a";
    seen.secrets.push(secret.into());
    let locklock = "/lock/key/with-secret";
    seen.answer(call(Method::POST, locklock).json(&json!({ "secret": secret })).send().await.unwrap()).await;
    seen.answer(call(Method::DELETE, locklock).json(&json!({ "secret": "not-it" })).send().await.unwrap())
        .await;
    seen.answer(call(Method::DELETE, locklock).json(&json!({ "secret": secret })).send().await.unwrap())
        .await;

    // Console: sign in with the admin key, use the session, sign in wrongly.
    let (_, _, login) = seen.answer(http.get(format!("{base}/console/login")).send().await.unwrap()).await;
    let csrf = cookie_value(&login.expect("a login cookie"));
    let form = |key: &str| {
        http.post(format!("{base}/console/login"))
            .header(COOKIE, format!("lh_login={csrf}"))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(format!("key={key}&csrf={csrf}"))
    };
    let (status, _, session) = seen.answer(form(admin_key).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let session = cookie_value(&session.expect("a session cookie"));
    let audit = http.get(format!("{base}/console/audit")).header(COOKIE, format!("lh_session={session}"));
    assert_eq!(seen.answer(audit.send().await.unwrap()).await.0, StatusCode::OK);
    seen.answer(form(&forged).send().await.unwrap()).await;
    seen.secrets.extend([admin_key.to_owned(), session]);
}

#[tokio::test]
async fn no_secret_reaches_the_logs_error_bodies_or_audit_trail() {
    let app = spawn_app().await;
    let admin = key(&app.pool, "acme", Role::Admin).await;
    let env = [("RUST_LOG", "debug")];
    let server = ServedBinary::start(&app, "http", &app.client, &[], &env).await;

    let mut seen = Seen::default();
    workload(&server.base, &app.acme.key, &admin.key, &mut seen).await;
    let logs = server.stop().await;
    let audit: Vec<String> = sqlx::query_scalar(
        "SELECT row_to_json(e)::text FROM lock_events e
         UNION ALL SELECT row_to_json(a)::text FROM admin_log a",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();

    assert!(logs.contains(&app.acme.key_id), "the logs name keys by id: the run was logged");
    assert!(audit.len() >= 5, "the workload was audited: {audit:?}");
    for secret in &seen.secrets {
        assert!(!logs.contains(secret.as_str()), "a secret is in the logs");
        assert!(
            !seen.error_bodies.iter().any(|b| b.contains(secret.as_str())),
            "a secret is in an error body"
        );
        assert!(!audit.iter().any(|row| row.contains(secret.as_str())), "a secret is in the audit trail");
    }
}
