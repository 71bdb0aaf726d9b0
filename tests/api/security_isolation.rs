//! The tenant-isolation matrix: every route against every kind of key and
//! every kind of target, with the expected answer written down. Another
//! tenant's private namespace answers exactly like one that does not exist.

use futures_util::future::join_all;
use leasehold::domain::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{json, key, spawn_app_with, TestApp};

/// The keys, in the order of each row's expected statuses.
pub const KEYS: [&str; 7] = ["own", "other tenant", "revoked", "malformed", "none", "support", "admin"];

/// (method, path, expected status per key). `own` is acme's client key;
/// "other tenant" is globex's; support and admin keys belong to acme.
const MATRIX: &[(&str, &str, [u16; 7])] = &[
    // acme's private lock, held by acme
    ("GET", "/v1/namespaces/acme/locks/held", [200, 404, 401, 401, 401, 200, 200]),
    ("POST", "/v1/namespaces/acme/locks/held", [409, 404, 401, 401, 401, 403, 409]),
    ("POST", "/v1/namespaces/acme/locks/held/renew", [410, 404, 401, 401, 401, 403, 410]),
    ("DELETE", "/v1/namespaces/acme/locks/held", [410, 404, 401, 401, 401, 403, 410]),
    ("POST", "/v1/namespaces/acme/locks/held/handover", [410, 404, 401, 401, 401, 403, 410]),
    ("GET", "/v1/namespaces/acme/locks/held/history", [200, 404, 401, 401, 401, 200, 200]),
    ("GET", "/v1/namespaces/acme/locks", [200, 404, 401, 401, 401, 200, 200]),
    // globex's private lock, held by globex
    ("GET", "/v1/namespaces/globex/locks/theirs", [404, 200, 401, 401, 401, 200, 200]),
    ("POST", "/v1/namespaces/globex/locks/theirs", [404, 409, 401, 401, 401, 403, 409]),
    ("POST", "/v1/namespaces/globex/locks/theirs/renew", [404, 410, 401, 401, 401, 403, 410]),
    ("DELETE", "/v1/namespaces/globex/locks/theirs", [404, 410, 401, 401, 401, 403, 410]),
    ("GET", "/v1/namespaces/globex/locks/theirs/history", [404, 200, 401, 401, 401, 200, 200]),
    ("GET", "/v1/namespaces/globex/locks", [404, 200, 401, 401, 401, 200, 200]),
    // a public lock, held by the hobbyist
    ("GET", "/v1/namespaces/public/locks/shared", [200, 200, 401, 401, 401, 200, 200]),
    ("POST", "/v1/namespaces/public/locks/shared", [409, 409, 401, 401, 401, 403, 409]),
    ("POST", "/v1/namespaces/public/locks/shared/renew", [410, 410, 401, 401, 401, 403, 410]),
    ("DELETE", "/v1/namespaces/public/locks/shared", [410, 410, 401, 401, 401, 403, 410]),
    // the audit trail and the admin API
    ("GET", "/v1/audit", [200, 200, 401, 401, 401, 200, 200]),
    ("GET", "/v1/admin/accounts", [403, 403, 401, 401, 401, 403, 200]),
    ("POST", "/v1/admin/accounts", [403, 403, 401, 401, 401, 403, 400]),
    ("GET", "/v1/admin/accounts/globex", [403, 403, 401, 401, 401, 403, 200]),
    ("PATCH", "/v1/admin/accounts/globex", [403, 403, 401, 401, 401, 403, 200]),
    ("GET", "/v1/admin/accounts/globex/keys", [403, 403, 401, 401, 401, 403, 200]),
    ("POST", "/v1/admin/accounts/globex/keys", [403, 403, 401, 401, 401, 403, 201]),
    ("DELETE", "/v1/admin/keys/0123456789abcdef", [403, 403, 401, 401, 401, 403, 404]),
    ("POST", "/v1/admin/keys/0123456789abcdef/rotate", [403, 403, 401, 401, 401, 403, 404]),
    ("GET", "/v1/admin/namespaces", [403, 403, 401, 401, 401, 403, 200]),
    ("POST", "/v1/admin/namespaces", [403, 403, 401, 401, 401, 403, 400]),
    ("DELETE", "/v1/admin/namespaces/nowhere", [403, 403, 401, 401, 401, 403, 404]),
    // (a force release needs a reason: the body here has none)
    ("DELETE", "/v1/admin/namespaces/globex/locks/free", [403, 403, 401, 401, 401, 403, 400]),
    ("GET", "/v1/admin/log", [403, 403, 401, 401, 401, 403, 200]),
];

