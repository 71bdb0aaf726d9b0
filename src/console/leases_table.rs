//! A timeline of leases as a table: the lock page's and the semaphore page's.

use maud::{html, Markup};

use super::layout::{self, account_href};
use super::timeline::{Ending, Lease, Present, Status};

/// The leases, newest first, each saying whether it is held now or how it
/// ended. The "Mode" and "Lock set" columns appear only where some lease was
/// a reader, or a set's member.
pub fn leases_table(leases: &[Lease], caption: &str, present: &Present) -> Markup {
    let modes = leases.iter().any(|l| l.reader);
    let sets = leases.iter().any(|l| l.set_id.is_some());
    html! {
        @if leases.is_empty() {
            p { "No leases recorded." }
        } @else {
            table.leases {
                caption { (caption) " (times in UTC)" }
                thead {
                    tr {
                        @for heading in ["Fencing token", "Acquired", "Account", "Key id", "Owner", "Renewals", "Held for", "Now, or how it ended"] {
                            th scope="col" { (heading) }
                        }
                        @if modes { th scope="col" { "Mode" } }
                        @if sets { th scope="col" { "Lock set" } }
                    }
                }
                tbody {
                    @for lease in leases {
                        @let status = lease.status(present);
                        tr class=[matches!(status, Status::Held { .. }).then_some("held-now")] {
                            th scope="row" { (lease.fencing_token) }
                            td { @if let Some(at) = lease.acquired_at { (layout::time(at)) } }
                            td { @if let Some(a) = &lease.account { a href=(account_href(a)) { (a) } } }
                            td { @if let Some(k) = &lease.key_id { code { (k) } } }
                            td { (lease.owner.as_deref().unwrap_or("")) }
                            td { (lease.renewals) }
                            td { @if let Some(d) = lease.held_for(present) { (layout::duration(d)) } @else { "—" } }
                            td { (status_text(&status, present)) }
                            @if modes { td { @if lease.reader { "shared" } @else { "exclusive" } } }
                            @if sets { td { @if let Some(set) = lease.set_id { code { (set) } } } }
                        }
                    }
                }
            }
        }
    }
}

fn status_text(status: &Status<'_>, present: &Present) -> Markup {
    match status {
        Status::Held { expires_at } => html! {
            strong { "held now" } ", expires in " (layout::duration(*expires_at - present.now))
            " (at " (layout::time(*expires_at)) ")"
        },
        Status::Lapsed { at } => html! {
            span."ended-expired" { "expired" } " at " (layout::time(*at))
            " (not renewed in time; not in the audit trail yet)"
        },
        Status::EndPending => html! { "ended a moment ago; the audit trail does not say how yet" },
        Status::Ended(ending) => ended(ending),
    }
}

fn ended(ending: &Ending) -> Markup {
    match ending {
        // `status` reads an open lease against the live state.
        Ending::Open => html! { "not ended" },
        Ending::Released { key_id, handed_to: None } => html! { "released by key " code { (key_id) } },
        Ending::Released { key_id, handed_to: Some(next) } => html! {
            "released by key " code { (key_id) } ", handed over to fencing token " (next)
        },
        Ending::Expired { taken_over_by } => html! {
            span."ended-expired" { "expired" } " (not renewed in time)"
            @if let Some(next) = taken_over_by { ", then taken over by fencing token " (next) }
        },
        Ending::ForceReleased { key_id, reason } => html! {
            span."ended-force_released" { "force-released" } " by key " code { (key_id) }
            @if let Some(reason) = reason { ": “" (reason) "”" }
        },
        Ending::Other(event) => html! { (event) },
    }
}
