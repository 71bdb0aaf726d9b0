//! How many items one page of a listing holds.

use super::InvalidInput;

/// The most items a page may hold.
pub const MAX_PAGE_LIMIT: i64 = 1000;
/// A page's size when the request names none.
pub const DEFAULT_PAGE_LIMIT: i64 = 100;

/// A listing's `limit`: 1 to 1000, 100 when absent.
pub fn page_limit(value: Option<i64>) -> Result<i64, InvalidInput> {
    match value.unwrap_or(DEFAULT_PAGE_LIMIT) {
        limit @ 1..=MAX_PAGE_LIMIT => Ok(limit),
        _ => Err(InvalidInput::new("invalid_limit", format!("limit must be between 1 and {MAX_PAGE_LIMIT}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_holds_1_to_1000_items_and_100_by_default() {
        assert_eq!(page_limit(None), Ok(100));
        assert_eq!(page_limit(Some(1)), Ok(1));
        assert_eq!(page_limit(Some(1000)), Ok(1000));
        for out_of_range in [0, -1, 1001] {
            let refused = page_limit(Some(out_of_range)).unwrap_err();
            assert_eq!(refused.code, "invalid_limit");
            assert_eq!(refused.message, "limit must be between 1 and 1000");
        }
    }
}
