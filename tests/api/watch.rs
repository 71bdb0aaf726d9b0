//! Watching: `GET {lock}/events` and `GET /v1/namespaces/{namespace}/events`,
//! read as raw Server-Sent Events.

use std::time::Duration;

use leasehold::admin::KeyCreated;
use leasehold::domain::Role;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{error_code, json, key, spawn_app, spawn_app_with, wait_until, ServedBinary, TestApp};

/// How long any awaited frame may take.
const PATIENCE: Duration = Duration::from_secs(20);

/// One frame of an event stream.
#[derive(Debug, Clone, PartialEq)]
enum Frame {
    Event { event: String, id: String, data: Value },
    Comment(String),
}

/// An open event stream, parsed frame by frame from the raw bytes.
struct EventStream {
    response: Response,
    buffer: Vec<u8>,
}

impl EventStream {
    async fn open(app: &TestApp, key: &KeyCreated, path: &str, last_event_id: Option<&str>) -> Self {
        let response = Self::request(app, key, path, last_event_id).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self { response, buffer: Vec::new() }
    }

    async fn request(app: &TestApp, key: &KeyCreated, path: &str, last_event_id: Option<&str>) -> Response {
        let mut request = app.request(Method::GET, path, key).header("Accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        tokio::time::timeout(PATIENCE, request.send()).await.expect("the stream answers").unwrap()
    }

    /// The next frame; `None` when the server ended the stream.
    async fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let frame: Vec<u8> = self.buffer.drain(..end + 2).collect();
                return Some(parse(std::str::from_utf8(&frame).unwrap()));
            }
            let chunk = tokio::time::timeout(PATIENCE, self.response.chunk())
                .await
                .expect("a frame within the patience")
                .unwrap();
            self.buffer.extend_from_slice(&chunk?);
        }
    }

    /// The next event, past any comments.
    async fn next_event(&mut self) -> (String, String, Value) {
        loop {
            match self.next_frame().await.expect("the stream goes on") {
                Frame::Event { event, id, data } => return (event, id, data),
                Frame::Comment(_) => continue,
            }
        }
    }

    async fn events(&mut self, count: usize) -> Vec<(String, String, Value)> {
        let mut events = Vec::new();
        while events.len() < count {
            events.push(self.next_event().await);
        }
        events
    }
}

fn parse(frame: &str) -> Frame {
    let (mut event, mut id, mut data) = (None, None, None);
    for line in frame.lines().filter(|l| !l.is_empty()) {
        if let Some(comment) = line.strip_prefix(':') {
            return Frame::Comment(comment.trim().to_owned());
        }
        let (field, value) = line.split_once(": ").unwrap_or_else(|| panic!("a field line: {line:?}"));
        match field {
            "event" => event = Some(value.to_owned()),
            "id" => id = Some(value.to_owned()),
            "data" => data = Some(serde_json::from_str(value).unwrap()),
            other => panic!("unexpected field {other:?} in {frame:?}"),
        }
    }
    Frame::Event { event: event.unwrap(), id: id.unwrap(), data: data.unwrap() }
}

/// Every event of an audit query, oldest first, with the cursor that
/// follows each (as a one-event page's `next_cursor`).
async fn audit_trail(app: &TestApp, key: &KeyCreated, path: &str) -> Vec<(String, Value)> {
    audit_trail_of_at_least(app, key, path, 0).await
}

/// The trail, paged one event at a time, until a page is empty and `at_least`
/// events are in: a page stops at the settled horizon, which a transaction
/// running on the server (a sweep, a webhook claim) may hold back a moment.
async fn audit_trail_of_at_least(
    app: &TestApp,
    key: &KeyCreated,
    path: &str,
    at_least: usize,
) -> Vec<(String, Value)> {
    let mut trail = Vec::new();
    let mut cursor = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let page = app
            .request(Method::GET, &format!("{path}order=asc&limit=1&cursor={cursor}"), key)
            .send()
            .await
            .unwrap();
        let page = json(page).await;
        let Some(event) = page["events"].as_array().unwrap().first().cloned() else {
            if trail.len() >= at_least {
                return trail;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {at_least} events settled",
                trail.len()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            continue;
        };
        cursor = page["next_cursor"].as_str().unwrap().to_owned();
        trail.push((cursor.clone(), event));
    }
}

fn kinds(events: &[(String, String, Value)]) -> Vec<&str> {
    events.iter().map(|(event, _, _)| event.as_str()).collect()
}

async fn acquire(app: &TestApp, key: &KeyCreated, path: &str) -> String {
    let response = app.acquire(key, path, json!({"owner": "watcher-test"})).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{path}");
    json(response).await["lock_token"].as_str().unwrap().to_owned()
}

