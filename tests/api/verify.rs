//! `POST {lock}/verify`: a resource checks a writer's lease, by lock token or
//! fencing token, and may record a note of the write in the audit trail.

use leasehold::domain::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{error_code, json, key, spawn_app, wait_until, TestApp};

const LOCK: &str = "/v1/locks/ledger";

async fn grant(app: &TestApp, body: Value) -> (String, i64) {
    let granted = json(app.acquire(&app.acme, LOCK, body).await).await;
    (granted["lock_token"].as_str().unwrap().to_owned(), granted["fencing_token"].as_i64().unwrap())
}

async fn verify_token(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    let request = app.request(Method::POST, &format!("{LOCK}/verify"), &app.acme).header("Lock-Token", token);
    request.json(&body).send().await.unwrap()
}

async fn verify_fencing(
    app: &TestApp,
    who: &leasehold::admin::KeyCreated,
    fencing: i64,
) -> reqwest::Response {
    let request = app.request(Method::POST, &format!("{LOCK}/verify"), who);
    request.json(&json!({ "fencing_token": fencing })).send().await.unwrap()
}

async fn lost_reason(response: reqwest::Response) -> String {
    assert_eq!(response.status(), StatusCode::GONE);
    let body = json(response).await;
    assert_eq!(body["error"]["code"], "lease_lost");
    body["error"]["reason"].as_str().unwrap().to_owned()
}

