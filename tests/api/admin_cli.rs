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

#[tokio::test]
async fn bootstrap_mints_one_admin_key_however_often_and_however_concurrently_it_runs() {
    let app = spawn_app().await;
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let url = app.database_url.clone();
            tokio::task::spawn_blocking(move || leasehold(&url, &["admin", "bootstrap", "--json"]))
        })
        .collect();
    let mut outcomes = Vec::new();
    for run in runs {
        let output = run.await.unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        outcomes.push(serde_json::from_slice::<Value>(&output.stdout).unwrap());
    }

    let minted: Vec<&Value> = outcomes.iter().filter(|o| o["outcome"] == "minted").collect();
    assert_eq!(minted.len(), 1, "{outcomes:?}");
    let key = minted[0]["key"].as_str().unwrap();
    assert!(outcomes.iter().all(|o| o["outcome"] == "minted" || o["key_id"] == minted[0]["key_id"]));
    let admin_view =
        app.client.get(app.url("/v1/admin/accounts/operator")).bearer_auth(key).send().await.unwrap();
    assert_eq!(admin_view.status(), reqwest::StatusCode::OK, "the minted key is an admin key");
}
