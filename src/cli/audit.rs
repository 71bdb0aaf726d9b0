//! `leasehold audit`: searches a server's audit trail (`GET /v1/audit`) and
//! prints it as an aligned table (local time, or UTC with `--utc`), JSON lines
//! or CSV.

use std::io::Write;

use anyhow::{bail, Context};
use chrono::{DateTime, Local, SecondsFormat, Utc};
use clap::{Args, ValueEnum};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The server's base URL.
    #[arg(long, env = "LEASEHOLD_URL", default_value = "http://127.0.0.1:7010")]
    url: String,
    /// An API key (support or admin to see every tenant).
    #[arg(long, env = "LEASEHOLD_API_KEY", hide_env_values = true)]
    key: String,
    #[arg(long)]
    namespace: Option<String>,
    #[arg(long)]
    name: Option<String>,
    /// An account's name.
    #[arg(long)]
    account: Option<String>,
    #[arg(long)]
    key_id: Option<String>,
    /// acquired, renewed, released, expired, force_released...; repeatable.
    #[arg(long)]
    event: Vec<String>,
    #[arg(long)]
    fencing_token: Option<i64>,
    /// RFC 3339, e.g. 2026-11-23T03:00:00Z.
    #[arg(long)]
    since: Option<String>,
    #[arg(long)]
    until: Option<String>,
    #[arg(long, value_enum, default_value = "desc")]
    order: Order,
    /// Events per page (at most 1000).
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// Start after this cursor (printed on stderr when more events remain).
    #[arg(long)]
    cursor: Option<String>,
    /// Follow the cursor through every page.
    #[arg(long)]
    all: bool,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Show times in UTC instead of local time.
    #[arg(long)]
    utc: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Order {
    Asc,
    Desc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Deserialize)]
struct Page {
    events: Vec<Value>,
    next_cursor: Option<String>,
}

pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let mut cursor = args.cursor.clone();
    let mut events = Vec::new();
    loop {
        let page = fetch(&client, &args, cursor.as_deref()).await?;
        let done = page.events.is_empty() || page.next_cursor.is_none();
        events.extend(page.events);
        cursor = page.next_cursor;
        if !args.all || done {
            break;
        }
    }
    let mut out = std::io::stdout().lock();
    out.write_all(render(&events, args.format, args.utc).as_bytes())?;
    if let (Some(cursor), false) = (&cursor, args.all) {
        eprintln!("more events may follow: --cursor {cursor}");
    }
    Ok(())
}

async fn fetch(client: &reqwest::Client, args: &AuditArgs, cursor: Option<&str>) -> anyhow::Result<Page> {
    let mut query: Vec<(&str, String)> =
        vec![("order", format!("{:?}", args.order).to_lowercase()), ("limit", args.limit.to_string())];
    let optional = [
        ("namespace", args.namespace.clone()),
        ("name", args.name.clone()),
        ("account", args.account.clone()),
        ("key_id", args.key_id.clone()),
        ("fencing_token", args.fencing_token.map(|t| t.to_string())),
        ("since", args.since.clone()),
        ("until", args.until.clone()),
        ("cursor", cursor.map(str::to_owned)),
    ];
    query.extend(optional.into_iter().filter_map(|(k, v)| Some((k, v?))));
    query.extend(args.event.iter().map(|e| ("event", e.clone())));
    let url = format!("{}/v1/audit", args.url.trim_end_matches('/'));
    let response = client
        .get(&url)
        .query(&query)
        .bearer_auth(&args.key)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let body: Value =
        response.json().await.with_context(|| format!("{url} answered {status} without JSON"))?;
    if !status.is_success() {
        let error = &body["error"];
        bail!(
            "{status}: {} ({})",
            error["message"].as_str().unwrap_or("?"),
            error["code"].as_str().unwrap_or("?")
        );
    }
    Ok(serde_json::from_value(body)?)
}

const COLUMNS: [&str; 10] = [
    "time",
    "event",
    "namespace",
    "name",
    "fencing_token",
    "account",
    "key_id",
    "owner",
    "expires_at",
    "reason",
];

/// Renders events in `format`, times in UTC or the local zone.
pub fn render(events: &[Value], format: Format, utc: bool) -> String {
    if format == Format::Json {
        return events.iter().map(|e| format!("{e}\n")).collect();
    }
    let rows: Vec<Vec<String>> = events.iter().map(|e| row(e, utc)).collect();
    match format {
        Format::Csv => std::iter::once(COLUMNS.map(str::to_owned).to_vec())
            .chain(rows)
            .map(|r| r.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(",") + "\r\n")
            .collect(),
        _ => table(&rows),
    }
}

fn row(event: &Value, utc: bool) -> Vec<String> {
    let text = |field: &str| match &event[field] {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let time = |field: &str| {
        let raw = text(field);
        match raw.parse::<DateTime<Utc>>() {
            Ok(t) if utc => t.to_rfc3339_opts(SecondsFormat::Millis, true),
            Ok(t) => t.with_timezone(&Local).to_rfc3339_opts(SecondsFormat::Millis, false),
            Err(_) => raw,
        }
    };
    let mut cells = vec![time("occurred_at")];
    cells.extend(["event", "namespace", "name", "fencing_token", "account", "key_id", "owner"].map(text));
    cells.push(time("expires_at"));
    cells.push(text("reason"));
    cells
}

fn table(rows: &[Vec<String>]) -> String {
    let header: Vec<String> = COLUMNS.iter().map(|c| c.to_uppercase()).collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    std::iter::once(&header)
        .chain(rows)
        .map(|row| {
            let cells: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
            cells.join("  ").trim_end().to_owned() + "\n"
        })
        .collect()
}

/// RFC 4180: quote a field holding a comma, a quote or a line break.
fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event() -> Value {
        json!({"id": 7, "occurred_at": "2026-11-23T03:12:00.5Z", "event": "force_released",
               "namespace": "acme", "name": "nightly-billing", "fencing_token": 17, "account": "acme",
               "key_id": "0123456789abcdef", "owner": "cron, host-1", "expires_at": "2026-11-23T03:13:00Z",
               "reason": "said \"stuck\""})
    }

    #[test]
    fn a_table_aligns_columns_under_a_header_in_utc() {
        let text = render(&[event()], Format::Table, true);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("TIME"));
        assert!(lines[1].starts_with("2026-11-23T03:12:00.500Z  force_released"));
        assert_eq!(lines[0].find("EVENT"), lines[1].find("force_released"));
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let text = render(&[event()], Format::Csv, true);
        assert!(text.starts_with("time,event,namespace"));
        assert!(text.contains(",\"cron, host-1\","));
        assert!(text.contains("\"said \"\"stuck\"\"\""));
    }

    #[test]
    fn json_is_one_event_per_line() {
        let text = render(&[event(), event()], Format::Json, false);
        assert_eq!(text.lines().count(), 2);
        assert_eq!(serde_json::from_str::<Value>(text.lines().next().unwrap()).unwrap()["id"], 7);
    }
}
