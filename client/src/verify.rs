//! For a resource: is a writer's lease the live one? A check may record a
//! note of the write in the lock's audit trail.

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::Deserialize;

use crate::client::Call;
use crate::error::Error;
use crate::lock::{LockRequest, LockToken};

/// Whom a resource checks: the writer's lock token, or its fencing token
/// when it has no token to show.
#[derive(Debug, Clone, Copy)]
pub enum Writer<'a> {
    LockToken(&'a LockToken),
    FencingToken(i64),
}

/// The live lease a writer holds, as a verification found it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Verified {
    pub fencing_token: i64,
    pub expires_at: DateTime<Utc>,
    pub owner: Option<String>,
}

impl LockRequest {
    /// Checks that `writer` holds this lock's live lease: `Err(LeaseLost {
    /// reason })` when it does not. A `note` (up to 1 KiB) is recorded in the
    /// lock's audit trail with the check, as a `verified` event.
    pub async fn verify(&self, writer: Writer<'_>, note: Option<&str>) -> Result<Verified, Error> {
        let endpoint = self.endpoint();
        let mut call = Call::new(Method::POST, format!("{}/verify", endpoint.path));
        let mut body = serde_json::Map::new();
        match writer {
            Writer::LockToken(token) => call.lock_token = Some(token.expose().to_owned()),
            Writer::FencingToken(fencing) => _ = body.insert("fencing_token".into(), fencing.into()),
        }
        if let Some(note) = note {
            body.insert("note".into(), note.into());
        }
        call.body = Some(body.into());
        endpoint.client.send(&call).await?.parse()
    }
}
