//! Arms B and D: pgbench (`-M prepared`) on the SQL Leasehold sends.
//!
//! The statements are the texts Leasehold sends in these scenarios (no
//! waiter, no Idempotency-Key: those parameters are NULL literals in them,
//! `store::statement`). pgbench cannot bind typed parameters, so each `$n`
//! becomes `:var::type` (the type sqlx binds); pgbench then numbers its
//! parameters afresh. The text the server parses differs only in that, and
//! the plan is the same.
//!
//! The data is the server's too: every lease gets its own token, as every
//! grant does in Leasehold (a constant token would make the audit trail's
//! token index a run of duplicates, cheaper to insert into than the random
//! tokens real leases carry), and pgbench connects without TLS, as the
//! server's pool does.

use std::time::Duration;

use anyhow::{bail, Context};
use leasehold::domain::{Actor, LockName, LockToken, NamespaceName, Plans};
use leasehold::store::locks::{
    acquire_statement, release_statement, renew_statement, AcquireOptions, LeaseChange,
};

use crate::load::Sample;

/// What Leasehold binds for one `$n`.
#[derive(Clone, Copy)]
enum Param {
    Var(&'static str, &'static str),
    /// Bound as NULL, and so written as a NULL literal in the text sent:
    /// never met.
    Null,
    /// This lease's own token: the SHA-256 of a number drawn per cycle.
    LeaseToken,
}
use Param::{LeaseToken, Null, Var};

/// How a script draws the number its lease's token is made from.
const DRAW_LEASE: &str = "\\set lease random(1, 1000000000000000)";

/// The binds of `locks::acquire_with` for a fail-fast acquire without an
/// Idempotency-Key, under the business plan's `max_live_locks`, in order.
const ACQUIRE_PARAMS: &[Param] = &[
    Var("ns", "text"),
    Var("name", "text"),
    LeaseToken,
    Var("account", "int8"),
    Var("key", "text"),
    Var("owner", "text"),
    Var("meta", "jsonb"),
    Var("ttl", "int4"),
    Var("rid", "text"),
    Null,
    Null,
    Var("waiter_ms", "float8"),
    Null,
    Null,
    Null,
    Null,
    Var("max_live", "int4"),
];
/// The binds of a native renew or release (`store::locks::end`): the lock,
/// the lock token, a compatibility proof (NULL), the actor, its address
/// (NULL: it has a key) and the Idempotency-Key (NULL).
const RENEW_PARAMS: &[Param] = &[
    Var("ns", "text"),
    Var("name", "text"),
    Var("tok", "bytea"),
    Null,
    Null,
    Null,
    Null,
    Var("account", "int8"),
    Var("key", "text"),
    Var("rid", "text"),
    Null,
    Null,
    Var("renew_ttl", "int4"),
];
const RELEASE_PARAMS: &[Param] = &[
    Var("ns", "text"),
    Var("name", "text"),
    LeaseToken,
    Null,
    Null,
    Null,
    Null,
    Var("account", "int8"),
    Var("key", "text"),
    Var("rid", "text"),
    Null,
    Null,
];

/// `sql` with its placeholders turned into pgbench variables.
fn rewrite(sql: &str, params: &[Param]) -> anyhow::Result<String> {
    let mut out = String::with_capacity(sql.len() + 256);
    let mut rest = sql;
    let mut highest = 0;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let digits: String = rest[at + 1..].chars().take_while(char::is_ascii_digit).collect();
        if digits.is_empty() {
            out.push('$');
            rest = &rest[at + 1..];
            continue;
        }
        let n: usize = digits.parse()?;
        highest = highest.max(n);
        match params.get(n - 1) {
            Some(Var(var, ty)) => out.push_str(&format!(":{var}::{ty}")),
            Some(Null) => bail!("${n} is bound as NULL here, so the text sent has a literal for it"),
            Some(LeaseToken) => out.push_str("sha256(:lease::text::bytea)"),
            None => bail!("the statement has ${n}; the bench knows {} parameters", params.len()),
        }
        rest = &rest[at + 1 + digits.len()..];
    }
    out.push_str(rest);
    let known = params.iter().rposition(|p| !matches!(p, Null)).map_or(0, |i| i + 1);
    if highest != known {
        bail!(
            "the statement has {highest} parameters; the bench knows {}: update bench/src/pgbench.rs",
            params.len()
        );
    }
    Ok(out.trim().to_owned())
}

pub enum Script {
    Uncontended,
    Contended,
    /// Heartbeats on `1`..`n`, the rows `seed_renewals` wrote.
    Renew(usize),
    SelectOne,
}

