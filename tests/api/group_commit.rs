//! Group commit: requests that arrive together share one set-based
//! statement, and each gets exactly the outcome it would have had alone.
//! The servers here run one statement of a kind at a time, so that a burst
//! of requests queues behind it and is sent as sets.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::Barrier;

use crate::helpers::{json, spawn_app_with, wait_until, TestApp};

async fn app() -> TestApp {
    spawn_app_with(|s| {
        s.group_commit.enabled = true;
        s.group_commit.statements_in_flight = 1;
    })
    .await
}

/// Sends every request at once (behind a barrier); their answers, in order.
async fn burst(app: &TestApp, requests: Vec<Request>) -> Vec<(StatusCode, Value)> {
    let barrier = Arc::new(Barrier::new(requests.len()));
    let tasks = requests.into_iter().map(|(method, path, body, headers)| {
        let mut request =
            app.request(method, &path, &app.acme).header("content-type", "application/json").body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let barrier = barrier.clone();
        tokio::spawn(async move {
            barrier.wait().await;
            let response = request.send().await.unwrap();
            let status = response.status();
            (status, response.json().await.unwrap_or(Value::Null))
        })
    });
    futures_util::future::join_all(tasks).await.into_iter().map(Result::unwrap).collect()
}

/// A request: method, path, JSON body and headers.
type Request = (Method, String, String, Vec<(&'static str, String)>);

fn acquire(name: &str, body: Value) -> Request {
    (Method::POST, format!("/v1/locks/{name}"), body.to_string(), Vec::new())
}

/// (statements, operations) of `kind` so far, from /metrics.
async fn sets(app: &TestApp, kind: &str) -> (f64, f64) {
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let read = |suffix: &str| {
        let series = format!("leasehold_lock_statement_set_size_{suffix}{{kind=\"{kind}\"}} ");
        text.lines().find_map(|l| l.strip_prefix(&series)).map_or(0.0, |v| v.parse().unwrap())
    };
    (read("count"), read("sum"))
}

#[tokio::test]
async fn a_burst_of_acquires_shares_statements_and_each_is_granted_once() {
    let app = app().await;
    let requests = (0..48).map(|i| acquire(&format!("n{i}"), json!({}))).collect();

    let answers = burst(&app, requests).await;

    assert!(answers.iter().all(|(status, _)| *status == StatusCode::CREATED), "{answers:?}");
    let (statements, operations) = sets(&app, "acquire").await;
    assert_eq!(operations, 48.0);
    assert!(statements < 48.0, "48 acquires went in {statements} statements: none shared one");
    let mut fencing: Vec<i64> = answers.iter().map(|(_, b)| b["fencing_token"].as_i64().unwrap()).collect();
    fencing.sort_unstable();
    fencing.dedup();
    assert_eq!(fencing.len(), 48, "every grant has a fencing token of its own");
    let acquired: i64 = sqlx::query_scalar("SELECT count(*) FROM lock_events WHERE event = 'acquired'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(acquired, 48, "one audit row per grant");
}

#[tokio::test]
async fn the_same_name_twice_in_a_burst_is_granted_once_and_held_for_the_rest() {
    let app = app().await;
    let requests = (0..40).map(|i| acquire(&format!("n{}", i % 8), json!({}))).collect();

    let answers = burst(&app, requests).await;

    for n in 0..8 {
        let granted = (0..40).filter(|i| i % 8 == n && answers[*i].0 == StatusCode::CREATED).count();
        assert_eq!(granted, 1, "n{n}: {answers:?}");
    }
    assert_eq!(answers.iter().filter(|(s, _)| *s == StatusCode::CONFLICT).count(), 32);
    let events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM lock_events").fetch_one(&app.pool).await.unwrap();
    assert_eq!(events, 8);
}

/// Attempts on a lock that queued behind one in a set are answered from its
/// outcome: refused on the winner's lease, without statements of their own.
#[tokio::test]
async fn refusals_behind_a_grant_ride_on_its_statement_and_name_the_winner() {
    let app = app().await;
    let requests = (0..40).map(|_| acquire("hot", json!({"ttl_seconds": 90}))).collect();

    let answers = burst(&app, requests).await;

    let winner: Vec<&Value> =
        answers.iter().filter(|(s, _)| *s == StatusCode::CREATED).map(|(_, body)| body).collect();
    assert_eq!(winner.len(), 1, "{answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != StatusCode::CREATED) {
        assert_eq!(*status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["lock"]["fencing_token"], winner[0]["fencing_token"], "{body}");
    }
    let (statements, operations) = sets(&app, "acquire").await;
    assert!(operations < 40.0, "40 attempts on one lock took {statements} statements of {operations} items");
    assert_eq!(app.events("acme", "hot").await.len(), 1, "one grant, one audit row");
}

#[tokio::test]
async fn mixed_outcomes_in_a_burst_are_each_judged_as_alone() {
    let app = app().await;
    for i in 0..4 {
        let held = app.acquire(&app.acme, &format!("/v1/locks/held{i}"), json!({})).await;
        assert_eq!(held.status(), StatusCode::CREATED);
        let lapsing =
            app.acquire(&app.acme, &format!("/v1/locks/lapsed{i}"), json!({"ttl_seconds": 1})).await;
        assert_eq!(lapsing.status(), StatusCode::CREATED);
    }
    wait_until(std::time::Duration::from_secs(10), || async {
        let sql = "SELECT bool_and(expires_at <= now()) FROM locks WHERE name LIKE 'lapsed%'";
        sqlx::query_scalar::<_, bool>(sql).fetch_one(&app.pool).await.unwrap()
    })
    .await;
    let names: Vec<String> =
        (0..4).flat_map(|i| [format!("held{i}"), format!("lapsed{i}"), format!("free{i}")]).collect();

    let answers = burst(&app, names.iter().map(|n| acquire(n, json!({"ttl_seconds": 60}))).collect()).await;

    for (name, (status, body)) in names.iter().zip(&answers) {
        let expected = if name.starts_with("held") { StatusCode::CONFLICT } else { StatusCode::CREATED };
        assert_eq!(*status, expected, "{name}: {body}");
        if name.starts_with("held") {
            assert_eq!(body["error"]["code"], "lock_held");
            assert!(body["lock"]["expires_at"].is_string(), "{body}");
        }
    }
    for i in 0..4 {
        let events = app.events("acme", &format!("lapsed{i}")).await;
        let kinds: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
        assert_eq!(kinds, ["acquired", "expired", "acquired"], "the lapse is recorded once, by the takeover");
        assert!(events[2].1 > events[0].1);
    }
}

#[tokio::test]
async fn an_item_the_database_refuses_fails_alone_and_its_set_still_commits() {
    let app = app().await;
    let mut requests: Vec<_> = (0..24).map(|i| acquire(&format!("good{i}"), json!({}))).collect();
    // Valid JSON that PostgreSQL's jsonb cannot hold: it gets past validation.
    let bad = r#"{"metadata": {"n": 1e1000000}}"#.to_owned();
    requests.insert(12, (Method::POST, "/v1/locks/bad".to_owned(), bad, Vec::new()));

    let answers = burst(&app, requests).await;

    let (bad, good): (Vec<_>, Vec<_>) = answers.iter().enumerate().partition(|(i, _)| *i == 12);
    assert!(good.iter().all(|(_, (status, _))| *status == StatusCode::CREATED), "{good:?}");
    assert_eq!(bad[0].1 .0, StatusCode::BAD_REQUEST, "{:?}", bad[0]);
    assert_eq!(bad[0].1 .1["error"]["code"], "invalid_body");
    let locks: Vec<String> =
        sqlx::query_scalar("SELECT name FROM locks WHERE expires_at > now() ORDER BY name")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(locks.len(), 24);
    assert!(!locks.contains(&"bad".to_owned()));
}

#[tokio::test]
async fn newcomers_in_a_burst_never_barge_ahead_of_a_waiter() {
    let app = app().await;
    let held = json(app.acquire(&app.acme, "/v1/locks/q", json!({})).await).await;
    let held = held["lock_token"].as_str().unwrap().to_owned();
    let waiter = {
        let request = app.request(Method::POST, "/v1/locks/q", &app.acme).json(&json!({"wait_seconds": 20}));
        tokio::spawn(async move { request.send().await.unwrap() })
    };
    wait_until(std::time::Duration::from_secs(10), || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM lock_waiters WHERE name = 'q'")
            .fetch_one(&app.pool)
            .await
            .unwrap()
            == 1
    })
    .await;
    assert_eq!(app.release(&app.acme, "/v1/locks/q", &held).await.status(), StatusCode::NO_CONTENT);

    let newcomers = burst(&app, (0..16).map(|_| acquire("q", json!({}))).collect()).await;

    assert_eq!(waiter.await.unwrap().status(), StatusCode::CREATED, "the waiter is granted");
    assert!(newcomers.iter().all(|(s, _)| *s == StatusCode::CONFLICT), "{newcomers:?}");
}

/// Waiters woken together try from their places in shared statements, and
/// each is granted its own lock once, in its queue's order.
#[tokio::test]
async fn waiters_woken_together_share_statements_and_each_is_granted_once() {
    let app = app().await;
    let grants = burst(&app, (0..8).map(|i| acquire(&format!("w{i}"), json!({}))).collect()).await;
    let mut waiters = Vec::new();
    for i in 0..16 {
        let body = json!({"wait_seconds": 20, "owner": format!("waiter-{i}")});
        let request = app.request(Method::POST, &format!("/v1/locks/w{}", i % 8), &app.acme).json(&body);
        waiters.push(tokio::spawn(async move { json(request.send().await.unwrap()).await }));
        // One at a time, so that waiter i is queued before waiter i + 8.
        wait_until(std::time::Duration::from_secs(10), || async {
            let queued: i64 =
                sqlx::query_scalar("SELECT count(*) FROM lock_waiters").fetch_one(&app.pool).await.unwrap();
            queued == i + 1
        })
        .await;
    }
    let (statements_before, operations_before) = sets(&app, "acquire").await;

    let releases = (0..8)
        .map(|i| {
            let token = grants[i].1["lock_token"].as_str().unwrap().to_owned();
            (Method::DELETE, format!("/v1/locks/w{i}"), String::new(), vec![("Lock-Token", token)])
        })
        .collect();
    burst(&app, releases).await;
    // The first waiter on each lock is granted; its release lets the second in.
    let mut granted = Vec::new();
    for waiter in waiters.into_iter().take(8) {
        granted.push(waiter.await.unwrap());
    }
    let (statements, operations) = sets(&app, "acquire").await;

    for (i, body) in granted.iter().enumerate() {
        assert_eq!(body["owner"], format!("waiter-{i}"), "w{i} goes to its first waiter: {body}");
    }
    let (statements, operations) = (statements - statements_before, operations - operations_before);
    assert!(operations >= 8.0, "{operations} tries");
    assert!(
        statements < operations,
        "8 woken waiters tried in {statements} statements of {operations} tries"
    );
    let acquired: i64 = sqlx::query_scalar("SELECT count(*) FROM lock_events WHERE event = 'acquired'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(acquired, 16, "8 holders, then 8 waiters, each granted once");
}

#[tokio::test]
async fn idempotent_retries_in_a_burst_get_the_first_grant() {
    let app = app().await;
    let requests = (0..32)
        .map(|i| {
            let (name, key) = (format!("r{}", i % 8), format!("retry-{}", i % 8));
            (Method::POST, format!("/v1/locks/{name}"), "{}".to_owned(), vec![("Idempotency-Key", key)])
        })
        .collect();

    let answers = burst(&app, requests).await;

    assert!(answers.iter().all(|(s, _)| *s == StatusCode::CREATED), "{answers:?}");
    for n in 0..8 {
        let tokens: Vec<&Value> =
            (0..32).filter(|i| i % 8 == n).map(|i| &answers[i].1["lock_token"]).collect();
        assert!(tokens.windows(2).all(|w| w[0] == w[1]), "r{n}: one grant for every retry: {tokens:?}");
        assert_eq!(app.events("acme", &format!("r{n}")).await.len(), 1);
    }
}

#[tokio::test]
async fn a_burst_of_renewals_and_releases_shares_statements() {
    let app = app().await;
    let grants = burst(&app, (0..32).map(|i| acquire(&format!("n{i}"), json!({}))).collect()).await;
    let token = |i: usize| grants[i].1["lock_token"].as_str().unwrap().to_owned();

    let renewals = burst(
        &app,
        (0..32)
            .map(|i| {
                let path = format!("/v1/locks/n{i}/renew");
                let token = if i % 4 == 0 { "lh_lt_not-a-token".to_owned() } else { token(i) };
                (Method::POST, path, json!({"ttl_seconds": 120}).to_string(), vec![("Lock-Token", token)])
            })
            .collect(),
    )
    .await;
    let releases = burst(
        &app,
        (0..32)
            .map(|i| {
                (Method::DELETE, format!("/v1/locks/n{i}"), String::new(), vec![("Lock-Token", token(i))])
            })
            .collect(),
    )
    .await;

    for (i, (status, body)) in renewals.iter().enumerate() {
        let expected = if i % 4 == 0 { StatusCode::GONE } else { StatusCode::OK };
        assert_eq!(*status, expected, "renewal {i}: {body}");
        if i % 4 != 0 {
            assert_eq!(body["ttl_seconds"], 120);
        }
    }
    assert!(releases.iter().all(|(s, _)| *s == StatusCode::NO_CONTENT), "{releases:?}");
    for kind in ["renew", "release"] {
        let (statements, operations) = sets(&app, kind).await;
        assert!(statements < operations, "{kind}: {operations} operations in {statements} statements");
    }
    let live: i64 = sqlx::query_scalar("SELECT count(*) FROM locks WHERE expires_at > now()")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(live, 0);
}

fn handover(name: &str, token: &str, body: Value, key: Option<String>) -> Request {
    let mut headers = vec![("Lock-Token", token.to_owned())];
    headers.extend(key.map(|key| ("Idempotency-Key", key)));
    (Method::POST, format!("/v1/locks/{name}/handover"), body.to_string(), headers)
}

#[tokio::test]
async fn a_burst_of_handovers_shares_statements_and_each_is_handed_over_once() {
    let app = app().await;
    let grants = burst(&app, (0..32).map(|i| acquire(&format!("h{i}"), json!({}))).collect()).await;
    let old = |i: usize| &grants[i].1;
    let key = |i: usize| (i % 2 == 0).then(|| format!("hand-{i}"));
    let handovers = || -> Vec<Request> {
        let requests = (0..32).map(|i| {
            let body = json!({"owner": format!("next-{i}"), "ttl_seconds": 45});
            handover(&format!("h{i}"), old(i)["lock_token"].as_str().unwrap(), body, key(i))
        });
        requests.collect()
    };

    let answers = burst(&app, handovers()).await;

    for (i, (status, body)) in answers.iter().enumerate() {
        assert_eq!(*status, StatusCode::CREATED, "h{i}: {body}");
        assert!(body["fencing_token"].as_i64() > old(i)["fencing_token"].as_i64(), "h{i}: {body}");
        assert_ne!(body["lock_token"], old(i)["lock_token"]);
        assert_eq!((&body["owner"], &body["ttl_seconds"]), (&json!(format!("next-{i}")), &json!(45)));
        let (f1, f2) = (old(i)["fencing_token"].as_i64().unwrap(), body["fencing_token"].as_i64().unwrap());
        let events = app.events("acme", &format!("h{i}")).await;
        assert_eq!(events, [("acquired".into(), f1), ("released".into(), f1), ("acquired".into(), f2)]);
    }
    let (statements, operations) = sets(&app, "handover").await;
    assert_eq!(operations, 32.0);
    assert!(statements < 32.0, "32 handovers went in {statements} statements: none shared one");
    let renewals = (0..32).map(|i| {
        let token = answers[i].1["lock_token"].as_str().unwrap().to_owned();
        (Method::POST, format!("/v1/locks/h{i}/renew"), "{}".to_owned(), vec![("Lock-Token", token)])
    });
    let renewals = burst(&app, renewals.collect()).await;
    assert!(renewals.iter().all(|(s, _)| *s == StatusCode::OK), "the new leases hold: {renewals:?}");
    // The Idempotency-Key records were completed in the set: a retry gets the same lease.
    let retries = burst(&app, handovers()).await;
    for i in (0..32).filter(|i| key(*i).is_some()) {
        assert_eq!(retries[i].0, StatusCode::CREATED, "h{i}: {:?}", retries[i]);
        assert_eq!(retries[i].1["lock_token"], answers[i].1["lock_token"], "h{i}");
        assert_eq!(retries[i].1["fencing_token"], answers[i].1["fencing_token"], "h{i}");
    }
}

/// Handovers whose token holds no live lease fail in a set exactly as alone,
/// with the same reason, and do not hold up the good ones.
#[tokio::test]
async fn good_and_lost_handovers_in_a_burst_are_each_judged_as_alone() {
    let app = app().await;
    let mut tokens = std::collections::HashMap::new();
    for i in 0..4 {
        for (name, ttl) in [(format!("good{i}"), 60), (format!("stale{i}"), 60), (format!("lapsed{i}"), 1)] {
            let grant =
                app.acquire(&app.acme, &format!("/v1/locks/{name}"), json!({"ttl_seconds": ttl})).await;
            tokens.insert(name, json(grant).await["lock_token"].as_str().unwrap().to_owned());
        }
        let handed = app
            .request(Method::POST, &format!("/v1/locks/stale{i}/handover"), &app.acme)
            .header("Lock-Token", &tokens[&format!("stale{i}")])
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(handed.status(), StatusCode::CREATED, "stale{i}'s token is handed over first");
    }
    wait_until(std::time::Duration::from_secs(10), || async {
        let sql = "SELECT bool_and(expires_at <= now()) FROM locks WHERE name LIKE 'lapsed%'";
        sqlx::query_scalar::<_, bool>(sql).fetch_one(&app.pool).await.unwrap()
    })
    .await;
    let cases: Vec<(String, String, Option<&str>)> = (0..4)
        .flat_map(|i| {
            let token = |name: &str| tokens[&format!("{name}{i}")].clone();
            [
                (format!("good{i}"), token("good"), None),
                (format!("good{i}"), "lh_lt_not-a-token".to_owned(), Some("unknown_token")),
                (format!("stale{i}"), token("stale"), Some("released")),
                (format!("lapsed{i}"), token("lapsed"), Some("expired")),
            ]
        })
        .collect();
    let requests = |cases: &[(String, String, Option<&str>)]| -> Vec<Request> {
        cases.iter().map(|(name, token, _)| handover(name, token, json!({"owner": "next"}), None)).collect()
    };
    let (statements_before, operations_before) = sets(&app, "handover").await;

    let answers = burst(&app, requests(&cases)).await;

    let (statements, operations) = sets(&app, "handover").await;
    let (statements, operations) = (statements - statements_before, operations - operations_before);
    assert_eq!(operations, 16.0);
    assert!(statements < operations, "16 handovers went in {statements} statements: none shared one");
    for ((name, _, reason), (status, body)) in cases.iter().zip(&answers) {
        match reason {
            None => assert_eq!(*status, StatusCode::CREATED, "{name}: {body}"),
            Some(reason) => {
                assert_eq!(*status, StatusCode::GONE, "{name}: {body}");
                assert_eq!(body["error"]["code"], "lease_lost", "{name}: {body}");
                assert_eq!(body["error"]["reason"], *reason, "{name}: {body}");
            }
        }
    }
    // Alone, one at a time, each lost handover is answered the same.
    for (case, (_, in_set)) in cases.iter().zip(&answers).filter(|(case, _)| case.2.is_some()) {
        let alone = burst(&app, requests(std::slice::from_ref(case))).await;
        assert_eq!(alone[0], (StatusCode::GONE, in_set.clone()), "{}", case.0);
    }
    for i in 0..4 {
        let kinds: Vec<String> =
            app.events("acme", &format!("good{i}")).await.into_iter().map(|e| e.0).collect();
        assert_eq!(kinds, ["acquired", "released", "acquired"], "good{i}: handed over once");
        let lapsed = app.events("acme", &format!("lapsed{i}")).await;
        assert!(lapsed.iter().all(|(e, _)| e != "released"), "lapsed{i} is not handed over: {lapsed:?}");
    }
}

fn take_permit(name: &str, limit: i64) -> Request {
    (Method::POST, format!("/v1/semaphores/{name}"), json!({"limit": limit}).to_string(), Vec::new())
}

#[tokio::test]
async fn a_burst_of_semaphore_acquires_shares_statements_and_keeps_every_limit() {
    let app = app().await;
    // 8 semaphores with a limit of 3, 6 requests each: 3 granted per semaphore.
    let requests = (0..48).map(|i| take_permit(&format!("s{}", i % 8), 3)).collect();

    let answers = burst(&app, requests).await;

    for s in 0..8 {
        let granted = (0..48).filter(|i| i % 8 == s && answers[*i].0 == StatusCode::CREATED).count();
        assert_eq!(granted, 3, "s{s}: {answers:?}");
    }
    let refused = answers.iter().filter(|(status, body)| {
        *status == StatusCode::CONFLICT && body["error"]["code"] == "semaphore_full"
    });
    assert_eq!(refused.count(), 24);
    let (statements, operations) = sets(&app, "semaphore_acquire").await;
    assert_eq!(operations, 48.0);
    assert!(statements < 48.0, "48 acquires went in {statements} statements: none shared one");
    let acquired: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM lock_events WHERE event = 'acquired' AND kind = 'semaphore'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(acquired, 24, "one audit row per grant");
}

#[tokio::test]
async fn a_limit_mismatch_in_a_burst_is_judged_as_alone() {
    let app = app().await;
    let requests = vec![take_permit("m", 2), take_permit("other", 1)];
    let first = burst(&app, requests).await;
    assert!(first.iter().all(|(status, _)| *status == StatusCode::CREATED), "{first:?}");

    let answers = burst(&app, vec![take_permit("m", 5), take_permit("m2", 1), take_permit("other", 1)]).await;

    assert_eq!(answers[0].1["error"]["code"], "limit_mismatch");
    assert_eq!(answers[0].1["limit"], 2);
    assert_eq!(answers[1].0, StatusCode::CREATED);
    assert_eq!(answers[2].1["error"]["code"], "semaphore_full");
}

#[tokio::test]
async fn a_burst_of_permit_releases_shares_statements_and_frees_each_permit_once() {
    let app = app().await;
    let grants = burst(&app, (0..24).map(|i| take_permit(&format!("r{}", i % 12), 2)).collect()).await;
    let release = |i: usize, token: &str| -> Request {
        let path = format!("/v1/semaphores/r{}", i % 12);
        (Method::DELETE, path, String::new(), vec![("Lock-Token", token.to_owned())])
    };
    let mut requests: Vec<Request> =
        grants.iter().enumerate().map(|(i, (_, g))| release(i, g["lock_token"].as_str().unwrap())).collect();
    requests.push(release(0, "not-a-holder"));

    let answers = burst(&app, requests).await;

    assert!(answers[..24].iter().all(|(status, _)| *status == StatusCode::NO_CONTENT), "{answers:?}");
    assert_eq!(answers[24].0, StatusCode::GONE);
    let (statements, operations) = sets(&app, "semaphore_release").await;
    assert_eq!(operations, 25.0);
    assert!(statements < 25.0, "25 releases went in {statements} statements: none shared one");
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM semaphores s, unnest(s.holders) h WHERE h.expires_at > now()",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let released: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM lock_events WHERE event = 'released' AND kind = 'semaphore'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((live, released), (0, 24));
}
