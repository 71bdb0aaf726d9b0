use leasehold::startup::Application;
use leasehold::store::schema;

use crate::helpers::{fresh_database, pool_for, test_settings};

fn settings_for(url: &str, migrate: bool) -> leasehold::config::Settings {
    let mut settings = test_settings();
    settings.database_url = Some(url.to_owned().into());
    settings.listen = "127.0.0.1:0".parse().unwrap();
    settings.migrate = migrate;
    settings
}

fn refusal(result: anyhow::Result<Application>) -> String {
    match result {
        Ok(_) => panic!("the server should have refused to start"),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test]
async fn serve_refuses_a_database_that_is_not_migrated() {
    let url = fresh_database().await;

    let message = refusal(Application::build(&settings_for(&url, false)).await);

    assert!(message.contains("behind") && message.contains("leasehold migrate"), "{message}");
}

#[tokio::test]
async fn serve_migrates_when_told_to() {
    let url = fresh_database().await;

    let app = Application::build(&settings_for(&url, true)).await.expect("it migrates and starts");

    assert!(app.port() > 0);
    let pool = pool_for(&url, &test_settings()).await;
    assert_eq!(schema::state(&pool).await.unwrap(), schema::SchemaState::Current);
}

#[tokio::test]
async fn serve_refuses_a_database_migrated_by_a_newer_release() {
    let url = fresh_database().await;
    let pool = pool_for(&url, &test_settings()).await;
    schema::apply_migrations(&pool).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (99991231000000, 'from the future', true, '\\x00', 0)",
    )
    .execute(&pool)
    .await
    .unwrap();

    let message = refusal(Application::build(&settings_for(&url, false)).await);

    assert!(message.contains("newer"), "{message}");
}
