//! Support's lease analysis of an account or a namespace over `?days=`
//! (default 30, 1 to 90): releases against expiries per day as a chart,
//! hold-time percentiles, and the locks and keys whose leases lapse most,
//! each linking to the audit search for those expiries.

use actix_web::web::{Data, Path, Query};
use actix_web::HttpResponse;
use chrono::NaiveDate;
use maud::{html, Markup};
use serde::Deserialize;

use super::chart::{self, Series};
use super::layout::{self, account_href, lock_href};
use super::paging::href;
use super::session::SignedIn;
use super::ConsoleError;
use crate::domain::NamespaceName;
use crate::http::AppState;
use crate::store::lease_analysis::{self as analysis, EndsOfDay, HoldTimes, LapsingKey, LapsingLock, Scope};
use crate::store::{accounts, namespaces};

const DEFAULT_DAYS: i32 = 30;
const MAX_DAYS: i32 = 90;
/// Rows of the lapsing locks and keys tables.
const TOP: i64 = 10;

#[derive(Deserialize)]
pub struct Params {
    days: Option<String>,
}

fn window(params: &Params) -> Result<i32, ConsoleError> {
    match params.days.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        None => Ok(DEFAULT_DAYS),
        Some(raw) => {
            raw.parse().ok().filter(|d| (1..=MAX_DAYS).contains(d)).ok_or_else(|| {
                ConsoleError::BadRequest(format!("days must be a number from 1 to {MAX_DAYS}"))
            })
        }
    }
}

pub async fn account(
    state: Data<AppState>,
    user: SignedIn,
    path: Path<String>,
    Query(params): Query<Params>,
) -> Result<HttpResponse, ConsoleError> {
    let days = window(&params)?;
    let missing = || ConsoleError::NotFound(format!("there is no account {}", path.as_str()));
    let account = state.db(accounts::find_by_name(&state.pool, &path)).await?.ok_or_else(missing)?;
    let title = format!("Lease analysis of account {}", account.name);
    let back = html! { a href=(account_href(&account.name)) { "Account " (account.name) } };
    let body = analysis(&state, Scope::Account(account.id), days, &title, back).await?;
    Ok(layout::ok(layout::page(&title, Some(&user), body)))
}

pub async fn namespace(
    state: Data<AppState>,
    user: SignedIn,
    path: Path<String>,
    Query(params): Query<Params>,
) -> Result<HttpResponse, ConsoleError> {
    let days = window(&params)?;
    let missing = || ConsoleError::NotFound(format!("there is no namespace {}", path.as_str()));
    let name = NamespaceName::parse(&path).map_err(|_| missing())?;
    let owner = state.db(namespaces::owner(&state.pool, &name)).await?.ok_or_else(missing)?;
    let owner = match owner {
        Some(id) => state.db(accounts::record_by_id(&state.pool, id)).await?.map(|a| a.name),
        None => None,
    };
    let title = format!("Lease analysis of namespace {name}");
    let back = html! {
        @if let Some(owner) = &owner { "Owned by " a href=(account_href(owner)) { (owner) } } @else { "The shared namespace" }
    };
    let body = analysis(&state, Scope::Namespace(name.as_str()), days, &title, back).await?;
    Ok(layout::ok(layout::page(&title, Some(&user), body)))
}

async fn analysis(
    state: &AppState,
    scope: Scope<'_>,
    days: i32,
    title: &str,
    back: Markup,
) -> Result<Markup, ConsoleError> {
    let pool = &state.pool;
    let (ends, held, locks, keys) = state
        .db(async {
            tokio::try_join!(
                analysis::ends_by_day(pool, scope, days),
                analysis::hold_times(pool, scope, days),
                analysis::lapsing_locks(pool, scope, days, TOP),
                analysis::lapsing_keys(pool, scope, days, TOP),
            )
        })
        .await?;
    let since = ends.first().map(|d| since(d.date)).unwrap_or_default();
    Ok(html! {
        h1 { (title) }
        p { (back) ". Leases that ended in the last " (days) " UTC days, today included, since " code { (since) } "." }
        (ends_chart(&ends, days))
        h2 { "Hold times" }
        (hold_times(&held))
        h2 { "Locks that lapse most" }
        (locks_table(&locks, &since))
        h2 { "Keys they lapse under" }
        (keys_table(&keys, &since))
    })
}

