//! Statements whose optional parameters, when NULL, are written into the
//! text as NULL literals.
//!
//! A statement runs from a cached generic plan after a few executions, and a
//! generic plan cannot know that a parameter is NULL: it keeps the branches a
//! NULL switches off (a waiter's place in the queue, an Idempotency-Key's
//! record) and opens, locks and probes their tables on every execution. A
//! literal lets the planner fold them away. The caller still binds every
//! parameter, so that sqlx declares each one's type and the numbering holds.

use std::sync::OnceLock;

/// A statement with each combination of its optional parameters bound or
/// written as NULL; each text is made the first time it is asked for.
pub struct Variants {
    sql: &'static str,
    /// `(n, type)` for each `$n` that may be NULL.
    optional: &'static [(usize, &'static str)],
    texts: OnceLock<Vec<OnceLock<String>>>,
}

impl Variants {
    pub const fn new(sql: &'static str, optional: &'static [(usize, &'static str)]) -> Self {
        Self { sql, optional, texts: OnceLock::new() }
    }

    /// The text to send when `bound[i]` says whether the i-th optional
    /// parameter has a value.
    pub fn text(&self, bound: &[bool]) -> &str {
        debug_assert_eq!(bound.len(), self.optional.len());
        let texts =
            self.texts.get_or_init(|| (0..1usize << self.optional.len()).map(|_| OnceLock::new()).collect());
        let mask = bound.iter().enumerate().fold(0, |acc, (i, &b)| acc | (usize::from(b) << i));
        texts[mask].get_or_init(|| {
            let nulls: Vec<_> = (self.optional.iter().enumerate())
                .filter(|(i, _)| mask & (1 << i) == 0)
                .map(|(_, p)| *p)
                .collect();
            with_nulls(self.sql, &nulls)
        })
    }
}

/// `sql` with each `$n` of `nulls` replaced by `NULL::type`.
fn with_nulls(sql: &str, nulls: &[(usize, &str)]) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let digits = rest[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
        let placeholder = &rest[at..at + 1 + digits];
        let null = placeholder[1..].parse::<usize>().ok().and_then(|n| nulls.iter().find(|(m, _)| *m == n));
        match null {
            Some((_, ty)) => {
                out.push_str("NULL::");
                out.push_str(ty);
            }
            None => out.push_str(placeholder),
        }
        rest = &rest[at + 1 + digits..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_named_placeholders_become_literals() {
        let sql = "SELECT $1, $10, $11::text, $1 || 'x$'";
        assert_eq!(with_nulls(sql, &[(1, "int8")]), "SELECT NULL::int8, $10, $11::text, NULL::int8 || 'x$'");
        assert_eq!(with_nulls(sql, &[(11, "text")]), "SELECT $1, $10, NULL::text::text, $1 || 'x$'");
    }

    #[test]
    fn each_combination_of_bound_parameters_has_its_text() {
        static SQL: Variants = Variants::new("SELECT $1, $2, $3", &[(2, "int8"), (3, "text")]);
        assert_eq!(SQL.text(&[false, false]), "SELECT $1, NULL::int8, NULL::text");
        assert_eq!(SQL.text(&[true, false]), "SELECT $1, $2, NULL::text");
        assert_eq!(SQL.text(&[false, true]), "SELECT $1, NULL::int8, $3");
        assert_eq!(SQL.text(&[true, true]), "SELECT $1, $2, $3");
    }
}
