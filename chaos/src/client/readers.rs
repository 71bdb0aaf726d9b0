//! A reader: takes a shared lease of one of the first `READ_LOCKS` locks,
//! works a stretch or a few (renewing between them), releases it, repeat.
//! Readers share those locks with each other; the lock clients' and the
//! lock-set clients' exclusive leases of the same locks must exclude them.

use rand::Rng;

use super::{work, Client, Via};
use crate::history::Kind;

const READ_LOCKS: u32 = 4;

impl Client {
    /// One shared lease: returns whether the acquire succeeded.
    pub(super) async fn hold_shared(&mut self) -> bool {
        self.lease += 1;
        let lock = rand::thread_rng().gen_range(0..READ_LOCKS.min(self.config.locks));
        let acquired = self.http_op(Kind::Acquire, lock, Via::Native(None)).await;
        let Some((Some(token), _)) = acquired else { return false };
        let mut sent = self.history.last().expect("just recorded").invoke;
        for stretch in 0..rand::thread_rng().gen_range(1..=3) {
            if stretch > 0 {
                if self.http_op(Kind::Renew, lock, Via::Native(Some(&token))).await.is_none() {
                    return true;
                }
                sent = self.history.last().expect("just recorded").invoke;
            }
            if !self.trusts(sent) {
                return true; // the lease may be gone: let it lapse
            }
            work().await;
        }
        self.http_op(Kind::Release, lock, Via::Native(Some(&token))).await;
        true
    }
}
