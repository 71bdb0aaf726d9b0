//! The audit search: the API's filters as a form, the events as a table, and
//! a link to the next page.

use actix_web::web::{Data, Query};
use actix_web::HttpResponse;
use maud::{html, Markup};

use super::layout::{self, account_href, encode, subject_href};
use super::session::SignedIn;
use super::ConsoleError;
use crate::http::audit::{encode_cursor, parse_query, restrict};
use crate::http::AppState;
use crate::store::audit::{self, AuditEvent};

const EVENTS: [&str; 5] = ["acquired", "renewed", "released", "expired", "force_released"];
const FIELDS: [(&str, &str, &str); 7] = [
    ("namespace", "Namespace", ""),
    ("name", "Name", "of a lock or semaphore"),
    ("account", "Account", ""),
    ("key_id", "Key id", "16 hex digits"),
    ("fencing_token", "Fencing token", ""),
    ("since", "Since", "RFC 3339, e.g. 2026-11-23T03:00:00Z"),
    ("until", "Until", "RFC 3339, exclusive"),
];

pub async fn show(
    state: Data<AppState>,
    user: SignedIn,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ConsoleError> {
    let searched = !params.is_empty();
    let query = match parse_query(&params, false) {
        Ok(query) => restrict(query, &user.principal),
        Err(e) => {
            let body = html! { (form(&params)) p.error role="alert" { (e.message) } };
            let page = layout::page("Audit search", Some(&user), body);
            return Ok(layout::respond(&mut HttpResponse::BadRequest(), &page));
        }
    };
    let page = state.db(audit::search(&state.pool, &query)).await?;
    let next = page.next.map(|at| {
        let mut kept: Vec<(String, String)> = params.iter().filter(|(k, _)| k != "cursor").cloned().collect();
        kept.push(("cursor".into(), encode_cursor(query.order, at)));
        kept.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
    });
    let body = html! {
        (form(&params))
        @if searched || !page.events.is_empty() {
            (events_table(&page.events, "Matching events, newest first unless ordered otherwise"))
            @if let Some(next) = next {
                p.pager { a href={ "/console/audit?" (next) } rel="next" { "Next page" } }
            }
        }
    };
    Ok(layout::ok(layout::page("Audit search", Some(&user), body)))
}

fn value<'a>(params: &'a [(String, String)], key: &str) -> &'a str {
    params.iter().find(|(k, _)| k == key).map_or("", |(_, v)| v.as_str())
}

fn form(params: &[(String, String)]) -> Markup {
    let order = value(params, "order");
    let kind = value(params, "kind");
    html! {
        h1 { "Audit search" }
        form.filters method="get" action="/console/audit" role="search" {
            @for (field, label, hint) in FIELDS {
                p {
                    label for=(field) { (label) @if !hint.is_empty() { " " span.hint { "(" (hint) ")" } } }
                    input type="text" id=(field) name=(field) value=(value(params, field));
                }
            }
            fieldset {
                legend { "Events" }
                @for event in EVENTS {
                    label {
                        input type="checkbox" name="event" value=(event)
                            checked[params.iter().any(|(k, v)| k == "event" && v == event)];
                        (event)
                    }
                }
            }
            p {
                label for="kind" { "Kind" }
                select #kind name="kind" {
                    option value="" { "Locks and semaphores" }
                    option value="lock" selected[kind == "lock"] { "Locks" }
                    option value="semaphore" selected[kind == "semaphore"] { "Semaphores" }
                }
            }
            p {
                label for="order" { "Order" }
                select #order name="order" {
                    option value="desc" selected[order != "asc"] { "Newest first" }
                    option value="asc" selected[order == "asc"] { "Oldest first" }
                }
            }
            p {
                label for="limit" { "Per page" }
                input #limit type="text" inputmode="numeric" name="limit" value=(value(params, "limit"));
            }
            p { button type="submit" { "Search" } }
        }
    }
}

/// What an event is about, as support says it.
fn kind(event: &AuditEvent) -> &str {
    match (event.kind.as_str(), event.mode.as_str()) {
        ("lock", "shared") => "shared lock",
        (kind, _) => kind,
    }
}

/// Events as a table, with links to each lock or semaphore and account.
pub fn events_table(events: &[AuditEvent], caption: &str) -> Markup {
    html! {
        @if events.is_empty() {
            p.notice role="status" { "No events match." }
        } @else {
            table {
                caption { (caption) " (times in UTC)" }
                thead {
                    tr {
                        @for heading in [
                            "Time", "Event", "Kind", "Name", "Lock set", "Fencing token", "Account", "Key id",
                            "Owner", "Lease expiry", "Reason or note",
                        ] {
                            th scope="col" { (heading) }
                        }
                    }
                }
                tbody {
                    @for e in events {
                        tr {
                            td { (layout::time(e.occurred_at)) }
                            td { (e.event) }
                            td { (kind(e)) }
                            td { a href=(subject_href(&e.kind, &e.namespace, &e.name)) { (e.namespace) "/" (e.name) } }
                            td { @if let Some(set) = e.set_id { code { (set) } } }
                            td { (e.fencing_token) }
                            td {
                                @if let Some(account) = &e.account {
                                    a href=(account_href(account)) { (account) }
                                }
                            }
                            td { code { (e.key_id) } }
                            td { (e.owner.as_deref().unwrap_or("")) }
                            td { (layout::time(e.expires_at)) }
                            td { (e.reason.as_deref().or(e.note.as_deref()).unwrap_or("")) }
                        }
                    }
                }
            }
        }
    }
}
