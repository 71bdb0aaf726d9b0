//! An account's page: plan, namespaces, keys by id (never secrets) and the
//! leases and semaphore permits it holds now.

use actix_web::web::{Data, Path};
use actix_web::HttpResponse;
use maud::html;

use super::layout::{self, account_href, encode, lock_href, semaphore_href};
use super::session::SignedIn;
use super::ConsoleError;
use crate::http::admin::details;
use crate::http::AppState;
use crate::store::console_reads;

/// As many leases and permits as `details` lists live locks.
const HELD: i64 = 1000;

pub async fn show(
    state: Data<AppState>,
    user: SignedIn,
    path: Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let account = details(&state, &path).await?;
    let permits = state.db(console_reads::account_permits(&state.pool, account.account.id, HELD)).await?;
    let title = format!("Account {}", account.account.name);
    let body = html! {
        h1 { (title) }
        dl.facts {
            dt { "Plan" } dd { (account.account.plan) }
            dt { "Created" } dd { (layout::time(account.account.created_at)) }
            dt { "Status" }
            dd {
                @if let Some(at) = account.account.disabled_at { "disabled since " (layout::time(at)) } @else { "active" }
            }
        }
        p {
            a href={ "/console/audit?account=" (encode(&account.account.name)) } { "Audit events of this account" }
            " · "
            a href={ (account_href(&account.account.name)) "/analysis" } { "Lease analysis" }
        }
        h2 { "Namespaces" }
        @if account.namespaces.is_empty() {
            p { "None: its keys use the shared namespace." }
        } @else {
            ul {
                @for ns in &account.namespaces {
                    li { code { (ns.name) } " " a href={ "/console/namespaces/" (encode(&ns.name)) "/analysis" } { "lease analysis" } }
                }
            }
        }
        h2 { "Keys" }
        table {
            caption { "Keys by id; secrets are never shown (times in UTC)" }
            thead { tr { @for h in ["Key id", "Role", "Namespace", "Created", "Last used", "Status"] { th scope="col" { (h) } } } }
            tbody {
                @for key in &account.keys {
                    tr {
                        th scope="row" { code { (key.key_id) } }
                        td { (key.role) }
                        td { (key.namespace) }
                        td { (layout::time(key.created_at)) }
                        td { @if let Some(at) = key.last_used_at { (layout::time(at)) } @else { "never" } }
                        td { (layout::key_status(key.revoked_at, key.expires_at)) }
                    }
                }
            }
        }
        h2 { "Live locks" }
        @if account.live_locks.is_empty() {
            p { "None." }
        } @else {
            table {
                caption { "Leases this account holds now, a shared lock's read leases too (times in UTC)" }
                thead { tr { @for h in ["Lock", "Mode", "Fencing token", "Owner", "Acquired", "Expires"] { th scope="col" { (h) } } } }
                tbody {
                    @for lock in &account.live_locks {
                        tr {
                            th scope="row" { a href=(lock_href(&lock.namespace, &lock.name)) { (lock.namespace) "/" (lock.name) } }
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
        h2 { "Semaphore permits" }
        @if permits.is_empty() {
            p { "None." }
        } @else {
            table {
                caption { "Permits this account holds now (times in UTC)" }
                thead { tr { @for h in ["Semaphore", "Fencing token", "Owner", "Acquired", "Expires"] { th scope="col" { (h) } } } }
                tbody {
                    @for permit in &permits {
                        tr {
                            th scope="row" { a href=(semaphore_href(&permit.namespace, &permit.name)) { (permit.namespace) "/" (permit.name) } }
                            td { (permit.holder.fencing_token) }
                            td { (permit.holder.owner.as_deref().unwrap_or("")) }
                            td { (layout::time(permit.holder.acquired_at)) }
                            td { (layout::time(permit.holder.expires_at)) }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::ok(layout::page(&title, Some(&user), body)))
}
