//! `leasehold lock ...` end to end: the real binary against the real server.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::process::{Child, Command};

use crate::helpers::{spawn_app, wait_until, TestApp};

const COULD_NOT_ACQUIRE: i32 = 75;
const LEASE_LOST: i32 = 79;

fn leasehold(app: &TestApp, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_leasehold"));
    command
        .arg("lock")
        .args(args)
        .env("LEASEHOLD_URL", &app.address)
        .env("LEASEHOLD_API_KEY", &app.acme.key)
        .env_remove("LEASEHOLD_LOCK_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

async fn output(app: &TestApp, args: &[&str]) -> Output {
    leasehold(app, args).output().await.unwrap()
}

/// `lock run NAME [options] -- sh -c SCRIPT`, with `$D` set to `dir`.
fn run_script(app: &TestApp, name: &str, options: &[&str], dir: &Path, script: &str) -> Child {
    let mut args = vec!["run", name];
    args.extend_from_slice(options);
    args.extend_from_slice(&["--", "sh", "-c", script]);
    leasehold(app, &args).env("D", dir).spawn().unwrap()
}

fn scratch_dir() -> tempdir::Dir {
    tempdir::Dir::new()
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|_| panic!("JSON on stdout: {output:?}"))
}

#[tokio::test]
async fn lock_run_invocations_racing_on_one_name_never_overlap() {
    let app = spawn_app().await;
    let dir = scratch_dir();
    // Each run records its start and end; `mkdir` fails if another run is inside.
    let script = r#"mkdir "$D/inside" || echo overlap >> "$D/log"
        echo "start $(date +%s%N) $LEASEHOLD_FENCING_TOKEN" >> "$D/log"
        sleep 0.2
        echo "end $(date +%s%N) $LEASEHOLD_FENCING_TOKEN" >> "$D/log"
        rmdir "$D/inside""#;

    let runs: Vec<Child> = (0..4)
        .map(|_| run_script(&app, "batch", &["--wait", "30", "--ttl", "5"], dir.path(), script))
        .collect();
    let mut codes = Vec::new();
    for run in runs {
        codes.push(run.wait_with_output().await.unwrap().status.code());
    }

    assert_eq!(codes, [Some(0); 4]);
    let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
    let lines: Vec<Vec<&str>> = log.lines().map(|l| l.split(' ').collect()).collect();
    assert!(!log.contains("overlap"), "{log}");
    assert_eq!(lines.len(), 8, "{log}");
    let mut fencing_tokens = Vec::new();
    for pair in lines.chunks(2) {
        assert_eq!((pair[0][0], pair[1][0]), ("start", "end"), "one run at a time:\n{log}");
        assert_eq!(pair[0][2], pair[1][2], "a run ends before the next starts:\n{log}");
        fencing_tokens.push(pair[0][2].parse::<i64>().unwrap());
    }
    assert!(fencing_tokens.windows(2).all(|w| w[0] < w[1]), "fencing tokens rise: {fencing_tokens:?}");
}

#[tokio::test]
async fn lock_run_stops_the_command_when_the_lease_is_lost() {
    let app = spawn_app().await;
    let dir = scratch_dir();
    let script = r#"trap 'echo terminated >> "$D/log"; exit 0' TERM
        touch "$D/running"
        while true; do sleep 0.1; done"#;
    let run = run_script(&app, "lost", &["--ttl", "3", "--grace", "5"], dir.path(), script);
    wait_until(Duration::from_secs(10), || async { dir.path().join("running").exists() }).await;

    // Another client takes the lock over, as if this holder had paused past its lease.
    sqlx::query("UPDATE locks SET expires_at = now() - interval '1 second' WHERE name = 'lost'")
        .execute(&app.pool)
        .await
        .unwrap();
    let taken = output(&app, &["acquire", "lost", "--ttl", "30"]).await;
    let done = tokio::time::timeout(Duration::from_secs(10), run.wait_with_output()).await;

    assert!(taken.status.success(), "{taken:?}");
    let done = done.expect("leasehold exits once the lease is lost").unwrap();
    assert_eq!(done.status.code(), Some(LEASE_LOST), "{done:?}");
    assert_eq!(std::fs::read_to_string(dir.path().join("log")).unwrap(), "terminated\n");
    assert!(String::from_utf8_lossy(&done.stderr).contains("lost"));
}

#[tokio::test]
async fn a_command_that_ignores_sigterm_is_killed_after_the_grace_period() {
    let app = spawn_app().await;
    let dir = scratch_dir();
    let script = r#"trap '' TERM
        echo $$ > "$D/pid"
        while true; do sleep 0.1; done"#;
    let run = run_script(&app, "stubborn", &["--ttl", "3", "--grace", "1"], dir.path(), script);
    wait_until(Duration::from_secs(10), || async { dir.path().join("pid").exists() }).await;

    sqlx::query("DELETE FROM locks WHERE name = 'stubborn'").execute(&app.pool).await.unwrap();
    let done = tokio::time::timeout(Duration::from_secs(10), run.wait_with_output()).await;

    let done = done.expect("leasehold exits after the grace period").unwrap();
    assert_eq!(done.status.code(), Some(LEASE_LOST), "{done:?}");
    let pid = std::fs::read_to_string(dir.path().join("pid")).unwrap();
    assert!(!Path::new(&format!("/proc/{}", pid.trim())).exists(), "the command was killed");
}

/// A command that starts a process of its own and waits for it.
const WITH_A_GRANDCHILD: &str = r#"sleep 1000 &
    echo $! > "$D/grandchild"
    wait"#;

/// Whether `pid` is a running process (a zombie is not: an orphan is reaped
/// by whoever adopted it, which may take its time).
fn alive(pid: &str) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
    stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z'))
}

