//! The live locks of every tenant, a page at a time, optionally of one
//! namespace and names starting with a prefix; each links to its lock's page
//! and its holder's account.

use actix_web::web::{Data, Query};
use actix_web::HttpResponse;
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{self, account_href, lock_href};
use super::paging::{href, per_page};
use super::session::SignedIn;
use super::ConsoleError;
use crate::domain::{prefix_end, NamespaceName};
use crate::http::AppState;
use crate::store::console_reads::{self, Holding, LiveLock, LiveLocksQuery};

#[derive(Deserialize, Default)]
pub struct Params {
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    prefix: String,
    /// The keyset cursor: `namespace/name` of the last lock shown.
    #[serde(default)]
    after: String,
    #[serde(default)]
    limit: String,
}

/// The filters, checked.
struct Filters<'a> {
    namespace: Option<&'a str>,
    /// The prefix's names, `[prefix, prefix with its last byte + 1)`.
    range: Option<(&'a str, String)>,
    after: Option<(&'a str, &'a str)>,
    limit: i64,
}

fn filters(params: &Params) -> Result<Filters<'_>, String> {
    let namespace = non_empty(&params.namespace);
    if let Some(ns) = namespace {
        NamespaceName::parse(ns).map_err(|e| e.message)?;
    }
    let range = non_empty(&params.prefix)
        .map(|p| prefix_end(p).map(|end| (p, end)))
        .transpose()
        .map_err(|e| e.message)?;
    let after = non_empty(&params.after)
        .map(|a| a.split_once('/').ok_or("this page's link is broken; start from the first page"))
        .transpose()?;
    let limit = per_page(Some(&params.limit)).map_err(|e| e.to_string())?;
    Ok(Filters { namespace, range, after, limit })
}

fn non_empty(value: &str) -> Option<&str> {
    Some(value.trim()).filter(|v| !v.is_empty())
}

pub async fn show(
    state: Data<AppState>,
    user: SignedIn,
    Query(params): Query<Params>,
) -> Result<HttpResponse, ConsoleError> {
    let filters = match filters(&params) {
        Ok(filters) => filters,
        Err(message) => {
            let body = html! { (form(&params)) p.error role="alert" { (message) } };
            let page = layout::page("Live locks", Some(&user), body);
            return Ok(layout::respond(&mut HttpResponse::BadRequest(), &page));
        }
    };
    let query = LiveLocksQuery {
        namespace: filters.namespace,
        from: filters.range.as_ref().map(|(from, _)| *from),
        to: filters.range.as_ref().map(|(_, to)| to.as_str()),
        after: filters.after,
        limit: filters.limit + 1,
    };
    let mut locks = state.db(console_reads::live_locks(&state.pool, &query)).await?;
    let more = locks.len() as i64 > filters.limit;
    locks.truncate(filters.limit as usize);
    let link = |after: &str| {
        href(
            "/console/locks",
            &[
                ("namespace", &params.namespace),
                ("prefix", &params.prefix),
                ("after", after),
                ("limit", &params.limit),
            ],
        )
    };
    let next = locks.last().filter(|_| more).map(|last| link(&format!("{}/{}", last.namespace, last.name)));
    let body = html! {
        (form(&params))
        (locks_table(&locks))
        @if filters.after.is_some() || next.is_some() {
            p.pager {
                @if filters.after.is_some() { a href=(link("")) { "First page" } " " }
                @if let Some(next) = &next { a href=(next) rel="next" { "Next page" } }
            }
        }
    };
    Ok(layout::ok(layout::page("Live locks", Some(&user), body)))
}

fn form(params: &Params) -> Markup {
    html! {
        h1 { "Live locks" }
        form.filters method="get" action="/console/locks" role="search" {
            p {
                label for="namespace" { "Namespace" }
                input type="text" id="namespace" name="namespace" value=(params.namespace);
            }
            p {
                label for="prefix" { "Name starts with" }
                input type="text" id="prefix" name="prefix" value=(params.prefix);
            }
            p {
                label for="limit" { "Per page" }
                input #limit type="text" inputmode="numeric" name="limit" value=(params.limit);
            }
            p { button type="submit" { "Show" } }
        }
    }
}

fn locks_table(locks: &[LiveLock]) -> Markup {
    html! {
        @if locks.is_empty() {
            p.notice role="status" { "No live locks match." }
        } @else {
            table #live-locks {
                caption {
                    "Locks held now, in namespace and name order (times in UTC). "
                    "A shared lock shows its readers' accounts, the range of their fencing tokens "
                    "and when its last reader's lease ends."
                }
                thead {
                    tr {
                        @for heading in ["Namespace", "Name", "Mode", "Held by", "Owner", "Fencing token", "Expires"] {
                            th scope="col" { (heading) }
                        }
                    }
                }
                tbody { @for lock in locks { (lock_row(lock)) } }
            }
        }
    }
}

fn lock_row(lock: &LiveLock) -> Markup {
    html! {
        tr {
            td { (lock.namespace) }
            th scope="row" { a href=(lock_href(&lock.namespace, &lock.name)) { (lock.name) } }
            @match &lock.holding {
                Holding::Exclusive { fencing_token, account, owner } => {
                    td { "exclusive" }
                    td { @if let Some(a) = account { a href=(account_href(a)) { (a) } } }
                    td { (owner.as_deref().unwrap_or("—")) }
                    td { (fencing_token) }
                }
                Holding::Shared { readers, accounts, tokens: (first, last) } => {
                    td { "shared, " (readers) @if *readers == 1 { " reader" } @else { " readers" } }
                    td {
                        @for (i, a) in accounts.iter().enumerate() {
                            @if i > 0 { ", " }
                            a href=(account_href(a)) { (a) }
                        }
                    }
                    td { "—" }
                    td { (first) @if first != last { " to " (last) } }
                }
            }
            td { (layout::time(lock.expires_at)) " (in " (layout::duration(lock.expires_in)) ")" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_covers_the_names_that_start_with_it() {
        assert_eq!(prefix_end("job-").unwrap(), "job.");
        assert!(prefix_end("a/b").is_err());
    }

    #[test]
    fn filters_refuse_a_bad_namespace_or_cursor() {
        let params = |namespace: &str, after: &str| Params {
            namespace: namespace.into(),
            after: after.into(),
            ..Params::default()
        };
        assert!(filters(&params("Not A Namespace", "")).is_err());
        assert!(filters(&params("acme", "no-slash")).is_err());
        let ok = params("acme", "acme/a:b");
        assert_eq!(filters(&ok).unwrap().after, Some(("acme", "a:b")));
    }
}