impl Script {
    pub fn text(&self) -> anyhow::Result<String> {
        let (namespace, name, token, actor) = (
            NamespaceName::public(),
            LockName::parse("bench")?,
            LockToken::generate().hash(),
            Actor::default(),
        );
        let change = LeaseChange::by_token(&namespace, &name, &token, &actor);
        let acquire =
            || rewrite(acquire_statement(&AcquireOptions::default(), None, false, true), ACQUIRE_PARAMS);
        let release = || rewrite(release_statement(&change), RELEASE_PARAMS);
        Ok(match self {
            Script::Uncontended => {
                format!("\\set name :client_id\n{DRAW_LEASE}\n{};\n{};\n", acquire()?, release()?)
            }
            Script::Contended => format!(
                "\\set name random(1, 4)\n{DRAW_LEASE}\n\\set wake_in_ms -1\n{}\n\\aset\n\\if :wake_in_ms = 0\n{};\n\\endif\n",
                acquire()?,
                release()?
            ),
            Script::Renew(n) => format!("\\set name random(1, {n})\n{};\n", rewrite(renew_statement(&change), RENEW_PARAMS)?),
            Script::SelectOne => "SELECT 1;\n".to_owned(),
        })
    }

    /// The namespace this scenario's rows live in, apart from arm A's.
    pub fn namespace(&self) -> &'static str {
        match self {
            Script::Uncontended => "bench_u",
            Script::Contended => "bench_c",
            Script::Renew(_) | Script::SelectOne => "bench_r",
        }
    }
}

pub struct Identity<'a> {
    pub account_id: i64,
    pub key_id: &'a str,
}

/// The token every pgbench lease carries (its SHA-256, as Leasehold stores).
pub const TOKEN_HASH_HEX: &str = "5eb63bbbe01eeed093cb22bb8f5acdc35eb63bbbe01eeed093cb22bb8f5acdc3";

pub async fn run(
    db_url: &str,
    script: &Script,
    who: &Identity<'_>,
    clients: usize,
    duration: Duration,
    dir: &std::path::Path,
) -> anyhow::Result<Sample> {
    let path = dir.join(format!("script-{}.sql", script.namespace()));
    tokio::fs::write(&path, script.text()?).await?;
    let defines = [
        format!("ns={}", script.namespace()),
        format!("tok=\\x{TOKEN_HASH_HEX}"),
        format!("account={}", who.account_id),
        format!("key={}", who.key_id),
        "owner=bench".to_owned(),
        r#"meta={"n":1}"#.to_owned(),
        "ttl=30".to_owned(),
        "renew_ttl=1800".to_owned(),
        "rid=pgbench".to_owned(),
        "waiter_ms=30000".to_owned(),
        format!("max_live={}", Plans::default().business.max_live_locks),
    ];
    let mut command = tokio::process::Command::new("pgbench");
    command.args(["-n", "-M", "prepared", "-j", "1"]);
    command.args(["-c", &clients.to_string(), "-T", &duration.as_secs().max(1).to_string()]);
    for define in &defines {
        command.args(["-D", define]);
    }
    let separator = if db_url.contains('?') { '&' } else { '?' };
    command.arg("-f").arg(&path).arg(format!("{db_url}{separator}sslmode=disable"));
    let output = command.output().await.context("pgbench runs (is it installed?)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let tps = field(&stdout, "tps = ")
        .with_context(|| format!("pgbench failed: {}{}", stdout, String::from_utf8_lossy(&output.stderr)))?;
    let avg = field(&stdout, "latency average = ").unwrap_or(f64::NAN);
    let seconds = duration.as_secs().max(1) as f64;
    Ok(Sample {
        ops: (tps * seconds).round() as u64,
        seconds,
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
        avg_ms: avg,
        ..Sample::default()
    })
}

fn field(text: &str, prefix: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.starts_with(prefix))?;
    line[prefix.len()..].split_whitespace().next()?.parse().ok()
}

/// The rows pgbench's renew scenario heartbeats: `1`..`count` in its namespace.
pub async fn seed_renewals(pool: &sqlx::PgPool, who: &Identity<'_>, count: i64) -> anyhow::Result<()> {
    sqlx::query(&format!(
        "INSERT INTO locks (namespace, name, token_hash, fencing_token, account_id, key_id, owner, metadata,
                            ttl_seconds, acquired_at, expires_at)
         SELECT 'bench_r', g::text, '\\x{TOKEN_HASH_HEX}'::bytea, nextval('fencing_tokens'), $1, $2, 'bench',
                '{{\"n\":1}}', 1800, now(), now() + interval '1800 seconds'
         FROM generate_series(1, $3) g"
    ))
    .bind(who.account_id)
    .bind(who.key_id)
    .bind(count)
    .execute(pool)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaseholds_statements_become_pgbench_scripts() {
        for script in [Script::Uncontended, Script::Contended, Script::Renew(10)] {
            let text = script.text().expect("the bench knows every parameter");
            assert!(!text.contains('$'), "{text}");
        }
    }
}
