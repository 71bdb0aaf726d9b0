//! Custom subdomains: with `http.base_domain = "locks.example.com"`, a
//! request to `acme.locks.example.com` acts in account acme's namespace by
//! default, and only acme's keys are served there.

use actix_web::http::header::HOST;
use actix_web::HttpRequest;

use super::error::ApiError;
use super::AppState;
use crate::domain::{LockError, NamespaceName, Plan, Principal};
use crate::store::accounts;

/// The account a host names under `base_domain`: the one label before it.
pub fn account_of_host<'a>(host: &'a str, base_domain: &str) -> Option<&'a str> {
    let host = host.rsplit_once(':').map_or(host, |(name, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            name
        } else {
            host
        }
    });
    let label = host.strip_suffix(base_domain)?.strip_suffix('.')?;
    (!label.is_empty() && !label.contains('.')).then_some(label)
}

/// The caller as the request's subdomain (if any) addresses it: its default
/// namespace becomes the subdomain's account's own. A key of another
/// account finds no namespace there (404, as for any other tenant's).
pub async fn scoped(
    req: &HttpRequest,
    state: &AppState,
    mut caller: Principal,
) -> Result<Principal, ApiError> {
    let Some(base) = state.base_domain.as_deref() else { return Ok(caller) };
    let host = req.headers().get(HOST).and_then(|h| h.to_str().ok()).unwrap_or_default().to_ascii_lowercase();
    let Some(label) = account_of_host(&host, base) else { return Ok(caller) };
    let account = state.db(accounts::find_by_name(&state.pool, label)).await?;
    match account {
        Some(account) if account.id == caller.account_id => {
            if account.plan == Plan::Business {
                caller.namespace =
                    NamespaceName::parse(&account.name).map_err(|_| LockError::NamespaceNotFound)?;
            }
            Ok(caller)
        }
        _ if caller.sees_all_tenants() => Ok(caller),
        _ => Err(LockError::NamespaceNotFound.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::account_of_host;

    #[test]
    fn the_one_label_before_the_base_domain_names_the_account() {
        let base = "locks.example.com";
        assert_eq!(account_of_host("acme.locks.example.com", base), Some("acme"));
        assert_eq!(account_of_host("acme.locks.example.com:7010", base), Some("acme"));
        assert_eq!(account_of_host("locks.example.com", base), None);
        assert_eq!(account_of_host("a.b.locks.example.com", base), None);
        assert_eq!(account_of_host("evillocks.example.com", base), None);
        assert_eq!(account_of_host("acme.other.com", base), None);
    }
}
