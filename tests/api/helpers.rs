//! Starts the real server against a fresh PostgreSQL database per test.

use std::future::Future;
use std::net::TcpListener;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use leasehold::admin::{self, KeyCreated};
use leasehold::config::Settings;
use leasehold::domain::{Plan, Role};
use leasehold::local_postgres::LocalPostgres;
use leasehold::startup::Application;
use leasehold::store::schema;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};

pub struct TestApp {
    pub address: String,
    pub pool: PgPool,
    pub database_url: String,
    pub client: reqwest::Client,
    /// A business account "acme" with a client key (namespace `acme`).
    pub acme: KeyCreated,
    /// Another business account "globex" with a client key.
    pub globex: KeyCreated,
    /// A hobbyist account "hobby" with a client key (namespace `public`).
    pub hobby: KeyCreated,
}

/// The PostgreSQL server the tests use: `DATABASE_URL`, or else the private
/// cluster `leasehold dev` uses, started on first need.
fn server_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(".leasehold");
            let postgres =
                LocalPostgres::find(&root, LocalPostgres::DEFAULT_PORT).expect("PostgreSQL binaries");
            postgres.start().expect("the private PostgreSQL starts");
            postgres.url("postgres")
        });
        drop_databases_of_finished_runs(&url);
        url
    })
}

/// Test databases are named `lh_test_<pid>_<n>`; those whose process has
/// ended are dropped, so runs do not pile them up.
fn drop_databases_of_finished_runs(url: &str) {
    let url = url.to_owned();
    std::thread::spawn(move || {
        tokio::runtime::Runtime::new().unwrap().block_on(async move {
            let mut conn = sqlx::PgConnection::connect(&url).await.expect("PostgreSQL answers");
            let names: Vec<String> =
                sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'lh\\_test\\_%'")
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            for name in names {
                let pid = name.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
                if pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            }
        })
    })
    .join()
    .unwrap();
}

pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let (server, _) = base.rsplit_once('/').expect("a URL with a path");
    match query {
        Some(q) => format!("{server}/{database}?{q}"),
        None => format!("{server}/{database}"),
    }
}

/// A new, empty database; returns its URL.
pub async fn fresh_database() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let server = server_url();
    let name = format!("lh_test_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
    let mut conn = sqlx::PgConnection::connect(server).await.expect("PostgreSQL answers");
    sqlx::query(&format!("CREATE DATABASE \"{name}\"")).execute(&mut conn).await.unwrap();
    with_database(server, &name)
}

pub fn test_settings() -> Settings {
    let mut settings = Settings::defaults();
    settings.http.workers = Some(2);
    settings.database.max_connections = 10;
    settings.database.timeout_ms = 2000;
    settings
}

pub async fn pool_for(url: &str, settings: &Settings) -> PgPool {
    PgPoolOptions::new()
        .max_connections(settings.database.max_connections)
        .acquire_timeout(settings.database.timeout())
        .connect_lazy_with(PgConnectOptions::from_str(url).unwrap())
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let database_url = fresh_database().await;
    let mut settings = test_settings();
    tweak(&mut settings);
    let pool = pool_for(&database_url, &settings).await;
    schema::apply_migrations(&pool).await.expect("migrations apply");
    let (acme, globex, hobby) = tokio::join!(
        tenant(&pool, "acme", Plan::Business),
        tenant(&pool, "globex", Plan::Business),
        tenant(&pool, "hobby", Plan::Hobbyist),
    );
    let address = start_replica(&settings, pool.clone());
    TestApp { address, pool, database_url, client: reqwest::Client::new(), acme, globex, hobby }
}

