//! A timeline of leases as a table: the lock page's and the semaphore page's.

use chrono::{DateTime, Utc};
use maud::{html, Markup};

use super::layout::{self, account_href};
use super::timeline::{Ending, Lease};

/// The leases, newest first. The "Mode" and "Lock set" columns appear only
/// where some lease was a reader, or a set's member.
pub fn leases_table(leases: &[Lease], caption: &str, now: DateTime<Utc>) -> Markup {
    let modes = leases.iter().any(|l| l.reader);
    let sets = leases.iter().any(|l| l.set_id.is_some());
    html! {
        @if leases.is_empty() {
            p { "No leases recorded." }
        } @else {
            table {
                caption { (caption) " (times in UTC)" }
                thead {
                    tr {
                        @for heading in ["Fencing token", "Acquired", "Account", "Key id", "Owner", "Renewals", "Held for", "How it ended"] {
                            th scope="col" { (heading) }
                        }
                        @if modes { th scope="col" { "Mode" } }
                        @if sets { th scope="col" { "Lock set" } }
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
                            @if modes { td { @if lease.reader { "shared" } @else { "exclusive" } } }
                            @if sets { td { @if let Some(set) = lease.set_id { code { (set) } } } }
                        }
                    }
                }
            }
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
