//! Shared (read) locks: any number of readers or one writer; one FIFO queue
//! across modes in which a reader never gets ahead of a waiting writer.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{json, spawn_app, wait_until, TestApp};

const PATH: &str = "/v1/locks/doc";

async fn read(app: &TestApp, extra: Value) -> reqwest::Response {
    let mut body = json!({"mode": "shared", "ttl_seconds": 30});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    app.acquire(&app.acme, PATH, body).await
}

async fn waiters(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM lock_waiters WHERE expires_at > now()")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn readers_share_a_lock_and_a_writer_is_refused_while_they_hold_it() {
    let app = spawn_app().await;

    let (first, second) = (read(&app, json!({"owner": "r1"})).await, read(&app, json!({})).await);

    assert_eq!((first.status(), second.status()), (StatusCode::CREATED, StatusCode::CREATED));
    let (first, second) = (json(first).await, json(second).await);
    assert_eq!(first["mode"], "shared");
    assert_ne!(first["lock_token"], second["lock_token"]);
    assert!(second["fencing_token"].as_i64() > first["fencing_token"].as_i64());
    let writer = app.acquire(&app.acme, PATH, json!({})).await;
    assert_eq!(writer.status(), StatusCode::CONFLICT);
    assert_eq!(json(writer).await["lock"]["mode"], "shared");
    let state = json(app.status(&app.acme, PATH).await).await;
    assert_eq!(state["mode"], "shared");
    let holders = state["holders"].as_array().unwrap();
    assert_eq!(holders.len(), 2);
    assert_eq!(holders[0]["owner"], "r1");
    assert!(!state.to_string().contains(first["lock_token"].as_str().unwrap()));
}

#[tokio::test]
async fn a_writer_excludes_readers() {
    let app = spawn_app().await;
    let writer = json(app.acquire(&app.acme, PATH, json!({"ttl_seconds": 30})).await).await;
    assert_eq!(writer["mode"], "exclusive");

    let reader = read(&app, json!({})).await;

    assert_eq!(reader.status(), StatusCode::CONFLICT);
    assert_eq!(json(reader).await["lock"]["fencing_token"], writer["fencing_token"]);
}

#[tokio::test]
async fn renew_and_release_act_on_one_reader_and_the_last_release_frees_the_lock() {
    let app = spawn_app().await;
    let a = json(read(&app, json!({"ttl_seconds": 10})).await).await;
    let b = json(read(&app, json!({"ttl_seconds": 10})).await).await;
    let (a_token, b_token) = (a["lock_token"].as_str().unwrap(), b["lock_token"].as_str().unwrap());

    let renewed = app.renew(&app.acme, PATH, a_token).await;
    assert_eq!(renewed.status(), StatusCode::OK);
    assert_eq!(json(renewed).await["fencing_token"], a["fencing_token"]);
    assert_eq!(app.release(&app.acme, PATH, b_token).await.status(), StatusCode::NO_CONTENT);
    let state = json(app.status(&app.acme, PATH).await).await;
    assert_eq!(state["holders"].as_array().unwrap().len(), 1);
    let again = app.release(&app.acme, PATH, b_token).await;
    assert_eq!(again.status(), StatusCode::GONE);
    assert_eq!(json(again).await["error"]["reason"], "released");

    assert_eq!(app.release(&app.acme, PATH, a_token).await.status(), StatusCode::NO_CONTENT);
    let writer = app.acquire(&app.acme, PATH, json!({})).await;
    assert_eq!(writer.status(), StatusCode::CREATED);
    assert!(json(writer).await["fencing_token"].as_i64() > b["fencing_token"].as_i64());
}

