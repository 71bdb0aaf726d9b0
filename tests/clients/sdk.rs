//! `leasehold-client`'s shared locks, semaphores and lock sets.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use leasehold_client::{Client, Error, LostReason, Mode};
use reqwest::Method;
use tokio::time::timeout;

use crate::helpers::{spawn_app, wait_until, TestApp};

fn client_of(app: &TestApp) -> Client {
    Client::new(app.address.clone(), app.acme.key.clone()).unwrap()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Releases a lease behind its guard's back, as another process holding
/// its token could.
async fn release_elsewhere(app: &TestApp, path: &str, token: &str) {
    let response =
        app.request(Method::DELETE, path, &app.acme).header("Lock-Token", token).send().await.unwrap();
    assert_eq!(response.status(), 204, "{path}");
}

#[tokio::test]
async fn shared_guards_hold_together_and_keep_an_exclusive_one_out() {
    let app = spawn_app().await;
    let client = client_of(&app);

    let first = client.lock("catalog").shared().owner("reader-1").try_acquire().await.unwrap();
    let second = client.lock("catalog").shared().owner("reader-2").try_acquire().await.unwrap();
    let writer = client.lock("catalog").try_acquire().await;
    let seen = client.lock("catalog").holders().await.unwrap();

    assert!(matches!(writer, Err(Error::Held { .. })), "{writer:?}");
    assert_eq!(seen.mode, Mode::Shared);
    let mut tokens: Vec<i64> = seen.holders.iter().map(|h| h.fencing_token).collect();
    tokens.sort_unstable();
    assert_eq!(tokens, [first.fencing_token(), second.fencing_token()]);
    assert_ne!(first.token(), second.token());
    assert_eq!(first.lease().mode, Some(Mode::Shared));
    first.release().await.unwrap();
    second.release().await.unwrap();
    client.lock("catalog").try_acquire().await.unwrap().release().await.unwrap();
}

#[tokio::test]
async fn an_exclusive_guard_keeps_shared_ones_out() {
    let app = spawn_app().await;
    let client = client_of(&app);

    let writer = client.lock("ledger").try_acquire().await.unwrap();
    let reader = client.lock("ledger").shared().try_acquire().await;
    let seen = client.lock("ledger").holders().await.unwrap();

    assert!(matches!(reader, Err(Error::Held { .. })), "{reader:?}");
    assert_eq!(seen.mode, Mode::Exclusive);
    assert_eq!(seen.holders.iter().map(|h| h.fencing_token).collect::<Vec<_>>(), [writer.fencing_token()]);
    writer.release().await.unwrap();
}

#[tokio::test]
async fn a_shared_guard_renews_past_its_ttl_and_releases_only_its_own_lease() {
    let app = spawn_app().await;
    let client = client_of(&app);

    let staying = client.lock("index").shared().ttl(secs(2)).try_acquire().await.unwrap();
    let leaving = client.lock("index").shared().ttl(secs(2)).try_acquire().await.unwrap();
    tokio::time::sleep(secs(3)).await;
    leaving.release().await.unwrap();
    let seen = client.lock("index").holders().await.unwrap();

    assert_eq!(staying.is_lost(), None);
    assert_eq!(seen.holders.iter().map(|h| h.fencing_token).collect::<Vec<_>>(), [staying.fencing_token()]);
    staying.release().await.unwrap();
}

#[tokio::test]
async fn a_shared_guard_hands_its_lease_over_and_the_successor_adopts_it() {
    let app = spawn_app().await;
    let client = client_of(&app);

    let other = client.lock("relay").shared().try_acquire().await.unwrap();
    let first = client.lock("relay").shared().try_acquire().await.unwrap();
    let first_fencing = first.fencing_token();
    let (lease, token) = first.hand_over(Some("reader-2"), None).await.unwrap();
    let second = client.lock("relay").adopt(token).await.unwrap();
    let seen = client.lock("relay").holders().await.unwrap();

    assert!(lease.fencing_token > first_fencing);
    assert_eq!(second.fencing_token(), lease.fencing_token);
    let mut tokens: Vec<i64> = seen.holders.iter().map(|h| h.fencing_token).collect();
    tokens.sort_unstable();
    assert_eq!(tokens, [other.fencing_token(), second.fencing_token()]);
    second.release().await.unwrap();
    other.release().await.unwrap();
}

#[tokio::test]
async fn a_semaphore_admits_up_to_its_limit_then_is_full() {
    let app = spawn_app().await;
    let client = client_of(&app);

    let first = client.semaphore("gpus", 2).owner("job-1").try_acquire().await.unwrap();
    let second = client.semaphore("gpus", 2).owner("job-2").try_acquire().await.unwrap();
    let third = client.semaphore("gpus", 2).try_acquire().await;
    let state = client.semaphore("gpus", 2).status().await.unwrap();

    assert!(matches!(third, Err(Error::SemaphoreFull { .. })), "{third:?}");
    assert_eq!(state.limit, Some(2));
    assert_eq!(state.holders.len(), 2);
    assert_eq!((second.permit().limit, second.permit().holders), (2, 2));
    assert!(second.fencing_token() > first.fencing_token());
    first.release().await.unwrap();
    let after = client.semaphore("gpus", 2).try_acquire().await.unwrap();
    assert!(after.fencing_token() > second.fencing_token());
    second.release().await.unwrap();
    after.release().await.unwrap();
    assert_eq!(client.semaphore("gpus", 2).status().await.unwrap().limit, None, "free: no limit");
}

#[tokio::test]
async fn a_different_limit_than_the_live_one_is_a_limit_mismatch() {
    let app = spawn_app().await;
    let client = client_of(&app);

    let _held = client.semaphore("slots", 3).try_acquire().await.unwrap();
    let other = client.semaphore("slots", 4).try_acquire().await;

    assert!(matches!(other, Err(Error::LimitMismatch { .. })), "{other:?}");
}

#[tokio::test]
async fn concurrent_waiting_holders_never_exceed_the_limit() {
    let app = spawn_app().await;
    let client = client_of(&app);
    let inside = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));

    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (client, inside, most) = (client.clone(), inside.clone(), most.clone());
            tokio::spawn(async move {
                let place = client.semaphore("pool", 3).wait(secs(30)).acquire().await.unwrap();
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(200)).await;
                inside.fetch_sub(1, Ordering::SeqCst);
                place.release().await.unwrap();
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }

    let most = most.load(Ordering::SeqCst);
    assert!((1..=3).contains(&most), "at most 3 at once, saw {most}");
}

