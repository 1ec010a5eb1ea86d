//! Endpoint templates: `GET /session/status/{thread_id}` instead of one line per session.
//!
//! A path segment equal to a value the caller names (a session key, a correlated id) is
//! shown as `{name}`; any other segment that looks like an id — a UUID, a long hex string, a
//! number, a long mixed letters-and-digits token (ULID, object id) — is shown as `{id}`.
//! Everything else is kept as sent, so `/session/continue` stays itself.
//!
//! # Invariants
//! - Pure and cheap: one pass over the path, one `String` out, no allocation per segment
//!   unless a segment is percent-encoded. Callers on a hot path intern the result once.
//! - The query string is not part of an endpoint: pass the path without it (a `?…` suffix
//!   is dropped if present).
//! - Segments are compared as sent and, when they hold `%`, also percent-decoded.

use std::borrow::Cow;

/// The placeholder for a segment that looks like an id but matches no named value.
pub const ID: &str = "{id}";

/// `METHOD /path/with/{placeholders}`.
///
/// `ids` pairs known values with the placeholder name they get: `&[("3f2c…", "thread_id")]`
/// turns `/session/status/3f2c…` into `/session/status/{thread_id}`. Empty values are
/// ignored; the first matching pair wins.
pub fn endpoint(method: &str, path: &str, ids: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(method.len() + 1 + path.len());
    out.push_str(method);
    out.push(' ');
    push_path(&mut out, path, ids);
    out
}

/// The templated path alone (see [`endpoint`]).
pub fn path(path: &str, ids: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(path.len());
    push_path(&mut out, path, ids);
    out
}

fn push_path(out: &mut String, path: &str, ids: &[(&str, &str)]) {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    if path.is_empty() {
        out.push('/');
        return;
    }
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if segment.is_empty() {
            continue;
        }
        let decoded: Cow<'_, str> = if segment.contains('%') {
            percent_encoding::percent_decode_str(segment).decode_utf8_lossy()
        } else {
            Cow::Borrowed(segment)
        };
        let named = ids
            .iter()
            .find(|(value, _)| !value.is_empty() && (*value == segment || *value == decoded));
        match named {
            Some((_, name)) => {
                out.push('{');
                out.push_str(name);
                out.push('}');
            }
            None if looks_like_id(&decoded) => out.push_str(ID),
            None => out.push_str(segment),
        }
    }
}

/// A UUID, 16+ hex digits, a number, or a 20+ character token of letters and digits mixed.
pub fn looks_like_id(s: &str) -> bool {
    is_uuid(s)
        || is_number(s)
        || (s.len() >= 16 && s.bytes().all(|b| b.is_ascii_hexdigit()) && has_digit(s))
        || (s.len() >= 20
            && s.bytes().all(|b| b.is_ascii_alphanumeric())
            && has_digit(s)
            && s.bytes().any(|b| b.is_ascii_alphabetic()))
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn has_digit(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_digit())
}

/// `8-4-4-4-12` hex digits, either case.
fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TID: &str = "3f2c1a9e-8c4b-4f1e-9a53-2b7d7c1e0f44";

    #[test]
    fn a_known_session_id_gets_its_name() {
        let path = format!("/session/status/{TID}");
        assert_eq!(
            endpoint("GET", &path, &[(TID, "thread_id")]),
            "GET /session/status/{thread_id}"
        );
        assert_eq!(
            endpoint(
                "GET",
                &path,
                &[("other", "x"), (TID, "sid"), (TID, "later")]
            ),
            "GET /session/status/{sid}"
        );
    }

    #[test]
    fn id_like_segments_become_id() {
        let cases = [
            (format!("/session/status/{TID}"), "/session/status/{id}"),
            (TID.to_uppercase(), "{id}"),
            ("/users/42/orders/7".into(), "/users/{id}/orders/{id}"),
            ("/blob/deadbeefcafebabe1234".into(), "/blob/{id}"),
            ("/o/507f1f77bcf86cd799439011".into(), "/o/{id}"),
            ("/u/01ARZ3NDEKTSV4RRFFQ69G5FAV".into(), "/u/{id}"),
        ];
        for (path, want) in cases {
            assert_eq!(super::path(&path, &[]), want, "{path}");
        }
    }

    #[test]
    fn ordinary_segments_stay() {
        for p in [
            "/session/continue",
            "/session/continue/stream",
            "/health",
            "/v1/api",
            "/deadbeef",             // short hex is a word
            "/abcdefabcdefabcdefab", // long hex without digits is a word
            "/getting-started-2024-guide-for-you",
            "/",
        ] {
            assert_eq!(path(p, &[]), p);
        }
    }

    #[test]
    fn edges_are_kept() {
        assert_eq!(path("", &[]), "/");
        assert_eq!(path("/a//b/", &[]), "/a//b/");
        assert_eq!(path("/items/12?page=2", &[]), "/items/{id}");
        assert_eq!(path("relative/9", &[]), "relative/{id}");
        assert_eq!(
            endpoint("POST", "/session/start", &[("", "empty")]),
            "POST /session/start"
        );
    }

    #[test]
    fn percent_encoded_values_match() {
        assert_eq!(
            path("/files/a%20b/x", &[("a b", "name")]),
            "/files/{name}/x"
        );
        assert_eq!(path("/n/%31%32", &[]), "/n/{id}");
        assert_eq!(path("/bad/%FF", &[]), "/bad/%FF");
    }
}
