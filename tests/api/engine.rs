//! What the one lease engine gives every API alike: compatibility releases
//! that keep the row like native ones, a `Fencing-Token` header on every
//! grant, outcomes counted by API, and the client's request id in the audit
//! trail.

use reqwest::{Method, Response, StatusCode};
use serde_json::json;

use crate::helpers::{json, spawn_app_with_anonymous_compat, TestApp};

/// A UUID, so that Locklock can name it; in `public`, where every API meets.
const NAME: &str = "0d7f3c2a-6e1b-4a9d-8c5f-2b7e9a1d4c6f";

#[derive(Debug, Clone, Copy)]
enum Compat {
    Lockable,
    Locklock,
    MutexUno,
}

const COMPAT: [Compat; 3] = [Compat::Lockable, Compat::Locklock, Compat::MutexUno];

async fn compat_acquire(app: &TestApp, api: Compat) -> Response {
    let request = match api {
        Compat::Lockable => {
            app.client.get(app.url(&format!("/v1/acquire/{NAME}"))).bearer_auth(&app.hobby.key)
        }
        Compat::Locklock => {
            app.client.post(app.url(&format!("/lock/uuid/{NAME}"))).bearer_auth(&app.hobby.key)
        }
        Compat::MutexUno => app.client.post(app.url(&format!("/api/{NAME}"))).bearer_auth(&app.hobby.key),
    };
    request.send().await.unwrap()
}

async fn compat_release(app: &TestApp, api: Compat) -> Response {
    let request = match api {
        Compat::Lockable => {
            app.client.get(app.url(&format!("/v1/release/{NAME}"))).bearer_auth(&app.hobby.key)
        }
        Compat::Locklock => {
            app.client.delete(app.url(&format!("/lock/uuid/{NAME}"))).bearer_auth(&app.hobby.key)
        }
        Compat::MutexUno => app.client.delete(app.url(&format!("/api/{NAME}"))).bearer_auth(&app.hobby.key),
    };
    request.send().await.unwrap()
}

/// The row of the lock, if any: (fencing token, released).
async fn row(app: &TestApp) -> Option<(i64, bool)> {
    sqlx::query_as(
        "SELECT fencing_token, expires_at = '-infinity' FROM locks WHERE namespace = 'public' AND name = $1",
    )
    .bind(NAME)
    .fetch_optional(&app.pool)
    .await
    .unwrap()
}

