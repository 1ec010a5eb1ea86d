//! Finding keyed values in text: `k=v&…` (query strings and form bodies) and `"k": "v"`
//! pairs in text that is JSON-like but was not stored as JSON (a body cut at the size cap,
//! SSE `data:` lines).
//!
//! # Invariants
//! - Every function works on any input (it is fuzzed through the trace reader's callers):
//!   no panics, ranges always lie on `char` boundaries of the input.
//! - A range covers the raw value only (still percent-encoded or JSON-escaped), so replacing
//!   it keeps the rest of the text byte for byte.

use std::ops::Range;

/// One `key=value` pair of a query string or form body: the decoded key and the byte range
/// of the raw value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub key: String,
    pub value: Range<usize>,
}

/// The `key=value` pairs of `text` split on `&` (and `;`); a pair without `=` has an empty
/// value range at its end. Keys are percent-decoded, `+` read as a space.
pub fn pairs(text: &str) -> Vec<Pair> {
    let mut out = Vec::new();
    let mut start = 0;
    for part in text.split(['&', ';']) {
        let (key, value) = match part.find('=') {
            Some(eq) => (&part[..eq], start + eq + 1..start + part.len()),
            None => (part, start + part.len()..start + part.len()),
        };
        out.push(Pair {
            key: decode(key),
            value,
        });
        start += part.len() + 1;
    }
    out
}

/// Percent-decodes a query or form component (`+` is a space); invalid UTF-8 is replaced.
pub fn decode(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// The byte ranges of the string values of `"key": "value"` pairs in `text` whose key
/// satisfies `secret`; a value cut by the end of the text runs to the end.
pub fn json_string_values(text: &str, secret: impl Fn(&str) -> bool) -> Vec<Range<usize>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'"' {
            i += 1;
            continue;
        }
        let Some(key_end) = string_end(b, i + 1) else {
            break;
        };
        let key = &text[i + 1..key_end];
        let mut j = key_end + 1;
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        if j < b.len() && b[j] == b':' {
            j += 1;
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            if j < b.len() && b[j] == b'"' && secret(key) {
                let end = string_end(b, j + 1).unwrap_or(b.len());
                out.push(j + 1..end);
                i = end + 1;
                continue;
            }
        }
        i = key_end + 1;
    }
    out
}

/// Index of the closing quote of a JSON string whose content starts at `from`.
fn string_end(b: &[u8], from: usize) -> Option<usize> {
    let mut k = from;
    while k < b.len() {
        match b[k] {
            b'\\' => k += 2,
            b'"' => return Some(k),
            _ => k += 1,
        }
    }
    None
}

/// `text` with every range replaced by `with`; ranges must be sorted and disjoint.
pub fn replace_ranges(text: &str, ranges: &[Range<usize>], with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for r in ranges {
        let (s, e) = (r.start.min(text.len()), r.end.min(text.len()));
        if s < at {
            continue;
        }
        out.push_str(&text[at..s]);
        out.push_str(with);
        at = e;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs() {
        let q = "api_key=abc%20d&x=1&flag&to+ken=z";
        let p = pairs(q);
        assert_eq!(p.len(), 4);
        assert_eq!(
            (p[0].key.as_str(), &q[p[0].value.clone()]),
            ("api_key", "abc%20d")
        );
        assert_eq!(p[2].key, "flag");
        assert!(p[2].value.is_empty());
        assert_eq!(p[3].key, "to ken");
        assert_eq!(decode("a%2Bb+c"), "a+b c");
        let ranges: Vec<_> = p
            .iter()
            .filter(|p| p.key == "x")
            .map(|p| p.value.clone())
            .collect();
        assert_eq!(
            replace_ranges(q, &ranges, "R"),
            "api_key=abc%20d&x=R&flag&to+ken=z"
        );
    }

    #[test]
    fn json_values_in_text_even_when_cut() {
        let t = r#"data: {"token": "hi", "password" : "p\"w", "n": {"secret":"s3"#;
        let found: Vec<_> = json_string_values(t, |k| k == "password" || k == "secret")
            .into_iter()
            .map(|r| &t[r])
            .collect();
        assert_eq!(found, [r#"p\"w"#, "s3"]);
        assert!(json_string_values("\"", |_| true).is_empty());
        assert!(json_string_values("\"a\":\"", |_| true)
            .iter()
            .all(|r| r.is_empty()));
    }
}
