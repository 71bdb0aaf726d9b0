//! Measurements beside the rounds: open-loop latency at fixed rates, the
//! cost of authentication, waiting handover, and the optional large-table
//! and expiry-storm scenarios.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use leasehold::auth::Authenticator;
use leasehold::config::Settings;
use leasehold::domain::ApiKey;
use serde::Serialize;

use crate::arms::Env;
use crate::load::{self, Sample};
use crate::report::{median, Arm, Ratio};
use crate::scenarios::Client;
use crate::Args;

#[derive(Default, Serialize)]
pub struct Extras {
    pub open_loop: Vec<OpenLoop>,
    pub auth: Option<AuthCost>,
    pub handover: Option<Handover>,
    pub handover_note: Option<String>,
    pub live_locks: Option<LiveLocks>,
    pub expiry_storm: Option<Storm>,
}

#[derive(Serialize)]
pub struct OpenLoop {
    pub share_of_max: f64,
    pub offered_per_s: f64,
    pub achieved_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Serialize)]
pub struct AuthCost {
    pub cache_hit_us: f64,
    /// This process's CPU per uncontended cycle: the server's and the load
    /// generator's, not PostgreSQL's, so the estimate is a pessimistic one.
    pub cpu_us_per_cycle: f64,
    /// Throughput with auth over throughput without, were the machine CPU-bound.
    pub estimated_ratio: f64,
}

#[derive(Serialize)]
pub struct Handover {
    pub handovers: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Serialize)]
pub struct LiveLocks {
    pub small: usize,
    pub large: i64,
    pub p99_small_ms: f64,
    pub p99_large_ms: f64,
    pub rate_small: f64,
    pub rate_large: f64,
}

#[derive(Serialize)]
pub struct Storm {
    pub leases: i64,
    pub swept_in_s: Option<f64>,
    pub p99_normal_ms: f64,
    pub p99_during_ms: f64,
}

pub async fn run(args: &Args, env: &mut Env, arms: &BTreeMap<String, Arm>) -> anyhow::Result<Extras> {
    let mut extras = Extras::default();
    if let Some(a) = arms.get("A uncontended") {
        extras.open_loop = open_loop(env, a.median_rate()).await?;
        extras.auth = Some(auth_cost(env, median(&a.own_cpu_us_per_op)).await?);
    }
    match handover(env).await? {
        Ok(h) => extras.handover = Some(h),
        Err(note) => extras.handover_note = Some(note),
    }
    if let Some(large) = args.live_locks {
        extras.live_locks = Some(live_locks(env, large).await?);
    }
    if let Some(leases) = args.expiry_storm {
        extras.expiry_storm = Some(storm(env, leases).await?);
    }
    Ok(extras)
}

async fn open_loop(env: &Env, max_rate: f64) -> anyhow::Result<Vec<OpenLoop>> {
    let mut out = Vec::new();
    for share in [0.5, 0.8, 1.0] {
        eprintln!("  open loop at {:.0}% of {max_rate:.0} cycles/s", share * 100.0);
        let workers = env.uncontended(&env.server.addr, 64, "ol").await?;
        let sample = load::open(workers, max_rate * share, env.args.duration()).await;
        out.push(OpenLoop {
            share_of_max: share,
            offered_per_s: max_rate * share,
            achieved_per_s: sample.rate(),
            p50_ms: sample.p50_ms,
            p99_ms: sample.p99_ms,
        });
    }
    Ok(out)
}

/// The cache-hit path of authentication, timed directly: what every request
/// pays once its key was verified.
async fn auth_cost(env: &Env, cpu_us_per_cycle: f64) -> anyhow::Result<AuthCost> {
    let settings = Settings::defaults();
    let auth = Authenticator::new(env.pool.clone(), &settings.auth, settings.database.timeout());
    let key = ApiKey::parse(&env.tenant.key).context("the bench key parses")?;
    auth.authenticate(&key).await?;
    let rounds = 100_000;
    let started = Instant::now();
    for _ in 0..rounds {
        auth.authenticate(&key).await?;
    }
    let cache_hit_us = started.elapsed().as_secs_f64() * 1e6 / rounds as f64;
    Ok(AuthCost {
        cache_hit_us,
        cpu_us_per_cycle,
        estimated_ratio: 1.0 - 2.0 * cache_hit_us / cpu_us_per_cycle,
    })
}

