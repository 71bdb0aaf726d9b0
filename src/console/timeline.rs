//! A lock's or semaphore's history as leases: when each was acquired, by
//! whom, how often it was renewed, how long it was held and how it ended,
//! or, read beside the live state, that it is held now.

use chrono::{DateTime, Utc};

use crate::store::audit::AuditEvent;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// No ending event yet: held now, or ended so lately that the audit
    /// trail does not show it yet (see `Status`).
    Open,
    /// Released by its holder; `handed_to` the lease the same statement
    /// granted the same key (a handover).
    Released {
        key_id: String,
        handed_to: Option<i64>,
    },
    /// Lapsed at its expiry, unrenewed; `taken_over_by` the lease whose
    /// grant recorded the lapse, where that lease replaced it.
    Expired {
        taken_over_by: Option<i64>,
    },
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
    /// Its expiry as its latest acquisition or renewal set it.
    pub expires_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub ending: Ending,
    /// The lock set the lease was a member of.
    pub set_id: Option<uuid::Uuid>,
    /// A shared lock's reader, one of perhaps several at once.
    pub reader: bool,
}

/// The live state, read after the history: the leases held now (fencing
/// token and expiry) and the database's clock.
pub struct Present {
    pub now: DateTime<Utc>,
    pub held: Vec<(i64, DateTime<Utc>)>,
}

/// A lease as a page says it.
#[derive(Debug, PartialEq, Eq)]
pub enum Status<'a> {
    /// Live now, until `expires_at`.
    Held {
        expires_at: DateTime<Utc>,
    },
    /// Not live and not ended in the audit trail, its expiry passed: it
    /// lapsed, and its `expired` event is not written yet (the sweeper or
    /// the lock's next grant writes it).
    Lapsed {
        at: DateTime<Utc>,
    },
    /// Not live, its expiry still ahead, and no ending recorded: it ended
    /// a moment ago, and its event has not settled (`store::audit`).
    EndPending,
    Ended(&'a Ending),
}

impl Lease {
    pub fn status(&self, present: &Present) -> Status<'_> {
        if self.ending != Ending::Open {
            return Status::Ended(&self.ending);
        }
        if let Some(&(_, expires_at)) = present.held.iter().find(|(token, _)| *token == self.fencing_token) {
            return Status::Held { expires_at };
        }
        match self.expires_at {
            Some(at) if at <= present.now => Status::Lapsed { at },
            _ => Status::EndPending,
        }
    }

    /// How long the lease was held: to its end or lapse, or until now if it
    /// is held; unknown while its end is pending.
    pub fn held_for(&self, present: &Present) -> Option<chrono::Duration> {
        let until = match self.status(present) {
            Status::Held { .. } => present.now,
            Status::Lapsed { at } => at,
            Status::Ended(_) => self.ended_at?,
            Status::EndPending => return None,
        };
        Some(until - self.acquired_at?)
    }
}

/// Groups events (any order) into leases by fencing token, newest first.
pub fn leases(events: &[AuditEvent]) -> Vec<Lease> {
    let mut leases: Vec<Lease> = Vec::new();
    // A resource's check of a writer is no part of a lease's life (and names
    // the checking account, not the holder's): the events table shows it.
    let mut sorted: Vec<&AuditEvent> = events.iter().filter(|e| e.event != "verified").collect();
    sorted.sort_by_key(|e| (e.occurred_at, e.id));
    for &event in &sorted {
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
                    expires_at: None,
                    ended_at: None,
                    ending: Ending::Open,
                    set_id: None,
                    reader: false,
                });
                leases.len() - 1
            }
        };
        apply(&mut leases[index], event, successor(event, &sorted));
    }
    leases.sort_by_key(|l| std::cmp::Reverse(l.fencing_token));
    leases
}

/// The lease granted by the statement that recorded `end`: an acquisition
/// of another lease of the same lock stamped with the same instant (a
/// statement's `now()`). After a release, only a grant to the same key (a
/// handover); after a lapse, a grant that replaced it, which a new reader
/// beside lapsed readers does not. A semaphore's permits replace none.
fn successor(end: &AuditEvent, events: &[&AuditEvent]) -> Option<i64> {
    let reads = |e: &AuditEvent| e.mode == "shared";
    let follows = |e: &&&AuditEvent| {
        e.event == "acquired"
            && e.occurred_at == end.occurred_at
            && e.fencing_token != end.fencing_token
            && match end.event.as_str() {
                "released" => e.key_id == end.key_id,
                "expired" => !(reads(end) && reads(e)),
                _ => false,
            }
    };
    if end.kind != "lock" {
        return None;
    }
    events.iter().find(follows).map(|e| e.fencing_token)
}

