//! `leasehold dev`: one command from nothing to a server you can curl.

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use anyhow::Context;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::admin::{self, AdminError};
use crate::auth::Authenticator;
use crate::config::Settings;
use crate::domain::{ApiKey, Plan, Role};
use crate::local_postgres::{self, LocalPostgres};
use crate::startup::{self, Application};
use crate::store::{schema, StoreError};
use crate::telemetry;

const DEV_ACCOUNT: &str = "dev";
const PRIVATE_ROOT: &str = ".leasehold";

pub async fn run(mut settings: Settings, fresh: bool) -> anyhow::Result<()> {
    telemetry::init(settings.log_format);
    // Locklock's and mutex.uno's free tiers, so their documented curls work.
    settings.compat.locklock.anonymous = true;
    settings.compat.mutex_uno.anonymous = true;
    // Self-service sign-up, so an account of one's own is one curl away.
    settings.signup.enabled = true;
    let private = match settings.database_url {
        Some(_) => None,
        None => Some(start_private_postgres(&mut settings, fresh).await?),
    };
    // Only beside its own database does it keep the keys it made: the
    // directory that holds the whole dev database may as well hold them.
    let keys_file = private.is_some().then(|| Path::new(PRIVATE_ROOT).join("dev-keys.json"));
    let result = serve(&settings, keys_file).await;
    if let Some((postgres, true)) = private {
        println!("stopping the private PostgreSQL");
        postgres.stop()?;
    }
    result
}

/// Starts (or reuses) the cluster under ./.leasehold; returns it and whether
/// this process started it.
async fn start_private_postgres(
    settings: &mut Settings,
    fresh: bool,
) -> anyhow::Result<(LocalPostgres, bool)> {
    let postgres = LocalPostgres::find(Path::new(PRIVATE_ROOT), LocalPostgres::DEFAULT_PORT)?;
    if fresh {
        postgres.wipe()?;
    }
    let started = tokio::task::block_in_place(|| postgres.start())?;
    local_postgres::create_database_if_missing(&postgres.url("postgres"), "leasehold").await?;
    settings.database_url = Some(postgres.url("leasehold").into());
    Ok((postgres, started))
}

async fn serve(settings: &Settings, keys_file: Option<PathBuf>) -> anyhow::Result<()> {
    let database = startup::connect(settings).await?;
    let pool = database.pool.clone();
    schema::apply_migrations(&pool).await.context("migrating the dev database")?;
    match admin::create_account(&pool, DEV_ACCOUNT, Plan::Business).await {
        Ok(_) | Err(AdminError::Store(StoreError::Duplicate(_))) => {}
        Err(e) => return Err(e.into()),
    }
    let (keys, origin) = dev_keys(settings, &pool, keys_file.as_deref()).await?;
    let listener = TcpListener::bind(settings.listen)
        .with_context(|| format!("cannot listen on {}; pass --listen ADDR", settings.listen))?;
    let app = Application::serve(settings, database, listener)?;
    let base = format!("http://{}", settings.listen);
    let database = settings.database_url.as_ref().map(|u| u.expose_secret().to_owned()).unwrap_or_default();
    let DevKeys { admin, client } = &keys;
    println!(
        "\nLeasehold dev server on {base}\n  database:   {database}\n  account:    {DEV_ACCOUNT} (business, namespace {DEV_ACCOUNT})\n  \
         admin key:  {admin}\n  client key: {client}\n  keys:       {origin}\n  \
         console:    {base}/console (sign in with the admin key)\n  API:        {base}/openapi.json\n\n\
         Try:\n  curl -s -X POST {base}/v1/locks/my-first-lock \\\n    \
         -H 'Authorization: Bearer {client}' -d '{{\"ttl_seconds\": 30, \"owner\": \"me\"}}'\n\nCtrl-C stops it.\n",
    );
    app.run_until(crate::cli::shutdown_signal()).await?;
    Ok(())
}

/// The dev account's admin and client keys, kept in clear only in the dev
/// directory (mode 0600), for the next run to show again.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevKeys {
    pub admin: String,
    pub client: String,
}

/// The keys from `keys_file` while they still work on this database (a
/// `--fresh` or another DATABASE_URL does not know them); else two new
/// ones. Also says where they came from.
pub async fn dev_keys(
    settings: &Settings,
    pool: &PgPool,
    keys_file: Option<&Path>,
) -> anyhow::Result<(DevKeys, String)> {
    if let Some(file) = keys_file {
        if let Some(keys) = saved_keys(settings, pool, file).await {
            return Ok((keys, format!("the same as last run (kept in {})", file.display())));
        }
    }
    let admin = admin::create_key(pool, DEV_ACCOUNT, Role::Admin, None).await?.key;
    let client = admin::create_key(pool, DEV_ACCOUNT, Role::Client, None).await?.key;
    let keys = DevKeys { admin, client };
    let Some(file) = keys_file else {
        return Ok((keys, "new for this run (with DATABASE_URL set, every run mints a pair)".into()));
    };
    save_keys(file, &keys).with_context(|| format!("saving the dev keys in {}", file.display()))?;
    Ok((keys, format!("new, kept in {} for the next run", file.display())))
}

async fn saved_keys(settings: &Settings, pool: &PgPool, file: &Path) -> Option<DevKeys> {
    let keys: DevKeys = serde_json::from_slice(&std::fs::read(file).ok()?).ok()?;
    let auth = Authenticator::new(pool.clone(), &settings.auth, settings.database.timeout());
    for (key, role) in [(&keys.admin, Role::Admin), (&keys.client, Role::Client)] {
        let principal = auth.authenticate(&ApiKey::parse(key)?).await.ok()?;
        if principal.role != role {
            return None;
        }
    }
    Some(keys)
}

fn save_keys(file: &Path, keys: &DevKeys) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut out =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(file)?;
    out.write_all(&serde_json::to_vec_pretty(keys).map_err(std::io::Error::other)?)
}
