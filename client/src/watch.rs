//! Watching a lock or a namespace: its audit events as they commit, over
//! Server-Sent Events, resumed after the last one seen whenever the stream
//! drops.

use std::time::Duration;

use reqwest::header::{ACCEPT, RETRY_AFTER};

use crate::client::Client;
use crate::error::{from_response, Error};
use crate::retry::{Backoff, Pauses};

/// Keep-alive comments come every 15 s by default: a longer silence is a
/// dead connection.
const SILENCE: Duration = Duration::from_secs(45);
/// A stream has no end of its own: the client's request timeout must not cut it.
const STREAM_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

/// One audit event: its kind (`acquired`, `renewed`, `released`, `expired`,
/// `verified`...), its cursor (resume after it) and the event as `/v1/audit`
/// shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: String,
    pub cursor: String,
    pub data: serde_json::Value,
}

/// A watch: [`Watch::next`] waits for the next event, reconnecting after the
/// last one it returned when the connection drops, goes silent or the server
/// is unavailable.
#[derive(Debug)]
pub struct Watch {
    client: Client,
    path: String,
    after: Option<String>,
    open: Option<reqwest::Response>,
    unread: Vec<u8>,
    frame: Frame,
    pauses: Pauses,
}

impl Watch {
    pub(crate) fn new(client: Client, path: String, after: Option<String>) -> Self {
        let pauses = Backoff::new(Duration::from_millis(100), Duration::from_secs(5)).pauses();
        Self { client, path, after, open: None, unread: Vec::new(), frame: Frame::default(), pauses }
    }

    /// The next event; an error only for a refusal (401, 404...), which no
    /// reconnection would change.
    pub async fn next(&mut self) -> Result<Event, Error> {
        loop {
            if let Some(event) = self.buffered_event()? {
                self.after = Some(event.cursor.clone());
                return Ok(event);
            }
            let Some(open) = self.open.as_mut() else {
                match self.connect().await {
                    Ok(response) => self.open = Some(response),
                    Err(e) if e.is_transient() => tokio::time::sleep(self.pauses.next()).await,
                    Err(e) => return Err(e),
                }
                continue;
            };
            match tokio::time::timeout(SILENCE, open.chunk()).await {
                Ok(Ok(Some(bytes))) => self.unread.extend_from_slice(&bytes),
                _ => {
                    (self.open, self.unread, self.frame) = (None, Vec::new(), Frame::default());
                    tokio::time::sleep(self.pauses.next()).await;
                }
            }
        }
    }

    async fn connect(&mut self) -> Result<reqwest::Response, Error> {
        let url = format!("{}{}", self.client.base(), self.path);
        let mut request =
            self.client.http().get(url).header(ACCEPT, "text/event-stream").timeout(STREAM_TIMEOUT);
        if let Some(after) = &self.after {
            request = request.header("Last-Event-ID", after.as_str());
        }
        let response = request.send().await.map_err(Error::Unreachable)?;
        if response.status().is_success() {
            self.pauses = Backoff::new(Duration::from_millis(100), Duration::from_secs(5)).pauses();
            return Ok(response);
        }
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok()?.trim().parse().ok())
            .map(Duration::from_secs);
        let body = response.bytes().await.map_err(Error::Unreachable)?;
        Err(from_response(status, retry_after, &body))
    }

    /// The next whole event among the bytes read, if one is there.
    fn buffered_event(&mut self) -> Result<Option<Event>, Error> {
        while let Some(end) = self.unread.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.unread.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\r', '\n']);
            if line.starts_with(':') {
                continue; // a keep-alive comment
            }
            if !line.is_empty() {
                let (name, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
                match name {
                    "event" => self.frame.event = Some(value),
                    "id" => self.frame.id = Some(value),
                    "data" => self.frame.data.push(value),
                    _ => {}
                }
                continue;
            }
            let Frame { event, id, data } = std::mem::take(&mut self.frame);
            let (Some(cursor), false) = (id, data.is_empty()) else { continue };
            let data = serde_json::from_str(&data.join("\n")).map_err(|e| Error::Unexpected {
                status: 200,
                code: None,
                message: format!("an event's data is not JSON: {e}"),
            })?;
            return Ok(Some(Event { kind: event.unwrap_or_else(|| "message".into()), cursor, data }));
        }
        Ok(None)
    }
}

/// The fields of the event being read.
#[derive(Debug, Default)]
struct Frame {
    event: Option<String>,
    id: Option<String>,
    data: Vec<String>,
}
