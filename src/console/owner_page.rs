//! An owner's own account: plan, usage over 30 days as a chart, namespaces
//! (and, on a business plan, a form for another), and the locks it holds now.
//! Everything is read through the owner's own account id; no path names an
//! account, so no other tenant can be asked for.

use actix_web::web::{Data, Form, Query};
use actix_web::{HttpRequest, HttpResponse};
use chrono::{Duration, NaiveDate};
use maud::{html, Markup};
use serde::Deserialize;

use super::chart::{self, Series};
use super::layout;
use super::owner_keys::{console_actor, refusal, Notice};
use super::session::{OwnerSignedIn, SignedIn};
use super::{see_other, ConsoleError};
use crate::admin::self_service;
use crate::domain::Plan;
use crate::http::AppState;
use crate::store::accounts::{self, HeldLock};
use crate::store::usage::{self, UsageDay};
use crate::store::{console_reads, namespaces};

/// Days of usage the chart shows, today (UTC) included.
const USAGE_DAYS: i64 = 30;
/// As many live locks and namespaces as `/v1/account` lists.
const LISTED: i64 = 1000;

pub async fn show(
    state: Data<AppState>,
    OwnerSignedIn(user): OwnerSignedIn,
    Query(notice): Query<Notice>,
) -> Result<HttpResponse, ConsoleError> {
    let pool = &state.pool;
    let caller = &user.principal;
    let account = state.db(self_service::own_account(pool, caller)).await.map_err(refusal)?;
    let today = state.db(console_reads::now(pool)).await?.date_naive();
    let from = today - Duration::days(USAGE_DAYS - 1);
    let (owned, live, days) = state
        .db(async {
            tokio::try_join!(
                namespaces::list(pool, Some(caller.account_id), None, LISTED),
                accounts::live_locks(pool, caller.account_id, LISTED),
                usage::days(pool, caller.account_id, from, today),
            )
        })
        .await?;
    let business = account.plan == Plan::Business.as_str();
    let title = format!("Account {}", account.name);
    let body = html! {
        h1 { (title) }
        @match notice.notice.as_deref() {
            Some("namespace_created") => p.notice role="status" { "The namespace was created." },
            _ => {},
        }
        dl.facts {
            dt { "Plan" } dd { (account.plan) }
            dt { "Created" } dd { (layout::time(account.created_at)) }
        }
        p { a href="/console/account/keys" { "Manage this account's keys" } }
        h2 { "Usage over the last " (USAGE_DAYS) " days" }
        (usage_chart(&days))
        h2 { "Namespaces" }
        @if owned.is_empty() {
            p { "None: this account's keys use the shared namespace." }
        } @else {
            ul #namespaces { @for ns in &owned { li { code { (ns.name) } } } }
        }
        @if business { (namespace_form(&user)) }
        h2 { "Live locks" }
        (live_locks(&live))
    };
    Ok(layout::ok(layout::page(&title, Some(&user), body)))
}

fn usage_chart(days: &[UsageDay]) -> Markup {
    let dates: Vec<NaiveDate> = days.iter().map(|d| d.date).collect();
    let acquired = Series { name: "acquired", values: days.iter().map(|d| d.acquired).collect() };
    let expired = Series { name: "expired", values: days.iter().map(|d| d.expired).collect() };
    let sum = |f: fn(&UsageDay) -> i64| days.iter().map(f).sum::<i64>();
    let label = format!("Locks acquired and leases expired per day over the last {USAGE_DAYS} days");
    html! {
        (chart::daily(&label, &dates, &acquired, &expired))
        p {
            "In all: " (sum(|d| d.acquired)) " acquired, " (sum(|d| d.renewed)) " renewed, "
            (sum(|d| d.released)) " released, " (sum(|d| d.expired)) " expired; at most "
            (days.iter().map(|d| d.peak_live_locks).max().unwrap_or(0)) " live locks at once."
        }
    }
}

fn namespace_form(user: &SignedIn) -> Markup {
    html! {
        form.inline method="post" action="/console/account/namespaces" {
            input type="hidden" name="csrf" value=(user.csrf);
            p {
                label for="namespace-name" { "New namespace" }
                input #namespace-name type="text" name="name" required;
            }
            p { button type="submit" { "Create namespace" } }
        }
    }
}

fn live_locks(locks: &[HeldLock]) -> Markup {
    html! {
        @if locks.is_empty() {
            p { "None." }
        } @else {
            table #live-locks {
                caption { "Leases this account holds now (times in UTC)" }
                thead { tr { @for h in ["Lock", "Mode", "Fencing token", "Owner", "Acquired", "Expires"] { th scope="col" { (h) } } } }
                tbody {
                    @for lock in locks {
                        tr {
                            th scope="row" { code { (lock.namespace) "/" (lock.name) } }
                            td { (lock.mode) }
                            td { (lock.fencing_token) }
                            td { (lock.owner.as_deref().unwrap_or("")) }
                            td { (layout::time(lock.acquired_at)) }
                            td { (layout::time(lock.expires_at)) }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct NamespaceForm {
    csrf: String,
    name: String,
}

pub async fn create_namespace(
    req: HttpRequest,
    state: Data<AppState>,
    OwnerSignedIn(user): OwnerSignedIn,
    Form(form): Form<NamespaceForm>,
) -> Result<HttpResponse, ConsoleError> {
    user.check_csrf(&form.csrf)?;
    let actor = console_actor(&req, &user);
    let create = self_service::create_namespace(
        &state.pool,
        state.leases.plans(),
        &actor,
        &user.principal,
        form.name.trim(),
    );
    state.db(create).await.map_err(refusal)?;
    Ok(see_other("/console/account?notice=namespace_created"))
}
