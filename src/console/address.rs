//! The lock or semaphore a console path names, once the signed-in key may
//! read its namespace. Anything else is "not found", so that a page never
//! tells whether a namespace it may not read exists.

use super::session::SignedIn;
use super::ConsoleError;
use crate::domain::{LockName, NamespaceName};
use crate::http::AppState;
use crate::tenancy::Access;

/// `what` names the kind ("lock", "semaphore") in the not-found page.
pub async fn readable(
    state: &AppState,
    user: &SignedIn,
    what: &str,
    ns: &str,
    name: &str,
) -> Result<(NamespaceName, LockName), ConsoleError> {
    let not_found = || ConsoleError::NotFound(format!("there is no {what} {ns}/{name}"));
    let namespace = NamespaceName::parse(ns).map_err(|_| not_found())?;
    let name = LockName::parse(name).map_err(|_| not_found())?;
    let namespace = state
        .namespaces
        .authorize(&user.principal, namespace, Access::Read)
        .await
        .map_err(|_| not_found())?;
    Ok((namespace, name))
}