/// One lock, many waiters: time from the holder's 204 to the next grant.
async fn handover(env: &Env) -> anyhow::Result<Result<Handover, String>> {
    let addr = env.server.addr.clone();
    let mut holder = Client::connect(&addr, &env.tenant.key).await?;
    let probe = holder.acquire("h", br#"{"ttl_seconds":30,"wait_seconds":1}"#).await;
    let Ok(Some(mut token)) = probe else {
        return Ok(Err(format!("waiting acquire not available on this build: {probe:?}")));
    };
    eprintln!("  waiting handover");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, String)>();
    let mut tasks = Vec::new();
    for _ in 0..env.clients.saturating_sub(1).max(1) {
        let (tx, mut client) = (tx.clone(), Client::connect(&addr, &env.tenant.key).await?);
        tasks.push(tokio::spawn(async move {
            while let Ok(Some(token)) = client.acquire("h", br#"{"ttl_seconds":30,"wait_seconds":10}"#).await
            {
                if tx.send((Instant::now(), token)).is_err() {
                    return;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut latencies = Vec::new();
    let deadline = Instant::now() + env.args.duration();
    while Instant::now() < deadline {
        holder.release("h", &token).await?;
        let released = Instant::now();
        let Ok(Some((granted, next))) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await else {
            break;
        };
        latencies.push(granted.saturating_duration_since(released).as_secs_f64() * 1e3);
        token = next;
    }
    tasks.iter().for_each(|t| t.abort());
    let _ = holder.release("h", &token).await;
    let us: Vec<u32> = latencies.iter().map(|ms| (ms * 1e3) as u32).collect();
    let sample = Sample { ops: us.len() as u64, seconds: 1.0, latencies_us: us, ..Sample::default() };
    let sample = sample.finish();
    Ok(Ok(Handover { handovers: latencies.len(), p50_ms: sample.p50_ms, p99_ms: sample.p99_ms }))
}

async fn fill(env: &Env, namespace: &str, count: i64, lapse_in_s: f64) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO locks (namespace, name, token_hash, fencing_token, account_id, key_id, ttl_seconds,
                            acquired_at, expires_at)
         SELECT $1, 'f-' || g, '\\x00', nextval('fencing_tokens'), $2, $3, 3600, now(),
                now() + $5 * interval '1 second'
         FROM generate_series((SELECT count(*) FROM locks WHERE namespace = $1) + 1, $4) g",
    )
    .bind(namespace)
    .bind(env.tenant.account_id)
    .bind(&env.tenant.key_id)
    .bind(count)
    .bind(lapse_in_s)
    .execute(env.db_pool())
    .await?;
    sqlx::query("VACUUM ANALYZE locks").execute(env.db_pool()).await?;
    Ok(())
}

async fn uncontended_sample(env: &Env, prefix: &str, duration: Duration) -> anyhow::Result<Sample> {
    let workers = env.uncontended(&env.server.addr, env.clients, prefix).await?;
    Ok(load::closed(workers, Duration::from_millis(500), duration).await)
}

async fn live_locks(env: &Env, large: i64) -> anyhow::Result<LiveLocks> {
    eprintln!("  live locks: 1,000 then {large}");
    fill(env, "bench_fill", 1000, 7200.0).await?;
    let small = uncontended_sample(env, "ll", env.args.duration()).await?;
    fill(env, "bench_fill", large, 7200.0).await?;
    let big = uncontended_sample(env, "ll", env.args.duration()).await?;
    sqlx::query("DELETE FROM locks WHERE namespace = 'bench_fill'").execute(env.db_pool()).await?;
    Ok(LiveLocks {
        small: 1000,
        large,
        p99_small_ms: small.p99_ms,
        p99_large_ms: big.p99_ms,
        rate_small: small.rate(),
        rate_large: big.rate(),
    })
}

async fn storm(env: &Env, leases: i64) -> anyhow::Result<Storm> {
    eprintln!("  expiry storm: {leases} leases lapsing at once");
    let normal = uncontended_sample(env, "st", env.args.duration()).await?;
    fill(env, "bench_storm", leases, 4.0).await?;
    let lapse: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM max(expires_at) - now())::float8 FROM locks WHERE namespace = 'bench_storm'",
    )
    .fetch_one(env.db_pool())
    .await?;
    tokio::time::sleep(Duration::from_secs_f64(lapse.max(0.0))).await;
    let lapsed_at = Instant::now();
    let pool = env.db_pool().clone();
    let watcher = tokio::spawn(async move {
        while lapsed_at.elapsed() < Duration::from_secs(30) {
            let left: i64 = sqlx::query_scalar("SELECT count(*) FROM locks WHERE namespace = 'bench_storm'")
                .fetch_one(&pool)
                .await
                .unwrap_or(1);
            if left == 0 {
                return Some(lapsed_at.elapsed().as_secs_f64());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    });
    let during = load::closed(
        env.uncontended(&env.server.addr, env.clients, "st").await?,
        Duration::ZERO,
        Duration::from_secs(10),
    )
    .await;
    let swept_in_s = watcher.await?;
    sqlx::query("DELETE FROM locks WHERE namespace = 'bench_storm'").execute(env.db_pool()).await?;
    Ok(Storm { leases, swept_in_s, p99_normal_ms: normal.p99_ms, p99_during_ms: during.p99_ms })
}

impl Extras {
    pub fn ratios(&self) -> Vec<Ratio> {
        let mut out = Vec::new();
        if let Some(auth) = &self.auth {
            out.push(Ratio {
                name: "auth on / auth off (estimated from the cache-hit cost)".into(),
                value: auth.estimated_ratio,
                target: Some(">= 0.95".into()),
            });
        }
        if let Some(ll) = &self.live_locks {
            out.push(Ratio {
                name: format!("p99 with {} live locks / with 1,000", ll.large),
                value: ll.p99_large_ms / ll.p99_small_ms,
                target: Some("<= 1.2".into()),
            });
        }
        if let Some(st) = &self.expiry_storm {
            out.push(Ratio {
                name: "p99 during the expiry storm / normal".into(),
                value: st.p99_during_ms / st.p99_normal_ms,
                target: Some("<= 2".into()),
            });
        }
        out
    }

    pub fn print(&self) {
        println!("\nopen loop, uncontended cycles (latency from the scheduled start):");
        for o in &self.open_loop {
            println!(
                "  {:>4.0}% of max: offered {:>6.0}/s, achieved {:>6.0}/s, p50 {:>7.2} ms, p99 {:>7.2} ms",
                o.share_of_max * 100.0,
                o.offered_per_s,
                o.achieved_per_s,
                o.p50_ms,
                o.p99_ms
            );
        }
        if let Some(a) = &self.auth {
            println!(
                "auth: cache hit {:.2} µs per request; {:.0} µs of server and client CPU per cycle",
                a.cache_hit_us, a.cpu_us_per_cycle
            );
        }
        match (&self.handover, &self.handover_note) {
            (Some(h), _) => println!(
                "waiting handover: {} handovers, p50 {:.2} ms, p99 {:.2} ms (target p50 <= 5 ms)",
                h.handovers, h.p50_ms, h.p99_ms
            ),
            (None, Some(note)) => println!("waiting handover: not measured: {note}"),
            _ => {}
        }
        if let Some(st) = &self.expiry_storm {
            match st.swept_in_s {
                Some(s) => println!("expiry storm: {} leases swept in {s:.1} s (target 10 s)", st.leases),
                None => println!("expiry storm: {} leases NOT swept within 30 s", st.leases),
            }
        }
    }
}
