//! The isolation matrix, continued: the compatibility APIs and the console.
//!
//! The compatibility APIs name a lock in the caller's own default namespace
//! (Locklock's UUIDs in the shared public one), so another tenant cannot even
//! name acme's private locks: the same name reaches a lock of its own. The
//! console admits only support and admin keys, and only an admin may force a
//! release. Each table writes down every kind of key's answers; each test
//! then checks that no refused or foreign call changed acme's leases.

use futures_util::future::join_all;
use reqwest::header::COOKIE;
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use crate::console_http::{client, sign_in};
use crate::helpers::TestApp;
use crate::security_isolation::{arranged, KEYS};

/// Keys whose account is not acme's, or that are not valid at all, or that
/// may only read: nothing they send may change acme's leases.
const MAY_NOT_CHANGE_ACMES_LOCKS: [usize; 5] = [1, 2, 3, 4, 5];

/// (method, path, answer per key). `{k}` is the key's index, so each kind of
/// key has its own copy of acme's locks and its rows run in order. Lockable
/// answers 200 with `{"response": bool}`, written here as true or false.
/// Acme's own keys are the Lockable and mutex.uno holder (the account holds);
/// a Locklock secret binds even them; globex's calls reach globex's
/// namespace, except for the public UUIDs; support keys may read, not lock.
const COMPAT: &[(&str, &str, [&str; 7])] = &[
    ("GET", "/v1/acquire/lk-{k}", ["false", "true", "401", "401", "401", "403", "false"]),
    ("GET", "/v1/heartbeat/lk-{k}", ["true", "true", "401", "401", "401", "403", "true"]),
    ("GET", "/v1/release/lk-{k}", ["true", "true", "401", "401", "401", "403", "true"]),
    ("GET", "/lock/key/ll-{k}", ["200", "404", "401", "401", "401", "200", "200"]),
    ("POST", "/lock/key/ll-{k}", ["409", "201", "401", "401", "401", "403", "409"]),
    ("DELETE", "/lock/key/ll-{k}", ["403", "204", "401", "401", "401", "403", "403"]),
    ("GET", "/lock/uuid/{uuid}", ["200", "200", "401", "401", "401", "200", "200"]),
    ("POST", "/lock/uuid/{uuid}", ["409", "409", "401", "401", "401", "403", "409"]),
    ("DELETE", "/lock/uuid/{uuid}", ["403", "403", "401", "401", "401", "403", "403"]),
    ("GET", "/api/mx-{k}", ["200", "404", "401", "401", "401", "200", "200"]),
    ("POST", "/api/mx-{k}", ["409", "201", "401", "401", "401", "403", "409"]),
    ("DELETE", "/api/mx-{k}", ["204", "204", "401", "401", "401", "403", "204"]),
];

fn uuid_for(k: usize) -> String {
    Uuid::from_u128(0x0001_ea5e_0000 + k as u128).to_string()
}

fn path_for(template: &str, k: usize) -> String {
    template.replace("{k}", &k.to_string()).replace("{uuid}", &uuid_for(k))
}

fn compat_request(app: &TestApp, method: &str, path: &str, key: Option<&str>) -> reqwest::RequestBuilder {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let request = app.client.request(method, format!("{}{path}", app.address));
    match key {
        Some(key) => request.bearer_auth(key),
        None => request,
    }
}

/// The status, or for Lockable's 200s the boolean it answered.
async fn answer(response: reqwest::Response) -> String {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or_default();
    match body.get("response").and_then(Value::as_bool) {
        Some(held) if status == 200 => held.to_string(),
        _ => status.to_string(),
    }
}

/// Every lease's fencing token, by namespace/name: a changed or missing entry
/// is a lease that something acquired, released or replaced.
async fn leases(pool: &PgPool) -> Vec<(String, i64)> {
    sqlx::query_as("SELECT namespace || '/' || name, fencing_token FROM locks ORDER BY 1")
        .fetch_all(pool)
        .await
        .unwrap()
}

fn of_key(leases: &[(String, i64)], k: usize) -> Vec<(String, i64)> {
    let (suffix, uuid) = (format!("-{k}"), uuid_for(k));
    leases.iter().filter(|(name, _)| name.ends_with(&suffix) || name.ends_with(&uuid)).cloned().collect()
}

