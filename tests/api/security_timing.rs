//! An unknown key id and a wrong secret for a real key take the same time to
//! be refused, so timing does not reveal which key ids exist; the unknown id
//! costs no argon2 (its answer is padded with a timer).

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use leasehold::domain::ApiKey;
use reqwest::StatusCode;

use crate::helpers::{spawn_app_with, TestApp};

const ROUNDS: usize = 12;
const PER_ROUND: usize = 2;

async fn refusal_time(app: &TestApp, key: String) -> Duration {
    let started = Instant::now();
    let response =
        app.client.get(format!("{}/v1/locks/anything", app.address)).bearer_auth(key).send().await.unwrap();
    let took = started.elapsed();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    took
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// The mean of the middle two thirds: a stall of the shared test machine in
/// one request says nothing about what the server reveals.
fn trimmed_mean(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let cut = samples.len() / 6;
    let middle = &samples[cut..samples.len() - cut];
    middle.iter().sum::<Duration>() / middle.len() as u32
}

#[tokio::test]
async fn unknown_key_ids_and_wrong_secrets_are_refused_in_indistinguishable_time() {
    let app = spawn_app_with(|s| s.rate_limit.enabled = false).await;
    let floor = Duration::from_millis(leasehold::config::Settings::defaults().auth.failure_floor_ms);
    let real_id = app.acme.key_id.clone();
    let (mut unknown, mut wrong) = (Vec::new(), Vec::new());

    // Interleaved rounds, so that load on the machine hits both alike. Every
    // wrong secret is new, so each one really runs argon2.
    for _ in 0..ROUNDS {
        let unknown_keys = (0..PER_ROUND).map(|_| ApiKey::generate().reveal());
        let wrong_keys = (0..PER_ROUND).map(|_| {
            let forged = ApiKey::generate().reveal();
            // `lh_` + 16 hex digits + `_`, then the secret.
            format!("lh_{real_id}_{}", &forged[20..])
        });
        let both: Vec<_> = unknown_keys.map(|k| (true, k)).chain(wrong_keys.map(|k| (false, k))).collect();
        let times = join_all(both.into_iter().map(|(is_unknown, key)| {
            let app = &app;
            async move { (is_unknown, refusal_time(app, key).await) }
        }))
        .await;
        for (is_unknown, took) in times {
            if is_unknown {
                unknown.push(took)
            } else {
                wrong.push(took)
            }
        }
    }

    let (u, w) = (median(unknown.clone()), median(wrong.clone()));
    let gap = |a: Duration, b: Duration| a.abs_diff(b);
    assert!(u >= floor && w >= floor, "both are padded to the floor: unknown {u:?}, wrong {w:?}");
    assert!(gap(u, w) < Duration::from_millis(20), "medians differ: unknown {u:?}, wrong secret {w:?}");
    let (mu, mw) = (trimmed_mean(unknown), trimmed_mean(wrong));
    assert!(
        gap(mu, mw) < Duration::from_millis(20),
        "trimmed means differ: unknown {mu:?}, wrong secret {mw:?}"
    );
}
