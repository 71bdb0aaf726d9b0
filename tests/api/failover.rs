//! A failover without Patroni: a primary with a synchronous streaming
//! standby, started by the test; the server is given both hosts in the
//! libpq multi-host form. The primary stops, the standby is promoted, and
//! the server follows by itself: 503 in between, every lease kept, fencing
//! tokens still rising. Needs PostgreSQL the test may stop, so it runs its
//! own pair of clusters (never the shared server).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use leasehold::admin;
use leasehold::domain::{Plan, Role};
use leasehold::local_postgres::find_bin_dir;
use leasehold::startup::Application;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};

use crate::helpers::{test_settings, wait_until};

// Below Linux's ephemeral range (32768-60999), so that no outgoing
// connection of the other tests holds the port when a node binds it.
const PRIMARY_PORT: u16 = 26402;
const STANDBY_PORT: u16 = 26403;

/// One PostgreSQL cluster of the pair, run as `postgres` when we are root.
struct Node {
    data: PathBuf,
    port: u16,
}

impl Node {
    fn new(root: &Path, name: &str, port: u16) -> Self {
        Self { data: root.join(name), port }
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    fn pg_ctl(&self, args: &[&str]) -> Output {
        let data = self.data.to_str().unwrap();
        run("pg_ctl", &[&["-D", data], args].concat())
    }

    /// Starts the node; `settings` are `-c name=value` options.
    fn start(&self, settings: &[&str]) {
        let socket_dir = self.data.parent().unwrap().display().to_string();
        let mut options = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={socket_dir}",
            self.port
        );
        for setting in settings {
            options.push_str(&format!(" -c {setting}"));
        }
        let log = self.data.with_extension("log");
        let started = self.pg_ctl(&["start", "-w", "-t", "60", "-o", &options, "-l", log.to_str().unwrap()]);
        let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            started.status.success(),
            "{} did not start: {}\n{}",
            self.data.display(),
            text(&started),
            log_text()
        );
    }
}