/// The audit search's `since` for the window's first day.
fn since(day: NaiveDate) -> String {
    format!("{day}T00:00:00Z")
}

fn ends_chart(ends: &[EndsOfDay], days: i32) -> Markup {
    let dates: Vec<NaiveDate> = ends.iter().map(|d| d.date).collect();
    let released = Series { name: "released", values: ends.iter().map(|d| d.released).collect() };
    let expired = Series { name: "expired", values: ends.iter().map(|d| d.expired).collect() };
    let total = |f: fn(&EndsOfDay) -> i64| ends.iter().map(f).sum::<i64>();
    let label = format!("Leases released and expired per day over the last {days} days");
    html! {
        h2 { "Releases against expiries" }
        (chart::daily(&label, &dates, &released, &expired))
        p {
            (total(|d| d.released)) " released, " (total(|d| d.expired)) " expired and "
            (total(|d| d.force_released)) " force-released in all."
        }
    }
}

fn hold_times(held: &HoldTimes) -> Markup {
    let seconds = |s: Option<f64>| {
        s.map_or("—".to_owned(), |s| layout::duration(chrono::Duration::milliseconds((s * 1000.0) as i64)))
    };
    html! {
        @if held.leases == 0 {
            p { "No lease ended in this window." }
        } @else {
            table #hold-times {
                caption {
                    "How long the " (held.leases) (if held.leases == 1 { " lease" } else { " leases" })
                    " that ended " (if held.leases == 1 { "was" } else { "were" })
                    " held, from acquiring to release or expiry"
                }
                thead { tr { @for h in ["p50", "p90", "p99", "Longest"] { th scope="col" { (h) } } } }
                tbody {
                    tr {
                        td { (seconds(held.p50)) } td { (seconds(held.p90)) } td { (seconds(held.p99)) } td { (seconds(held.max)) }
                    }
                }
            }
        }
    }
}

/// Expiries per release, or "only expired" where none was released.
fn ratio(expired: i64, released: i64) -> String {
    if released == 0 {
        "only expired".to_owned()
    } else {
        format!("{:.2}", expired as f64 / released as f64)
    }
}

fn locks_table(locks: &[LapsingLock], since: &str) -> Markup {
    html! {
        @if locks.is_empty() {
            p { "No lease lapsed in this window." }
        } @else {
            table #lapsing-locks {
                caption { "The " (TOP) " locks with the most expired leases, most first" }
                thead { tr { @for h in ["Lock", "Expired", "Released", "Expired per release", "Audit"] { th scope="col" { (h) } } } }
                tbody {
                    @for lock in locks {
                        @let audit = href("/console/audit", &[("namespace", &lock.namespace), ("name", &lock.name), ("kind", "lock"), ("event", "expired"), ("since", since)]);
                        tr {
                            th scope="row" { a href=(lock_href(&lock.namespace, &lock.name)) { (lock.namespace) "/" (lock.name) } }
                            td.count { (lock.expired) } td.count { (lock.released) } td { (ratio(lock.expired, lock.released)) }
                            td { a href=(audit) { "Its expiries" } }
                        }
                    }
                }
            }
        }
    }
}

fn keys_table(keys: &[LapsingKey], since: &str) -> Markup {
    html! {
        @if keys.is_empty() {
            p { "No key's lease lapsed in this window." }
        } @else {
            table #lapsing-keys {
                caption { "The " (TOP) " keys holding the most leases that expired, by key id (never secrets)" }
                thead { tr { @for h in ["Key id", "Account", "Expired", "Released", "Expired per release", "Audit"] { th scope="col" { (h) } } } }
                tbody {
                    @for key in keys {
                        @let audit = href("/console/audit", &[("key_id", &key.key_id), ("kind", "lock"), ("event", "expired"), ("since", since)]);
                        tr {
                            th scope="row" { code { (key.key_id) } }
                            td { @if let Some(account) = &key.account { a href=(account_href(account)) { (account) } } }
                            td.count { (key.expired) } td.count { (key.released) } td { (ratio(key.expired, key.released)) }
                            td { a href=(audit) { "Its expiries" } }
                        }
                    }
                }
            }
        }
    }
}
