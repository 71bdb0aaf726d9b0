//! The HTTP client: one place that sends requests, authenticates them and
//! retries the transient failures.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::endpoint::encode_segment;
use crate::error::{self, Error};
use crate::lock::LockRequest;
use crate::lock_set::LockSetRequest;
use crate::retry::Backoff;
use crate::semaphore::SemaphoreRequest;
use crate::watch::Watch;

/// A Leasehold server and the API key to use with it. Cheap to clone: clones
/// share one connection pool.
///
/// ```no_run
/// # async fn demo() -> Result<(), leasehold_client::Error> {
/// use std::time::Duration;
/// let client = leasehold_client::Client::builder("http://127.0.0.1:7010", "lh_...")
///     .request_timeout(Duration::from_secs(5))
///     .retry_for(Duration::from_secs(20))
///     .build()?;
/// let lock = client.lock("nightly-billing").ttl(Duration::from_secs(30)).try_acquire().await?;
/// # drop(lock); Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: String,
    request_timeout: Duration,
    retry_for: Duration,
    backoff: Backoff,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The API key stays out of logs.
        f.debug_struct("Client").field("base", &self.inner.base).finish_non_exhaustive()
    }
}

/// Builds a [`Client`] with timeouts and a retry budget of your choosing.
#[must_use]
pub struct ClientBuilder {
    base: String,
    api_key: String,
    connect_timeout: Duration,
    request_timeout: Duration,
    retry_for: Duration,
    backoff: Backoff,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder").field("base", &self.base).finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// How long to wait for a TCP connection (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one attempt may take, answer included (default 10 s). A
    /// waiting acquire adds its wait to this.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long to keep retrying a request that failed transiently
    /// (connection error, timeout, 503, 429) before giving up (default 10 s).
    /// `Duration::ZERO` turns retries off.
    pub fn retry_for(mut self, budget: Duration) -> Self {
        self.retry_for = budget;
        self
    }

    /// The first and the longest pause between retries (default 100 ms and
    /// 2 s); each pause doubles the last, with jitter.
    pub fn backoff(mut self, first: Duration, longest: Duration) -> Self {
        self.backoff = Backoff::new(first, longest);
        self
    }

    pub fn build(self) -> Result<Client, Error> {
        let base = self.base.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::Config(format!("the server URL must start with http:// or https://: {base}")));
        }
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", self.api_key))
            .map_err(|_| Error::Config("the API key contains characters a header cannot carry".into()))?;
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, auth);
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(self.connect_timeout)
            .timeout(self.request_timeout)
            .user_agent(concat!("leasehold-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config(e.to_string()))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                request_timeout: self.request_timeout,
                retry_for: self.retry_for,
                backoff: self.backoff,
            }),
        })
    }
}

impl Client {
    /// A client with the default timeouts and retries.
    pub fn new(base_url: impl Into<String>, api_key: impl Into<String>) -> Result<Self, Error> {
        Self::builder(base_url, api_key).build()
    }

    pub(crate) fn base(&self) -> &str {
        &self.inner.base
    }

    /// The HTTP client, with the key in its default headers.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// The audit events of the namespace (every lock's and semaphore's) as
    /// they commit, from now or after the cursor `after` ([`Watch::next`]).
    pub fn watch_namespace(&self, namespace: &str, after: Option<&str>) -> Watch {
        let path = format!("/v1/namespaces/{}/events", encode_segment(namespace));
        Watch::new(self.clone(), path, after.map(str::to_owned))
    }