#[tokio::test]
async fn lock_run_stops_the_commands_whole_process_group_when_the_lease_is_lost() {
    let app = spawn_app().await;
    let dir = scratch_dir();
    let run = run_script(&app, "group", &["--ttl", "3", "--grace", "5"], dir.path(), WITH_A_GRANDCHILD);
    wait_until(Duration::from_secs(10), || async { dir.path().join("grandchild").exists() }).await;
    let grandchild = std::fs::read_to_string(dir.path().join("grandchild")).unwrap();
    assert!(alive(&grandchild));

    sqlx::query("DELETE FROM locks WHERE name = 'group'").execute(&app.pool).await.unwrap();
    let done = tokio::time::timeout(Duration::from_secs(10), run.wait_with_output()).await;

    let done = done.expect("leasehold exits once the lease is lost").unwrap();
    assert_eq!(done.status.code(), Some(LEASE_LOST), "{done:?}");
    wait_until(Duration::from_secs(5), || async { !alive(&grandchild) }).await;
}

#[tokio::test]
async fn a_signal_to_lock_run_reaches_every_process_of_the_command() {
    let app = spawn_app().await;
    let dir = scratch_dir();
    let run = run_script(&app, "group-signal", &["--ttl", "30"], dir.path(), WITH_A_GRANDCHILD);
    wait_until(Duration::from_secs(10), || async { dir.path().join("grandchild").exists() }).await;
    let grandchild = std::fs::read_to_string(dir.path().join("grandchild")).unwrap();

    // SAFETY: signalling the child this test spawned and has not reaped.
    unsafe { libc::kill(run.id().unwrap() as libc::pid_t, libc::SIGTERM) };
    let done = tokio::time::timeout(Duration::from_secs(10), run.wait_with_output()).await.unwrap().unwrap();

    assert_eq!(done.status.code(), Some(128 + libc::SIGTERM), "{done:?}");
    wait_until(Duration::from_secs(5), || async { !alive(&grandchild) }).await;
    assert_eq!(app.status(&app.acme, "/v1/locks/group-signal").await.status(), 404, "released");
}

#[tokio::test]
async fn lock_run_exits_with_the_commands_status_and_releases() {
    let app = spawn_app().await;
    let dir = scratch_dir();
    let script = r#"[ -n "$LEASEHOLD_LOCK_TOKEN" ] && [ "$LEASEHOLD_FENCING_TOKEN" -gt 0 ] && exit 7"#;

    let done = run_script(&app, "status", &[], dir.path(), script).wait_with_output().await.unwrap();

    assert_eq!(done.status.code(), Some(7), "{done:?}");
    assert_eq!(app.status(&app.acme, "/v1/locks/status").await.status(), 404);
}