#[tokio::test]
async fn a_new_reader_never_gets_ahead_of_a_waiting_writer() {
    let app = Arc::new(spawn_app().await);
    let reader = json(read(&app, json!({})).await).await;
    let writer = tokio::spawn({
        let app = app.clone();
        async move { app.acquire(&app.acme, PATH, json!({"wait_seconds": 20})).await }
    });
    wait_until(Duration::from_secs(10), || async { waiters(&app).await == 1 }).await;

    let newcomer = read(&app, json!({})).await;

    assert_eq!(newcomer.status(), StatusCode::CONFLICT);
    app.release(&app.acme, PATH, reader["lock_token"].as_str().unwrap()).await;
    assert_eq!(writer.await.unwrap().status(), StatusCode::CREATED);
}

#[tokio::test]
async fn readers_queued_behind_a_writer_are_granted_together() {
    let app = Arc::new(spawn_app().await);
    let writer = json(app.acquire(&app.acme, PATH, json!({"ttl_seconds": 60})).await).await;
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { read(&app, json!({"wait_seconds": 20})).await })
        })
        .collect();
    wait_until(Duration::from_secs(10), || async { waiters(&app).await == 2 }).await;

    app.release(&app.acme, PATH, writer["lock_token"].as_str().unwrap()).await;

    for reader in readers {
        assert_eq!(reader.await.unwrap().status(), StatusCode::CREATED);
    }
    let state = json(app.status(&app.acme, PATH).await).await;
    assert_eq!(state["holders"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_lapsed_reader_is_recorded_as_expired_when_a_writer_takes_the_lock() {
    let app = spawn_app().await;
    let reader = json(read(&app, json!({"ttl_seconds": 1})).await).await;
    wait_until(Duration::from_secs(10), || async {
        app.status(&app.acme, PATH).await.status() == StatusCode::NOT_FOUND
    })
    .await;

    let writer = app.acquire(&app.acme, PATH, json!({})).await;

    assert_eq!(writer.status(), StatusCode::CREATED);
    let events: Vec<(String, i64, String)> =
        sqlx::query_as("SELECT event, fencing_token, mode FROM lock_events WHERE name = 'doc' ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    let token = reader["fencing_token"].as_i64().unwrap();
    assert_eq!(events[0], ("acquired".to_owned(), token, "shared".to_owned()));
    assert_eq!(events[1], ("expired".to_owned(), token, "shared".to_owned()));
    assert_eq!(events[2].0, "acquired");
    assert_eq!(events[2].2, "exclusive");
    assert_eq!(events.len(), 3, "{events:?}");
}

#[tokio::test]
async fn racing_readers_and_writers_never_overlap_a_writer() {
    let app = Arc::new(spawn_app().await);
    let racers: Vec<_> = (0..12)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                // Everyone waits in line, so that both modes are granted:
                // fail-fast writers would rarely find the lock free of
                // readers, and fail-fast readers could spend all their tries
                // while a writer holds it.
                let mode = if i % 3 == 0 { "exclusive" } else { "shared" };
                let body = json!({"mode": mode, "ttl_seconds": 30, "wait_seconds": 20});
                for _ in 0..8 {
                    let response = app.acquire(&app.acme, PATH, body.clone()).await;
                    match response.status() {
                        StatusCode::CREATED => {
                            let token = json(response).await["lock_token"].as_str().unwrap().to_owned();
                            let released = app.release(&app.acme, PATH, &token).await;
                            assert_eq!(released.status(), StatusCode::NO_CONTENT);
                        }
                        StatusCode::CONFLICT => {}
                        other => panic!("unexpected {other}"),
                    }
                }
            })
        })
        .collect();
    for racer in racers {
        racer.await.unwrap();
    }

    // Replay the audit trail: a writer is granted only when nobody holds
    // the lock, and nobody is granted while a writer holds it.
    let events: Vec<(String, i64, String)> =
        sqlx::query_as("SELECT event, fencing_token, mode FROM lock_events WHERE name = 'doc' ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    let (mut readers, mut writer) = (HashSet::new(), None);
    for (event, token, mode) in &events {
        match (event.as_str(), mode.as_str()) {
            ("acquired", "exclusive") => {
                assert!(readers.is_empty() && writer.is_none(), "{events:?}");
                writer = Some(*token);
            }
            ("acquired", _) => {
                assert!(writer.is_none(), "{events:?}");
                readers.insert(*token);
            }
            ("released", "exclusive") => assert_eq!(writer.take(), Some(*token)),
            ("released", _) => assert!(readers.remove(token)),
            other => panic!("unexpected event {other:?}"),
        }
    }
    assert!(events.iter().any(|e| e.2 == "exclusive") && events.iter().any(|e| e.2 == "shared"));
}

