//! A webhook's endpoint and what it listens to, and which addresses an
//! endpoint may have.

use std::net::IpAddr;

use url::{Host, Url};

use super::InvalidInput;

/// The audit events a webhook may ask for.
pub const WEBHOOK_EVENTS: &[&str] =
    &["acquired", "renewed", "released", "expired", "force_released", "verified"];

/// The longest URL a webhook may have.
const MAX_URL_LEN: usize = 2048;

/// An `http` or `https` URL with a host and no credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(Url);

/// Where an endpoint is: an address already, or a name still to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Address(IpAddr),
    Name(String),
}

impl WebhookUrl {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let invalid = |why: &str| InvalidInput::new("invalid_url", format!("url {why}"));
        if raw.len() > MAX_URL_LEN {
            return Err(invalid("is longer than 2048 characters"));
        }
        let url = Url::parse(raw).map_err(|_| invalid("is not an absolute URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("must be http or https"));
        }
        if url.host().is_none() {
            return Err(invalid("has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("must not carry credentials"));
        }
        Ok(Self(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn port(&self) -> u16 {
        self.0.port_or_known_default().unwrap_or(80)
    }

    pub fn endpoint(&self) -> Endpoint {
        match self.0.host() {
            Some(Host::Ipv4(ip)) => Endpoint::Address(ip.into()),
            Some(Host::Ipv6(ip)) => Endpoint::Address(ip.into()),
            Some(Host::Domain(name)) => Endpoint::Name(name.to_owned()),
            None => unreachable!("parse refuses a URL without a host"),
        }
    }
}

/// Whether an address is on the public internet: not private, loopback,
/// link-local, unspecified, multicast, broadcast or documentation space.
pub fn is_public_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                // Carrier-grade NAT, 100.64.0.0/10.
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_address(v4.into()),
            None => {
                let first = v6.segments()[0];
                !(v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || (first & 0xfe00) == 0xfc00 // unique local, fc00::/7
                    || (first & 0xffc0) == 0xfe80) // link-local, fe80::/10
            }
        },
    }
}

/// The event kinds a webhook listens to: at least one, each a known one.
pub fn webhook_events(events: Vec<String>) -> Result<Vec<String>, InvalidInput> {
    let invalid = || {
        InvalidInput::new(
            "invalid_event",
            format!("events is a non-empty list of {}", WEBHOOK_EVENTS.join(", ")),
        )
    };
    if events.is_empty() || events.iter().any(|e| !WEBHOOK_EVENTS.contains(&e.as_str())) {
        return Err(invalid());
    }
    let mut events = events;
    events.sort();
    events.dedup();
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_urls_with_a_host_are_endpoints() {
        for good in
            ["https://hooks.example.com/leasehold", "http://203.0.113.9:8080/x?y=1", "http://[2001:db8::1]/"]
        {
            assert!(WebhookUrl::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "ftp://example.com/",
            "file:///etc/passwd",
            "example.com/hook",
            "https://user:pw@example.com/",
            "",
        ] {
            assert_eq!(WebhookUrl::parse(bad).unwrap_err().code, "invalid_url", "{bad}");
        }
    }

    #[test]
    fn an_endpoint_is_an_address_or_a_name() {
        let url = WebhookUrl::parse("http://127.0.0.1:9000/h").unwrap();
        assert_eq!(url.endpoint(), Endpoint::Address("127.0.0.1".parse().unwrap()));
        assert_eq!(url.port(), 9000);
        let url = WebhookUrl::parse("https://Hooks.Example.com/h").unwrap();
        assert_eq!(url.endpoint(), Endpoint::Name("hooks.example.com".into()));
        assert_eq!(url.port(), 443);
    }

    #[test]
    fn private_loopback_and_link_local_addresses_are_not_public() {
        for private in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "100.64.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public_address(private.parse().unwrap()), "{private}");
        }
        for public in ["8.8.8.8", "172.32.0.1", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public_address(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn events_are_known_kinds_without_repeats() {
        let events = webhook_events(vec!["released".into(), "acquired".into(), "acquired".into()]).unwrap();
        assert_eq!(events, ["acquired", "released"]);
        assert_eq!(webhook_events(vec![]).unwrap_err().code, "invalid_event");
        assert_eq!(webhook_events(vec!["exploded".into()]).unwrap_err().code, "invalid_event");
    }
}
