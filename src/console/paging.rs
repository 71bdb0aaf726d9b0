//! Paging of the console's lists: how many rows a page shows, and links to
//! the next page that keep the filters.

use super::layout::encode;
use super::ConsoleError;

/// Rows a list page shows unless asked for another number.
pub const PER_PAGE: i64 = 100;
/// The most a page shows: every page is bounded.
pub const MAX_PER_PAGE: i64 = 500;

/// The `limit` a page was asked for: 1 to `MAX_PER_PAGE`, else `PER_PAGE`.
pub fn per_page(raw: Option<&str>) -> Result<i64, ConsoleError> {
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(PER_PAGE),
        Some(raw) => raw.parse().ok().filter(|n| (1..=MAX_PER_PAGE).contains(n)).ok_or_else(|| {
            ConsoleError::BadRequest(format!("limit must be a number from 1 to {MAX_PER_PAGE}"))
        }),
    }
}

/// `path` with the non-empty `params` as its query, percent-encoded.
pub fn href(path: &str, params: &[(&str, &str)]) -> String {
    let query: Vec<String> = params
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_bounded() {
        assert_eq!(per_page(None).unwrap(), PER_PAGE);
        assert_eq!(per_page(Some("")).unwrap(), PER_PAGE);
        assert_eq!(per_page(Some("2")).unwrap(), 2);
        for refused in ["0", "501", "-1", "many"] {
            assert!(per_page(Some(refused)).is_err(), "{refused}");
        }
    }

    #[test]
    fn links_keep_the_filters_given_encoded() {
        assert_eq!(
            href("/console/locks", &[("namespace", "acme"), ("prefix", ""), ("after", "acme/a:b")]),
            "/console/locks?namespace=acme&after=acme%2Fa%3Ab"
        );
        assert_eq!(href("/console/accounts", &[("after", "")]), "/console/accounts");
    }
}
