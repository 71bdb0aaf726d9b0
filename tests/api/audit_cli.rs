use leasehold::domain::Role;
use serde_json::{json, Value};

use crate::helpers::{json, key, spawn_app, wait_for_settled_audit};

fn leasehold_audit(url: &str, key: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_leasehold"))
        .arg("audit")
        .args(["--url", url, "--key", key])
        .args(args)
        .env_remove("LEASEHOLD_CONFIG")
        .output()
        .expect("the binary runs")
}

#[tokio::test]
async fn the_audit_command_prints_a_table_json_lines_and_csv() {
    let app = spawn_app().await;
    let support = key(&app.pool, "acme", Role::Support).await;
    for name in ["alpha", "beta", "gamma"] {
        let lease =
            json(app.acquire(&app.acme, &format!("/v1/locks/{name}"), json!({"owner": "a, b"})).await).await;
        app.release(&app.acme, &format!("/v1/locks/{name}"), lease["lock_token"].as_str().unwrap()).await;
    }
    wait_for_settled_audit(&app.pool).await;
    let (url, key) = (app.address.clone(), support.key.clone());

    let (table, lines, csv, refused) = tokio::task::spawn_blocking(move || {
        (
            leasehold_audit(&url, &key, &["--utc", "--event", "acquired"]),
            leasehold_audit(&url, &key, &["--format", "json", "--limit", "2", "--all", "--order", "asc"]),
            leasehold_audit(&url, &key, &["--format", "csv", "--name", "beta"]),
            leasehold_audit(&url, "lh_0123456789abcdef_nope", &[]),
        )
    })
    .await
    .unwrap();

    let table = String::from_utf8(table.stdout).unwrap();
    let rows: Vec<&str> = table.lines().collect();
    assert!(rows[0].starts_with("TIME") && rows[0].contains("EVENT"), "{table}");
    assert_eq!(rows.len(), 4, "{table}");
    assert!(rows[1].contains("Z  acquired") && rows[1].contains("gamma"), "{table}");
    let events: Vec<Value> =
        String::from_utf8(lines.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.len(), 6);
    assert_eq!(events[0]["name"], "alpha");
    let csv = String::from_utf8(csv.stdout).unwrap();
    assert_eq!(csv.lines().count(), 3);
    assert!(csv.contains(",\"a, b\","), "{csv}");
    assert!(!refused.status.success());
    assert!(String::from_utf8(refused.stderr).unwrap().contains("401"));
}
