use serde_json::Value;

use crate::helpers::spawn_app;

fn leasehold(database_url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_leasehold"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("USER", "ops-alice")
        .env_remove("LEASEHOLD_CONFIG")
        .output()
        .expect("the binary runs")
}

#[tokio::test]
async fn the_admin_commands_still_work_and_are_logged_as_the_command_line() {
    let app = spawn_app().await;
    let url = app.database_url.clone();

    let (account, key, revoke) = tokio::task::spawn_blocking(move || {
        let account =
            leasehold(&url, &["admin", "account", "create", "initech", "--plan", "business", "--json"]);
        let key = leasehold(
            &url,
            &["admin", "key", "create", "--account", "initech", "--role", "support", "--json"],
        );
        let created: Value = serde_json::from_slice(&key.stdout).unwrap();
        let revoke = leasehold(&url, &["admin", "key", "revoke", created["key_id"].as_str().unwrap()]);
        (account, key, revoke)
    })
    .await
    .unwrap();

    assert!(account.status.success(), "{}", String::from_utf8_lossy(&account.stderr));
    assert!(key.status.success() && revoke.status.success());
    let logged: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT action, source, key_id FROM admin_log ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    let actions: Vec<_> = logged.iter().map(|(action, _, _)| action.as_str()).collect();
    assert_eq!(actions, ["account.create", "key.create", "key.revoke"]);
    assert!(logged.iter().all(|(_, source, key_id)| source == "cli:ops-alice" && key_id.is_none()));
}