async fn release(app: &TestApp, key: &KeyCreated, path: &str, token: &str) {
    assert_eq!(app.release(key, path, token).await.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_locks_stream_has_its_events_in_order_as_the_audit_trail_has_them() {
    let app = spawn_app().await;
    let mut lock = EventStream::open(&app, &app.acme, "/v1/locks/billing/events", None).await;
    let mut namespace = EventStream::open(&app, &app.acme, "/v1/namespaces/acme/events", None).await;

    let other = acquire(&app, &app.acme, "/v1/locks/reports").await;
    let token = acquire(&app, &app.acme, "/v1/locks/billing").await;
    assert_eq!(app.renew(&app.acme, "/v1/locks/billing", &token).await.status(), StatusCode::OK);
    release(&app, &app.acme, "/v1/locks/billing", &token).await;
    release(&app, &app.acme, "/v1/locks/reports", &other).await;
    acquire(&app, &app.acme, "/v1/locks/billing").await;

    let on_lock = lock.events(4).await;
    let on_namespace = namespace.events(6).await;
    let history = audit_trail(&app, &app.acme, "/v1/locks/billing/history?").await;
    let audit = audit_trail(&app, &app.acme, "/v1/audit?namespace=acme&").await;

    assert_eq!(kinds(&on_lock), ["acquired", "renewed", "released", "acquired"]);
    assert!(on_lock.iter().all(|(_, _, data)| data["name"] == "billing"));
    let sent: Vec<(String, Value)> = on_lock.into_iter().map(|(_, id, data)| (id, data)).collect();
    assert_eq!(sent, history, "ids are the audit trail's cursors, data its events");
    assert_eq!(kinds(&on_namespace), ["acquired", "acquired", "renewed", "released", "released", "acquired"]);
    let sent: Vec<(String, Value)> = on_namespace.into_iter().map(|(_, id, data)| (id, data)).collect();
    assert_eq!(sent, audit);
}

#[tokio::test]
async fn a_resumed_stream_sends_exactly_the_events_after_the_last_one_seen() {
    let app = spawn_app().await;
    let path = "/v1/locks/billing";
    let token = acquire(&app, &app.acme, path).await;
    app.renew(&app.acme, path, &token).await;
    release(&app, &app.acme, path, &token).await;
    crate::helpers::wait_for_settled_audit(&app.pool).await;
    let first = audit_trail(&app, &app.acme, "/v1/locks/billing/history?").await[0].0.clone();

    // Written while no stream is open: both resumed streams must have them.
    let mut by_header = EventStream::open(&app, &app.acme, "/v1/locks/billing/events", Some(&first)).await;
    let before_query = by_header.events(2).await;
    drop(by_header);
    let token = acquire(&app, &app.acme, path).await;
    release(&app, &app.acme, path, &token).await;
    let mut by_query =
        EventStream::open(&app, &app.acme, &format!("/v1/locks/billing/events?after={first}"), None).await;
    let from_query = by_query.events(4).await;
    let third = from_query[1].1.clone();
    let mut header_wins =
        EventStream::open(&app, &app.acme, &format!("/v1/locks/billing/events?after={first}"), Some(&third))
            .await;
    let from_header = header_wins.events(2).await;
    acquire(&app, &app.acme, path).await;
    let marker = by_query.next_event().await;

    assert_eq!(kinds(&before_query), ["renewed", "released"]);
    assert_eq!(kinds(&from_query), ["renewed", "released", "acquired", "released"]);
    assert_eq!(from_query[..2], before_query[..]);
    assert_eq!(from_header[..], from_query[2..], "Last-Event-ID wins over ?after=");
    assert_eq!(marker.0, "acquired", "nothing is sent twice");
    assert_eq!(header_wins.next_event().await, marker);
}

#[tokio::test]
async fn a_namespace_stream_has_every_event_once_in_cursor_order_while_many_write() {
    const WRITERS: usize = 8;
    const ROUNDS: usize = 10;
    let app = spawn_app().await;
    let mut stream = EventStream::open(&app, &app.acme, "/v1/namespaces/acme/events", None).await;

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (client, address, key) = (app.client.clone(), app.address.clone(), app.acme.key.clone());
            tokio::spawn(async move {
                for round in 0..ROUNDS {
                    let url = format!("{address}/v1/locks/job-{}", (w + round) % 3);
                    let grant = client.post(&url).bearer_auth(&key).json(&json!({"wait_seconds": 20}));
                    let grant = grant.send().await.unwrap();
                    assert_eq!(grant.status(), StatusCode::CREATED);
                    let lease: Value = grant.json().await.unwrap();
                    let token = lease["lock_token"].as_str().unwrap();
                    let released = client.delete(&url).bearer_auth(&key).header("Lock-Token", token);
                    assert_eq!(released.send().await.unwrap().status(), StatusCode::NO_CONTENT);
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let written: i64 = sqlx::query_scalar("SELECT count(*) FROM lock_events WHERE namespace = 'acme'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let received = stream.events(written as usize).await;
    acquire(&app, &app.acme, "/v1/locks/marker").await;
    let marker = stream.next_event().await;

    assert_eq!(written as usize, 2 * WRITERS * ROUNDS);
    let audit = audit_trail_of_at_least(&app, &app.acme, "/v1/audit?namespace=acme&", received.len()).await;
    let sent: Vec<(String, Value)> = received.into_iter().map(|(_, id, data)| (id, data)).collect();
    assert_eq!(sent[..], audit[..sent.len()], "every event once, in cursor order");
    assert_eq!(marker.2["name"], "marker", "and nothing more");
}

#[tokio::test]
async fn another_tenants_namespace_is_not_found_and_refusals_are_json() {
    let app = spawn_app().await;

    for path in ["/v1/namespaces/acme/events", "/v1/namespaces/acme/locks/billing/events"] {
        let response = EventStream::request(&app, &app.globex, path, None).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(error_code(response).await, "namespace_not_found");
    }
    let bad_cursor = EventStream::request(&app, &app.acme, "/v1/events", Some("nope")).await;
    assert_eq!(bad_cursor.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(bad_cursor).await, "invalid_cursor");
    let json_only = app
        .request(Method::GET, "/v1/locks/billing/events", &app.acme)
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(json_only.status(), StatusCode::NOT_ACCEPTABLE);
    assert_eq!(error_code(json_only).await, "not_acceptable");
}

#[tokio::test]
async fn a_key_beyond_its_stream_limit_is_refused_until_one_closes() {
    let app = spawn_app_with(|s| {
        s.watch.max_streams_per_key = 2;
        s.watch.keep_alive_seconds = 1;
    })
    .await;
    let first = EventStream::open(&app, &app.acme, "/v1/events", None).await;
    let _second = EventStream::open(&app, &app.acme, "/v1/locks/billing/events", None).await;

    let third = EventStream::request(&app, &app.acme, "/v1/events", None).await;
    let _other_key = EventStream::open(&app, &app.globex, "/v1/events", None).await;

    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(error_code(third).await, "too_many_streams");
    drop(first);
    // The server notices the closed connection at its next keep-alive.
    wait_until(Duration::from_secs(10), || async {
        EventStream::request(&app, &app.acme, "/v1/events", None).await.status() == StatusCode::OK
    })
    .await;
}

#[tokio::test]
async fn a_quiet_stream_sends_keep_alive_comments() {
    let app = spawn_app_with(|s| s.watch.keep_alive_seconds = 1).await;
    let mut stream = EventStream::open(&app, &app.acme, "/v1/events", None).await;

    let frame = stream.next_frame().await;

    assert_eq!(frame, Some(Frame::Comment("keep-alive".to_owned())));
}

#[tokio::test]
async fn a_revoked_keys_stream_ends() {
    let app = spawn_app_with(|s| {
        s.watch.keep_alive_seconds = 1;
        s.auth.recheck_seconds = 1;
    })
    .await;
    let support = key(&app.pool, "acme", Role::Support).await;
    let mut stream = EventStream::open(&app, &support, "/v1/namespaces/acme/events", None).await;

    leasehold::admin::revoke_key(&app.pool, &support.key_id).await.unwrap();

    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(frame) = stream.next_frame().await {
            assert!(matches!(frame, Frame::Comment(_)), "{frame:?}");
        }
    });
    ended.await.expect("the stream ends within a few keep-alives");
}

/// Open streams would otherwise hold a graceful shutdown for its whole
/// timeout (30 s): they end when it begins.
#[tokio::test]
async fn a_shutdown_ends_open_streams_at_once() {
    let app = spawn_app().await;
    let server = ServedBinary::start(&app, "http", &app.client, &[], &[]).await;
    let response =
        app.client.get(format!("{}/v1/events", server.base)).bearer_auth(&app.acme.key).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut stream = EventStream { response, buffer: Vec::new() };

    let stopped = tokio::time::timeout(Duration::from_secs(10), server.stop()).await;

    assert!(stopped.is_ok(), "the server stopped within 10 s");
    assert_eq!(stream.next_frame().await, None);
}
