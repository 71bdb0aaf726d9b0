//! `leasehold dev`'s keys: kept beside its private database and shown again
//! while they work there; minted afresh otherwise, and it says which.

use std::os::unix::fs::PermissionsExt;

use leasehold::admin;
use leasehold::cli::dev::dev_keys;
use leasehold::domain::Plan;

use crate::helpers::{spawn_app, test_settings};

#[tokio::test]
async fn dev_shows_its_keys_again_until_they_stop_working() {
    let app = spawn_app().await;
    admin::create_account(&app.pool, "dev", Plan::Business).await.unwrap();
    let dir =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("dev-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("dev-keys.json");
    let _ = std::fs::remove_file(&file);
    let settings = test_settings();

    let (first, said_first) = dev_keys(&settings, &app.pool, Some(&file)).await.unwrap();
    let (again, said_again) = dev_keys(&settings, &app.pool, Some(&file)).await.unwrap();
    let revoked_id = first.admin.split('_').nth(1).unwrap();
    admin::revoke_key(&app.pool, revoked_id).await.unwrap();
    let (after_revoke, said_after_revoke) = dev_keys(&settings, &app.pool, Some(&file)).await.unwrap();
    let (unsaved, said_unsaved) = dev_keys(&settings, &app.pool, None).await.unwrap();

    assert!(said_first.starts_with("new, kept in"), "{said_first}");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(again, first);
    assert!(said_again.starts_with("the same as last run"), "{said_again}");
    assert_ne!(after_revoke.admin, first.admin);
    assert!(said_after_revoke.starts_with("new, kept in"), "{said_after_revoke}");
    assert_ne!(unsaved, after_revoke);
    assert!(said_unsaved.starts_with("new for this run"), "{said_unsaved}");
    let lock = app.client.get(app.url("/v1/locks/anything")).bearer_auth(&after_revoke.client);
    assert_eq!(
        lock.send().await.unwrap().status(),
        reqwest::StatusCode::NOT_FOUND,
        "the new client key works"
    );
}
