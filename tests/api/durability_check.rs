//! `serve` refuses a PostgreSQL that could lose an acknowledged commit in a
//! crash, unless told to allow it. `synchronous_commit` can be set per
//! database, so each test weakens only its own.

use leasehold::config::Settings;
use leasehold::startup::Application;

use crate::helpers::{spawn_app, test_settings, TestApp};

async fn with_synchronous_commit(value: &str) -> (TestApp, Settings) {
    let app = spawn_app().await;
    let database = app.database_url.rsplit('/').next().unwrap().to_owned();
    sqlx::query(&format!("ALTER DATABASE \"{database}\" SET synchronous_commit = {value}"))
        .execute(&app.pool)
        .await
        .unwrap();
    let mut settings = test_settings();
    settings.listen = "127.0.0.1:0".parse().unwrap();
    settings.database_url = Some(app.database_url.clone().into());
    (app, settings)
}

#[tokio::test]
async fn serve_refuses_a_database_that_acknowledges_commits_before_they_are_on_disk() {
    let (_app, settings) = with_synchronous_commit("off").await;

    let refused = Application::build(&settings).await.err().expect("the server refuses to start");

    let message = format!("{refused:#}");
    assert!(message.contains("synchronous_commit is off"), "{message}");
    assert!(message.contains("--allow-unsafe-durability"), "{message}");
}

#[tokio::test]
async fn allow_unsafe_durability_serves_such_a_database_anyway() {
    let (_app, mut settings) = with_synchronous_commit("off").await;
    settings.allow_unsafe_durability = true;

    let app = Application::build(&settings).await.expect("the server starts");

    assert_ne!(app.port(), 0);
}

#[tokio::test]
async fn remote_write_is_served() {
    let (_app, settings) = with_synchronous_commit("remote_write").await;

    assert!(Application::build(&settings).await.is_ok());
}

#[tokio::test]
async fn a_database_with_fsync_and_synchronous_commit_on_is_served() {
    let (_app, settings) = with_synchronous_commit("on").await;

    assert!(Application::build(&settings).await.is_ok());
}
