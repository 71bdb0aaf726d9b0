//! The private-address rule: an endpoint whose host resolves to a private,
//! loopback, link-local or otherwise non-public address is refused, at
//! registration and again at every connection, unless
//! `webhooks.allow_private_addresses` is set.
//!
//! At delivery the rule lives in the HTTP client's resolver: the addresses
//! it checks are the very ones the client connects to, so a name that
//! resolves to a public address when checked and to a private one a moment
//! later (DNS rebinding) cannot slip through. A URL with an address for a
//! host skips resolution, so it is checked before the request.

use std::net::{IpAddr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::{is_public_address, Endpoint, InvalidInput, WebhookUrl};

/// How long registration waits for the endpoint's host to resolve.
const LOOKUP_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Debug, Clone, Copy)]
pub struct AddressGuard {
    pub allow_private: bool,
}

impl AddressGuard {
    /// Resolves the URL's host and checks every address it has.
    pub async fn check(&self, url: &WebhookUrl) -> Result<(), InvalidInput> {
        match url.endpoint() {
            Endpoint::Address(ip) => self.check_addresses(&[ip]),
            Endpoint::Name(name) => {
                let resolved = tokio::time::timeout(LOOKUP_LIMIT, resolve(&name, url.port())).await;
                let addresses = resolved.ok().and_then(Result::ok).ok_or_else(|| {
                    InvalidInput::new("invalid_url", format!("the host {name} does not resolve"))
                })?;
                let ips: Vec<IpAddr> = addresses.iter().map(SocketAddr::ip).collect();
                self.check_addresses(&ips)
            }
        }
    }

    /// Refuses the lot if any address is not public (and that is not allowed).
    pub fn check_addresses(&self, ips: &[IpAddr]) -> Result<(), InvalidInput> {
        match ips.iter().find(|ip| !self.allow_private && !is_public_address(**ip)) {
            Some(ip) => Err(InvalidInput::new(
                "private_address",
                format!(
                    "the endpoint's address {ip} is private, loopback or link-local; webhooks deliver \
                     only to public addresses"
                ),
            )),
            None => Ok(()),
        }
    }
}

async fn resolve(host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
    if found.is_empty() {
        return Err(std::io::Error::other("no addresses"));
    }
    Ok(found)
}

/// The delivery client's resolver: the system's, then the rule.
impl Resolve for AddressGuard {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = *self;
        Box::pin(async move {
            let found = resolve(name.as_str(), 0).await?;
            let ips: Vec<IpAddr> = found.iter().map(SocketAddr::ip).collect();
            guard.check_addresses(&ips)?;
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loopback_endpoints_are_refused_unless_allowed() {
        let url = WebhookUrl::parse("http://localhost:9/hook").unwrap();
        let literal = WebhookUrl::parse("http://127.0.0.1:9/hook").unwrap();

        for url in [&url, &literal] {
            let refused = AddressGuard { allow_private: false }.check(url).await.unwrap_err();
            assert_eq!(refused.code, "private_address");
            AddressGuard { allow_private: true }.check(url).await.unwrap();
        }
    }
}