async fn notes(app: &TestApp) -> Vec<(String, i64, Option<String>)> {
    sqlx::query_as("SELECT event, fencing_token, note FROM lock_events WHERE name = 'ledger' ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_holders_token_is_valid_while_the_lease_lives_and_lost_once_released() {
    let app = spawn_app().await;
    let (token, fencing) = grant(&app, json!({"owner": "writer-1", "ttl_seconds": 30})).await;

    let live = verify_token(&app, &token, json!({})).await;
    assert_eq!(live.status(), StatusCode::OK);
    let live = json(live).await;
    assert_eq!((live["valid"].as_bool(), live["fencing_token"].as_i64()), (Some(true), Some(fencing)));
    assert_eq!(live["owner"], "writer-1");
    assert!(live["expires_at"].as_str().unwrap().ends_with('Z'));

    assert_eq!(app.release(&app.acme, LOCK, &token).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(lost_reason(verify_token(&app, &token, json!({})).await).await, "released");
    assert_eq!(lost_reason(verify_token(&app, "not-a-token-at-all", json!({})).await).await, "unknown_token");
}

#[tokio::test]
async fn any_key_that_may_read_the_lock_checks_a_fencing_token_and_a_stale_one_is_superseded() {
    let app = spawn_app().await;
    let resource = key(&app.pool, "acme", Role::Client).await;
    let (_, first) = grant(&app, json!({"ttl_seconds": 1})).await;

    assert_eq!(verify_fencing(&app, &resource, first).await.status(), StatusCode::OK);
    sqlx::query("UPDATE locks SET expires_at = now() - interval '1 second' WHERE name = 'ledger'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(lost_reason(verify_fencing(&app, &resource, first).await).await, "expired");
    let (_, second) = grant(&app, json!({})).await;

    assert_eq!(lost_reason(verify_fencing(&app, &resource, first).await).await, "superseded");
    assert_eq!(json(verify_fencing(&app, &resource, second).await).await["fencing_token"], second);
    let elsewhere = app.request(Method::POST, "/v1/namespaces/acme/locks/ledger/verify", &app.globex);
    let elsewhere = elsewhere.json(&json!({ "fencing_token": second })).send().await.unwrap();
    assert_eq!(elsewhere.status(), StatusCode::NOT_FOUND, "another tenant's namespace does not exist for it");
}

#[tokio::test]
async fn a_note_is_recorded_with_the_check_and_only_for_a_live_lease() {
    let app = spawn_app().await;
    let (token, fencing) = grant(&app, json!({})).await;

    verify_token(&app, &token, json!({"note": "row 17 set to 42"})).await;
    verify_token(&app, &token, json!({})).await;
    app.release(&app.acme, LOCK, &token).await;
    verify_token(&app, &token, json!({"note": "too late"})).await;

    let trail = notes(&app).await;
    let expected = [
        ("acquired".to_owned(), fencing, None),
        ("verified".to_owned(), fencing, Some("row 17 set to 42".to_owned())),
        ("released".to_owned(), fencing, None),
    ];
    assert_eq!(trail, expected);
    let history =
        json(app.request(Method::GET, &format!("{LOCK}/history"), &app.acme).send().await.unwrap()).await;
    let noted: Vec<&Value> =
        history["events"].as_array().unwrap().iter().filter(|e| e["event"] == "verified").collect();
    assert_eq!(noted.len(), 1);
    assert_eq!(noted[0]["note"], "row 17 set to 42");
    assert_eq!(
        lost_reason(app.renew(&app.acme, LOCK, &token).await).await,
        "released",
        "a note ends nothing"
    );
}

#[tokio::test]
async fn each_reader_of_a_shared_lock_is_verified_by_its_own_token() {
    let app = spawn_app().await;
    let (first, first_fencing) = grant(&app, json!({"mode": "shared"})).await;
    let (second, second_fencing) = grant(&app, json!({"mode": "shared"})).await;

    let one = json(verify_token(&app, &first, json!({})).await).await;
    let two = json(verify_token(&app, &second, json!({})).await).await;

    assert_eq!(
        (one["fencing_token"].as_i64(), two["fencing_token"].as_i64()),
        (Some(first_fencing), Some(second_fencing))
    );
    app.release(&app.acme, LOCK, &first).await;
    assert_eq!(lost_reason(verify_token(&app, &first, json!({})).await).await, "released");
    assert_eq!(verify_token(&app, &second, json!({})).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_check_names_exactly_one_writer_and_a_note_is_bounded() {
    let app = spawn_app().await;
    let (token, fencing) = grant(&app, json!({})).await;
    let path = format!("{LOCK}/verify");

    let neither = app.request(Method::POST, &path, &app.acme).json(&json!({})).send().await.unwrap();
    let both = verify_token(&app, &token, json!({ "fencing_token": fencing })).await;
    let long = verify_token(&app, &token, json!({ "note": "x".repeat(1025) })).await;
    let unknown_field = verify_token(&app, &token, json!({ "notes": "typo" })).await;

    assert_eq!(error_code(neither).await, "missing_lock_token");
    assert_eq!(error_code(both).await, "missing_lock_token");
    assert_eq!(error_code(long).await, "invalid_note");
    assert_eq!(unknown_field.status(), StatusCode::BAD_REQUEST);
    assert_eq!(notes(&app).await.len(), 1, "nothing but the acquisition was recorded");
}

#[tokio::test]
async fn a_note_racing_the_release_is_recorded_before_the_lease_ends_or_not_at_all() {
    let app = spawn_app().await;
    let (token, fencing) = grant(&app, json!({"ttl_seconds": 30})).await;
    let writers: Vec<_> = (0..6)
        .map(|writer| {
            let (client, url, key, token) =
                (app.client.clone(), app.url(&format!("{LOCK}/verify")), app.acme.key.clone(), token.clone());
            tokio::spawn(async move {
                let mut valid = 0;
                for write in 0..20 {
                    let note = format!("writer {writer} write {write}");
                    let request = client.post(&url).bearer_auth(&key).header("Lock-Token", &token);
                    match request.json(&json!({ "note": note })).send().await.unwrap().status() {
                        StatusCode::OK => valid += 1,
                        StatusCode::GONE => break,
                        other => panic!("verify answered {other}"),
                    }
                }
                valid
            })
        })
        .collect();
    wait_until(std::time::Duration::from_secs(20), || async { notes(&app).await.len() > 10 }).await;
    assert_eq!(app.release(&app.acme, LOCK, &token).await.status(), StatusCode::NO_CONTENT);
    let mut acknowledged = 0;
    for writer in writers {
        acknowledged += writer.await.unwrap();
    }

    let trail = notes(&app).await;
    let released_at = trail.iter().position(|(event, ..)| event == "released").expect("released");
    let verified: Vec<usize> = (0..trail.len()).filter(|&i| trail[i].0 == "verified").collect();
    assert_eq!(verified.len(), acknowledged, "every acknowledged note, and only those, is recorded");
    assert!(verified.iter().all(|&i| i < released_at), "no note after the release: {trail:?}");
    assert!(trail.iter().all(|(_, token, _)| *token == fencing));
}