    pub fn builder(base_url: impl Into<String>, api_key: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base: base_url.into(),
            api_key: api_key.into(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            retry_for: Duration::from_secs(10),
            backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(2)),
        }
    }

    /// The lock called `name` (in the key's default namespace unless you
    /// set one), to acquire, read, renew or release.
    pub fn lock(&self, name: impl Into<String>) -> LockRequest {
        LockRequest::new(self.clone(), name.into())
    }

    /// The semaphore called `name`, which admits up to `limit` holders at
    /// once (1 to 10,000; every holder must ask with the same limit).
    pub fn semaphore(&self, name: impl Into<String>, limit: u32) -> SemaphoreRequest {
        SemaphoreRequest::new(self.clone(), name.into(), limit)
    }

    /// The locks `names` (2 to 64), to acquire all together or not at all.
    pub fn lock_set<I, S>(&self, names: I) -> LockSetRequest
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        LockSetRequest::new(self.clone(), names.into_iter().map(Into::into).collect())
    }

    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// Sends `call`, retrying transient failures within the retry budget.
    /// Any HTTP answer other than 503 and 429 is returned as it is.
    pub(crate) async fn send(&self, call: &Call) -> Result<Answer, Error> {
        let give_up = Instant::now() + self.inner.retry_for;
        let mut pauses = self.inner.backoff.pauses();
        let mut retried = false;
        // A retried call's answer may replay an earlier attempt's outcome
        // (Idempotency-Key), so a lease it grants or renews counts from the
        // first attempt: the earliest the server can have acted on it.
        let sent = Instant::now();
        loop {
            let failure = match self.attempt(call).await {
                Ok(mut answer) if !RETRIED_STATUSES.contains(&answer.status) => {
                    answer.sent = sent;
                    answer.retried = retried;
                    return Ok(answer);
                }
                Ok(answer) => answer.error(),
                Err(e) if e.is_builder() => return Err(Error::Config(e.to_string())),
                Err(e) => Error::Unreachable(e),
            };
            let pause = match &failure {
                Error::Unavailable { retry_after: Some(hint), .. }
                | Error::RateLimited { retry_after: Some(hint) } => pauses.next_at_least(*hint),
                _ => pauses.next(),
            };
            if Instant::now() + pause > give_up {
                return Err(failure);
            }
            tokio::time::sleep(pause).await;
            retried = true;
        }
    }

    async fn attempt(&self, call: &Call) -> Result<Answer, reqwest::Error> {
        let url = format!("{}{}", self.inner.base, call.path);
        let mut request = self.inner.http.request(call.method.clone(), url).query(&call.query);
        if let Some(token) = &call.lock_token {
            let mut value = HeaderValue::from_str(token).unwrap_or(HeaderValue::from_static("invalid"));
            value.set_sensitive(true);
            request = request.header("Lock-Token", value);
        }
        if let Some(key) = &call.idempotency_key {
            request = request.header("Idempotency-Key", key.as_str());
        }
        if let Some(body) = &call.body {
            request = request.json(body);
        }
        if let Some(extra) = call.extra_timeout {
            request = request.timeout(self.inner.request_timeout + extra);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.bytes().await?.to_vec();
        Ok(Answer { status, retry_after, body, sent: Instant::now(), retried: false })
    }
}

/// Answers that say the request was not carried out and may succeed later:
/// 503 (database unavailable) and 429 (rate limited).
const RETRIED_STATUSES: [u16; 2] =
    [StatusCode::SERVICE_UNAVAILABLE.as_u16(), StatusCode::TOO_MANY_REQUESTS.as_u16()];

/// One request, as the retry loop resends it.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub method: Method,
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub lock_token: Option<String>,
    pub idempotency_key: Option<String>,
    pub body: Option<serde_json::Value>,
    /// Extra time the server may legitimately take (a waiting acquire).
    pub extra_timeout: Option<Duration>,
}

impl Call {
    pub fn new(method: Method, path: String) -> Self {
        Self {
            method,
            path,
            query: Vec::new(),
            lock_token: None,
            idempotency_key: None,
            body: None,
            extra_timeout: None,
        }
    }

    /// Marks the call with a fresh Idempotency-Key, kept across its retries.
    pub fn idempotent(mut self) -> Self {
        self.idempotency_key = Some(uuid::Uuid::new_v4().to_string());
        self
    }
}

/// An HTTP answer other than 503 or 429.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
    /// When the call's first attempt was sent.
    pub sent: Instant,
    /// Whether an earlier attempt of the same call may have reached the server.
    pub retried: bool,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn error(&self) -> Error {
        error::from_response(self.status, self.retry_after, &self.body)
    }

    /// The body as `T` on success, else the error the answer stands for.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, Error> {
        if !self.is_success() {
            return Err(self.error());
        }
        serde_json::from_slice(&self.body).map_err(|e| Error::Unexpected {
            status: self.status,
            code: None,
            message: format!("unreadable body: {e}"),
        })
    }
}
