use std::collections::HashSet;

use leasehold::domain::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{error_code, json, key, spawn_app, wait_for_settled_audit, TestApp};

async fn audit(app: &TestApp, key: &leasehold::admin::KeyCreated, query: &str) -> Value {
    let response = app.request(Method::GET, &format!("/v1/audit?{query}"), key).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{query}");
    json(response).await
}

fn ids(page: &Value) -> Vec<i64> {
    page["events"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect()
}

/// Walks every page of `query` with `limit`; returns the ids in order.
pub async fn walk(app: &TestApp, key: &leasehold::admin::KeyCreated, query: &str, limit: u32) -> Vec<i64> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = format!("{query}&limit={limit}");
        if let Some(c) = &cursor {
            q.push_str(&format!("&cursor={c}"));
        }
        let page = audit(app, key, &q).await;
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return seen,
        }
    }
}

async fn acquire_and_release(app: &TestApp, who: &leasehold::admin::KeyCreated, path: &str) {
    let lease = json(app.acquire(who, path, json!({"owner": "worker-1"})).await).await;
    let token = lease["lock_token"].as_str().unwrap().to_owned();
    assert_eq!(app.release(who, path, &token).await.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_client_sees_only_its_own_accounts_events() {
    let app = spawn_app().await;
    acquire_and_release(&app, &app.acme, "/v1/locks/billing").await;
    acquire_and_release(&app, &app.globex, "/v1/locks/billing").await;
    acquire_and_release(&app, &app.globex, "/v1/namespaces/public/locks/shared").await;
    wait_for_settled_audit(&app.pool).await;

    let page = audit(&app, &app.acme, "").await;
    let other = audit(&app, &app.acme, "account=globex").await;

    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e["account"] == "acme" && e["namespace"] == "acme"));
    assert_eq!(other["events"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn support_sees_every_tenant_and_filters_narrow_it() {
    let app = spawn_app().await;
    let support = key(&app.pool, "acme", Role::Support).await;
    acquire_and_release(&app, &app.acme, "/v1/locks/billing").await;
    acquire_and_release(&app, &app.globex, "/v1/locks/billing").await;
    acquire_and_release(&app, &app.globex, "/v1/locks/reports").await;
    wait_for_settled_audit(&app.pool).await;

    let all = audit(&app, &support, "").await;
    let by_name = audit(&app, &support, "name=billing&event=acquired").await;
    let by_events = audit(&app, &support, "namespace=globex&event=acquired&event=released&order=asc").await;
    let by_key = audit(&app, &support, &format!("key_id={}", app.acme.key_id)).await;

    assert_eq!(ids(&all).len(), 6);
    let namespaces: HashSet<_> =
        by_name["events"].as_array().unwrap().iter().map(|e| e["namespace"].as_str().unwrap()).collect();
    assert_eq!(namespaces, HashSet::from(["acme", "globex"]));
    let kinds: Vec<_> = by_events["events"].as_array().unwrap().iter().map(|e| e["event"].clone()).collect();
    assert_eq!(kinds, ["acquired", "released", "acquired", "released"]);
    assert_eq!(ids(&by_key).len(), 2);
    let token = all["events"][0]["fencing_token"].as_i64().unwrap();
    assert_eq!(ids(&audit(&app, &support, &format!("fencing_token={token}")).await).len(), 2);
}

#[tokio::test]
async fn pages_return_every_event_once_in_either_order() {
    let app = spawn_app().await;
    for i in 0..12 {
        acquire_and_release(&app, &app.acme, &format!("/v1/locks/job-{i}")).await;
    }
    wait_for_settled_audit(&app.pool).await;
    let expected: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM lock_events ORDER BY occurred_at DESC, id DESC")
            .fetch_all(&app.pool)
            .await
            .unwrap();

    let desc = walk(&app, &app.acme, "order=desc", 5).await;
    let mut asc = walk(&app, &app.acme, "order=asc", 7).await;

    assert_eq!(desc, expected);
    asc.reverse();
    assert_eq!(asc, expected);
}

#[tokio::test]
async fn paging_forward_while_events_are_written_misses_none_and_repeats_none() {
    let app = spawn_app().await;
    let support = key(&app.pool, "acme", Role::Support).await;
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (client, address, key) = (app.client.clone(), app.address.clone(), app.acme.key.clone());
            tokio::spawn(async move {
                for i in 0..15 {
                    let url = format!("{address}/v1/locks/w{w}-{i}");
                    let lease: Value =
                        client.post(&url).bearer_auth(&key).send().await.unwrap().json().await.unwrap();
                    let token = lease["lock_token"].as_str().unwrap();
                    client.delete(&url).bearer_auth(&key).header("Lock-Token", token).send().await.unwrap();
                }
            })
        })
        .collect();

    // Tail the trail in ascending order while the writers run, until every
    // event written has been seen (a gap would never be filled: timeout).
    let total = 8 * 15 * 2;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let done = writers.iter().all(|w| w.is_finished());
        let q = match &cursor {
            Some(c) => format!("order=asc&limit=3&cursor={c}"),
            None => "order=asc&limit=3".to_owned(),
        };
        let page = audit(&app, &support, &q).await;
        seen.extend(ids(&page));
        if let Some(c) = page["next_cursor"].as_str() {
            cursor = Some(c.to_owned());
        }
        if done && seen.len() >= total {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "saw {} of {total} events", seen.len());
    }

    let all: Vec<i64> = sqlx::query_scalar("SELECT id FROM lock_events").fetch_all(&app.pool).await.unwrap();
    assert_eq!(all.len(), total);
    let unique: HashSet<_> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no event is returned twice");
    assert_eq!(unique, all.into_iter().collect::<HashSet<_>>(), "every event is returned");
}

