//! `leasehold dev`: one command from nothing to a server you can curl.

use std::net::TcpListener;
use std::path::Path;

use anyhow::Context;
use secrecy::ExposeSecret;

use crate::admin::{self, AdminError};
use crate::config::Settings;
use crate::domain::{Plan, Role};
use crate::local_postgres::{self, LocalPostgres};
use crate::startup::{self, Application};
use crate::store::{schema, StoreError};
use crate::telemetry;

const DEV_ACCOUNT: &str = "dev";

pub async fn run(mut settings: Settings, fresh: bool) -> anyhow::Result<()> {
    telemetry::init(settings.log_format);
    // Locklock's and mutex.uno's free tiers, so their documented curls work.
    settings.compat.locklock.anonymous = true;
    settings.compat.mutex_uno.anonymous = true;
    let private = match settings.database_url {
        Some(_) => None,
        None => Some(start_private_postgres(&mut settings, fresh).await?),
    };
    let result = serve(&settings).await;
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
    let postgres = LocalPostgres::find(Path::new(".leasehold"), LocalPostgres::DEFAULT_PORT)?;
    if fresh {
        postgres.wipe()?;
    }
    let started = tokio::task::block_in_place(|| postgres.start())?;
    local_postgres::create_database_if_missing(&postgres.url("postgres"), "leasehold").await?;
    settings.database_url = Some(postgres.url("leasehold").into());
    Ok((postgres, started))
}

async fn serve(settings: &Settings) -> anyhow::Result<()> {
    let database = startup::connect(settings).await?;
    let pool = database.pool.clone();
    schema::apply_migrations(&pool).await.context("migrating the dev database")?;
    match admin::create_account(&pool, DEV_ACCOUNT, Plan::Business).await {
        Ok(_) | Err(AdminError::Store(StoreError::Duplicate(_))) => {}
        Err(e) => return Err(e.into()),
    }
    let admin_key = admin::create_key(&pool, DEV_ACCOUNT, Role::Admin, None).await?;
    let client_key = admin::create_key(&pool, DEV_ACCOUNT, Role::Client, None).await?;
    let listener = TcpListener::bind(settings.listen)
        .with_context(|| format!("cannot listen on {}; pass --listen ADDR", settings.listen))?;
    let app = Application::serve(settings, database, listener)?;
    let base = format!("http://{}", settings.listen);
    let database = settings.database_url.as_ref().map(|u| u.expose_secret().to_owned()).unwrap_or_default();
    println!(
        "\nLeasehold dev server on {base}\n  database:   {database}\n  account:    {DEV_ACCOUNT} (business, namespace {DEV_ACCOUNT})\n  \
         admin key:  {}\n  client key: {}\n\nTry:\n  curl -s -X POST {base}/v1/locks/my-first-lock \\\n    \
         -H 'Authorization: Bearer {}' -d '{{\"ttl_seconds\": 30, \"owner\": \"me\"}}'\n\nCtrl-C stops it.\n",
        admin_key.key, client_key.key, client_key.key
    );
    app.run_until(crate::cli::shutdown_signal()).await?;
    Ok(())
}
