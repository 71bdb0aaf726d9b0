//! The delivery worker, one per replica. It claims webhooks that have a
//! settled event after their cursor (`store::webhook_claims::claim`: a
//! short statement that skips rows another replica holds and leases the
//! ones it takes), POSTs each claimed event outside any transaction, then
//! records the outcome, moving the cursor only from where the claim found
//! it. A replica that dies mid-attempt leaves a lease that runs out, and
//! another replica attempts the event again: at least once, in order.
//!
//! Deliveries share nothing with lock operations but the pool: no lock
//! statement waits for them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::guard::AddressGuard;
use super::signature;
use crate::config::WebhookSettings;
use crate::domain::{Endpoint, WebhookUrl};
use crate::store::audit;
use crate::store::webhook_claims::{self, Attempt, Backoff, Claim};

/// How long a claim keeps other replicas off, beyond the receiver's timeout.
const LEASE_MARGIN: Duration = Duration::from_secs(30);

struct Deliverer {
    pool: PgPool,
    client: reqwest::Client,
    guard: AddressGuard,
    backoff: Backoff,
}

pub async fn run(pool: PgPool, settings: WebhookSettings, stop: CancellationToken) {
    let deliverer = match Deliverer::new(pool, &settings) {
        Ok(deliverer) => Arc::new(deliverer),
        Err(error) => {
            tracing::error!(%error, "webhook deliveries are off: cannot build the HTTP client");
            return;
        }
    };
    let lease = settings.timeout() + LEASE_MARGIN;
    let concurrency = settings.concurrency.max(1);
    let mut in_flight = JoinSet::new();
    loop {
        let room = concurrency - in_flight.len();
        let claimed = if room > 0 { deliverer.claim(lease, room).await } else { Vec::new() };
        let full = room > 0 && claimed.len() == room;
        for claim in claimed {
            let deliverer = deliverer.clone();
            in_flight.spawn(async move { deliverer.deliver(claim).await });
        }
        if full {
            continue;
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            _ = tokio::time::sleep(settings.poll_interval()) => {}
        }
    }
    in_flight.shutdown().await;
}

impl Deliverer {
    fn new(pool: PgPool, settings: &WebhookSettings) -> anyhow::Result<Self> {
        let guard = AddressGuard { allow_private: settings.allow_private_addresses };
        let mut client = reqwest::Client::builder()
            .timeout(settings.timeout())
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(guard))
            .user_agent(concat!("Leasehold-Webhooks/", env!("CARGO_PKG_VERSION")));
        match std::fs::read(&settings.ca_bundle) {
            Ok(pem) => {
                for certificate in reqwest::Certificate::from_pem_bundle(&pem)? {
                    client = client.add_root_certificate(certificate);
                }
            }
            Err(error) => tracing::warn!(
                %error, path = %settings.ca_bundle.display(),
                "no CA bundle for webhooks: https endpoints will fail; set webhooks.ca_bundle"
            ),
        }
        let backoff = Backoff {
            initial: Duration::from_millis(settings.backoff_initial_ms),
            max: Duration::from_millis(settings.backoff_max_ms),
            give_up: Duration::from_secs(settings.give_up_hours * 3600),
        };
        Ok(Self { pool, client: client.build()?, guard, backoff })
    }

    /// Due webhooks with a settled event to deliver, leased to this replica.
    async fn claim(&self, lease: Duration, room: usize) -> Vec<Claim> {
        let claimed = async {
            let horizon = audit::horizon(&self.pool).await?;
            webhook_claims::claim(&self.pool, horizon, lease, room as i64).await
        };
        claimed.await.unwrap_or_else(|error| {
            tracing::warn!(%error, "claiming webhook deliveries failed; will retry");
            Vec::new()
        })
    }

    #[tracing::instrument(skip_all, fields(webhook_id = %claim.webhook_id, event_id = claim.event.id, attempt = claim.attempt))]
    async fn deliver(&self, claim: Claim) {
        let started = Instant::now();
        let (status_code, error) = match self.post(&claim).await {
            Ok(status) => (Some(status.as_u16()), None),
            Err(error) => (None, Some(error)),
        };
        let attempt = Attempt {
            delivered: status_code.is_some_and(|s| (200..300).contains(&s)),
            duration: started.elapsed(),
            status_code,
            error: error.as_deref(),
        };
        match webhook_claims::record(&self.pool, &claim, &attempt, &self.backoff).await {
            Ok(outcome) if outcome == "delivered" => tracing::debug!("webhook delivered"),
            Ok(outcome) => tracing::info!(outcome, status_code, error, "webhook delivery failed"),
            // The lease runs out and the event is attempted again.
            Err(error) => tracing::warn!(%error, "recording a webhook delivery failed"),
        }
    }

    /// POSTs the event; the receiver's status, or why there is none.
    async fn post(&self, claim: &Claim) -> Result<reqwest::StatusCode, String> {
        let url = WebhookUrl::parse(&claim.url).map_err(|e| e.message)?;
        if let Endpoint::Address(ip) = url.endpoint() {
            self.guard.check_addresses(&[ip]).map_err(|e| e.message)?;
        }
        let event = audit::event_at(&self.pool, claim.event)
            .await
            .map_err(|e| format!("reading the event failed: {e}"))?
            .ok_or("the event is no longer in the audit trail")?;
        let body = serde_json::to_vec(&event).map_err(|e| e.to_string())?;
        let signed = signature::sign(&claim.secret, claim.claimed_at.timestamp(), &body);
        let response = self
            .client
            .post(url.as_str())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(signature::HEADER, signed)
            .header("Leasehold-Event-Id", event.id.to_string())
            .body(body)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        Ok(response.status())
    }
}

/// A failed request's cause, without its URL (which may carry a token).
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "the receiver did not answer in time".into();
    }
    let mut text = String::from(if error.is_connect() { "cannot connect" } else { "request failed" });
    let mut cause = std::error::Error::source(error);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
