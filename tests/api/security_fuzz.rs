//! Bad input, generated: every endpoint (native, compatibility, admin,
//! console) gets NUL bytes, overlong and non-ASCII names, deep JSON, invalid
//! UTF-8, wrong content types, huge headers and huge bodies. None may cause a
//! 5xx, none may be accepted, and none may change state. An oversized upload
//! is refused without the server buffering it.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{spawn_app_with, TestApp};

/// Route templates; `{}` is where a generated name goes.
const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/locks/{}"),
    ("GET", "/v1/locks/{}"),
    ("DELETE", "/v1/locks/{}"),
    ("POST", "/v1/locks/{}/renew"),
    ("POST", "/v1/locks/{}/handover"),
    ("GET", "/v1/locks/{}/history"),
    ("POST", "/v1/namespaces/{}/locks/x"),
    ("GET", "/v1/namespaces/{}/locks"),
    ("GET", "/v1/audit?namespace={}"),
    ("POST", "/v1/acquire/{}"),
    ("POST", "/v1/heartbeat/{}"),
    ("POST", "/v1/release/{}"),
    ("POST", "/lock/uuid/{}"),
    ("POST", "/lock/key/{}"),
    ("POST", "/api/{}"),
    ("POST", "/v1/admin/accounts"),
    ("PATCH", "/v1/admin/accounts/{}"),
    ("POST", "/v1/admin/accounts/{}/keys"),
    ("DELETE", "/v1/admin/keys/{}"),
    ("POST", "/v1/admin/keys/{}/rotate"),
    ("POST", "/v1/admin/namespaces"),
    ("POST", "/console/login"),
];

/// Names no route accepts: NUL, overlong, non-ASCII, traversal, odd bytes.
fn bad_name(rng: &mut StdRng) -> String {
    match rng.gen_range(0..6) {
        0 => format!("a%00{}", rng.gen::<u16>()),
        1 => "n".repeat(rng.gen_range(256..2048)),
        2 => "%C3%A9t%C3%A9-%E2%9C%93".into(),
        3 => "..%2F..%2Fetc".into(),
        4 => "%FF%FE%80".into(),
        _ => format!("sp%20ace{}", rng.gen::<u8>()),
    }
}

/// Bodies no route accepts.
fn bad_body(rng: &mut StdRng) -> (Vec<u8>, &'static str) {
    match rng.gen_range(0..6) {
        0 => ("[".repeat(10_000).into_bytes(), "application/json"),
        1 => (b"{\"ttl_seconds\": \"\\u0000\"}".to_vec(), "application/json"),
        2 => (vec![0xff, 0xfe, b'{', 0x00, b'}'], "application/json"),
        3 => (b"<lock ttl=\"10\"/>".to_vec(), "text/xml"),
        4 => (vec![b'x'; 64 * 1024], "application/octet-stream"),
        _ => (format!("{{\"ttl_seconds\": {}}}", -rng.gen_range(1..i64::MAX)).into_bytes(), "text/plain"),
    }
}

async fn state(app: &TestApp) -> (i64, i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM locks), (SELECT count(*) FROM lock_events), (SELECT count(*) FROM api_keys)",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn generated_bad_requests_to_every_endpoint_are_refused_without_5xx_or_change() {
    let app = spawn_app_with(|s| s.rate_limit.enabled = false).await;
    let admin = crate::helpers::key(&app.pool, "acme", leasehold::domain::Role::Admin).await;
    let before = state(&app).await;
    let mut rng = StdRng::seed_from_u64(8);
    let mut failures = Vec::new();

    for case in 0..400 {
        let (method, template) = ROUTES[case % ROUTES.len()];
        let path = template.replace("{}", &bad_name(&mut rng));
        let (body, content_type) = bad_body(&mut rng);
        let mut request = app
            .client
            .request(Method::from_bytes(method.as_bytes()).unwrap(), format!("{}{path}", app.address))
            .header("content-type", content_type)
            .header("Lock-Token", "x".repeat(rng.gen_range(1..4096)))
            .header("Idempotency-Key", "k\u{e9}y".repeat(rng.gen_range(1..200)))
            .body(body);
        let padded = rng.gen_bool(0.2);
        if padded {
            request = request.header("X-Padding", "p".repeat(rng.gen_range(8_000..64_000)));
        }
        if case % 2 == 0 {
            request = request.bearer_auth(&admin.key);
        }
        let status = request.send().await.map(|r| r.status());
        match status {
            Ok(s) if s.is_client_error() => {}
            // Headers past the server's limit may get the connection closed.
            Err(_) if padded => {}
            other => failures.push(format!("{method} {} -> {other:?}", &path[..path.len().min(80)])),
        }
    }

    assert!(
        failures.is_empty(),
        "{} requests not refused with a 4xx:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(state(&app).await, before, "a refused request changed state");
}

fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn an_oversized_streamed_upload_is_refused_with_413_and_memory_stays_flat() {
    let app = spawn_app_with(|s| s.rate_limit.enabled = false).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let before = resident_kib();

    // 128 MiB, chunked, so that no Content-Length lets it be refused up front.
    let mut stream = TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /v1/locks/big HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
         Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n",
        app.acme.key
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = [b"10000\r\n".as_slice(), &[b' '; 0x10000], b"\r\n"].concat();
    for _ in 0..2048 {
        if stream.write_all(&chunk).await.is_err() {
            break; // the server stopped reading: as good as a refusal
        }
    }
    let mut answer = vec![0u8; 4096];
    let read = stream.read(&mut answer).await.unwrap_or(0);

    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(read == 0 || answer.starts_with("HTTP/1.1 413"), "{answer}");
    let grown = resident_kib().saturating_sub(before);
    assert!(grown < 48 * 1024, "resident memory grew by {grown} KiB during a 128 MiB upload");
    assert_eq!(state(&app).await.0, 0);
}