pub async fn arranged() -> (TestApp, Vec<Option<String>>) {
    let app = spawn_app_with(|s| s.rate_limit.enabled = false).await;
    for (owner, path) in [
        (&app.acme, "/v1/namespaces/acme/locks/held"),
        (&app.globex, "/v1/namespaces/globex/locks/theirs"),
        (&app.hobby, "/v1/namespaces/public/locks/shared"),
    ] {
        assert_eq!(app.acquire(owner, path, json!({})).await.status(), StatusCode::CREATED);
    }
    let revoked = key(&app.pool, "acme", Role::Client).await;
    leasehold::admin::revoke_key(&app.pool, &revoked.key_id).await.unwrap();
    let support = key(&app.pool, "acme", Role::Support).await;
    let admin = key(&app.pool, "acme", Role::Admin).await;
    let keys = vec![
        Some(app.acme.key.clone()),
        Some(app.globex.key.clone()),
        Some(revoked.key),
        Some("lh_0123456789abcdef_not-a-real-secret".into()),
        None,
        Some(support.key),
        Some(admin.key),
    ];
    (app, keys)
}

fn request(app: &TestApp, method: &str, path: &str, key: Option<&str>) -> reqwest::RequestBuilder {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.address))
        .header("Lock-Token", "bm90LWEtcmVhbC10b2tlbg")
        .json(&json!({}));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request
}

#[tokio::test]
async fn every_route_answers_every_kind_of_key_as_the_matrix_says() {
    let (app, keys) = arranged().await;

    let cases = MATRIX.iter().flat_map(|(method, path, expected)| {
        keys.iter().zip(expected).enumerate().map(move |(k, (key, want))| (k, *method, *path, key, *want))
    });
    let answers = join_all(cases.map(|(k, method, path, key, want)| {
        let request = request(&app, method, path, key.as_deref());
        async move { (k, method, path, want, request.send().await.unwrap().status().as_u16()) }
    }))
    .await;

    let wrong: Vec<String> = answers
        .into_iter()
        .filter(|(_, _, _, want, got)| want != got)
        .map(|(k, method, path, want, got)| {
            format!("{method} {path} with {} key: {got}, expected {want}", KEYS[k])
        })
        .collect();
    assert!(wrong.is_empty(), "{} answers differ from the matrix:\n{}", wrong.len(), wrong.join("\n"));
}

#[tokio::test]
async fn another_tenants_lock_answers_exactly_like_a_namespace_that_does_not_exist() {
    let (app, keys) = arranged().await;
    let own = keys[0].as_deref();

    for (method, suffix) in
        [("GET", ""), ("POST", ""), ("POST", "/renew"), ("DELETE", ""), ("GET", "/history")]
    {
        let theirs = request(&app, method, &format!("/v1/namespaces/globex/locks/theirs{suffix}"), own);
        let nowhere = request(&app, method, &format!("/v1/namespaces/nowhere/locks/theirs{suffix}"), own);
        let (theirs, nowhere) = (theirs.send().await.unwrap(), nowhere.send().await.unwrap());
        assert_eq!(theirs.status(), nowhere.status(), "{method} {suffix}");
        assert_eq!(json(theirs).await, json(nowhere).await, "{method} {suffix}");
    }
}

#[tokio::test]
async fn a_client_key_reads_no_other_tenants_audit_events() {
    let (app, keys) = arranged().await;

    let page = json(request(&app, "GET", "/v1/audit", keys[0].as_deref()).send().await.unwrap()).await;

    let events = page["events"].as_array().unwrap();
    assert!(!events.is_empty());
    let foreign: Vec<&Value> = events.iter().filter(|e| e["namespace"] != "acme").collect();
    assert!(foreign.is_empty(), "acme saw {foreign:?}");
}
