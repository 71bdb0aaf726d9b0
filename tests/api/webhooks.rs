//! Webhooks: registration, and deliveries to a real HTTP receiver in the test.

use std::collections::{HashMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use hmac::{Hmac, Mac};
use leasehold::config::Settings;
use leasehold::domain::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::watch;

use crate::helpers::{
    error_code, json, key, spawn_app_with, start_replica, test_settings, wait_until, TestApp,
};

/// How long a test waits for deliveries before it fails.
const PATIENCE: Duration = Duration::from_secs(20);

/// Short polls and retries, and the receiver on 127.0.0.1 allowed.
fn fast(settings: &mut Settings) {
    settings.webhooks.allow_private_addresses = true;
    settings.webhooks.poll_interval_ms = 50;
    settings.webhooks.backoff_initial_ms = 100;
}

#[derive(Clone, Copy)]
enum Reply {
    Status(u16),
    /// Never answers.
    Hang,
}

#[derive(Debug, Clone)]
struct Receipt {
    body: Vec<u8>,
    signature: String,
}

impl Receipt {
    fn event(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// An HTTP endpoint that records every POST and answers with its script,
/// then 200.
struct Receiver {
    url: String,
    receipts: Arc<Mutex<Vec<Receipt>>>,
    count: watch::Receiver<usize>,
}

impl Receiver {
    fn start(script: &[Reply]) -> Self {
        let receipts = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script.iter().copied().collect::<VecDeque<_>>()));
        let (counter, count) = watch::channel(0);
        let counter = Arc::new(counter);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}/hook", listener.local_addr().unwrap().port());
        let shared = receipts.clone();
        let server = HttpServer::new(move || {
            let (receipts, script, counter) = (shared.clone(), script.clone(), counter.clone());
            App::new().route(
                "/hook",
                web::post().to(move |request: HttpRequest, body: Bytes| {
                    let (receipts, script, counter) = (receipts.clone(), script.clone(), counter.clone());
                    async move {
                        let signature = request
                            .headers()
                            .get("leasehold-signature")
                            .unwrap()
                            .to_str()
                            .unwrap()
                            .to_owned();
                        let reply = script.lock().unwrap().pop_front().unwrap_or(Reply::Status(200));
                        let received = {
                            let mut receipts = receipts.lock().unwrap();
                            receipts.push(Receipt { body: body.to_vec(), signature });
                            receipts.len()
                        };
                        counter.send_replace(received);
                        match reply {
                            Reply::Status(status) => {
                                HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                                    .finish()
                            }
                            Reply::Hang => std::future::pending().await,
                        }
                    }
                }),
            )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self { url, receipts, count }
    }

    /// Waits until `n` requests have arrived; returns all so far.
    async fn wait_for(&self, n: usize) -> Vec<Receipt> {
        let mut count = self.count.clone();
        tokio::time::timeout(PATIENCE, count.wait_for(|received| *received >= n))
            .await
            .unwrap_or_else(|_| panic!("{n} deliveries did not arrive within {PATIENCE:?}"))
            .unwrap();
        self.receipts()
    }

    fn receipts(&self) -> Vec<Receipt> {
        self.receipts.lock().unwrap().clone()
    }
}

async fn register(app: &TestApp, url: &str, events: &[&str]) -> Value {
    let response = app
        .request(Method::POST, "/v1/webhooks", &app.acme)
        .json(&json!({"url": url, "events": events}))
        .send();
    let response = response.await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    json(response).await
}

async fn deliveries(app: &TestApp, id: &str) -> Vec<Value> {
    let path = format!("/v1/webhooks/{id}/deliveries");
    let page = json(app.request(Method::GET, &path, &app.acme).send().await.unwrap()).await;
    page["deliveries"].as_array().unwrap().clone()
}

async fn wait_for_log(app: &TestApp, id: &str, entries: usize) -> Vec<Value> {
    wait_until(PATIENCE, || async { deliveries(app, id).await.len() >= entries }).await;
    deliveries(app, id).await
}

fn outcomes(log: &[Value]) -> Vec<&str> {
    log.iter().map(|d| d["outcome"].as_str().unwrap()).collect()
}

fn signature_is_valid(secret: &str, receipt: &Receipt) -> bool {
    let (t, v1) = receipt.signature.split_once(",v1=").expect("t=...,v1=...");
    let t = t.strip_prefix("t=").expect("t=...");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&receipt.body);
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    expected == v1
}

async fn acquire(app: &TestApp, path: &str) -> Value {
    let response = app.acquire(&app.acme, path, json!({"ttl_seconds": 60})).await;
    assert_eq!(response.status(), StatusCode::CREATED, "acquire {path}");
    json(response).await
}

#[tokio::test]
async fn a_business_key_registers_lists_and_deletes_a_webhook() {
    let app = spawn_app_with(fast).await;

    let created = register(&app, "http://127.0.0.1:9/hook", &["released", "acquired"]).await;
    let listed = json(app.request(Method::GET, "/v1/webhooks", &app.acme).send().await.unwrap()).await;
    let id = created["id"].as_str().unwrap();
    let deleted = app.request(Method::DELETE, &format!("/v1/webhooks/{id}"), &app.acme).send().await.unwrap();
    let again = app.request(Method::DELETE, &format!("/v1/webhooks/{id}"), &app.acme).send().await.unwrap();
    let after = json(app.request(Method::GET, "/v1/webhooks", &app.acme).send().await.unwrap()).await;

    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"), "{created}");
    assert_eq!(created["events"], json!(["acquired", "released"]));
    assert_eq!(created["namespace"], Value::Null);
    assert_eq!(listed["webhooks"].as_array().unwrap().len(), 1);
    assert_eq!(listed["webhooks"][0]["id"], created["id"]);
    assert!(listed["webhooks"][0].get("secret").is_none(), "{listed}");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(again).await, "webhook_not_found");
    assert_eq!(after["webhooks"], json!([]));
}

