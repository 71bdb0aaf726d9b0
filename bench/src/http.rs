//! A minimal HTTP/1.1 keep-alive client: one connection per simulated client,
//! requests written as bytes, answers read by Content-Length (or chunked).
//! It costs far less CPU than a general client, so the server gets the cores.

use std::io;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub struct Conn {
    stream: BufReader<TcpStream>,
    host: String,
    line: String,
}

pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Conn {
    pub async fn connect(addr: &str) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self { stream: BufReader::new(stream), host: addr.to_owned(), line: String::new() })
    }

    /// Sends one request; `headers` are complete lines, each ending in CRLF.
    pub async fn call(&mut self, method: &str, path: &str, headers: &str, body: &[u8]) -> io::Result<Answer> {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{headers}\r\n",
            self.host,
            body.len()
        );
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        self.stream.get_mut().write_all(&request).await?;
        self.read_answer().await
    }

    async fn read_answer(&mut self) -> io::Result<Answer> {
        self.next_line().await?;
        let status =
            self.line.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| bad("status line"))?;
        let (mut length, mut chunked) = (0usize, false);
        loop {
            self.next_line().await?;
            let line = self.line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').ok_or_else(|| bad("header"))?;
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().map_err(|_| bad("content-length"))?;
            } else if name.eq_ignore_ascii_case("transfer-encoding") && value.contains("chunked") {
                chunked = true;
            }
        }
        let body = if chunked { self.read_chunked().await? } else { self.read_exact(length).await? };
        Ok(Answer { status, body })
    }

    async fn read_chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            self.next_line().await?;
            let size = usize::from_str_radix(self.line.trim(), 16).map_err(|_| bad("chunk size"))?;
            let chunk = self.read_exact(size + 2).await?;
            if size == 0 {
                return Ok(body);
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }

    async fn read_exact(&mut self, n: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0; n];
        self.stream.read_exact(&mut buf).await?;
        Ok(buf)
    }

    async fn next_line(&mut self) -> io::Result<()> {
        self.line.clear();
        if self.stream.read_line(&mut self.line).await? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"));
        }
        Ok(())
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("malformed HTTP answer: {what}"))
}

/// A JSON string field of a body, without building a DOM.
pub fn json_str(body: &[u8], field: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value.get(field)?.as_str().map(str::to_owned)
}