fn apply(lease: &mut Lease, event: &AuditEvent, successor: Option<i64>) {
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
            lease.expires_at = Some(event.expires_at);
        }
        "renewed" => {
            lease.renewals += 1;
            lease.expires_at = Some(event.expires_at);
        }
        "released" => end(lease, event.occurred_at, Ending::Released { key_id, handed_to: successor }),
        // A lapse happens at the lease's expiry, whenever it was recorded.
        "expired" => end(lease, event.expires_at, Ending::Expired { taken_over_by: successor }),
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

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_000_000 + secs, 0).unwrap()
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
        events[4].expires_at = at(60);
        let set = uuid::Uuid::new_v4();
        events[6].set_id = Some(set);
        events[7].mode = "shared".into();
        let present = Present { now: at(400), held: vec![(10, at(420))] };

        let leases = leases(&events);

        assert_eq!(leases.iter().map(|l| l.fencing_token).collect::<Vec<_>>(), [10, 9, 8, 7]);
        assert_eq!(leases[3].renewals, 1);
        assert_eq!(leases[3].ending, Ending::Released { key_id: "key3".into(), handed_to: None });
        assert_eq!(leases[3].held_for(&present), Some(chrono::Duration::seconds(20)));
        assert_eq!(leases[2].ending, Ending::Expired { taken_over_by: None });
        assert_eq!(leases[2].held_for(&present), Some(chrono::Duration::seconds(30)), "held until it lapsed");
        assert_eq!(
            leases[1].ending,
            Ending::ForceReleased { key_id: "key7".into(), reason: Some("stuck".into()) }
        );
        assert_eq!((leases[1].set_id, leases[2].set_id), (Some(set), None), "a member's lease shows its set");
        assert!(leases[0].reader && !leases[1].reader);
        assert_eq!(leases[0].status(&present), Status::Held { expires_at: at(420) });
        assert_eq!(leases[0].held_for(&present), Some(chrono::Duration::seconds(100)));
    }

    #[test]
    fn a_resources_check_of_the_writer_neither_ends_nor_starts_a_lease() {
        let mut verified = event(2, 5, "verified", 7);
        verified.account = Some("the-resource".into());
        let events = [verified.clone(), event(1, 0, "acquired", 7), event(3, 20, "released", 7)];

        let found = leases(&events);

        assert_eq!(found.len(), 1);
        assert_eq!(found[0].ending, Ending::Released { key_id: "key3".into(), handed_to: None });
        assert_eq!(found[0].account.as_deref(), Some("acme"));
        assert!(leases(&[verified]).is_empty(), "a check alone is no lease");
    }

    #[test]
    fn a_lapse_recorded_by_the_next_grant_is_a_takeover_and_a_release_with_a_grant_a_handover() {
        let mut events = [
            event(1, 0, "acquired", 7),
            event(2, 100, "expired", 7),
            event(3, 100, "acquired", 8),
            event(4, 150, "released", 8),
            event(5, 150, "acquired", 9),
            event(6, 160, "released", 9),
            event(7, 170, "acquired", 10),
        ];
        events[3].key_id = "holder".into();
        events[4].key_id = "holder".into();

        let leases = leases(&events);

        let ending = |token: i64| leases.iter().find(|l| l.fencing_token == token).unwrap().ending.clone();
        assert_eq!(ending(7), Ending::Expired { taken_over_by: Some(8) });
        assert_eq!(ending(8), Ending::Released { key_id: "holder".into(), handed_to: Some(9) });
        assert_eq!(ending(9), Ending::Released { key_id: "key6".into(), handed_to: None }, "a later grant");
    }

    #[test]
    fn readers_lapsing_beside_a_new_reader_and_permits_are_not_taken_over() {
        let mut readers =
            [event(1, 0, "acquired", 7), event(2, 100, "expired", 7), event(3, 100, "acquired", 8)];
        for e in &mut readers {
            e.mode = "shared".into();
        }
        let mut permits = readers.clone();
        for e in &mut permits {
            e.kind = "semaphore".into();
        }
        let mut writer_after_readers = readers.clone();
        writer_after_readers[2].mode = "exclusive".into();

        let ending = |events: &[AuditEvent]| leases(events).pop().unwrap().ending;

        assert_eq!(ending(&readers), Ending::Expired { taken_over_by: None });
        assert_eq!(ending(&permits), Ending::Expired { taken_over_by: None });
        assert_eq!(ending(&writer_after_readers), Ending::Expired { taken_over_by: Some(8) });
    }

    #[test]
    fn an_open_lease_not_held_now_has_lapsed_or_its_end_is_pending() {
        let events = [event(1, 0, "acquired", 7), event(2, 10, "acquired", 8)];
        let present = Present { now: at(35), held: vec![] };

        let leases = leases(&events);

        assert_eq!(leases[1].status(&present), Status::Lapsed { at: at(30) });
        assert_eq!(leases[1].held_for(&present), Some(chrono::Duration::seconds(30)));
        assert_eq!(leases[0].status(&present), Status::EndPending, "its expiry is still ahead");
        assert_eq!(leases[0].held_for(&present), None);
    }
}