#[tokio::test]
async fn the_compatibility_apis_answer_every_kind_of_key_as_the_matrix_says() {
    let (app, keys) = arranged().await;
    for k in 0..KEYS.len() {
        let acme = Some(app.acme.key.as_str());
        for (method, path, body) in [
            ("GET", "/v1/acquire/lk-{k}", None),
            ("POST", "/lock/key/ll-{k}", Some(json!({"secret": "acme's secret"}))),
            ("POST", "/lock/uuid/{uuid}", Some(json!({"secret": "acme's secret"}))),
            ("POST", "/api/mx-{k}", None),
        ] {
            let mut request = compat_request(&app, method, &path_for(path, k), acme);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.unwrap();
            assert!(response.status().is_success(), "acme's {method} {path}: {}", response.status());
        }
    }
    let before = leases(&app.pool).await;

    let per_key = keys.iter().enumerate().map(|(k, key)| {
        let app = &app;
        async move {
            let mut wrong = Vec::new();
            for (method, template, expected) in COMPAT {
                let path = path_for(template, k);
                let got =
                    answer(compat_request(app, method, &path, key.as_deref()).send().await.unwrap()).await;
                if got != expected[k] {
                    wrong.push(format!(
                        "{method} {path} with {} key: {got}, expected {}",
                        KEYS[k], expected[k]
                    ));
                }
            }
            wrong
        }
    });
    let wrong: Vec<String> = join_all(per_key).await.into_iter().flatten().collect();
    assert!(wrong.is_empty(), "{} answers differ from the matrix:\n{}", wrong.len(), wrong.join("\n"));

    let after = leases(&app.pool).await;
    for k in MAY_NOT_CHANGE_ACMES_LOCKS {
        let acmes = |all: &[(String, i64)]| -> Vec<(String, i64)> {
            of_key(all, k).into_iter().filter(|(name, _)| !name.starts_with("globex/")).collect()
        };
        assert_eq!(acmes(&after), acmes(&before), "the {} key changed acme's leases", KEYS[k]);
        assert_eq!(acmes(&before).len(), 4);
    }
}

/// (page, answer per key): the console's answers once each kind of key has
/// tried to sign in. Without a session every page leads to the sign-in form.
const CONSOLE: &[(&str, &str, [u16; 7])] = &[
    ("POST", "/console/login", [401, 401, 401, 401, 401, 303, 303]),
    ("GET", "/console/audit", [303, 303, 303, 303, 303, 200, 200]),
    ("GET", "/console/accounts/globex", [303, 303, 303, 303, 303, 200, 200]),
    ("GET", "/console/locks/globex/theirs", [303, 303, 303, 303, 303, 200, 200]),
    ("POST", "/console/locks/globex/theirs/release", [303, 303, 303, 303, 303, 403, 303]),
];

/// Tries to sign in with `key`, then visits each page of `CONSOLE` with
/// whatever session (and CSRF token) that gave.
async fn console_answers(app: &TestApp, key: Option<&str>) -> Vec<u16> {
    let (signed_in, session) = sign_in(app, key.unwrap_or("")).await;
    let mut answers = vec![signed_in.status().as_u16()];
    let (cookie, csrf) = session.unwrap_or_default();
    for (method, path, _) in &CONSOLE[1..] {
        let url = format!("{}{path}", app.address);
        let request = match *method {
            "GET" => client().get(url),
            _ => client().post(url).form(&[("csrf", csrf.as_str()), ("reason", "isolation matrix")]),
        };
        answers.push(request.header(COOKIE, &cookie).send().await.unwrap().status().as_u16());
    }
    answers
}

#[tokio::test]
async fn the_console_admits_only_staff_and_only_admins_force_release() {
    let (app, keys) = arranged().await;
    let before = leases(&app.pool).await;
    let admin = KEYS.iter().position(|k| *k == "admin").unwrap();

    // Everyone but the admin at once; then nothing may have changed.
    let mut answers = join_all(keys[..admin].iter().map(|key| console_answers(&app, key.as_deref()))).await;
    assert_eq!(leases(&app.pool).await, before, "a console call without admin rights changed a lease");
    answers.push(console_answers(&app, keys[admin].as_deref()).await);

    let wrong: Vec<String> = CONSOLE
        .iter()
        .enumerate()
        .flat_map(|(row, (method, path, expected))| {
            let answers = &answers;
            (0..KEYS.len()).filter(move |&k| answers[k][row] != expected[k]).map(move |k| {
                format!("{method} {path} with {} key: {}, expected {}", KEYS[k], answers[k][row], expected[k])
            })
        })
        .collect();
    assert!(wrong.is_empty(), "{} answers differ from the matrix:\n{}", wrong.len(), wrong.join("\n"));
    let released = before.iter().filter(|(name, _)| name == "globex/theirs").count();
    assert_eq!(
        leases(&app.pool).await.len(),
        before.len() - released,
        "the admin force-released globex/theirs"
    );
}