#[tokio::test]
async fn a_semaphore_guard_renews_past_its_ttl_and_sees_a_release_elsewhere() {
    let app = spawn_app().await;
    let client = client_of(&app);

    let place = client.semaphore("renewed", 2).ttl(secs(2)).try_acquire().await.unwrap();
    let first_expiry = place.permit().expires_at;
    tokio::time::sleep(secs(3)).await;
    let state = client.semaphore("renewed", 2).status().await.unwrap();
    assert_eq!(place.is_lost(), None);
    assert_eq!(state.holders.iter().map(|h| h.fencing_token).collect::<Vec<_>>(), [place.fencing_token()]);
    assert!(place.permit().expires_at > first_expiry);

    release_elsewhere(&app, "/v1/semaphores/renewed", place.token().expose()).await;
    let reason = timeout(secs(5), place.lost()).await.expect("lost within a renewal period");

    assert_eq!(reason, LostReason::Released);
    assert!(matches!(place.release().await, Err(Error::LeaseLost { reason: LostReason::Released })));
}

#[tokio::test]
async fn a_dropped_semaphore_guard_gives_its_place_back() {
    let app = spawn_app().await;
    let client = client_of(&app);

    drop(client.semaphore("one", 1).try_acquire().await.unwrap());

    wait_until(secs(5), || async { client.semaphore("one", 1).try_acquire().await.is_ok() }).await;
}

