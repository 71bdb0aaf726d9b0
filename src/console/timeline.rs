//! A lock's or semaphore's history as leases: when each was acquired, by
//! whom, how often it was renewed, how long it was held and how it ended.

use chrono::{DateTime, Utc};

use crate::store::audit::AuditEvent;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// No ending event yet: still held, or its end is on an older page.
    Open,
    Released {
        key_id: String,
    },
    /// Lapsed at its expiry, unrenewed.
    Expired,
    ForceReleased {
        key_id: String,
        reason: Option<String>,
    },
    Other(String),
}

#[derive(Debug, Clone)]
pub struct Lease {
    pub fencing_token: i64,
    pub acquired_at: Option<DateTime<Utc>>,
    pub account: Option<String>,
    pub key_id: Option<String>,
    pub owner: Option<String>,
    pub renewals: usize,
    pub ended_at: Option<DateTime<Utc>>,
    pub ending: Ending,
    /// The lock set the lease was a member of.
    pub set_id: Option<uuid::Uuid>,
    /// A shared lock's reader, one of perhaps several at once.
    pub reader: bool,
}

impl Lease {
    /// How long the lease was held: to its end, or until `now` if open.
    pub fn held_for(&self, now: DateTime<Utc>) -> Option<chrono::Duration> {
        Some(self.ended_at.unwrap_or(now) - self.acquired_at?)
    }
}

/// Groups events (any order) into leases by fencing token, newest first.
pub fn leases(events: &[AuditEvent]) -> Vec<Lease> {
    let mut leases: Vec<Lease> = Vec::new();
    let mut sorted: Vec<&AuditEvent> = events.iter().collect();
    sorted.sort_by_key(|e| (e.occurred_at, e.id));
    for event in sorted {
        let index = match leases.iter().position(|l| l.fencing_token == event.fencing_token) {
            Some(index) => index,
            None => {
                leases.push(Lease {
                    fencing_token: event.fencing_token,
                    acquired_at: None,
                    account: event.account.clone(),
                    key_id: None,
                    owner: event.owner.clone(),
                    renewals: 0,
                    ended_at: None,
                    ending: Ending::Open,
                    set_id: None,
                    reader: false,
                });
                leases.len() - 1
            }
        };
        apply(&mut leases[index], event);
    }
    leases.sort_by_key(|l| std::cmp::Reverse(l.fencing_token));
    leases
}

fn apply(lease: &mut Lease, event: &AuditEvent) {
    // Any event of a member's lease may carry its set: the acquisition may
    // be on an older page.
    lease.set_id = lease.set_id.or(event.set_id);
    // A semaphore's permits are recorded as shared too, but are no reads.
    lease.reader |= event.kind == "lock" && event.mode == "shared";
    let key_id = event.key_id.clone();
    match event.event.as_str() {
        "acquired" => {
            lease.acquired_at = Some(event.occurred_at);
            lease.key_id = Some(key_id);
            lease.owner = event.owner.clone();
        }
        "renewed" => lease.renewals += 1,
        // A resource checked a writer under the lease: it goes on.
        "verified" => {}
        "released" => end(lease, event.occurred_at, Ending::Released { key_id }),
        // A lapse happens at the lease's expiry, whenever it was recorded.
        "expired" => end(lease, event.expires_at, Ending::Expired),
        "force_released" => {
            end(lease, event.occurred_at, Ending::ForceReleased { key_id, reason: event.reason.clone() })
        }
        other => end(lease, event.occurred_at, Ending::Other(other.to_owned())),
    }
}

fn end(lease: &mut Lease, at: DateTime<Utc>, ending: Ending) {
    lease.ended_at = Some(at);
    lease.ending = ending;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: i64, secs: i64, event: &str, token: i64) -> AuditEvent {
        let at = DateTime::from_timestamp(1_795_000_000 + secs, 0).unwrap();
        AuditEvent {
            id,
            occurred_at: at,
            event: event.into(),
            namespace: "acme".into(),
            name: "billing".into(),
            fencing_token: token,
            account_id: 1,
            account: Some("acme".into()),
            key_id: format!("key{id}"),
            owner: Some("cron".into()),
            expires_at: at + chrono::Duration::seconds(30),
            request_id: None,
            reason: (event == "force_released").then(|| "stuck".into()),
            kind: "lock".into(),
            mode: "exclusive".into(),
            set_id: None,
            note: None,
        }
    }

    #[test]
    fn leases_show_renewals_duration_and_how_they_ended() {
        let mut events = [
            event(1, 0, "acquired", 7),
            event(2, 10, "renewed", 7),
            event(3, 20, "released", 7),
            event(4, 30, "acquired", 8),
            event(5, 100, "expired", 8),
            event(6, 200, "acquired", 9),
            event(7, 205, "force_released", 9),
            event(8, 300, "acquired", 10),
        ];
        events[4].expires_at = DateTime::from_timestamp(1_795_000_060, 0).unwrap();
        let set = uuid::Uuid::new_v4();
        events[6].set_id = Some(set);
        events[7].mode = "shared".into();
        let now = DateTime::from_timestamp(1_795_000_400, 0).unwrap();

        let leases = leases(&events);

        assert_eq!(leases.iter().map(|l| l.fencing_token).collect::<Vec<_>>(), [10, 9, 8, 7]);
        assert_eq!(leases[3].renewals, 1);
        assert_eq!(leases[3].held_for(now), Some(chrono::Duration::seconds(20)));
        assert_eq!(leases[2].ending, Ending::Expired);
        assert_eq!(leases[2].held_for(now), Some(chrono::Duration::seconds(30)), "held until it lapsed");
        assert_eq!(
            leases[1].ending,
            Ending::ForceReleased { key_id: "key7".into(), reason: Some("stuck".into()) }
        );
        assert_eq!((leases[1].set_id, leases[2].set_id), (Some(set), None), "a member's lease shows its set");
        assert!(leases[0].reader && !leases[1].reader);
        assert_eq!(leases[0].ending, Ending::Open);
        assert_eq!(leases[0].held_for(now), Some(chrono::Duration::seconds(100)));
    }
}
