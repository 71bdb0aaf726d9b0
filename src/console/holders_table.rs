//! Live holders as a table: a semaphore's, or a shared lock's readers.

use maud::{html, Markup};

use super::json::metadata;
use super::layout::{self, account_href};
use crate::store::console_reads::LiveHolder;

pub fn holders_table(holders: &[LiveHolder], caption: &str) -> Markup {
    html! {
        @if !holders.is_empty() {
            table {
                caption { (caption) ", in the order they were granted (times in UTC)" }
                thead {
                    tr {
                        @for heading in ["Fencing token", "Account", "Key id", "Owner", "Acquired", "Expires", "Metadata"] {
                            th scope="col" { (heading) }
                        }
                    }
                }
                tbody {
                    @for holder in holders {
                        tr {
                            th scope="row" { (holder.fencing_token) }
                            td { @if let Some(a) = &holder.account { a href=(account_href(a)) { (a) } } }
                            td { code { (holder.key_id) } }
                            td { (holder.owner.as_deref().unwrap_or("")) }
                            td { (layout::time(holder.acquired_at)) }
                            td { (layout::time(holder.expires_at)) }
                            td { (metadata(holder.metadata.as_deref())) }
                        }
                    }
                }
            }
        }
    }
}
