//! A lock's page: its current lease and waiters, its leases as a timeline
//! (held how long, ended how), its recent events, and for admins a form to
//! force-release it.

use actix_web::web::{Data, Form, Path, Query};
use actix_web::{HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;
use tracing_actix_web::RequestId;

use super::audit_page::events_table;
use super::layout::{self, account_href, encode, lock_href};
use super::session::SignedIn;
use super::timeline::{self, Ending, Lease};
use super::{see_other, ConsoleError};
use crate::admin::actions;
use crate::domain::{LockName, NamespaceName};
use crate::http::admin::{actor, parse_reason};
use crate::http::AppState;
use crate::store::audit::{self, AuditQuery, Order};
use crate::store::{accounts, waiters};
use crate::tenancy::Access;

const HISTORY: i64 = 200;

#[derive(Deserialize)]
pub struct Notice {
    notice: Option<String>,
}

async fn target(
    state: &AppState,
    user: &SignedIn,
    ns: &str,
    name: &str,
) -> Result<(NamespaceName, LockName), ConsoleError> {
    let not_found = || ConsoleError::NotFound(format!("there is no lock {ns}/{name}"));
    let namespace = NamespaceName::parse(ns).map_err(|_| not_found())?;
    let name = LockName::parse(name).map_err(|_| not_found())?;
    let namespace = state
        .namespaces
        .authorize(&user.principal, namespace, Access::Read)
        .await
        .map_err(|_| not_found())?;
    Ok((namespace, name))
}

pub async fn show(
    state: Data<AppState>,
    user: SignedIn,
    path: Path<(String, String)>,
    Query(notice): Query<Notice>,
) -> Result<HttpResponse, ConsoleError> {
    let (namespace, name) = target(&state, &user, &path.0, &path.1).await?;
    let current = state.db(waiters::lock_state(&state.pool, &namespace, &name)).await?;
    let holder = match &current {
        Some(c) => state.db(accounts::record_by_id(&state.pool, c.lock.account_id)).await?.map(|a| a.name),
        None => None,
    };
    let query = history_query(&namespace, &name);
    let history = state.db(audit::search(&state.pool, &query)).await?;
    let leases = timeline::leases(&history.events);
    let title = format!("{namespace}/{name}");
    let now = chrono::Utc::now();
    let body = html! {
        h1 { "Lock " code { (title) } }
        @match notice.notice.as_deref() {
            Some("released") => p.notice role="status" { "The lease was force-released." },
            Some("not_held") => p.error role="alert" { "The lock was not held any more: nothing to release." },
            Some("reason") => p.error role="alert" { "Give a reason of 1 to 500 characters." },
            _ => {},
        }
        h2 { "Current state" }
        @if let Some(current) = &current {
            dl.facts {
                dt { "Held by" }
                dd { @if let Some(holder) = &holder { a href=(account_href(holder)) { (holder) } } }
                dt { "Owner" } dd { (current.lock.owner.as_deref().unwrap_or("—")) }
                dt { "Fencing token" } dd { (current.lock.fencing_token) }
                dt { "Acquired" } dd { (layout::time(current.lock.acquired_at)) }
                dt { "Expires" } dd { (layout::time(current.lock.expires_at)) " (TTL " (current.lock.ttl_seconds) " s)" }
                dt { "Waiters" } dd { (current.waiters) }
            }
            @if user.is_admin() {
                (release_form(&user, namespace.as_str(), name.as_str()))
            }
        } @else {
            p { "Not held." }
        }
        h2 { "Leases" }
        (leases_table(&leases, now))
        h2 { "Events" }
        (events_table(&history.events, "The most recent events of this lock, newest first"))
        @if history.next.is_some() {
            p.pager {
                a href={ "/console/audit?namespace=" (encode(namespace.as_str())) "&name=" (encode(name.as_str())) } {
                    "All events of this lock"
                }
            }
        }
    };
    Ok(layout::ok(layout::page(&title, Some(&user), body)))
}

fn history_query(namespace: &NamespaceName, name: &LockName) -> AuditQuery {
    AuditQuery {
        namespace: Some(namespace.as_str().to_owned()),
        name: Some(name.as_str().to_owned()),
        account: None,
        only_account_id: None,
        key_id: None,
        events: Vec::new(),
        fencing_token: None,
        since: None,
        until: None,
        order: Order::Desc,
        after: None,
        limit: HISTORY,
    }
}

fn release_form(user: &SignedIn, namespace: &str, name: &str) -> Markup {
    html! {
        form method="post" action={ (lock_href(namespace, name)) "/release" } {
            h3 { "Force release" }
            input type="hidden" name="csrf" value=(user.csrf);
            p {
                label for="reason" { "Reason " span.hint { "(required, recorded with your key id)" } }
                textarea #reason name="reason" rows="2" maxlength="500" required {}
            }
            p { button.danger type="submit" { "Force release" } }
        }
    }
}

fn ending(lease: &Lease) -> Markup {
    match &lease.ending {
        Ending::Open => html! { "held now, or its end is older than this page" },
        Ending::Released { key_id } => html! { "released by key " code { (key_id) } },
        Ending::Expired => html! { span."ended-expired" { "expired" } " (not renewed in time)" },
        Ending::ForceReleased { key_id, reason } => html! {
            span."ended-force_released" { "force-released" } " by key " code { (key_id) }
            @if let Some(reason) = reason { ": “" (reason) "”" }
        },
        Ending::Other(event) => html! { (event) },
    }
}

fn leases_table(leases: &[Lease], now: chrono::DateTime<chrono::Utc>) -> Markup {
    html! {
        @if leases.is_empty() {
            p { "No leases recorded." }
        } @else {
            table {
                caption { "Each lease of this lock, newest first (times in UTC)" }
                thead {
                    tr {
                        @for heading in ["Fencing token", "Acquired", "Account", "Key id", "Owner", "Renewals", "Held for", "How it ended"] {
                            th scope="col" { (heading) }
                        }
                    }
                }
                tbody {
                    @for lease in leases {
                        tr {
                            th scope="row" { (lease.fencing_token) }
                            td { @if let Some(at) = lease.acquired_at { (layout::time(at)) } }
                            td { @if let Some(a) = &lease.account { a href=(account_href(a)) { (a) } } }
                            td { @if let Some(k) = &lease.key_id { code { (k) } } }
                            td { (lease.owner.as_deref().unwrap_or("")) }
                            td { (lease.renewals) }
                            td { @if let Some(d) = lease.held_for(now) { (layout::duration(d)) } }
                            td { (ending(lease)) }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct ReleaseForm {
    csrf: String,
    reason: Option<String>,
}

pub async fn force_release(
    req: HttpRequest,
    state: Data<AppState>,
    user: SignedIn,
    path: Path<(String, String)>,
    Form(form): Form<ReleaseForm>,
    request_id: RequestId,
) -> Result<HttpResponse, ConsoleError> {
    user.check_csrf(&form.csrf)?;
    if !user.is_admin() {
        return Err(ConsoleError::Forbidden("force release needs an admin key"));
    }
    let (namespace, name) = target(&state, &user, &path.0, &path.1).await?;
    let page = lock_href(namespace.as_str(), name.as_str());
    let Ok(reason) = parse_reason(form.reason) else {
        return Ok(see_other(&format!("{page}?notice=reason")));
    };
    let mut actor = actor(&req, &user.principal, &request_id);
    actor.source.push_str(" (console)");
    let released = actions::force_release(&state.pool, &actor, &namespace, name.as_str(), &reason);
    let notice = match state.db(released).await.map_err(crate::http::error::ApiError::from)? {
        Some(_) => "released",
        None => "not_held",
    };
    Ok(see_other(&format!("{page}?notice={notice}")))
}
