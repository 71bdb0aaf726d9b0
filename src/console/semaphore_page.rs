//! A semaphore's page: its limit and live holders, each holder's lease as a
//! timeline, and its recent events.

use actix_web::web::{Data, Path};
use actix_web::HttpResponse;
use maud::html;

use super::address::readable;
use super::audit_page::events_table;
use super::holders_table::holders_table;
use super::layout::{self, encode};
use super::leases_table::leases_table;
use super::session::SignedIn;
use super::timeline::{self, Present};
use super::ConsoleError;
use crate::domain::{LockName, NamespaceName};
use crate::http::AppState;
use crate::store::audit::{self, AuditQuery};
use crate::store::console_reads;

const HISTORY: i64 = 200;

pub async fn show(
    state: Data<AppState>,
    user: SignedIn,
    path: Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let (namespace, name) = readable(&state, &user, "semaphore", &path.0, &path.1).await?;
    // The history first, then the live state: see the lock page.
    let history = state.db(audit::search(&state.pool, &history_query(&namespace, &name))).await?;
    let current = state.db(console_reads::semaphore_state(&state.pool, &namespace, &name)).await?;
    let held = current.iter().flat_map(|c| &c.holders).map(|h| (h.fencing_token, h.expires_at)).collect();
    let present = Present { now: state.db(console_reads::now(&state.pool)).await?, held };
    let leases = timeline::leases(&history.events);
    let title = format!("{namespace}/{name}");
    let body = html! {
        h1 { "Semaphore " code { (title) } }
        h2 { "Current state" }
        @if let Some(current) = &current {
            dl.facts {
                dt { "Limit" } dd { (current.limit) " holders at once" }
                dt { "Held by" } dd { (current.holders.len()) " of " (current.limit) }
            }
            (holders_table(&current.holders, "Live holders"))
        } @else {
            p { "Not held." }
        }
        h2 { "Leases" }
        (leases_table(&leases, "Each lease of a permit, newest first", &present))
        h2 { "Events" }
        (events_table(&history.events, "The most recent events of this semaphore, newest first"))
        @if history.next.is_some() {
            p.pager {
                a href={ "/console/audit?namespace=" (encode(namespace.as_str())) "&name=" (encode(name.as_str())) "&kind=semaphore" } {
                    "All events of this semaphore"
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
        kind: Some("semaphore"),
        limit: HISTORY,
        ..AuditQuery::default()
    }
}