#[tokio::test]
async fn a_reader_hands_over_to_a_successor_with_a_higher_fencing_token() {
    let app = spawn_app().await;
    let reader = json(read(&app, json!({"owner": "first"})).await).await;
    let other = json(read(&app, json!({})).await).await;
    let token = reader["lock_token"].as_str().unwrap();

    let handed = app
        .request(reqwest::Method::POST, &format!("{PATH}/handover"), &app.acme)
        .header("Lock-Token", token)
        .json(&json!({"owner": "next"}))
        .send()
        .await
        .unwrap();

    assert_eq!(handed.status(), StatusCode::CREATED);
    let next = json(handed).await;
    assert_eq!((next["mode"].as_str(), next["owner"].as_str()), (Some("shared"), Some("next")));
    assert!(next["fencing_token"].as_i64() > other["fencing_token"].as_i64());
    assert_eq!(app.renew(&app.acme, PATH, token).await.status(), StatusCode::GONE);
    let state = json(app.status(&app.acme, PATH).await).await;
    let owners: Vec<&str> =
        state["holders"].as_array().unwrap().iter().map(|h| h["owner"].as_str().unwrap_or("")).collect();
    assert_eq!(owners, ["", "next"]);
}

#[tokio::test]
async fn a_mode_that_is_neither_exclusive_nor_shared_is_invalid() {
    let app = spawn_app().await;

    let response = app.acquire(&app.acme, PATH, json!({"mode": "reader"})).await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(crate::helpers::error_code(response).await, "invalid_mode");
}

#[tokio::test]
async fn a_retried_shared_acquire_gets_the_same_reader_lease() {
    let app = spawn_app().await;
    let send = || {
        app.request(reqwest::Method::POST, PATH, &app.acme)
            .header("Idempotency-Key", "read-1")
            .json(&json!({"mode": "shared", "ttl_seconds": 30}))
            .send()
    };

    let (first, retry) = (json(send().await.unwrap()).await, send().await.unwrap());

    assert_eq!(retry.status(), StatusCode::CREATED);
    let retry = json(retry).await;
    assert_eq!(
        (&retry["lock_token"], &retry["fencing_token"]),
        (&first["lock_token"], &first["fencing_token"])
    );
    let state = json(app.status(&app.acme, PATH).await).await;
    assert_eq!(state["holders"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_force_release_ends_every_reader_and_records_each() {
    let app = spawn_app().await;
    let admin = crate::helpers::key(&app.pool, "acme", leasehold::domain::Role::Admin).await;
    let (a, b) = (json(read(&app, json!({})).await).await, json(read(&app, json!({})).await).await);

    let released = app
        .request(reqwest::Method::DELETE, "/v1/admin/namespaces/acme/locks/doc", &admin)
        .json(&json!({"reason": "stuck readers"}))
        .send()
        .await
        .unwrap();

    assert_eq!(released.status(), StatusCode::OK);
    let ended: Vec<i64> = sqlx::query_scalar(
        "SELECT fencing_token FROM lock_events WHERE event = 'force_released' AND mode = 'shared' ORDER BY 1",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(ended, [a["fencing_token"].as_i64().unwrap(), b["fencing_token"].as_i64().unwrap()]);
    assert_eq!(app.status(&app.acme, PATH).await.status(), StatusCode::NOT_FOUND);
}
