//! A resource checks a writer: is the lease it names the live one? With a
//! note, the check also records the write in the audit trail.

use super::{Call, LeaseError, Leases, LockRef};
use crate::domain::Note;
use crate::store::locks::verify::{self, Verified, Writer};
use crate::tenancy::Access;

impl Leases {
    /// The live lease `writer` names, or why it is not live (`lease_lost`).
    /// Any key that may read the lock may ask, and leave a note.
    pub async fn verify(
        &self,
        call: &Call<'_>,
        lock: LockRef,
        writer: Writer<'_>,
        note: Option<&Note>,
    ) -> Result<Verified, LeaseError> {
        let namespace = self.authorize(call, lock.namespace, Access::Read).await?;
        let actor = self.actor(call).await?;
        let checked =
            verify::verify(&self.pool, &namespace, &lock.name, writer, &actor, note.map(Note::as_str));
        match self.db(checked).await? {
            Some(verified) => {
                self.count(call.api, "verified", u64::from(note.is_some()));
                Ok(verified)
            }
            None => Err(self.lease_lost(&namespace, &lock.name, writer).await),
        }
    }
}
