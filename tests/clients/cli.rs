//! `leasehold lock run --shared`, `leasehold lock run A B ...` (a lock set)
//! and `leasehold semaphore run`: the real binary against the real server.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::process::{Child, Command};

use crate::helpers::{json as body_of, spawn_app, wait_until, TestApp};

const USAGE: i32 = 2;
const INVALID: i32 = 64;
const COULD_NOT_ACQUIRE: i32 = 75;

/// `leasehold ARGS... -- sh -c SCRIPT`, with `$D` set to `dir`.
fn run_script(app: &TestApp, args: &[&str], dir: &Path, script: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_leasehold"))
        .args(args)
        .args(["--", "sh", "-c", script])
        .env("LEASEHOLD_URL", &app.address)
        .env("LEASEHOLD_API_KEY", &app.acme.key)
        .env("D", dir)
        .env_remove("LEASEHOLD_LOCK_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

async fn finish(run: Child) -> Output {
    tokio::time::timeout(Duration::from_secs(30), run.wait_with_output()).await.unwrap().unwrap()
}

/// Waits until `file` exists in `dir`.
async fn appears(dir: &Path, file: &str) {
    wait_until(Duration::from_secs(10), || async { dir.join(file).exists() }).await;
}

#[tokio::test]
async fn shared_runs_hold_the_lock_side_by_side() {
    let app = spawn_app().await;
    let dir = Scratch::new();

    let a = shared_run_meeting(&app, dir.path(), "a", "b");
    let b = shared_run_meeting(&app, dir.path(), "b", "a");
    let (a, b) = (finish(a).await, finish(b).await);

    assert_eq!((a.status.code(), b.status.code()), (Some(0), Some(0)), "{a:?}\n{b:?}");
    assert_eq!(app.status(&app.acme, "/v1/locks/catalog").await.status(), 404, "both released");
}

/// A shared run that says it is inside, then waits (at most 10 s) until the
/// other one is inside too: both end only if they held the lock together.
fn shared_run_meeting(app: &TestApp, dir: &Path, mine: &str, theirs: &str) -> Child {
    let script = format!(
        r#"touch "$D/in-{mine}"
        for _ in $(seq 200); do [ -e "$D/in-{theirs}" ] && exit 0; sleep 0.05; done
        exit 1"#
    );
    run_script(app, &["lock", "run", "catalog", "--shared"], dir, &script)
}

#[tokio::test]
async fn lock_status_of_a_shared_lock_shows_every_holder() {
    let app = spawn_app().await;
    for _ in 0..2 {
        app.acquire(&app.acme, "/v1/locks/readers", json!({"ttl_seconds": 30, "mode": "shared"})).await;
    }

    let status = Command::new(env!("CARGO_BIN_EXE_leasehold"))
        .args(["lock", "status", "readers"])
        .env("LEASEHOLD_URL", &app.address)
        .env("LEASEHOLD_API_KEY", &app.acme.key)
        .output()
        .await
        .unwrap();

    let shown: Value = serde_json::from_slice(&status.stdout).unwrap_or_else(|_| panic!("{status:?}"));
    assert_eq!(shown["mode"], "shared");
    assert_eq!(shown["holders"].as_array().map(Vec::len), Some(2), "{shown}");
}

#[tokio::test]
async fn a_shared_run_on_an_exclusively_held_lock_exits_could_not_acquire() {
    let app = spawn_app().await;
    let dir = Scratch::new();
    app.acquire(&app.acme, "/v1/locks/ledger", json!({"ttl_seconds": 30})).await;

    let done =
        finish(run_script(&app, &["lock", "run", "ledger", "--shared"], dir.path(), r#"touch "$D/ran""#))
            .await;

    assert_eq!(done.status.code(), Some(COULD_NOT_ACQUIRE), "{done:?}");
    assert!(!dir.path().join("ran").exists());
}

#[tokio::test]
async fn a_run_of_several_names_holds_them_all_as_one_set() {
    let app = spawn_app().await;
    let dir = Scratch::new();
    let script = r#"echo "$LEASEHOLD_FENCING_TOKENS" > "$D/tokens"
        [ -n "$LEASEHOLD_SET_ID" ] && [ -n "$LEASEHOLD_LOCK_TOKEN" ] || exit 9
        touch "$D/ready"
        while [ ! -e "$D/go" ]; do sleep 0.05; done"#;

    let run = run_script(&app, &["lock", "run", "from", "to", "--ttl", "30"], dir.path(), script);
    appears(dir.path(), "ready").await;
    let from = body_of(app.status(&app.acme, "/v1/locks/from").await).await;
    let to = body_of(app.status(&app.acme, "/v1/locks/to").await).await;
    std::fs::write(dir.path().join("go"), "").unwrap();
    let done = finish(run).await;

    assert_eq!(done.status.code(), Some(0), "{done:?}");
    let tokens: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("tokens")).unwrap()).unwrap();
    assert_eq!(tokens["from"], from["fencing_token"]);
    assert_eq!(tokens["to"], to["fencing_token"]);
    for name in ["from", "to"] {
        assert_eq!(
            app.status(&app.acme, &format!("/v1/locks/{name}")).await.status(),
            404,
            "{name} released"
        );
    }
}

#[tokio::test]
async fn a_set_run_with_a_held_member_runs_nothing_and_takes_nothing() {
    let app = spawn_app().await;
    let dir = Scratch::new();
    app.acquire(&app.acme, "/v1/locks/b", json!({"ttl_seconds": 30})).await;

    let done = finish(run_script(&app, &["lock", "run", "a", "b"], dir.path(), r#"touch "$D/ran""#)).await;

    assert_eq!(done.status.code(), Some(COULD_NOT_ACQUIRE), "{done:?}");
    assert!(!dir.path().join("ran").exists());
    assert_eq!(app.status(&app.acme, "/v1/locks/a").await.status(), 404);
}

#[tokio::test]
async fn shared_applies_to_one_lock_not_a_set() {
    let app = spawn_app().await;
    let dir = Scratch::new();

    let done = finish(run_script(&app, &["lock", "run", "a", "b", "--shared"], dir.path(), "true")).await;

    assert_eq!(done.status.code(), Some(USAGE), "{done:?}");
}

#[tokio::test]
async fn semaphore_runs_never_exceed_the_limit_and_each_exits_as_its_command() {
    let app = spawn_app().await;
    let dir = Scratch::new();
    // `mkdir` of a slot directory fails if that slot is taken: three slots
    // would mean the limit of two was exceeded.
    let script = r#"for slot in 1 2 3; do mkdir "$D/slot-$slot" 2>/dev/null && break; done
        [ "$slot" = 3 ] && echo over >> "$D/log"
        echo "$LEASEHOLD_FENCING_TOKEN" >> "$D/log"
        sleep 0.3
        rmdir "$D/slot-$slot""#;

    let runs: Vec<Child> = (0..5)
        .map(|_| {
            let args = ["semaphore", "run", "workers", "--limit", "2", "--wait", "30", "--ttl", "5"];
            run_script(&app, &args, dir.path(), script)
        })
        .collect();
    let mut codes = Vec::new();
    for run in runs {
        codes.push(finish(run).await.status.code());
    }

    assert_eq!(codes, [Some(0); 5]);
    let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
    assert!(!log.contains("over"), "{log}");
    let mut tokens: Vec<i64> = log.lines().map(|l| l.parse().unwrap()).collect();
    tokens.sort_unstable();
    tokens.dedup();
    assert_eq!(tokens.len(), 5, "each run had its own fencing token: {log}");
}

#[tokio::test]
async fn a_full_semaphore_exits_could_not_acquire_and_another_limit_exits_invalid() {
    let app = spawn_app().await;
    let dir = Scratch::new();
    app.acquire(&app.acme, "/v1/semaphores/single", json!({"limit": 1, "ttl_seconds": 30})).await;

    let full =
        finish(run_script(&app, &["semaphore", "run", "single", "--limit", "1"], dir.path(), "true")).await;
    let other =
        finish(run_script(&app, &["semaphore", "run", "single", "--limit", "2"], dir.path(), "true")).await;

    assert_eq!(full.status.code(), Some(COULD_NOT_ACQUIRE), "{full:?}");
    assert_eq!(other.status.code(), Some(INVALID), "{other:?}");
    assert!(String::from_utf8_lossy(&other.stderr).contains("limit"), "{other:?}");
}

/// A directory removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("leasehold-clients-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
