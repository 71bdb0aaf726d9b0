//! Acquiring within a wait, for every kind of lease: the server queues
//! waiters fairly where it can; otherwise the client polls, guided by the
//! server's `Retry-After`.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::Error;

/// The longest wait asked of the server in one request (the default plans'
/// limit); a longer wait asks again for the rest.
const MAX_SERVER_WAIT: Duration = Duration::from_secs(30);

/// Calls `attempt` with how long the server may wait this time, until it
/// succeeds, fails otherwise, or `wait` has passed. Only a conflict (held,
/// full) is tried again.
pub(crate) async fn acquire_within<T, F, Fut>(wait: Option<Duration>, mut attempt: F) -> Result<T, Error>
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let Some(wait) = wait.filter(|w| !w.is_zero()) else {
        return attempt(Duration::ZERO).await;
    };
    let deadline = Instant::now() + wait;
    let mut poll = Duration::from_millis(50);
    let mut server_waits = true;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ask = if server_waits { left.min(MAX_SERVER_WAIT) } else { Duration::ZERO };
        match attempt(ask).await {
            // A plan that allows less waiting per request: poll instead.
            Err(Error::Invalid { code, .. }) if code == "invalid_wait" && server_waits => {
                server_waits = false;
            }
            Err(Error::Held { retry_after, .. } | Error::SemaphoreFull { retry_after, .. })
                if !left.is_zero() =>
            {
                let pause = retry_after.unwrap_or(poll).min(poll).min(left);
                poll = (poll * 2).min(Duration::from_secs(1));
                tokio::time::sleep(pause).await;
            }
            outcome => return outcome,
        }
    }
}
