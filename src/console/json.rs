//! A lease's metadata, laid out for reading.

use maud::{html, Markup};
use serde_json::value::RawValue;

/// A lease's metadata in a `<pre>`, escaped like all maud output; "—" when
/// the lease has none (or JSON `null`).
pub fn metadata(raw: Option<&RawValue>) -> Markup {
    match raw.map(RawValue::get) {
        Some(json) if json != "null" => html! { pre.metadata { (pretty(json)) } },
        _ => html! { "—" },
    }
}

/// JSON text re-indented two spaces a level, one member or element a line.
/// It works on the text, so strings and numbers stay exactly as stored (a
/// 30-digit number is not rounded through `f64`); it assumes valid JSON, as
/// PostgreSQL's `jsonb` output is.
pub fn pretty(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() * 2);
    let mut depth = 0usize;
    let mut chars = raw.chars().peekable();
    let mut in_string = false;
    let mut escaped = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                while chars.next_if(|c| c.is_whitespace()).is_some() {}
                if let Some(close) = chars.next_if(|&n| n == '}' || n == ']') {
                    out.push(close);
                } else {
                    depth += 1;
                    line(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                line(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                line(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

fn line(out: &mut String, depth: usize) {
    out.push('\n');
    out.extend(std::iter::repeat_n("  ", depth));
}

#[cfg(test)]
mod tests {
    use super::pretty;

    #[test]
    fn objects_and_arrays_are_indented_a_member_a_line() {
        let raw = r#"{"job": {"id": 7, "tags": ["a", "b"]}, "empty": {}, "none": [ ]}"#;

        assert_eq!(
            pretty(raw),
            "{\n  \"job\": {\n    \"id\": 7,\n    \"tags\": [\n      \"a\",\n      \"b\"\n    ]\n  },\n  \
             \"empty\": {},\n  \"none\": []\n}"
        );
    }

    #[test]
    fn strings_and_numbers_stay_as_stored() {
        let raw = r#"{"s": "a, b: {c} [d] \"e\" \\", "n": 123456789012345678901234567890.5}"#;

        assert_eq!(
            pretty(raw),
            "{\n  \"s\": \"a, b: {c} [d] \\\"e\\\" \\\\\",\n  \"n\": 123456789012345678901234567890.5\n}"
        );
    }

    #[test]
    fn scalars_are_left_alone() {
        assert_eq!(pretty("\"x\""), "\"x\"");
        assert_eq!(pretty("null"), "null");
    }
}
