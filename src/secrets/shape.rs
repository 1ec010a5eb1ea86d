//! Values that look like credentials whatever key they sit under: bearer and basic
//! credentials, JWTs, private keys, and the prefixed API keys of well-known providers.
//!
//! # Invariants
//! - [`shape`] never panics and returns the first match with its byte range in the input.
//! - The redaction marker `[redacted]` is never a match.

use base64::Engine as _;
use std::ops::Range;

/// Prefixed tokens: (prefix, minimum length of what follows, name).
const PREFIXED: [(&str, usize, &str); 10] = [
    ("sk-", 20, "API secret key (sk-…)"),
    ("gsk_", 20, "Groq API key"),
    ("ghp_", 30, "GitHub token"),
    ("gho_", 30, "GitHub token"),
    ("github_pat_", 30, "GitHub token"),
    ("xoxb-", 10, "Slack token"),
    ("xoxp-", 10, "Slack token"),
    ("AKIA", 16, "AWS access key id"),
    ("AIza", 30, "Google API key"),
    ("glpat-", 16, "GitLab token"),
];

/// The first credential-looking value in `text`: what it looks like and where it is.
pub fn shape(text: &str) -> Option<(&'static str, Range<usize>)> {
    if let Some(at) = text.find("-----BEGIN") {
        if text[at..].contains("PRIVATE KEY") {
            return Some(("private key", at..text.len()));
        }
    }
    let mut words = words(text).peekable();
    while let Some((w, r)) = words.next() {
        let scheme = w.to_ascii_lowercase();
        if scheme == "bearer" || scheme == "basic" {
            if let Some((cred, cr)) = words.peek() {
                let marker = text[..cr.start].ends_with('[');
                if !marker && cred.len() >= 8 && (scheme == "bearer" || is_basic(cred)) {
                    let name = if scheme == "bearer" {
                        "bearer token"
                    } else {
                        "basic credentials"
                    };
                    return Some((name, r.start..cr.end));
                }
            }
        }
        // `key=value` runs together in a word: the value is what follows the last `=`
        let tail = w.trim_end_matches('=').rsplit('=').next().unwrap_or(w);
        let r = r.end - (w.len() - w.trim_end_matches('=').len()) - tail.len()..r.end;
        if is_jwt(tail) {
            return Some(("JWT", r));
        }
        for (prefix, min, name) in PREFIXED {
            if let Some(rest) = tail.strip_prefix(prefix) {
                if rest.len() >= min {
                    return Some((name, r));
                }
            }
        }
    }
    None
}

/// Runs of token characters (letters, digits, `-_.+/=`) with their ranges.
fn words(text: &str) -> impl Iterator<Item = (&str, Range<usize>)> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || "-_.+/=~".contains(c);
    let mut at = 0;
    std::iter::from_fn(move || {
        let rest = &text[at..];
        let start = at + rest.find(is_word)?;
        let len = text[start..]
            .find(|c: char| !is_word(c))
            .unwrap_or(text.len() - start);
        at = start + len;
        Some((&text[start..start + len], start..start + len))
    })
}

/// `header.payload.signature`, base64url, the header a JSON object (`eyJ`).
fn is_jwt(w: &str) -> bool {
    let parts: Vec<&str> = w.split('.').collect();
    parts.len() == 3
        && parts[0].starts_with("eyJ")
        && parts[1].len() >= 4
        && parts.iter().all(|p| {
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Base64 of `user:password`.
fn is_basic(w: &str) -> bool {
    base64::engine::general_purpose::STANDARD
        .decode(w)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .is_some_and(|s| s.contains(':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let cases = [
            ("Authorization: Bearer abcdefgh12345", Some("bearer token")),
            ("Basic dXNlcjpwYXNzd29yZA==", Some("basic credentials")),
            (
                "t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nature",
                Some("JWT"),
            ),
            (
                "key sk-abcdefghijklmnopqrstuvwx",
                Some("API secret key (sk-…)"),
            ),
            ("AKIAABCDEFGHIJKLMNOP", Some("AWS access key id")),
            ("-----BEGIN RSA PRIVATE KEY-----\nMII", Some("private key")),
            ("Bearer [redacted]", None),
            ("basic idea: plants need light", None),
            ("photosynthesis is how plants eat", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(shape(text).map(|s| s.0), want, "{text}");
        }
        let (_, r) = shape("x Bearer abcdefgh12345 y").unwrap();
        assert_eq!(&"x Bearer abcdefgh12345 y"[r], "Bearer abcdefgh12345");
    }
}
