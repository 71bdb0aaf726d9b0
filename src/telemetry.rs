use std::io::IsTerminal;

use tracing_subscriber::{fmt, EnvFilter};

use crate::config::LogFormat;

const DEFAULT_FILTER: &str = "info,sqlx=warn";

/// actix-http logs every malformed request a client sends (a bad header, a
/// broken chunk) at ERROR, after answering it 400 itself: client noise that
/// would page an operator, so it is off unless `RUST_LOG` names actix_http.
const CLIENT_NOISE: &str = "actix_http::h1::dispatcher=off";

/// Logs to stdout, filtered by `RUST_LOG` (default: info). Colours only on a
/// terminal: in a file, journald or a log shipper they are noise.
pub fn init(format: LogFormat) {
    let spec = filter_spec(std::env::var("RUST_LOG").ok().as_deref());
    let filter = EnvFilter::try_new(&spec).unwrap_or_else(|_| EnvFilter::new(filter_spec(None)));
    let builder =
        fmt().with_env_filter(filter).with_writer(std::io::stdout).with_ansi(std::io::stdout().is_terminal());
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

fn filter_spec(rust_log: Option<&str>) -> String {
    let spec = rust_log.filter(|s| !s.trim().is_empty()).unwrap_or(DEFAULT_FILTER);
    if spec.contains("actix_http") {
        spec.to_owned()
    } else {
        format!("{spec},{CLIENT_NOISE}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_noise_is_off_unless_rust_log_names_actix_http() {
        assert_eq!(filter_spec(None), "info,sqlx=warn,actix_http::h1::dispatcher=off");
        assert_eq!(filter_spec(Some("debug")), "debug,actix_http::h1::dispatcher=off");
        assert_eq!(filter_spec(Some("info,actix_http=debug")), "info,actix_http=debug");
    }
}
