//! `POST {lock}/verify`: a resource checks that a writer holds the live
//! lease, by its lock token or its fencing token, and may record a note of
//! the write in the audit trail.

use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::api_schema::{LeaseLostError, LockAddress, LockTokenHeader, WriteErrors};
use super::error::ApiError;
use super::extract::{lock_token, Caller, JsonBody, LockPath};
use super::locks::{lock_ref, read_call};
use super::request_id::RequestId;
use super::AppState;
use crate::domain::{InvalidInput, LockToken, Note};
use crate::store::locks::verify::Writer;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    /// The writer's fencing token, when it has no lock token to show.
    pub fencing_token: Option<i64>,
    /// What was written under the lease (up to 1 KiB): recorded as a
    /// `verified` event in the lock's audit trail.
    pub note: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyView {
    pub valid: bool,
    pub fencing_token: i64,
    pub expires_at: DateTime<Utc>,
    pub owner: Option<String>,
}

/// Is this the live lease? By the holder's `Lock-Token`, or by
/// `{"fencing_token": N}` from any key that may read the lock.
#[utoipa::path(post, path = "/v1/namespaces/{namespace}/locks/{name}/verify", tag = "locks",
    params(LockAddress, LockTokenHeader),
    request_body(content = Option<VerifyBody>, content_type = "application/json"),
    responses(
        (status = 200, description = "The writer holds the live lease", body = VerifyView),
        LeaseLostError, WriteErrors))]
pub async fn verify(
    req: HttpRequest,
    state: Data<AppState>,
    Caller(caller): Caller,
    path: LockPath,
    JsonBody(body): JsonBody<VerifyBody>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let note = body.note.map(Note::parse).transpose()?;
    let presented = lock_token(&req, None).ok();
    let hash = presented.as_deref().map(|token| LockToken::presented(token).hash());
    let writer = match (&hash, body.fencing_token) {
        (Some(hash), None) => Writer::Token(hash),
        (None, Some(fencing)) => Writer::Fencing(fencing),
        _ => {
            let message =
                "send the writer's Lock-Token header, or its \"fencing_token\" in the body (one of them)";
            return Err(InvalidInput::new("missing_lock_token", message).into());
        }
    };
    let call = read_call(&req, &caller, None, &request_id);
    let found = state.leases.verify(&call, lock_ref(path), writer, note.as_ref()).await?;
    Ok(HttpResponse::Ok().json(VerifyView {
        valid: true,
        fencing_token: found.fencing_token,
        expires_at: found.expires_at,
        owner: found.owner,
    }))
}
