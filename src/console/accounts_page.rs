//! Every account, in name order, with what it holds now: a page at a time,
//! each linking to the account's own page.

use actix_web::web::{Data, Query};
use actix_web::HttpResponse;
use maud::html;
use serde::Deserialize;

use super::layout::{self, account_href};
use super::paging::{href, per_page};
use super::session::SignedIn;
use super::ConsoleError;
use crate::http::AppState;
use crate::store::console_reads;

#[derive(Deserialize)]
pub struct Params {
    /// The keyset cursor: accounts named after this one.
    after: Option<String>,
    limit: Option<String>,
}

pub async fn show(
    state: Data<AppState>,
    user: SignedIn,
    Query(params): Query<Params>,
) -> Result<HttpResponse, ConsoleError> {
    let limit = per_page(params.limit.as_deref())?;
    let after = params.after.as_deref().filter(|a| !a.is_empty());
    let mut accounts = state.db(console_reads::accounts(&state.pool, after, limit + 1)).await?;
    let more = accounts.len() as i64 > limit;
    accounts.truncate(limit as usize);
    let given_limit = params.limit.as_deref().unwrap_or_default();
    let next = accounts
        .last()
        .filter(|_| more)
        .map(|last| href("/console/accounts", &[("after", &last.name), ("limit", given_limit)]));
    let body = html! {
        h1 { "Accounts" }
        @if accounts.is_empty() {
            p.notice role="status" { "No accounts here." }
        } @else {
            table #accounts {
                caption { "Every account in name order, with the leases and semaphore permits it holds now (times in UTC)" }
                thead {
                    tr {
                        @for heading in ["Account", "Plan", "Status", "Live leases", "Semaphore permits", "Created"] {
                            th scope="col" { (heading) }
                        }
                    }
                }
                tbody {
                    @for account in &accounts {
                        tr {
                            th scope="row" { a href=(account_href(&account.name)) { (account.name) } }
                            td { (account.plan) }
                            td {
                                @if let Some(at) = account.disabled_at { "disabled since " (layout::time(at)) }
                                @else { "enabled" }
                            }
                            td.count { (account.live_leases) }
                            td.count { (account.live_permits) }
                            td { (layout::time(account.created_at)) }
                        }
                    }
                }
            }
        }
        @if after.is_some() || next.is_some() {
            p.pager {
                @if after.is_some() {
                    a href=(href("/console/accounts", &[("limit", given_limit)])) { "First page" }
                    " "
                }
                @if let Some(next) = &next { a href=(next) rel="next" { "Next page" } }
            }
        }
    };
    Ok(layout::ok(layout::page("Accounts", Some(&user), body)))
}