#[tokio::test]
async fn a_locks_history_is_that_locks_and_hidden_from_other_tenants() {
    let app = spawn_app().await;
    acquire_and_release(&app, &app.acme, "/v1/locks/billing").await;
    acquire_and_release(&app, &app.acme, "/v1/locks/other").await;
    wait_for_settled_audit(&app.pool).await;

    let own = app.request(Method::GET, "/v1/locks/billing/history", &app.acme).send().await.unwrap();
    let foreign = app
        .request(Method::GET, "/v1/namespaces/acme/locks/billing/history", &app.globex)
        .send()
        .await
        .unwrap();

    assert_eq!(own.status(), StatusCode::OK);
    let page = json(own).await;
    let events: Vec<_> = page["events"].as_array().unwrap().iter().map(|e| e["event"].clone()).collect();
    assert_eq!(events, ["released", "acquired"]);
    assert!(page["events"].as_array().unwrap().iter().all(|e| e["name"] == "billing"));
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(foreign).await, "namespace_not_found");
}

#[tokio::test]
async fn events_never_carry_keys_or_lock_tokens() {
    let app = spawn_app().await;
    let lease = json(app.acquire(&app.acme, "/v1/locks/secretive", json!({})).await).await;
    let token = lease["lock_token"].as_str().unwrap();
    wait_for_settled_audit(&app.pool).await;

    let body = app.request(Method::GET, "/v1/audit", &app.acme).send().await.unwrap().text().await.unwrap();

    assert!(body.contains("secretive"));
    assert!(!body.contains(token));
    assert!(!body.contains(crate::helpers::secret_of(&app.acme.key)));
    assert!(!body.contains("lock_token") && !body.contains("token_hash"));
}

#[tokio::test]
async fn bad_audit_filters_are_client_errors_with_stable_codes() {
    let app = spawn_app().await;
    for (query, code) in [
        ("limit=1001", "invalid_limit"),
        ("since=yesterday", "invalid_time"),
        ("cursor=garbage", "invalid_cursor"),
        ("namespace=Not%20Valid", "invalid_namespace"),
        ("color=red", "invalid_query"),
        ("fencing_token=x", "invalid_fencing_token"),
    ] {
        let response =
            app.request(Method::GET, &format!("/v1/audit?{query}"), &app.acme).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(error_code(response).await, code, "{query}");
    }
}
