//! The Rust SDK (`leasehold-client`) against the real server.

use std::net::SocketAddr;
use std::time::Duration;

use leasehold_client::{Client, Error, LostReason, Writer};
use reqwest::StatusCode;
use tokio::time::{timeout, Instant};

use crate::helpers::{spawn_app, wait_until, TestApp};
use crate::proxy::Proxy;

fn client_of(app: &TestApp) -> Client {
    Client::new(app.address.clone(), app.acme.key.clone()).unwrap()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

async fn renewals(app: &TestApp, name: &str) -> usize {
    app.events("acme", name).await.iter().filter(|(event, _)| event == "renewed").count()
}

/// Makes the live lease of `name` lapse now, as if its holder had paused.
async fn force_expire(app: &TestApp, name: &str) {
    sqlx::query("UPDATE locks SET expires_at = now() - interval '1 second' WHERE name = $1")
        .bind(name)
        .execute(&app.pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_guard_holds_the_lock_until_it_is_released() {
    let app = spawn_app().await;
    let client = client_of(&app);

    let guard = client.lock("job").ttl(secs(30)).owner("worker-1").try_acquire().await.unwrap();
    let seen = client.lock("job").status().await.unwrap();
    let second = client.lock("job").try_acquire().await;
    let released = guard.release().await;

    assert_eq!(seen.owner.as_deref(), Some("worker-1"));
    assert!(seen.fencing_token > 0);
    match second {
        Err(Error::Held { expires_at, fencing_token, .. }) => {
            assert_eq!(expires_at, Some(seen.expires_at));
            assert_eq!(fencing_token, Some(seen.fencing_token));
        }
        other => panic!("expected Held, got {other:?}"),
    }
    released.unwrap();
    assert!(matches!(client.lock("job").status().await, Err(Error::NotHeld)));
}

#[tokio::test]
async fn a_guard_renews_a_short_lease_so_it_outlives_its_ttl() {
    let app = spawn_app().await;
    let client = client_of(&app);

    let guard = client.lock("short").ttl(secs(2)).try_acquire().await.unwrap();
    let started = Instant::now();
    wait_until(secs(15), || async { renewals(&app, "short").await >= 4 }).await;

    assert!(started.elapsed() > secs(2), "renewed past the first TTL");
    assert_eq!(guard.is_lost(), None);
    assert_eq!(client.lock("short").status().await.unwrap().fencing_token, guard.fencing_token());
    assert!(guard.valid_until() > Instant::now());
    guard.release().await.unwrap();
}

#[tokio::test]
async fn lost_fires_when_the_lease_is_taken_over_while_held() {
    let app = spawn_app().await;
    let client = client_of(&app);
    let guard = client.lock("taken").ttl(secs(3)).try_acquire().await.unwrap();

    force_expire(&app, "taken").await;
    let usurper = client.lock("taken").ttl(secs(30)).try_acquire().await.unwrap();
    let reason = timeout(secs(5), guard.lost()).await.expect("lost() fires within a renewal period");

    assert_eq!(reason, LostReason::Superseded);
    assert_eq!(guard.is_lost(), Some(reason));
    assert!(usurper.fencing_token() > guard.fencing_token());
    assert!(matches!(guard.release().await, Err(Error::LeaseLost { .. })));
    assert_eq!(client.lock("taken").status().await.unwrap().fencing_token, usurper.fencing_token());
}

#[tokio::test]
async fn lost_fires_when_renewals_fail_until_the_ttl_has_passed() {
    let app = spawn_app().await;
    let proxy = Proxy::start(server_address(&app)).await;
    let client = Client::builder(format!("http://{}", proxy.address), app.acme.key.clone())
        .request_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let guard = client.lock("cut-off").ttl(secs(2)).try_acquire().await.unwrap();

    proxy.cut();
    let valid_until = guard.valid_until();
    let reason = timeout(secs(5), guard.lost()).await.expect("lost() fires");

    assert_eq!(reason, LostReason::RenewalsFailed);
    assert!(Instant::now() >= valid_until, "not judged lost before the TTL ran out");
    assert!(Instant::now() < valid_until + Duration::from_millis(1500), "judged lost promptly");
}

#[tokio::test]
async fn a_transient_failure_is_retried_without_a_double_acquire() {
    let app = spawn_app().await;
    let proxy = Proxy::start(server_address(&app)).await;
    let client = Client::builder(format!("http://{}", proxy.address), app.acme.key.clone())
        .retry_for(secs(10))
        .build()
        .unwrap();

    proxy.cut();
    let acquiring = tokio::spawn(client.lock("flaky").ttl(secs(30)).try_acquire());
    tokio::time::sleep(Duration::from_millis(300)).await; // several refused attempts
    proxy.restore();
    let guard = acquiring.await.unwrap().expect("acquired once the server answered");

    let acquired = app.events("acme", "flaky").await.iter().filter(|(e, _)| e == "acquired").count();
    assert_eq!(acquired, 1);
    guard.release().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_server_is_a_typed_error_after_the_retry_budget() {
    let client = Client::builder("http://127.0.0.1:9", "lh_nokey")
        .retry_for(Duration::from_millis(300))
        .build()
        .unwrap();

    let started = Instant::now();
    let outcome = client.lock("x").try_acquire().await;

    assert!(matches!(outcome, Err(Error::Unreachable(_))), "{outcome:?}");
    assert!(started.elapsed() < secs(3));
}

#[tokio::test]
async fn acquire_waits_for_the_holder_to_let_go() {
    let app = spawn_app().await;
    let client = client_of(&app);
    let holder = client.lock("queue").ttl(secs(30)).try_acquire().await.unwrap();

    let waiter = tokio::spawn(client.lock("queue").ttl(secs(30)).wait(secs(10)).acquire());
    let lock = client.lock("queue");
    wait_until(secs(5), || async { lock.status().await.unwrap().waiters == Some(1) }).await;
    let first_token = holder.fencing_token();
    holder.release().await.unwrap();
    let next = timeout(secs(10), waiter).await.unwrap().unwrap().expect("the waiter gets the lock");

    assert!(next.fencing_token() > first_token);
    next.release().await.unwrap();
}

#[tokio::test]
async fn a_lease_granted_after_waiting_longer_than_its_ttl_is_held_not_lost() {
    let app = spawn_app().await;
    let client = client_of(&app);
    let holder = client.lock("long-wait").ttl(secs(30)).try_acquire().await.unwrap();

    let waiter = tokio::spawn(client.lock("long-wait").ttl(secs(2)).wait(secs(10)).acquire());
    let lock = client.lock("long-wait");
    wait_until(secs(5), || async { lock.status().await.unwrap().waiters == Some(1) }).await;
    // The waiter's whole TTL passes while it waits: that is what is tested.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    holder.release().await.unwrap();
    let next = timeout(secs(10), waiter).await.unwrap().unwrap().expect("the waiter gets the lock");

    assert_eq!(next.is_lost(), None);
    assert!(timeout(Duration::from_millis(2500), next.lost()).await.is_err(), "held past another TTL");
    next.release().await.unwrap();
}

#[tokio::test]
async fn acquire_gives_up_when_the_wait_runs_out() {
    let app = spawn_app().await;
    let client = client_of(&app);
    let _holder = client.lock("busy").ttl(secs(30)).try_acquire().await.unwrap();

    let started = Instant::now();
    let outcome = client.lock("busy").wait(secs(1)).acquire().await;

    assert!(matches!(outcome, Err(Error::Held { .. })), "{outcome:?}");
    assert!(started.elapsed() >= secs(1) && started.elapsed() < secs(6), "{:?}", started.elapsed());
}

#[tokio::test]
async fn dropping_a_guard_releases_the_lock_in_the_background() {
    let app = spawn_app().await;
    let client = client_of(&app);

    drop(client.lock("dropped").ttl(secs(30)).try_acquire().await.unwrap());

    wait_until(secs(5), || async {
        app.status(&app.acme, "/v1/locks/dropped").await.status() == StatusCode::NOT_FOUND
    })
    .await;
    let events: Vec<String> = app.events("acme", "dropped").await.into_iter().map(|(e, _)| e).collect();
    assert_eq!(events, ["acquired", "released"]);
}

#[tokio::test]
async fn a_detached_lease_stays_held_and_its_token_releases_it() {
    let app = spawn_app().await;
    let client = client_of(&app);

    let (lease, token) = client.lock("cli").ttl(secs(30)).try_acquire().await.unwrap().detach().await;
    let renewed = client.lock("cli").renew(&token, Some(secs(60))).await.unwrap();
    client.lock("cli").release(&token).await.unwrap();
    let again = client.lock("cli").release(&token).await;

    assert_eq!(renewed.fencing_token, lease.fencing_token);
    assert_eq!(renewed.ttl_seconds, 60);
    assert!(matches!(again, Err(Error::LeaseLost { .. })), "{again:?}");
}

#[tokio::test]
async fn refusals_are_typed_errors() {
    let app = spawn_app().await;
    let wrong_key = Client::new(app.address.clone(), "lh_not_a_key").unwrap();
    let client = client_of(&app);

    let unauthorized = wrong_key.lock("x").try_acquire().await;
    let foreign = client.lock("x").namespace("globex").try_acquire().await;
    let bad_name = client.lock("a/renew").try_acquire().await;

    assert!(matches!(unauthorized, Err(Error::Unauthorized)), "{unauthorized:?}");
    assert!(matches!(foreign, Err(Error::NamespaceNotFound)), "{foreign:?}");
    assert!(matches!(bad_name, Err(Error::Invalid { .. }) | Err(Error::Unexpected { .. })), "{bad_name:?}");
}

fn server_address(app: &TestApp) -> SocketAddr {
    app.address.trim_start_matches("http://").parse().unwrap()
}

#[tokio::test]
async fn a_handed_over_lease_is_adopted_with_a_higher_fencing_token() {
    let app = spawn_app().await;
    let client = client_of(&app);
    let first = client.lock("relay").ttl(secs(30)).try_acquire().await.unwrap();
    let (first_fencing, first_token) = (first.fencing_token(), first.token().clone());

    let (lease, token) = first.hand_over(Some("runner-2"), None).await.unwrap();
    let second = client.lock("relay").adopt(token).await.unwrap();
    let stale = client.lock("relay").release(&first_token).await;

    assert!(lease.fencing_token > first_fencing);
    assert_eq!(second.fencing_token(), lease.fencing_token);
    assert_eq!(client.lock("relay").status().await.unwrap().owner.as_deref(), Some("runner-2"));
    assert!(matches!(stale, Err(Error::LeaseLost { .. })), "{stale:?}");
    second.release().await.unwrap();
}

#[tokio::test]
async fn a_resource_verifies_a_writer_by_lock_token_or_fencing_token() {
    let app = spawn_app().await;
    let client = client_of(&app);
    let guard = client.lock("ledger").ttl(secs(30)).owner("writer-1").try_acquire().await.unwrap();
    let token = guard.token().clone();
    let lock = client.lock("ledger");

    let by_token = lock.verify(Writer::LockToken(&token), Some("row 17 = 42")).await.unwrap();
    let by_fencing = lock.verify(Writer::FencingToken(guard.fencing_token()), None).await.unwrap();
    guard.release().await.unwrap();
    let lost = lock.verify(Writer::LockToken(&token), None).await;

    assert_eq!(
        (by_token.fencing_token, by_token.owner.as_deref()),
        (by_fencing.fencing_token, Some("writer-1"))
    );
    assert!(matches!(lost, Err(Error::LeaseLost { reason: LostReason::Released })), "{lost:?}");
    let events: Vec<String> =
        app.events("acme", "ledger").await.into_iter().map(|(event, _)| event).collect();
    assert_eq!(events, ["acquired", "verified", "released"], "only the check with a note is recorded");
}

#[tokio::test]
async fn watch_yields_a_locks_events_live_and_resumes_after_a_cursor() {
    let app = spawn_app().await;
    let client = client_of(&app);
    let guard = client.lock("watched").ttl(secs(30)).try_acquire().await.unwrap();
    let first_token = guard.fencing_token();
    client.lock("watched").renew(guard.token(), None).await.unwrap();
    guard.release().await.unwrap();
    let history: serde_json::Value = app
        .request(reqwest::Method::GET, "/v1/locks/watched/history?order=asc&limit=1", &app.acme)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let after_acquired = history["next_cursor"].as_str().unwrap();

    let mut watch = client.lock("watched").watch(Some(after_acquired));
    let renewed = timeout(secs(10), watch.next()).await.unwrap().unwrap();
    let released = timeout(secs(10), watch.next()).await.unwrap().unwrap();
    let again = client.lock("watched").ttl(secs(30)).try_acquire().await.unwrap();
    let live = timeout(secs(10), watch.next()).await.unwrap().unwrap();
    let resumed =
        timeout(secs(10), client.lock("watched").watch(Some(&renewed.cursor)).next()).await.unwrap().unwrap();
    let refused = client.watch_namespace("someone-else", None).next().await;

    assert_eq!(
        [renewed.kind.as_str(), released.kind.as_str(), live.kind.as_str()],
        ["renewed", "released", "acquired"]
    );
    assert_eq!(renewed.data["fencing_token"], first_token);
    assert_eq!(live.data["fencing_token"], again.fencing_token());
    assert_eq!((resumed.kind.as_str(), &resumed.cursor), ("released", &released.cursor));
    assert!(matches!(refused, Err(Error::NamespaceNotFound)), "{refused:?}");
    again.release().await.unwrap();
}