fn fencing_header(response: &Response) -> i64 {
    let value = response.headers().get("fencing-token").expect("a Fencing-Token header");
    value.to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_compat_release_keeps_the_row_and_the_next_acquire_rewrites_it_in_place() {
    let app = spawn_app_with_anonymous_compat().await;
    for api in COMPAT {
        let granted = compat_acquire(&app, api).await;
        assert!(granted.status().is_success(), "{api:?} acquire: {}", granted.status());
        let (held, _) = row(&app).await.expect("a row for the lease");
        assert!(compat_release(&app, api).await.status().is_success(), "{api:?} release");

        assert_eq!(row(&app).await, Some((held, true)), "{api:?}: the released row stays, marked released");
        let next = app.acquire(&app.hobby, &format!("/v1/namespaces/public/locks/{NAME}"), json!({})).await;
        assert_eq!(next.status(), StatusCode::CREATED);
        let next = json(next).await;
        let token = next["lock_token"].as_str().unwrap().to_owned();
        let fencing = next["fencing_token"].as_i64().unwrap();
        assert!(fencing > held);
        assert_eq!(row(&app).await, Some((fencing, false)), "{api:?}: one row, rewritten for the new lease");
        let events = app.events("public", NAME).await;
        assert!(
            !events.iter().any(|(event, _)| event == "expired"),
            "a released row lapses unrecorded: {events:?}"
        );
        let path = format!("/v1/namespaces/public/locks/{NAME}");
        assert_eq!(app.release(&app.hobby, &path, &token).await.status(), StatusCode::NO_CONTENT);
    }
}

#[tokio::test]
async fn every_api_s_grant_carries_its_fencing_token_in_a_header() {
    let app = spawn_app_with_anonymous_compat().await;
    let path = format!("/v1/namespaces/public/locks/{NAME}");
    let native = app.acquire(&app.hobby, &path, json!({})).await;
    assert_eq!(native.status(), StatusCode::CREATED);
    let header = fencing_header(&native);
    let body = json(native).await;
    assert_eq!(Some(header), body["fencing_token"].as_i64());
    let handed = app
        .request(Method::POST, &format!("{path}/handover"), &app.hobby)
        .header("Lock-Token", body["lock_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(handed.status(), StatusCode::CREATED);
    let header = fencing_header(&handed);
    let body = json(handed).await;
    assert_eq!(Some(header), body["fencing_token"].as_i64());
    let released = app.release(&app.hobby, &path, body["lock_token"].as_str().unwrap()).await;
    assert_eq!(released.status(), StatusCode::NO_CONTENT);

    for api in COMPAT {
        let granted = compat_acquire(&app, api).await;
        assert!(granted.status().is_success(), "{api:?}");
        assert_eq!(Some(fencing_header(&granted)), row(&app).await.map(|(fencing, _)| fencing), "{api:?}");
        assert!(compat_release(&app, api).await.status().is_success(), "{api:?}");
    }
}

async fn outcome(app: &TestApp, api: &str, outcome: &str) -> f64 {
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let series = format!("leasehold_lock_outcomes_total{{api=\"{api}\",outcome=\"{outcome}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&series)).map_or(0.0, |v| v.parse().unwrap())
}

#[tokio::test]
async fn compat_outcomes_are_counted_by_api_in_metrics() {
    let app = spawn_app_with_anonymous_compat().await;
    for api in COMPAT {
        assert!(compat_acquire(&app, api).await.status().is_success(), "{api:?}");
        let refused = compat_acquire(&app, api).await;
        assert!(matches!(refused.status(), StatusCode::OK | StatusCode::CONFLICT), "{api:?}");
        assert!(compat_release(&app, api).await.status().is_success(), "{api:?}");
    }

    for api in ["lockable", "locklock", "mutex_uno"] {
        for name in ["acquired", "conflict", "released"] {
            assert_eq!(outcome(&app, api, name).await, 1.0, "{api} {name}");
        }
    }
    assert_eq!(outcome(&app, "native", "acquired").await, 0.0);
}

#[tokio::test]
async fn a_takeover_of_a_lapsed_lease_counts_two_audit_rows() {
    let app = spawn_app_with_anonymous_compat().await;
    let path = "/v1/locks/short";
    assert_eq!(app.acquire(&app.acme, path, json!({"ttl_seconds": 1})).await.status(), StatusCode::CREATED);
    crate::helpers::wait_for_lapse(&app.pool).await;
    let rows = || async {
        let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        let line = text.lines().find(|l| l.starts_with("leasehold_audit_rows_total ")).unwrap().to_owned();
        line.rsplit(' ').next().unwrap().parse::<f64>().unwrap()
    };
    let before = rows().await;

    assert_eq!(app.acquire(&app.acme, path, json!({})).await.status(), StatusCode::CREATED);

    let written: i64 = sqlx::query_scalar("SELECT count(*) FROM lock_events WHERE name = 'short'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(written, 3, "acquired, then expired and acquired");
    assert_eq!(rows().await - before, 2.0);
}

#[tokio::test]
async fn a_client_request_id_is_echoed_and_recorded_in_the_audit_trail() {
    let app = spawn_app_with_anonymous_compat().await;
    let sent = "deploy-42/step:3";
    let response = app
        .request(Method::POST, "/v1/locks/traced", &app.acme)
        .header("X-Request-Id", sent)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["x-request-id"], sent);
    let mutex =
        app.client.post(app.url("/api/traced")).header("X-Request-Id", "mutex-1").send().await.unwrap();
    assert_eq!(mutex.headers()["x-request-id"], "mutex-1");

    let recorded: Vec<String> =
        sqlx::query_scalar("SELECT request_id FROM lock_events WHERE name = 'traced' ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(recorded, [sent, "mutex-1"]);
}

#[tokio::test]
async fn an_unusable_request_id_is_replaced_by_a_generated_one() {
    let app = spawn_app_with_anonymous_compat().await;
    let response = app
        .request(Method::POST, "/v1/locks/untraced", &app.acme)
        .header("X-Request-Id", "x".repeat(129))
        .json(&json!({}))
        .send()
        .await
        .unwrap();

    let echoed = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&echoed).is_ok(), "{echoed}");
    let recorded: String = sqlx::query_scalar("SELECT request_id FROM lock_events WHERE name = 'untraced'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(recorded, echoed);
}
