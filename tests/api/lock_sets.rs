//! Lock sets: every member or none, in one statement; members are ordinary
//! locks to everyone else; no deadlock whatever order sets name them in.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{error_code, json, spawn_app, wait_until, TestApp};

async fn take_set(app: &TestApp, names: &[&str], extra: Value) -> reqwest::Response {
    let mut body = json!({"names": names, "ttl_seconds": 30});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    app.acquire(&app.acme, "/v1/lock-sets", body).await
}

#[tokio::test]
async fn a_set_is_granted_whole_and_its_members_are_ordinary_locks_to_others() {
    let app = spawn_app().await;

    let response = take_set(&app, &["c", "a", "b"], json!({})).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let set = json(response).await;
    let names: Vec<&str> =
        set["locks"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    let state = json(app.status(&app.acme, "/v1/locks/b").await).await;
    assert_eq!(state["set_id"], set["set_id"]);
    assert_eq!(state["fencing_token"], set["locks"][1]["fencing_token"]);
    let plain = app.acquire(&app.acme, "/v1/locks/a", json!({})).await;
    assert_eq!(plain.status(), StatusCode::CONFLICT);
    let set_ids: Vec<Option<String>> =
        sqlx::query_scalar("SELECT set_id::text FROM lock_events WHERE event = 'acquired' ORDER BY name")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(set_ids, vec![set["set_id"].as_str().map(str::to_owned); 3]);
}

#[tokio::test]
async fn a_set_with_a_held_member_takes_nothing_and_names_it() {
    let app = spawn_app().await;
    app.acquire(&app.acme, "/v1/locks/b", json!({"ttl_seconds": 30})).await;

    let response = take_set(&app, &["a", "b", "c"], json!({})).await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.headers().contains_key("retry-after"));
    let refused = json(response).await;
    assert_eq!(refused["error"]["code"], "lock_held");
    assert_eq!(refused["held"], json!(["b"]));
    for free in ["a", "c"] {
        assert_eq!(app.status(&app.acme, &format!("/v1/locks/{free}")).await.status(), StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn renew_and_release_act_on_every_member() {
    let app = spawn_app().await;
    let set = json(take_set(&app, &["x", "y"], json!({"ttl_seconds": 10})).await).await;
    let (id, token) = (set["set_id"].as_str().unwrap(), set["lock_token"].as_str().unwrap());

    let renewed = app
        .request(Method::POST, &format!("/v1/lock-sets/{id}/renew"), &app.acme)
        .header("Lock-Token", token)
        .json(&json!({"ttl_seconds": 600}))
        .send()
        .await
        .unwrap();
    assert_eq!(renewed.status(), StatusCode::OK);
    let renewed = json(renewed).await;
    assert_eq!(renewed["locks"], set["locks"]);
    assert_eq!((set["ttl_seconds"].as_i64(), renewed["ttl_seconds"].as_i64()), (Some(10), Some(600)));
    assert!(renewed["expires_at"].as_str() > set["expires_at"].as_str());

    let released = app.release(&app.acme, &format!("/v1/lock-sets/{id}"), token).await;
    assert_eq!(released.status(), StatusCode::NO_CONTENT);
    for name in ["x", "y"] {
        assert_eq!(app.status(&app.acme, &format!("/v1/locks/{name}")).await.status(), StatusCode::NOT_FOUND);
    }
    let again = app.release(&app.acme, &format!("/v1/lock-sets/{id}"), token).await;
    assert_eq!(again.status(), StatusCode::GONE);
    assert_eq!(json(again).await["error"]["reason"], "released");
    let wrong = app.release(&app.acme, &format!("/v1/lock-sets/{id}"), "not-the-token").await;
    assert_eq!(wrong.status(), StatusCode::GONE);
    assert_eq!(json(wrong).await["error"]["reason"], "unknown_token");
}

#[tokio::test]
async fn bad_sets_are_refused() {
    let app = spawn_app().await;
    let many: Vec<String> = (0..65).map(|i| format!("n{i}")).collect();
    let bodies = [
        json!({"names": ["only"]}),
        json!({"names": many}),
        json!({"names": ["a", "a"]}),
        json!({"names": ["a", "b/c"]}),
        json!({}),
    ];
    for body in bodies {
        let response = app.acquire(&app.acme, "/v1/lock-sets", body.clone()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    assert_eq!(error_code(take_set(&app, &["a", "a"], json!({})).await).await, "invalid_names");
}

#[tokio::test]
async fn a_waiting_set_is_granted_when_its_last_held_member_frees() {
    let app = Arc::new(spawn_app().await);
    let holder = json(app.acquire(&app.acme, "/v1/locks/q", json!({"ttl_seconds": 60})).await).await;
    let waiter = tokio::spawn({
        let app = app.clone();
        async move { take_set(&app, &["q", "p"], json!({"wait_seconds": 20})).await }
    });
    wait_until(Duration::from_secs(10), || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM lock_waiters").fetch_one(&app.pool).await.unwrap()
            == 1
    })
    .await;

    app.release(&app.acme, "/v1/locks/q", holder["lock_token"].as_str().unwrap()).await;

    let granted = waiter.await.unwrap();
    assert_eq!(granted.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn racing_sets_in_every_order_never_deadlock_or_overlap() {
    let app = Arc::new(spawn_app().await);
    let orders: [&[&str]; 4] = [&["m1", "m2", "m3"], &["m3", "m2", "m1"], &["m2", "m3"], &["m3", "m1"]];
    let racers: Vec<_> = (0..16)
        .map(|i| {
            let (app, names) = (app.clone(), orders[i % orders.len()]);
            tokio::spawn(async move {
                let mut statuses = HashMap::new();
                for _ in 0..10 {
                    let response = take_set(&app, names, json!({})).await;
                    let status = response.status();
                    *statuses.entry(status).or_insert(0) += 1;
                    if status == StatusCode::CREATED {
                        let set = json(response).await;
                        let path = format!("/v1/lock-sets/{}", set["set_id"].as_str().unwrap());
                        let released =
                            app.release(&app.acme, &path, set["lock_token"].as_str().unwrap()).await;
                        assert_eq!(released.status(), StatusCode::NO_CONTENT);
                    }
                }
                statuses
            })
        })
        .collect();
    let mut granted = 0;
    for racer in racers {
        for (status, count) in racer.await.unwrap() {
            assert!(matches!(status, StatusCode::CREATED | StatusCode::CONFLICT), "{status}");
            if status == StatusCode::CREATED {
                granted += count;
            }
        }
    }

    assert!(granted > 0);
    // Each member's audit trail alternates: no grant while another lives.
    for name in ["m1", "m2", "m3"] {
        let events: Vec<String> =
            sqlx::query_scalar("SELECT event FROM lock_events WHERE name = $1 ORDER BY id")
                .bind(name)
                .fetch_all(&app.pool)
                .await
                .unwrap();
        for pair in events.chunks(2) {
            assert_eq!(pair, ["acquired", "released"], "{name}: {events:?}");
        }
    }
}

#[tokio::test]
async fn a_set_that_takes_a_lock_readers_left_excludes_new_readers() {
    let app = spawn_app().await;
    let reader = json(
        app.acquire(&app.acme, "/v1/locks/shared-once", json!({"mode": "shared", "ttl_seconds": 30})).await,
    )
    .await;
    app.release(&app.acme, "/v1/locks/shared-once", reader["lock_token"].as_str().unwrap()).await;
    assert_eq!(take_set(&app, &["shared-once", "other"], json!({})).await.status(), StatusCode::CREATED);

    let new_reader =
        app.acquire(&app.acme, "/v1/locks/shared-once", json!({"mode": "shared", "ttl_seconds": 30})).await;

    assert_eq!(new_reader.status(), StatusCode::CONFLICT);
    let state = json(app.status(&app.acme, "/v1/locks/shared-once").await).await;
    assert_eq!(state["mode"], "exclusive");
}