#[tokio::test]
async fn registration_refuses_bad_urls_private_addresses_and_keys_that_may_not() {
    let app = spawn_app_with(|_| {}).await;
    let support = key(&app.pool, "acme", Role::Support).await;
    let post = |key, body: Value| app.request(Method::POST, "/v1/webhooks", key).json(&body).send();

    let cases = [
        (&app.acme, json!({"url": "ftp://example.com/h", "events": ["acquired"]}), 400, "invalid_url"),
        (&app.acme, json!({"url": "not a url", "events": ["acquired"]}), 400, "invalid_url"),
        (&app.acme, json!({"url": "http://127.0.0.1:9/h", "events": ["acquired"]}), 400, "private_address"),
        (&app.acme, json!({"url": "http://localhost:9/h", "events": ["acquired"]}), 400, "private_address"),
        (
            &app.acme,
            json!({"url": "http://169.254.169.254/", "events": ["acquired"]}),
            400,
            "private_address",
        ),
        (&app.acme, json!({"url": "http://[::1]/h", "events": ["acquired"]}), 400, "private_address"),
        (&app.acme, json!({"url": "http://10.0.0.1/h", "events": []}), 400, "invalid_event"),
        (&app.acme, json!({"url": "http://10.0.0.1/h", "events": ["exploded"]}), 400, "invalid_event"),
        (&app.acme, json!({"events": ["acquired"]}), 400, "invalid_body"),
        (
            &app.acme,
            json!({"url": "http://10.0.0.1/h", "events": ["acquired"], "namespace": "globex"}),
            404,
            "namespace_not_found",
        ),
        (&app.hobby, json!({"url": "http://10.0.0.1/h", "events": ["acquired"]}), 403, "plan_forbids"),
        (&support, json!({"url": "http://10.0.0.1/h", "events": ["acquired"]}), 403, "forbidden"),
    ];
    for (key, body, status, code) in cases {
        let response = post(key, body.clone()).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{body}");
        assert_eq!(error_code(response).await, code, "{body}");
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM webhooks").fetch_one(&app.pool).await.unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn private_addresses_are_allowed_when_the_setting_says_so() {
    let app = spawn_app_with(fast).await;

    let created = register(&app, "http://localhost:9/hook", &["acquired"]).await;

    assert_eq!(created["url"], "http://localhost:9/hook");
}

#[tokio::test]
async fn another_tenants_webhook_is_not_found() {
    let app = spawn_app_with(fast).await;
    let created = register(&app, "http://127.0.0.1:9/hook", &["acquired"]).await;
    let id = created["id"].as_str().unwrap();

    let delete =
        app.request(Method::DELETE, &format!("/v1/webhooks/{id}"), &app.globex).send().await.unwrap();
    let log =
        app.request(Method::GET, &format!("/v1/webhooks/{id}/deliveries"), &app.globex).send().await.unwrap();
    let theirs = json(app.request(Method::GET, "/v1/webhooks", &app.globex).send().await.unwrap()).await;
    let not_an_id = app.request(Method::DELETE, "/v1/webhooks/not-an-id", &app.acme).send().await.unwrap();

    assert_eq!(delete.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(delete).await, "webhook_not_found");
    assert_eq!(log.status(), StatusCode::NOT_FOUND);
    assert_eq!(theirs["webhooks"], json!([]));
    assert_eq!(error_code(not_an_id).await, "webhook_not_found");
    let ours = json(app.request(Method::GET, "/v1/webhooks", &app.acme).send().await.unwrap()).await;
    assert_eq!(ours["webhooks"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn lock_operations_are_posted_in_order_as_their_signed_audit_json() {
    let app = spawn_app_with(fast).await;
    let receiver = Receiver::start(&[]);
    let created = register(&app, &receiver.url, &["acquired", "renewed", "released"]).await;
    let secret = created["secret"].as_str().unwrap();

    // Another tenant's lock operations are none of this webhook's business.
    app.acquire(&app.globex, "/v1/locks/theirs", json!({})).await;
    let grant = acquire(&app, "/v1/locks/job").await;
    let token = grant["lock_token"].as_str().unwrap();
    assert_eq!(app.renew(&app.acme, "/v1/locks/job", token).await.status(), StatusCode::OK);
    assert_eq!(app.release(&app.acme, "/v1/locks/job", token).await.status(), StatusCode::NO_CONTENT);
    let receipts = receiver.wait_for(3).await;

    let events: Vec<Value> = receipts.iter().map(Receipt::event).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["acquired", "renewed", "released"]);
    let audit = json(app.request(Method::GET, "/v1/audit?order=asc", &app.acme).send().await.unwrap()).await;
    assert_eq!(audit["events"].as_array().unwrap(), &events, "the bodies are the audit JSON");
    for receipt in &receipts {
        assert!(signature_is_valid(secret, receipt), "{}", receipt.signature);
    }
    let log = wait_for_log(&app, created["id"].as_str().unwrap(), 3).await;
    assert_eq!(outcomes(&log), ["delivered"; 3]);
    assert_eq!(log[0]["status_code"], 200);
    assert_eq!(receiver.receipts().len(), 3, "nothing else was delivered");
}

#[tokio::test]
async fn a_failed_delivery_is_retried_until_the_receiver_takes_it() {
    let app = spawn_app_with(fast).await;
    let receiver = Receiver::start(&[Reply::Status(500)]);
    let created = register(&app, &receiver.url, &["acquired"]).await;
    let id = created["id"].as_str().unwrap();

    acquire(&app, "/v1/locks/job").await;
    let receipts = receiver.wait_for(2).await;
    let log = wait_for_log(&app, id, 2).await;

    assert_eq!(receipts[0].body, receipts[1].body, "the same event, again");
    assert_eq!(outcomes(&log), ["delivered", "failed"], "newest first");
    assert_eq!(log[1]["status_code"], 500);
    assert_eq!(log[0]["event_id"], log[1]["event_id"]);
    assert_eq!((log[1]["attempt"].clone(), log[0]["attempt"].clone()), (json!(1), json!(2)));
}

#[tokio::test]
async fn two_replicas_deliver_each_event_once() {
    let app = spawn_app_with(fast).await;
    let mut settings = test_settings();
    fast(&mut settings);
    start_replica(&settings, app.pool.clone());
    let receiver = Receiver::start(&[]);
    let created = register(&app, &receiver.url, &["acquired"]).await;
    const LOCKS: usize = 20;

    let acquires = (0..LOCKS).map(|i| {
        let app = &app;
        async move { acquire(app, &format!("/v1/locks/job-{i}")).await }
    });
    futures_util::future::join_all(acquires).await;
    let log = wait_for_log(&app, created["id"].as_str().unwrap(), LOCKS).await;

    let mut by_event: HashMap<i64, usize> = HashMap::new();
    for receipt in receiver.receipts() {
        *by_event.entry(receipt.event()["id"].as_i64().unwrap()).or_default() += 1;
    }
    assert_eq!(by_event.len(), LOCKS);
    assert!(by_event.values().all(|n| *n == 1), "{by_event:?}");
    assert_eq!(outcomes(&log), ["delivered"; LOCKS]);
}

#[tokio::test]
async fn a_hanging_receiver_does_not_hold_up_lock_operations() {
    let app = spawn_app_with(|s| {
        fast(s);
        s.webhooks.timeout_ms = 600_000;
    })
    .await;
    let receiver = Receiver::start(&[Reply::Hang]);
    let created = register(&app, &receiver.url, &["acquired", "released"]).await;
    let grant = acquire(&app, "/v1/locks/first").await;
    receiver.wait_for(1).await;

    for i in 0..10 {
        let grant = acquire(&app, &format!("/v1/locks/while-stuck-{i}")).await;
        let token = grant["lock_token"].as_str().unwrap();
        let released = app.release(&app.acme, &format!("/v1/locks/while-stuck-{i}"), token).await;
        assert_eq!(released.status(), StatusCode::NO_CONTENT);
    }

    assert!(grant["lock_token"].is_string());
    assert_eq!(receiver.receipts().len(), 1, "the first delivery is still pending");
    assert_eq!(deliveries(&app, created["id"].as_str().unwrap()).await, Vec::<Value>::new());
}
