//! A lock's page: its current lease with its metadata (or a shared lock's
//! readers with theirs), waiters and lock set, its leases as a timeline
//! (held now, or held how long and ended how), its recent events, and for
//! admins a form to force-release it.

use actix_web::web::{Data, Form, Path, Query};
use actix_web::{HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

use super::address::readable;
use super::audit_page::events_table;
use super::holders_table::holders_table;
use super::json::metadata;
use super::layout::{self, account_href, encode, lock_href};
use super::leases_table::leases_table;
use super::session::SignedIn;
use super::timeline::{self, Present};
use super::{see_other, ConsoleError};
use crate::domain::{LockMode, LockName, NamespaceName};
use crate::http::admin::{actor, parse_reason};
use crate::http::AppState;
use crate::leases::ForceRelease;
use crate::store::accounts;
use crate::store::audit::{self, AuditQuery};
use crate::store::console_reads::{self, LiveHolder};
use crate::store::waiters::{self, LockState};

const HISTORY: i64 = 200;

#[derive(Deserialize)]
pub struct Notice {
    notice: Option<String>,
}

pub async fn show(
    state: Data<AppState>,
    user: SignedIn,
    path: Path<(String, String)>,
    Query(notice): Query<Notice>,
) -> Result<HttpResponse, ConsoleError> {
    let (namespace, name) = readable(&state, &user, "lock", &path.0, &path.1).await?;
    // The history first: a lease it shows open is then held now exactly
    // when the live state, read after it, still has it.
    let query = history_query(&namespace, &name);
    let history = state.db(audit::search(&state.pool, &query)).await?;
    let current = held(&state, &namespace, &name).await?;
    let present =
        Present { now: state.db(console_reads::now(&state.pool)).await?, held: live(current.as_ref()) };
    let leases = timeline::leases(&history.events);
    let title = format!("{namespace}/{name}");
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
            (current_state(current, namespace.as_str(), name.as_str()))
            @if user.is_admin() {
                (release_form(&user, namespace.as_str(), name.as_str()))
            }
        } @else {
            p { "Not held." }
        }
        h2 { "Leases" }
        (leases_table(&leases, "Each lease of this lock, newest first", &present))
        h2 { "Events" }
        (events_table(&history.events, "The most recent events of this lock, newest first"))
        @if history.next.is_some() {
            p.pager {
                a href={ "/console/audit?namespace=" (encode(namespace.as_str())) "&name=" (encode(name.as_str())) "&kind=lock" } {
                    "All events of this lock"
                }
            }
        }
    };
    Ok(layout::ok(layout::page(&title, Some(&user), body)))
}

/// A live lock with what its page shows beside the lease.
struct Held {
    state: LockState,
    /// The account of an exclusive lease.
    holder: Option<String>,
    /// A shared lock's readers.
    readers: Vec<LiveHolder>,
    /// The lock set of a member, with its members while the set lives.
    set: Option<(Uuid, Option<Vec<String>>)>,
}

async fn held(
    state: &AppState,
    namespace: &NamespaceName,
    name: &LockName,
) -> Result<Option<Held>, ConsoleError> {
    let Some(lock_state) = state.db(waiters::lock_state(&state.pool, namespace, name)).await? else {
        return Ok(None);
    };
    let (holder, readers) = match lock_state.lock.mode {
        LockMode::Exclusive => {
            let account = state.db(accounts::record_by_id(&state.pool, lock_state.lock.account_id)).await?;
            (account.map(|a| a.name), Vec::new())
        }
        LockMode::Shared => {
            (None, state.db(console_reads::lock_readers(&state.pool, namespace, name)).await?)
        }
    };
    let set = match lock_state.lock.set_id {
        Some(set_id) => Some((set_id, state.db(console_reads::set_members(&state.pool, set_id)).await?)),
        None => None,
    };
    Ok(Some(Held { state: lock_state, holder, readers, set }))
}

/// The leases held now, by fencing token, with their expiries.
fn live(held: Option<&Held>) -> Vec<(i64, chrono::DateTime<chrono::Utc>)> {
    let Some(held) = held else { return Vec::new() };
    match held.state.lock.mode {
        LockMode::Exclusive => vec![(held.state.lock.fencing_token, held.state.lock.expires_at)],
        LockMode::Shared => held.readers.iter().map(|r| (r.fencing_token, r.expires_at)).collect(),
    }
}

fn current_state(held: &Held, namespace: &str, name: &str) -> Markup {
    let lock = &held.state.lock;
    html! {
        dl.facts {
            @match lock.mode {
                LockMode::Exclusive => {
                    dt { "Mode" } dd { "exclusive" }
                    dt { "Held by" }
                    dd { @if let Some(holder) = &held.holder { a href=(account_href(holder)) { (holder) } } }
                    dt { "Owner" } dd { (lock.owner.as_deref().unwrap_or("—")) }
                    dt { "Fencing token" } dd { (lock.fencing_token) }
                    dt { "Acquired" } dd { (layout::time(lock.acquired_at)) }
                    dt { "Expires" } dd { (layout::time(lock.expires_at)) " (TTL " (lock.ttl_seconds) " s)" }
                    dt { "Metadata" } dd { (metadata(lock.metadata.as_deref())) }
                }
                LockMode::Shared => {
                    dt { "Mode" } dd { "shared, by " (held.readers.len()) " readers" }
                    dt { "Expires" } dd { (layout::time(lock.expires_at)) " (the last reader's lease)" }
                    dt { "Metadata" } dd { "each reader's, in the table below" }
                }
            }
            dt { "Waiters" } dd { (held.state.waiters) }
            @if let Some((set_id, members)) = &held.set {
                dt { "Lock set" }
                dd { code { (set_id) } (set_members(namespace, name, members.as_deref())) }
            }
        }
        (holders_table(&held.readers, "Readers"))
    }
}

fn history_query(namespace: &NamespaceName, name: &LockName) -> AuditQuery {
    AuditQuery {
        namespace: Some(namespace.as_str().to_owned()),
        name: Some(name.as_str().to_owned()),
        kind: Some("lock"),
        limit: HISTORY,
        ..AuditQuery::default()
    }
}

/// The set's other members, linked; a set released since the lock was read
/// has none to show.
fn set_members(namespace: &str, name: &str, members: Option<&[String]>) -> Markup {
    let others: Vec<&String> = members.unwrap_or_default().iter().filter(|m| *m != name).collect();
    html! {
        @if !others.is_empty() {
            ", with "
            @for (i, other) in others.iter().enumerate() {
                @if i > 0 { ", " }
                a href=(lock_href(namespace, other)) { (other) }
            }
        }
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
) -> Result<HttpResponse, ConsoleError> {
    user.check_csrf(&form.csrf)?;
    if !user.is_admin() {
        return Err(ConsoleError::Forbidden("force release needs an admin key"));
    }
    let (namespace, name) = readable(&state, &user, "lock", &path.0, &path.1).await?;
    let page = lock_href(namespace.as_str(), name.as_str());
    let Ok(reason) = parse_reason(form.reason) else {
        return Ok(see_other(&format!("{page}?notice=reason")));
    };
    let mut actor = actor(&req, &user.principal);
    actor.source.push_str(" (console)");
    let force = ForceRelease { namespace: &namespace, name: name.as_str(), reason: &reason };
    let released = state.leases.force_release(&actor, force).await;
    let notice = match released.map_err(crate::http::error::ApiError::from)? {
        Some(_) => "released",
        None => "not_held",
    };
    Ok(see_other(&format!("{page}?notice={notice}")))
}
