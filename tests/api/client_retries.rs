//! The Rust SDK when an answer is lost on the way back: the request was
//! carried out, the client never heard, and its retry (same Idempotency-Key)
//! must come back with the original outcome, not a double acquire or a
//! spurious "lost"; and when the server answers 503 for a while.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use leasehold_client::Client;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{spawn_app, start_replica, test_settings, wait_until, TestApp};
use crate::proxy::Proxy;

/// A TCP proxy that can swallow the next answers from the server: it hangs
/// up on the client instead of passing them on.
struct AnswerDropper {
    address: SocketAddr,
    to_drop: Arc<AtomicUsize>,
}

impl AnswerDropper {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let to_drop = Arc::new(AtomicUsize::new(0));
        let dropping = to_drop.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(forward(client, target, dropping.clone()));
            }
        });
        Self { address, to_drop }
    }

    fn drop_next_answers(&self, count: usize) {
        self.to_drop.store(count, Ordering::SeqCst);
    }

    fn answers_left_to_drop(&self) -> usize {
        self.to_drop.load(Ordering::SeqCst)
    }
}

async fn forward(client: TcpStream, target: SocketAddr, to_drop: Arc<AtomicUsize>) {
    let Ok(server) = TcpStream::connect(target).await else { return };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = tokio::spawn(async move { tokio::io::copy(&mut client_read, &mut server_write).await });
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = match server_read.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let swallow = to_drop.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if swallow || client_write.write_all(&buffer[..n]).await.is_err() {
            break; // dropping the halves hangs up on the client
        }
    }
    upstream.abort();
}

async fn through_dropper(app: &TestApp) -> (AnswerDropper, Client) {
    let target: SocketAddr = app.address.trim_start_matches("http://").parse().unwrap();
    let dropper = AnswerDropper::start(target).await;
    let client = Client::new(format!("http://{}", dropper.address), app.acme.key.clone()).unwrap();
    (dropper, client)
}

async fn count(app: &TestApp, name: &str, event: &str) -> usize {
    app.events("acme", name).await.iter().filter(|(e, _)| e == event).count()
}

#[tokio::test]
async fn an_acquire_whose_answer_was_lost_is_retried_into_the_same_grant() {
    let app = spawn_app().await;
    let (dropper, client) = through_dropper(&app).await;

    dropper.drop_next_answers(1);
    let guard = client.lock("once").ttl(Duration::from_secs(30)).try_acquire().await;

    let guard = guard.expect("the retry gets the grant the first attempt made");
    assert_eq!(dropper.answers_left_to_drop(), 0, "an answer was lost");
    assert_eq!(count(&app, "once", "acquired").await, 1, "acquired once");
    guard.release().await.expect("the replayed grant's token is the lease's");
    assert_eq!(count(&app, "once", "released").await, 1);
}

#[tokio::test]
async fn a_release_whose_answer_was_lost_is_still_a_clean_release() {
    let app = spawn_app().await;
    let (dropper, client) = through_dropper(&app).await;
    let guard = client.lock("let-go").ttl(Duration::from_secs(30)).try_acquire().await.unwrap();

    dropper.drop_next_answers(1);
    let released = guard.release().await;

    assert_eq!(dropper.answers_left_to_drop(), 0, "an answer was lost");
    released.expect("the retry reports the release the first attempt made");
    assert_eq!(count(&app, "let-go", "released").await, 1);
}

#[tokio::test]
async fn a_renewal_whose_answer_was_lost_does_not_lose_the_lease() {
    let app = spawn_app().await;
    let (dropper, client) = through_dropper(&app).await;
    let guard = client.lock("beat").ttl(Duration::from_secs(2)).try_acquire().await.unwrap();

    dropper.drop_next_answers(1);
    wait_until(Duration::from_secs(10), || async { count(&app, "beat", "renewed").await >= 3 }).await;

    assert_eq!(dropper.answers_left_to_drop(), 0, "a renewal's answer was lost");
    assert_eq!(guard.is_lost(), None);
    guard.release().await.unwrap();
}

/// A replica of `app`'s database whose connections go through a proxy the
/// test can cut, and a client of that replica.
async fn replica_behind_a_cuttable_database(app: &TestApp) -> (Proxy, Client) {
    let direct = PgConnectOptions::from_str(&app.database_url).unwrap();
    let host = if direct.get_host() == "localhost" { "127.0.0.1" } else { direct.get_host() };
    let proxy = Proxy::start(format!("{host}:{}", direct.get_port()).parse().unwrap()).await;
    let settings = test_settings();
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(settings.database.timeout())
        .connect_lazy_with(direct.host("127.0.0.1").port(proxy.address.port()));
    let address = start_replica(&settings, pool);
    (proxy, Client::new(address, app.acme.key.clone()).unwrap())
}

#[tokio::test]
async fn a_database_outage_shorter_than_the_ttl_does_not_lose_the_lease() {
    let app = spawn_app().await;
    let (database, client) = replica_behind_a_cuttable_database(&app).await;
    let guard = client.lock("steady").ttl(Duration::from_secs(8)).try_acquire().await.unwrap();
    let renewed_before = count(&app, "steady", "renewed").await;

    database.cut(); // renewals now answer 503 until it returns
    tokio::time::sleep(Duration::from_secs(4)).await; // past the first renewal, short of the TTL
    database.restore();
    wait_until(Duration::from_secs(10), || async { count(&app, "steady", "renewed").await > renewed_before })
        .await;

    assert_eq!(guard.is_lost(), None);
    guard.release().await.unwrap();
}
