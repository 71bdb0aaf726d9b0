//! An account's daily usage, as `GET /v1/account/usage` (its owner) and
//! `GET /v1/admin/accounts/{account}/usage` (an admin) both answer it:
//! `{"account", "days": [...]}`, oldest first, one entry per UTC day of the
//! range, zeros where nothing happened.

use actix_web::HttpResponse;
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::AppState;
use crate::domain::InvalidInput;
use crate::store::usage;

/// The longest range one request reads, in days.
const MAX_DAYS: i64 = 366;
/// The range's length when `from` is not given.
const DEFAULT_DAYS: u64 = 30;

/// Which days: both ends inclusive, UTC dates.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageRange {
    /// The first day, `YYYY-MM-DD`; 29 days before `to` when absent.
    from: Option<String>,
    /// The last day, `YYYY-MM-DD`; today (UTC, by the database clock) when absent.
    to: Option<String>,
}

/// The days of `range` of account `account_id`, named `name`.
pub async fn respond(
    state: &AppState,
    account_id: i64,
    name: &str,
    range: &UsageRange,
) -> Result<HttpResponse, ApiError> {
    let from = parse_date(range.from.as_deref(), "from")?;
    let to = match parse_date(range.to.as_deref(), "to")? {
        Some(to) => to,
        None => state.db(usage::today(&state.pool)).await?,
    };
    let (from, to) = span(from, to)?;
    let days = state.db(usage::days(&state.pool, account_id, from, to)).await?;
    Ok(HttpResponse::Ok().json(json!({ "account": name, "days": days })))
}

/// A `YYYY-MM-DD` date; empty counts as absent.
fn parse_date(raw: Option<&str>, field: &str) -> Result<Option<NaiveDate>, InvalidInput> {
    let raw = match raw {
        None | Some("") => return Ok(None),
        Some(raw) => raw,
    };
    let date = (raw.len() == 10).then(|| NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()).flatten();
    date.map(Some)
        .ok_or_else(|| InvalidInput::new("invalid_date", format!("{field} must be a date like 2026-11-28")))
}

/// The range from `from` (default: 29 days before `to`) to `to`: in order,
/// and at most `MAX_DAYS` days.
fn span(from: Option<NaiveDate>, to: NaiveDate) -> Result<(NaiveDate, NaiveDate), InvalidInput> {
    let from = match from {
        Some(from) => from,
        None => to.checked_sub_days(chrono::Days::new(DEFAULT_DAYS - 1)).unwrap_or(NaiveDate::MIN),
    };
    if from > to {
        return Err(InvalidInput::new("invalid_range", "from must not be after to"));
    }
    if (to - from).num_days() >= MAX_DAYS {
        return Err(InvalidInput::new("invalid_range", format!("a range is at most {MAX_DAYS} days")));
    }
    Ok((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(raw: &str) -> NaiveDate {
        NaiveDate::parse_from_str(raw, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn dates_are_year_month_day_and_empty_is_absent() {
        assert_eq!(parse_date(Some("2026-11-28"), "from").unwrap(), Some(date("2026-11-28")));
        assert_eq!(parse_date(Some(""), "from").unwrap(), None);
        assert_eq!(parse_date(None, "from").unwrap(), None);
        for bad in ["2026-13-01", "2026-02-30", "28.11.2026", "2026-1-1", "yesterday", "+2026-11-28"] {
            assert_eq!(parse_date(Some(bad), "from").unwrap_err().code, "invalid_date", "{bad}");
        }
    }

    #[test]
    fn a_range_defaults_to_thirty_days_ending_on_to() {
        assert_eq!(span(None, date("2026-11-28")).unwrap(), (date("2026-10-30"), date("2026-11-28")));
    }

    #[test]
    fn a_range_is_in_order_and_at_most_366_days() {
        let to = date("2026-11-28");
        assert_eq!(span(Some(to), to).unwrap(), (to, to));
        assert_eq!(span(Some(date("2025-11-28")), to).unwrap().0, date("2025-11-28"));
        assert_eq!(span(Some(date("2025-11-27")), to).unwrap_err().code, "invalid_range");
        assert_eq!(span(Some(date("2026-11-29")), to).unwrap_err().code, "invalid_range");
    }
}
