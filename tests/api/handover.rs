use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::sync::Barrier;

use crate::helpers::{json, spawn_app};

#[tokio::test]
async fn handover_ends_the_lease_and_grants_a_new_one_with_a_higher_fencing_token() {
    let app = spawn_app().await;
    let first = json(app.acquire(&app.acme, "/v1/locks/baton", json!({"owner": "runner-1"})).await).await;
    let old_token = first["lock_token"].as_str().unwrap();

    let response = app
        .request(Method::POST, "/v1/locks/baton/handover", &app.acme)
        .header("Lock-Token", old_token)
        .json(&json!({"owner": "runner-2", "ttl_seconds": 45}))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::CREATED);
    let next = json(response).await;
    assert!(next["fencing_token"].as_i64() > first["fencing_token"].as_i64());
    assert_ne!(next["lock_token"], first["lock_token"]);
    assert_eq!(next["owner"], "runner-2");
    assert_eq!(next["ttl_seconds"], 45);
    let old = app.renew(&app.acme, "/v1/locks/baton", old_token).await;
    assert_eq!(old.status(), StatusCode::GONE);
    assert_eq!(json(old).await["error"]["reason"], "released");
    let new = app.renew(&app.acme, "/v1/locks/baton", next["lock_token"].as_str().unwrap()).await;
    assert_eq!(new.status(), StatusCode::OK);
    let events: Vec<(String, i64)> = app.events("acme", "baton").await;
    let (f1, f2) = (first["fencing_token"].as_i64().unwrap(), next["fencing_token"].as_i64().unwrap());
    assert_eq!(&events[..3], [("acquired".into(), f1), ("released".into(), f1), ("acquired".into(), f2)]);
}

#[tokio::test]
async fn no_competitor_gets_in_between_a_handover() {
    let app = spawn_app().await;
    for round in 0..5 {
        let path = format!("/v1/locks/relay-{round}");
        let grant = json(app.acquire(&app.acme, &path, json!({})).await).await;
        let barrier = Arc::new(Barrier::new(31));
        let competitors: Vec<_> = (0..30)
            .map(|_| {
                let (client, url, key, barrier) = (
                    app.client.clone(),
                    format!("{}{path}", app.address),
                    app.acme.key.clone(),
                    barrier.clone(),
                );
                tokio::spawn(async move {
                    barrier.wait().await;
                    client.post(url).bearer_auth(key).send().await.unwrap().status()
                })
            })
            .collect();
        barrier.wait().await;
        let handed = app
            .request(Method::POST, &format!("{path}/handover"), &app.acme)
            .header("Lock-Token", grant["lock_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();

        assert_eq!(handed.status(), StatusCode::CREATED);
        for competitor in competitors {
            assert_eq!(competitor.await.unwrap(), StatusCode::CONFLICT, "round {round}");
        }
        let acquisitions: i64 =
            sqlx::query_scalar("SELECT count(*) FROM lock_events WHERE name = $1 AND event = 'acquired'")
                .bind(path.trim_start_matches("/v1/locks/"))
                .fetch_one(&app.pool)
                .await
                .unwrap();
        assert_eq!(acquisitions, 2, "only the first grant and the handover");
    }
}

#[tokio::test]
async fn a_retried_handover_returns_the_same_new_lease() {
    let app = spawn_app().await;
    let first = json(app.acquire(&app.acme, "/v1/locks/h", json!({})).await).await;
    let handover = || {
        app.request(Method::POST, "/v1/locks/h/handover", &app.acme)
            .header("Lock-Token", first["lock_token"].as_str().unwrap())
            .header("Idempotency-Key", "hand-1")
            .json(&json!({"owner": "next"}))
    };

    let once = json(handover().send().await.unwrap()).await;
    let twice = handover().send().await.unwrap();

    assert_eq!(twice.status(), StatusCode::CREATED);
    let twice = json(twice).await;
    assert_eq!(once["lock_token"], twice["lock_token"]);
    assert_eq!(once["fencing_token"], twice["fencing_token"]);
}