/// Starts one more server on the same pool's database; returns its address.
pub fn start_replica(settings: &Settings, pool: PgPool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let app = Application::serve(settings, pool.into(), listener).expect("the server starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until(std::future::pending()));
    address
}

async fn tenant(pool: &PgPool, name: &str, plan: Plan) -> KeyCreated {
    admin::create_account(pool, name, plan).await.unwrap();
    admin::create_key(pool, name, Role::Client, None).await.unwrap()
}

pub async fn key(pool: &PgPool, account: &str, role: Role) -> KeyCreated {
    admin::create_key(pool, account, role, None).await.unwrap()
}

impl TestApp {
    pub fn request(&self, method: Method, path: &str, key: &KeyCreated) -> RequestBuilder {
        self.client.request(method, format!("{}{}", self.address, path)).bearer_auth(&key.key)
    }

    pub async fn acquire(&self, key: &KeyCreated, path: &str, body: Value) -> Response {
        self.request(Method::POST, path, key).json(&body).send().await.unwrap()
    }

    pub async fn status(&self, key: &KeyCreated, path: &str) -> Response {
        self.request(Method::GET, path, key).send().await.unwrap()
    }

    pub async fn renew(&self, key: &KeyCreated, path: &str, token: &str) -> Response {
        self.request(Method::POST, &format!("{path}/renew"), key)
            .header("Lock-Token", token)
            .send()
            .await
            .unwrap()
    }

    pub async fn release(&self, key: &KeyCreated, path: &str, token: &str) -> Response {
        self.request(Method::DELETE, path, key).header("Lock-Token", token).send().await.unwrap()
    }

    /// Audit events of one lock, oldest first, as (event, fencing_token).
    pub async fn events(&self, namespace: &str, name: &str) -> Vec<(String, i64)> {
        sqlx::query_as(
            "SELECT event, fencing_token FROM lock_events WHERE namespace = $1 AND name = $2 ORDER BY id",
        )
        .bind(namespace)
        .bind(name)
        .fetch_all(&self.pool)
        .await
        .unwrap()
    }
}

pub async fn json(response: Response) -> Value {
    response.json().await.expect("a JSON body")
}

pub async fn error_code(response: Response) -> String {
    json(response).await["error"]["code"].as_str().unwrap_or_default().to_owned()
}

/// Polls `condition` until it holds; panics after `limit`.
pub async fn wait_until<F, Fut>(limit: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !condition().await {
        assert!(Instant::now() < deadline, "condition not met within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the database clock has passed every lease's expiry.
pub async fn wait_for_lapse(pool: &PgPool) {
    wait_until(Duration::from_secs(10), || async {
        sqlx::query_scalar::<_, bool>("SELECT coalesce(max(expires_at) <= now(), true) FROM locks")
            .fetch_one(pool)
            .await
            .unwrap()
    })
    .await;
}

/// A server whose Locklock and mutex.uno serve anonymous callers, as `leasehold dev`'s does.
pub async fn spawn_app_with_anonymous_compat() -> TestApp {
    spawn_app_with(|s| {
        s.compat.locklock.anonymous = true;
        s.compat.mutex_uno.anonymous = true;
    })
    .await
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// The live lease's length in seconds, by the database's record.
    pub async fn lease_seconds(&self, namespace: &str, name: &str) -> i64 {
        sqlx::query_scalar(
            "SELECT extract(epoch FROM expires_at - acquired_at)::bigint FROM locks
             WHERE namespace = $1 AND name = $2",
        )
        .bind(namespace)
        .bind(name)
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }
}

/// Waits until every audit event written so far is settled, that is visible
/// to audit queries (see `leasehold::store::audit`): on a busy machine an
/// older transaction still running can hold the horizon back for a moment.
pub async fn wait_for_settled_audit(pool: &PgPool) {
    wait_until(Duration::from_secs(20), || async {
        let horizon = leasehold::store::audit::horizon(pool).await.unwrap();
        let newest: Option<chrono::DateTime<chrono::Utc>> =
            sqlx::query_scalar("SELECT max(occurred_at) FROM lock_events").fetch_one(pool).await.unwrap();
        match newest {
            Some(newest) => newest < horizon,
            None => true,
        }
    })
    .await;
}

/// The secret part of a key `lh_<id>_<secret>` (which may itself contain `_`).
pub fn secret_of(key: &str) -> &str {
    key.splitn(3, '_').nth(2).expect("a key is lh_<id>_<secret>")
}

/// The real `leasehold` binary serving the test's database, its output
/// drained from the start (a full pipe would block its logging).
pub struct ServedBinary {
    pub base: String,
    child: tokio::process::Child,
    output: Vec<tokio::task::JoinHandle<String>>,
}

impl ServedBinary {
    /// `leasehold serve` on a free port with `args` and `env`; waits until
    /// `/readyz` answers over `scheme`, through `client`.
    pub async fn start(
        app: &TestApp,
        scheme: &str,
        client: &reqwest::Client,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        use tokio::io::AsyncReadExt;
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_leasehold"))
            .arg("serve")
            .args(args)
            .env("DATABASE_URL", &app.database_url)
            .env("LEASEHOLD_LISTEN", format!("127.0.0.1:{port}"))
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let drain = |mut pipe: Box<dyn tokio::io::AsyncRead + Unpin + Send>| {
            tokio::spawn(async move {
                let mut text = String::new();
                pipe.read_to_string(&mut text).await.unwrap();
                text
            })
        };
        let output = vec![
            drain(Box::new(child.stdout.take().unwrap())),
            drain(Box::new(child.stderr.take().unwrap())),
        ];
        let base = format!("{scheme}://127.0.0.1:{port}");
        wait_until(Duration::from_secs(30), || {
            let request = client.get(format!("{base}/readyz"));
            async move { request.send().await.is_ok_and(|r| r.status().is_success()) }
        })
        .await;
        Self { base, child, output }
    }

    /// Stops it gracefully (SIGTERM flushes its output) and returns all it printed.
    pub async fn stop(mut self) -> String {
        // SAFETY: SIGTERM to our own child.
        unsafe { libc::kill(self.child.id().unwrap() as i32, libc::SIGTERM) };
        let mut logs = String::new();
        for part in self.output.drain(..) {
            logs += &part.await.unwrap();
        }
        self.child.wait().await.unwrap();
        logs
    }
}