#[tokio::test]
async fn a_lock_set_holds_every_lock_under_one_token_until_released() {
    let app = spawn_app().await;
    let client = client_of(&app);
    let names = ["acct:1", "acct:2", "acct:3"];

    let set = client.lock_set(names).owner("transfer").ttl(secs(30)).try_acquire().await.unwrap();
    let member = client.lock("acct:2").try_acquire().await;
    let mut seen = Vec::new();
    for name in names {
        seen.push(client.lock(name).status().await.unwrap());
    }
    let granted = set.lock_set();
    set.release().await.unwrap();

    assert!(matches!(member, Err(Error::Held { .. })), "{member:?}");
    assert!(!granted.set_id.is_empty());
    assert_eq!(granted.locks.len(), 3);
    for lease in &seen {
        let member = granted.locks.iter().find(|m| m.name == lease.name).expect("every lock in the set");
        assert_eq!(lease.fencing_token, member.fencing_token);
        assert_eq!(lease.owner.as_deref(), Some("transfer"));
        assert_eq!(lease.set_id.as_ref(), Some(&granted.set_id));
    }
    for name in names {
        assert!(matches!(client.lock(name).status().await, Err(Error::NotHeld)), "{name} released");
    }
}

#[tokio::test]
async fn a_lock_set_takes_nothing_if_one_of_its_locks_is_held() {
    let app = spawn_app().await;
    let client = client_of(&app);

    let holder = client.lock("b").try_acquire().await.unwrap();
    let set = client.lock_set(["a", "b", "c"]).try_acquire().await;

    assert!(matches!(&set, Err(Error::Held { held, .. }) if held == &["b"]), "{set:?}");
    assert!(matches!(client.lock("a").status().await, Err(Error::NotHeld)));
    assert!(matches!(client.lock("c").status().await, Err(Error::NotHeld)));
    holder.release().await.unwrap();
}

#[tokio::test]
async fn a_waiting_lock_set_acquires_once_the_holder_lets_go() {
    let app = spawn_app().await;
    let client = client_of(&app);

    let holder = client.lock("pair-b").try_acquire().await.unwrap();
    let first = holder.fencing_token();
    let waiting = tokio::spawn(client.lock_set(["pair-a", "pair-b"]).wait(secs(10)).acquire());
    tokio::time::sleep(Duration::from_millis(300)).await;
    holder.release().await.unwrap();
    let set = timeout(secs(10), waiting).await.unwrap().unwrap().unwrap();

    assert!(set.fencing_token("pair-b").unwrap() > first);
    set.release().await.unwrap();
}

#[tokio::test]
async fn a_lock_set_guard_renews_past_its_ttl_and_sees_a_release_elsewhere() {
    let app = spawn_app().await;
    let client = client_of(&app);

    let set = client.lock_set(["r1", "r2"]).ttl(secs(2)).try_acquire().await.unwrap();
    tokio::time::sleep(secs(3)).await;
    let r1 = client.lock("r1").status().await.unwrap();
    assert_eq!(set.is_lost(), None);
    assert_eq!(Some(r1.fencing_token), set.fencing_token("r1"));

    let path = format!("/v1/lock-sets/{}", set.lock_set().set_id);
    release_elsewhere(&app, &path, set.token().expose()).await;
    let reason = timeout(secs(5), set.lost()).await.expect("lost within a renewal period");

    // The server's refusal, not the client's judgement. (A set's 410 names
    // no reason yet, where a lock's and a semaphore's say `released`.)
    assert_ne!(reason, LostReason::RenewalsFailed);
}

#[tokio::test]
async fn namespaced_semaphores_and_lock_sets_stay_in_their_namespace() {
    let app = spawn_app().await;
    let client = client_of(&app);

    let place = client.semaphore("pool", 1).namespace("acme").try_acquire().await.unwrap();
    let set = client.lock_set(["x", "y"]).namespace("acme").try_acquire().await.unwrap();
    let foreign = client.semaphore("pool", 1).namespace("globex").try_acquire().await;

    assert_eq!(place.permit().namespace, "acme");
    assert!(client.lock("x").namespace("acme").status().await.is_ok());
    assert!(matches!(foreign, Err(Error::NamespaceNotFound | Error::Forbidden { .. })), "{foreign:?}");
    set.release().await.unwrap();
    place.release().await.unwrap();
}