#[tokio::test]
async fn lock_run_on_a_held_lock_exits_could_not_acquire_without_running_the_command() {
    let app = spawn_app().await;
    let dir = scratch_dir();
    app.acquire(&app.acme, "/v1/locks/busy", json!({"ttl_seconds": 30})).await;

    let done =
        run_script(&app, "busy", &[], dir.path(), r#"touch "$D/ran""#).wait_with_output().await.unwrap();

    assert_eq!(done.status.code(), Some(COULD_NOT_ACQUIRE), "{done:?}");
    assert!(!dir.path().join("ran").exists());
}

#[tokio::test]
async fn lock_run_of_a_missing_command_exits_127_and_releases() {
    let app = spawn_app().await;

    let done = output(&app, &["run", "missing", "--", "/nonexistent/command"]).await;

    assert_eq!(done.status.code(), Some(127), "{done:?}");
    assert_eq!(app.status(&app.acme, "/v1/locks/missing").await.status(), 404);
}

#[tokio::test]
async fn lock_run_forwards_signals_to_the_command() {
    let app = spawn_app().await;
    let dir = scratch_dir();
    let script = r#"trap 'echo usr1 >> "$D/log"; exit 0' USR1
        touch "$D/ready"
        while true; do sleep 0.1; done"#;
    let run = run_script(&app, "signals", &["--ttl", "30"], dir.path(), script);
    wait_until(Duration::from_secs(10), || async { dir.path().join("ready").exists() }).await;

    let pid = run.id().unwrap() as libc::pid_t;
    // SAFETY: signalling the child this test spawned and has not reaped.
    unsafe { libc::kill(pid, libc::SIGUSR1) };
    let done = tokio::time::timeout(Duration::from_secs(10), run.wait_with_output()).await.unwrap().unwrap();

    assert_eq!(done.status.code(), Some(0), "{done:?}");
    assert_eq!(std::fs::read_to_string(dir.path().join("log")).unwrap(), "usr1\n");
    assert_eq!(app.status(&app.acme, "/v1/locks/signals").await.status(), 404, "released");
}

#[tokio::test]
async fn acquire_status_renew_handover_and_release_print_json_and_exit_with_documented_codes() {
    let app = spawn_app().await;

    let acquired = output(&app, &["acquire", "manual", "--ttl", "30", "--owner", "ops"]).await;
    let grant = stdout_json(&acquired);
    let token = grant["lock_token"].as_str().unwrap().to_owned();
    let status = output(&app, &["status", "manual"]).await;
    let renewed = output(&app, &["renew", "manual", "--token", &token, "--ttl", "60"]).await;
    let held = output(&app, &["acquire", "manual"]).await;
    let handed = output(&app, &["handover", "manual", "--token", &token, "--owner", "next"]).await;
    let next = stdout_json(&handed);
    let next_token = next["lock_token"].as_str().unwrap().to_owned();
    let stale = output(&app, &["release", "manual", "--token", &token]).await;
    let released = output(&app, &["release", "manual", "--token", &next_token]).await;
    let again = output(&app, &["release", "manual", "--token", &next_token]).await;
    let free = output(&app, &["status", "manual"]).await;

    assert_eq!(grant["owner"], "ops");
    assert_eq!(stdout_json(&status)["fencing_token"], grant["fencing_token"]);
    assert!(stdout_json(&status).get("lock_token").is_none());
    assert_eq!(stdout_json(&renewed)["ttl_seconds"], 60);
    assert_eq!(held.status.code(), Some(COULD_NOT_ACQUIRE));
    assert_eq!(next["owner"], "next");
    assert!(next["fencing_token"].as_i64() > grant["fencing_token"].as_i64());
    assert_eq!(stale.status.code(), Some(LEASE_LOST));
    assert!(released.status.success(), "{released:?}");
    assert_eq!(again.status.code(), Some(LEASE_LOST));
    assert_eq!(free.status.code(), Some(3));
}

/// A directory removed when dropped (no dependency for one helper).
mod tempdir {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new() -> Self {
            static N: AtomicUsize = AtomicUsize::new(0);
            let n = N.fetch_add(1, Ordering::SeqCst);
            let path = std::env::temp_dir().join(format!("leasehold-cli-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&path).unwrap();
            Self(path)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
