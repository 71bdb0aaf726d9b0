//! Acknowledged means durable: grants acknowledged before an immediate
//! PostgreSQL shutdown (no checkpoint; crash recovery at the next start) are
//! all there after it restarts, and the next fencing token is higher than
//! every acknowledged one. This needs a PostgreSQL the test may crash, so it
//! runs its own private cluster (never the shared server).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use leasehold::admin;
use leasehold::domain::{Plan, Role};
use leasehold::local_postgres::{create_database_if_missing, LocalPostgres};
use leasehold::store::schema;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::sync::Mutex;

use crate::helpers::{start_replica, test_settings, wait_until};

// Below the ephemeral range: see failover.rs.
const PORT: u16 = 26401;

fn cluster_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("durability-crash")
}

/// What `pg_ctl stop -m immediate` does: SIGQUIT to the postmaster.
async fn stop_immediately(root: &Path) {
    let pid_file = std::fs::read_to_string(root.join("postgres/data/postmaster.pid")).unwrap();
    let pid: i32 = pid_file.lines().next().unwrap().trim().parse().unwrap();
    // SAFETY: plain signal delivery to a process id.
    unsafe { libc::kill(pid, libc::SIGQUIT) };
    // SAFETY: signal 0 only checks that the process exists.
    wait_until(Duration::from_secs(20), || async move { (unsafe { libc::kill(pid, 0) }) != 0 }).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn grants_acknowledged_before_an_immediate_postgres_stop_survive_it() {
    let root = cluster_root();
    let postgres = Arc::new(LocalPostgres::find(&root, PORT).unwrap());
    let p = postgres.clone();
    tokio::task::spawn_blocking(move || p.start()).await.unwrap().unwrap();
    let url = postgres.url("crash");
    let admin_url = postgres.url("postgres");
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url).await.unwrap();
    sqlx::query("DROP DATABASE IF EXISTS crash WITH (FORCE)").execute(&mut conn).await.unwrap();
    drop(conn);
    create_database_if_missing(&admin_url, "crash").await.unwrap();
    let settings = test_settings();
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy_with(PgConnectOptions::from_str(&url).unwrap());
    schema::apply_migrations(&pool).await.unwrap();
    admin::create_account(&pool, "acme", Plan::Business).await.unwrap();
    let key = admin::create_key(&pool, "acme", Role::Client, None).await.unwrap().key;
    let address = start_replica(&settings, pool.clone());
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();

    // Writers acquire new locks as fast as they can while PostgreSQL is stopped
    // under them; every 201 is remembered.
    let acknowledged: Arc<Mutex<HashMap<String, i64>>> = Arc::default();
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let (client, address, key, acknowledged) =
                (client.clone(), address.clone(), key.clone(), acknowledged.clone());
            tokio::spawn(async move {
                for n in 0.. {
                    let name = format!("w{writer}-{n}");
                    let sent = client
                        .post(format!("{address}/v1/locks/{name}"))
                        .bearer_auth(&key)
                        .json(&json!({ "ttl_seconds": 1800 }))
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status() == StatusCode::CREATED => {
                            let body: Value = r.json().await.unwrap();
                            acknowledged.lock().await.insert(name, body["fencing_token"].as_i64().unwrap());
                        }
                        _ => return,
                    }
                }
            })
        })
        .collect();
    wait_until(Duration::from_secs(30), || async { acknowledged.lock().await.len() >= 200 }).await;
    stop_immediately(&root).await;
    for writer in writers {
        writer.await.unwrap();
    }
    let acknowledged = acknowledged.lock().await.clone();
    let p = postgres.clone();
    tokio::task::spawn_blocking(move || p.start()).await.unwrap().unwrap();

    let survived: Vec<(String, i64)> =
        sqlx::query_as("SELECT name, fencing_token FROM locks WHERE namespace = 'acme'")
            .fetch_all(&pool)
            .await
            .unwrap();
    let survived: HashMap<String, i64> = survived.into_iter().collect();
    for (name, token) in &acknowledged {
        assert_eq!(survived.get(name), Some(token), "acknowledged grant {name} was lost");
    }
    let highest = acknowledged.values().copied().max().unwrap();
    let next = acquire_when_back(&client, &address, &key).await;
    assert!(next > highest, "fencing token {next} after the crash, {highest} before");
    pool.close().await;
    let p = postgres.clone();
    tokio::task::spawn_blocking(move || p.stop()).await.unwrap().unwrap();
}

/// The fencing token of a new lock, once the server serves again.
async fn acquire_when_back(client: &reqwest::Client, address: &str, key: &str) -> i64 {
    for _ in 0..200 {
        let sent = client
            .post(format!("{address}/v1/locks/after-crash"))
            .bearer_auth(key)
            .json(&json!({}))
            .send()
            .await;
        match sent {
            Ok(r) if r.status() == StatusCode::CREATED => {
                return r.json::<Value>().await.unwrap()["fencing_token"].as_i64().unwrap();
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server did not serve again after PostgreSQL restarted");
}