fn run(program: &str, args: &[&str]) -> Output {
    let binary = find_bin_dir().expect("PostgreSQL server binaries").join(program);
    // SAFETY: geteuid has no preconditions.
    let mut command = if unsafe { libc::geteuid() } == 0 {
        let mut runuser = Command::new("runuser");
        runuser.args(["-u", "postgres", "--"]).arg(&binary);
        runuser
    } else {
        Command::new(&binary)
    };
    command.args(args).stdin(std::process::Stdio::null()).output().unwrap()
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// A primary that waits for a synchronous standby on every commit, and that standby.
fn start_pair(root: &Path) -> (Node, Node) {
    for port in [PRIMARY_PORT, STANDBY_PORT] {
        let leftover = Node::new(root, if port == PRIMARY_PORT { "primary" } else { "standby" }, port);
        if leftover.data.exists() {
            leftover.pg_ctl(&["stop", "-m", "immediate"]);
        }
    }
    let _ = std::fs::remove_dir_all(root);
    std::fs::create_dir_all(root).unwrap();
    if unsafe { libc::geteuid() } == 0 {
        assert!(Command::new("chown").arg("postgres:").arg(root).status().unwrap().success());
    }
    let primary = Node::new(root, "primary", PRIMARY_PORT);
    let init = run(
        "initdb",
        &["-D", primary.data.to_str().unwrap(), "-U", "postgres", "--auth=trust", "--no-locale"],
    );
    assert!(init.status.success(), "initdb: {}", text(&init));
    primary.start(&["wal_level=replica", "max_wal_senders=4", "synchronous_standby_names='*'"]);
    let standby = Node::new(root, "standby", STANDBY_PORT);
    let port = PRIMARY_PORT.to_string();
    let data = standby.data.to_str().unwrap();
    let backup = run(
        "pg_basebackup",
        &["-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-D", data, "-R", "-X", "stream"],
    );
    assert!(backup.status.success(), "pg_basebackup: {}", text(&backup));
    // Promoted, it has no standby of its own to wait for.
    standby.start(&["synchronous_standby_names=''"]);
    (primary, standby)
}

async fn query_bool(url: &str, sql: &str) -> bool {
    let mut conn = PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_follows_a_promoted_standby_keeping_every_lease_and_raising_fencing_tokens() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("failover");
    let (primary, standby) = tokio::task::spawn_blocking({
        let root = root.clone();
        move || start_pair(&root)
    })
    .await
    .unwrap();
    let mut conn = PgConnection::connect(&primary.url("postgres")).await.unwrap();
    sqlx::query("CREATE DATABASE leasehold").execute(&mut conn).await.unwrap();
    let mut settings = test_settings();
    settings.listen = "127.0.0.1:0".parse().unwrap();
    settings.migrate = true;
    // The standby is listed first: the server must skip it for the primary.
    settings.database_url = Some(
        format!(
            "postgres://postgres@127.0.0.1:{STANDBY_PORT},127.0.0.1:{PRIMARY_PORT}/leasehold?target_session_attrs=read-write"
        )
        .into(),
    );
    let app = Application::build(&settings).await.expect("the server starts on the primary");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until(std::future::pending()));
    let pool = sqlx::PgPool::connect(&primary.url("leasehold")).await.unwrap();
    admin::create_account(&pool, "acme", Plan::Business).await.unwrap();
    let key = admin::create_key(&pool, "acme", Role::Client, None).await.unwrap().key;
    pool.close().await;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let acquire = |name: String| {
        let request = client
            .post(format!("{address}/v1/locks/{name}"))
            .bearer_auth(&key)
            .json(&json!({"ttl_seconds": 600}));
        async move { request.send().await.unwrap() }
    };
    let ready: Value = client.get(format!("{address}/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["durability"], "safe", "{ready}");
    let mut leases = Vec::new();
    for n in 0..5 {
        let granted: Value = acquire(format!("lease-{n}")).await.json().await.unwrap();
        leases.push((
            format!("lease-{n}"),
            granted["lock_token"].as_str().unwrap().to_owned(),
            granted["fencing_token"].as_i64().unwrap(),
        ));
    }

    primary.pg_ctl(&["stop", "-m", "immediate"]);
    let during = acquire("during".into()).await;
    assert_eq!(during.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(during.headers().contains_key("retry-after"));
    let promoted = standby.pg_ctl(&["promote", "-w"]);
    assert!(promoted.status.success(), "promote: {}", text(&promoted));
    assert!(!query_bool(&standby.url("postgres"), "SELECT pg_is_in_recovery()").await);
    wait_until(Duration::from_secs(30), || async {
        acquire("after".into()).await.status() == StatusCode::CREATED
    })
    .await;

    for (name, token, fencing) in &leases {
        let status: Value = client
            .get(format!("{address}/v1/locks/{name}"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(status["fencing_token"].as_i64(), Some(*fencing), "{name} kept its grant: {status}");
        let renewed = client
            .post(format!("{address}/v1/locks/{name}/renew"))
            .bearer_auth(&key)
            .header("Lock-Token", token)
            .send()
            .await
            .unwrap();
        assert_eq!(renewed.status(), StatusCode::OK, "{name}'s holder still holds it");
        let released = client
            .delete(format!("{address}/v1/locks/{name}"))
            .bearer_auth(&key)
            .header("Lock-Token", token)
            .send()
            .await
            .unwrap();
        assert!(released.status().is_success());
        let again: Value = acquire(name.clone()).await.json().await.unwrap();
        assert!(again["fencing_token"].as_i64().unwrap() > *fencing, "{name}: {again} after {fencing}");
    }
    let metrics = client.get(format!("{address}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.lines().any(|line| line == "leasehold_database_primary_moves_total 1"), "{metrics}");
    standby.pg_ctl(&["stop", "-m", "fast"]);
}
