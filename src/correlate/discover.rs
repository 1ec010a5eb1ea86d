//! Correlation discovery: values a session's responses produced that its later requests
//! send back, and values its requests invented (client-generated ids).
//!
//! Works on one session's exchanges, replaying the recording's own clock: at each request
//! send it looks for id-like values in the request (path segments, query values, header
//! values, JSON body strings); at each response completion it learns the id-like values of
//! the response (JSON string leaves by pointer, header values).
//!
//! # Invariants
//! - A value is a correlation of source [`Source::Json`] / [`Source::Header`] only if the
//!   response that produced it had *completed* before the first request that sent it back.
//! - A value first seen in a request becomes [`Source::Client`]: the replay gives it a fresh
//!   value per virtual user. Only token-like values qualify (a UUID, or 16+ characters of
//!   `[A-Za-z0-9_-]` mixing letters and digits) so dates and counters are never rewritten.
//! - Every returned correlation has at least one user (`used_by` is never empty), and
//!   `used_by` is in send order. Indices refer to the slice given to [`discover`].
//! - Pure: no I/O, deterministic for a given input.

use crate::trace::{Exchange, Request, Response};
use std::collections::{HashMap, HashSet};

/// Where a correlated value comes from at replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// JSON string at `pointer` in the response body of exchange `exchange`.
    Json { exchange: usize, pointer: String },
    /// Value of response header `name` (lower-case) of exchange `exchange`.
    Header { exchange: usize, name: String },
    /// Invented by the client: replaced by a fresh value of the same shape per user.
    Client,
}

/// One discovered correlation of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correlation {
    /// A human name: the JSON key or header name it was found under (`thread_id`).
    pub name: String,
    /// The value as recorded.
    pub value: String,
    pub source: Source,
    /// Exchanges whose request contains the value, in send order.
    pub used_by: Vec<usize>,
}

/// Request headers whose values are never correlations (transport, content negotiation).
const SKIP_REQUEST_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "accept",
    "accept-encoding",
    "accept-language",
    "user-agent",
    "connection",
    "date",
    "if-modified-since",
];

/// Response headers whose values are never correlations.
const SKIP_RESPONSE_HEADERS: &[&str] = &[
    "date",
    "content-length",
    "content-type",
    "server",
    "server-timing",
    "last-modified",
    "expires",
    "connection",
    "keep-alive",
];

/// Whether a value could be an id worth correlating: 8–256 characters, no whitespace or
/// quotes, at least one digit, not a redacted placeholder.
pub fn is_id_like(s: &str) -> bool {
    (8..=256).contains(&s.len())
        && s != crate::trace::REDACTED
        && s.bytes().any(|b| b.is_ascii_digit())
        && !s
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b == b'"' || b == b'\\' || b.is_ascii_control())
}

/// Whether a value first seen in a request looks like a client-generated id.
pub fn is_client_token(s: &str) -> bool {
    uuid::Uuid::try_parse(s).is_ok()
        || (s.len() >= 16
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && s.bytes().any(|b| b.is_ascii_digit())
            && s.bytes().any(|b| b.is_ascii_alphabetic()))
}

/// Discovers the correlations of one session. `session` may be in any order.
pub fn discover(session: &[&Exchange]) -> Vec<Correlation> {
    discover_with(session, &[])
}

/// [`discover`], plus declared JSON pointers (a profile's `correlation.pointers`): a
/// non-empty string at one of them in a response is a candidate even when it does not look
/// like an id (short or without digits).
pub fn discover_with(session: &[&Exchange], declared: &[String]) -> Vec<Correlation> {
    let tokens: Vec<(Vec<Token>, Vec<Token>)> = session
        .iter()
        .map(|ex| {
            let res = ex
                .res
                .as_ref()
                .map(|r| response_tokens(r, declared))
                .unwrap_or_default();
            (request_tokens(&ex.req), res)
        })
        .collect();
    let seen: Vec<Seen<'_>> = session
        .iter()
        .zip(&tokens)
        .map(|(ex, (req, res))| Seen {
            id: ex.id,
            sent_us: ex.t_us,
            done_us: ex.res.as_ref().map(|_| ex.t_us.saturating_add(ex.done_us)),
            request: req,
            response: res,
        })
        .collect();
    discover_seen(&seen)
}

/// A candidate value found in a request or a response.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Token {
    pub value: String,
    /// Where it was found (for a request, always an empty [`Found::Header`]).
    pub found: Found,
    /// A human name: the JSON key, header name, query key or preceding path segment.
    pub name: String,
}

/// Where a token sits in its message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Found {
    Json(String),
    Header(String),
}

/// What discovery needs of one exchange: its times and the tokens of its two messages, so a
/// plan can keep these instead of the whole exchange until its session is complete.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    /// The exchange's `id` (orders events at a tie).
    pub id: u64,
    /// Send, from the start of the recording.
    pub sent_us: u64,
    /// Completion, from the start of the recording; `None` when no response came.
    pub done_us: Option<u64>,
    /// [`request_tokens`] of its request.
    pub request: &'a [Token],
    /// [`response_tokens`] of its response (empty without one).
    pub response: &'a [Token],
}

/// [`discover_with`] over the exchanges' tokens; indices refer to `session`.
pub fn discover_seen(session: &[Seen<'_>]) -> Vec<Correlation> {
    // Events on the recording's clock: completions (kind 0) before sends (kind 1) at a tie.
    let mut events: Vec<(u64, u8, usize)> = Vec::with_capacity(session.len() * 2);
    for (i, ex) in session.iter().enumerate() {
        events.push((ex.sent_us, 1, i));
        if let Some(done) = ex.done_us {
            events.push((done, 0, i));
        }
    }
    events.sort_by_key(|&(t, kind, i)| (t, kind, session[i].id));

    let mut out: Vec<Correlation> = Vec::new();
    let mut known: HashMap<&str, usize> = HashMap::new();
    // Values some request sent that are not client tokens: a response echoing them later
    // did not produce them.
    let mut sent_plain: HashSet<&str> = HashSet::new();
    for (_, kind, i) in events {
        let ex = &session[i];
        if kind == 0 {
            for t in ex.response {
                if !known.contains_key(t.value.as_str()) && !sent_plain.contains(t.value.as_str()) {
                    let source = match &t.found {
                        Found::Json(pointer) => Source::Json {
                            exchange: i,
                            pointer: pointer.clone(),
                        },
                        Found::Header(name) => Source::Header {
                            exchange: i,
                            name: name.clone(),
                        },
                    };
                    known.insert(&t.value, out.len());
                    out.push(Correlation {
                        name: t.name.clone(),
                        value: t.value.clone(),
                        source,
                        used_by: Vec::new(),
                    });
                }
            }
        } else {
            for t in ex.request {
                let idx = match known.get(t.value.as_str()) {
                    Some(&idx) => idx,
                    None if is_client_token(&t.value) => {
                        known.insert(&t.value, out.len());
                        out.push(Correlation {
                            name: t.name.clone(),
                            value: t.value.clone(),
                            source: Source::Client,
                            used_by: Vec::new(),
                        });
                        out.len() - 1
                    }
                    None => {
                        if is_id_like(&t.value) {
                            sent_plain.insert(&t.value);
                        }
                        continue;
                    }
                };
                let used = &mut out[idx].used_by;
                if used.last() != Some(&i) {
                    used.push(i);
                }
            }
        }
    }
    out.retain(|c| !c.used_by.is_empty());
    out
}

/// The id-like values of a response (header values, JSON string leaves by pointer), and
/// any non-empty string at a `declared` pointer.
pub fn response_tokens(res: &Response, declared: &[String]) -> Vec<Token> {
    let mut out: Vec<Token> = res
        .headers
        .iter()
        .filter_map(|(name, value)| response_header_token(name, value))
        .collect();
    if let Some(json) = res.body.json() {
        walk_json(json, &mut String::new(), "value", &mut |ptr, name, s| {
            if is_id_like(s) || (!s.is_empty() && declared.iter().any(|d| d == ptr)) {
                out.push(Token {
                    value: s.to_string(),
                    found: Found::Json(ptr.to_string()),
                    name: name.to_string(),
                });
            }
        });
    }
    out
}

/// The token of a response header: its value, when the header can carry an id and the
/// value looks like one.
pub fn response_header_token(name: &str, value: &str) -> Option<Token> {
    (!SKIP_RESPONSE_HEADERS.contains(&name) && is_id_like(value)).then(|| Token {
        value: value.to_string(),
        found: Found::Header(name.to_string()),
        name: name.to_string(),
    })
}

/// Every non-empty value a request sends (path segments, query values, header values but
/// transport ones, JSON body strings): the candidates discovery matches against.
pub fn request_tokens(req: &Request) -> Vec<Token> {
    request_tokens_of(
        &req.path,
        req.query.as_deref(),
        req.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        req.body.json(),
    )
}

/// [`request_tokens`] of a request given by its parts (`json`: its body, when JSON).
pub fn request_tokens_of<'a>(
    path: &str,
    query: Option<&str>,
    headers: impl Iterator<Item = (&'a str, &'a str)>,
    json: Option<&serde_json::Value>,
) -> Vec<Token> {
    let mut out = Vec::new();
    let mut push = |value: String, name: &str| {
        // every value is a candidate: the caller keeps known values and id-like ones
        if !value.is_empty() {
            out.push(Token {
                value,
                found: Found::Header(String::new()),
                name: name.to_string(),
            });
        }
    };
    let segs: Vec<&str> = path.split('/').collect();
    for (k, seg) in segs.iter().enumerate() {
        let name = if k > 0 { segs[k - 1] } else { "id" };
        push(
            percent_decode(seg),
            if name.is_empty() { "id" } else { name },
        );
    }
    if let Some(q) = query {
        for pair in q.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or(("id", pair));
            push(percent_decode(v), k);
        }
    }
    for (name, value) in headers {
        if !SKIP_REQUEST_HEADERS.contains(&name) {
            push(value.to_string(), name);
        }
    }
    if let Some(json) = json {
        walk_json(json, &mut String::new(), "value", &mut |_, name, s| {
            push(s.to_string(), name)
        });
    }
    out
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Calls `f(pointer, key, string)` for every string leaf, depth first, in document order.
fn walk_json(
    v: &serde_json::Value,
    ptr: &mut String,
    key: &str,
    f: &mut dyn FnMut(&str, &str, &str),
) {
    match v {
        serde_json::Value::String(s) => f(ptr, key, s),
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = ptr.len();
                ptr.push('/');
                ptr.push_str(itoa::Buffer::new().format(i));
                walk_json(item, ptr, key, f);
                ptr.truncate(len);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, item) in map {
                let len = ptr.len();
                ptr.push('/');
                if k.contains(['~', '/']) {
                    ptr.push_str(&k.replace('~', "~0").replace('/', "~1"));
                } else {
                    ptr.push_str(k);
                }
                walk_json(item, ptr, k, f);
                ptr.truncate(len);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::trace::{Body, Request, Response};
    use chrono::Utc;
    use serde_json::json;

    /// A recorded exchange for tests: JSON bodies (null = empty), no headers.
    pub fn ex(
        id: u64,
        t_ms: u64,
        done_ms: u64,
        method: &str,
        path: &str,
        req: serde_json::Value,
        res: serde_json::Value,
    ) -> Exchange {
        let body = |v: serde_json::Value| {
            if v.is_null() {
                Body::empty()
            } else {
                Body::from_bytes(&serde_json::to_vec(&v).unwrap(), 0)
            }
        };
        Exchange {
            id,
            session: Some("s".into()),
            conn: 1,
            sent_at: Utc::now(),
            t_us: t_ms * 1000,
            ttfb_us: Some(done_ms * 1000),
            done_us: done_ms * 1000,
            req: Request {
                method: method.into(),
                path: path.into(),
                query: None,
                headers: vec![],
                body: body(req),
            },
            res: Some(Response {
                status: 200,
                headers: vec![],
                body: body(res),
                chunks: vec![],
            }),
            error: None,
        }
    }

    const T: &str = "3f2c1a9e-8c4b-4f1e-9a53-2b7d7c1e0f44";

    #[test]
    fn thread_id_from_response_used_in_body_and_path() {
        let a = ex(
            1,
            0,
            100,
            "POST",
            "/session/start",
            json!({"student_id": "s-17"}),
            json!({"thread_id": T, "current_node": "APK", "turn": 0}),
        );
        let b = ex(
            2,
            1100,
            200,
            "POST",
            "/session/continue",
            json!({"thread_id": T, "user_response": "plants 123 eat light"}),
            json!({"thread_id": T, "turn": 1}),
        );
        let c = ex(
            3,
            2000,
            10,
            "GET",
            &format!("/session/status/{T}"),
            json!(null),
            json!({"thread_id": T}),
        );
        let found = discover(&[&a, &b, &c]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].name, "thread_id");
        assert_eq!(found[0].value, T);
        assert_eq!(
            found[0].source,
            Source::Json {
                exchange: 0,
                pointer: "/thread_id".into()
            }
        );
        assert_eq!(found[0].used_by, vec![1, 2]);
    }

    #[test]
    fn value_from_an_unfinished_response_is_client_generated() {
        // The request is sent before the response that carries the same value completed:
        // the client must have invented it.
        let id = "a1b2c3d4e5f6a7b8c9d0";
        let a = ex(
            1,
            0,
            500,
            "POST",
            "/jobs",
            json!({"req": id}),
            json!({"echo": id}),
        );
        let b = ex(
            2,
            100,
            10,
            "GET",
            &format!("/jobs/{id}"),
            json!(null),
            json!(null),
        );
        let found = discover(&[&b, &a]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].source, Source::Client);
        assert_eq!(found[0].used_by, vec![1, 0]);
    }

    #[test]
    fn headers_and_query_and_nested_pointers() {
        let mut a = ex(
            1,
            0,
            10,
            "POST",
            "/login",
            json!(null),
            json!({"data": {"items": [{"token": "tok_9f8e7d6c"}]}}),
        );
        a.res
            .as_mut()
            .unwrap()
            .headers
            .push(("x-session".into(), "sess-12345678".into()));
        let mut b = ex(2, 50, 10, "GET", "/me", json!(null), json!(null));
        b.req.query = Some("t=tok_9f8e7d6c&page=2".into());
        b.req
            .headers
            .push(("x-session".into(), "sess-12345678".into()));
        let found = discover(&[&a, &b]);
        assert_eq!(found.len(), 2, "{found:?}");
        let tok = found.iter().find(|c| c.value == "tok_9f8e7d6c").unwrap();
        assert_eq!(
            tok.source,
            Source::Json {
                exchange: 0,
                pointer: "/data/items/0/token".into()
            }
        );
        assert_eq!(tok.name, "token");
        let sess = found.iter().find(|c| c.value == "sess-12345678").unwrap();
        assert_eq!(
            sess.source,
            Source::Header {
                exchange: 0,
                name: "x-session".into()
            }
        );
    }

    #[test]
    fn plain_values_are_left_alone() {
        // Dates, short ids and texts are not correlations even if repeated.
        let a = ex(
            1,
            0,
            10,
            "POST",
            "/a",
            json!({"when": "2026-11-27T10:00:00Z", "n": "12", "topic": "photosynthesis"}),
            json!({"when": "2026-11-27T10:00:00Z"}),
        );
        let b = ex(
            2,
            50,
            10,
            "POST",
            "/b",
            json!({"when": "2026-11-27T10:00:00Z", "topic": "photosynthesis"}),
            json!(null),
        );
        assert!(discover(&[&a, &b]).is_empty());
        assert!(is_client_token(T));
        assert!(!is_client_token("2026-11-27T10:00:00Z"));
        assert!(!is_id_like("[redacted]"));
    }

    #[test]
    fn declared_pointers_correlate_values_that_do_not_look_like_ids() {
        let a = ex(
            1,
            0,
            10,
            "POST",
            "/login",
            json!(null),
            json!({"session": {"key": "abc"}}),
        );
        let b = ex(2, 50, 10, "GET", "/me/abc", json!(null), json!(null));
        assert!(discover(&[&a, &b]).is_empty(), "`abc` alone is no id");
        let found = discover_with(&[&a, &b], &["/session/key".to_string()]);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].source,
            Source::Json {
                exchange: 0,
                pointer: "/session/key".into()
            }
        );
        assert_eq!(found[0].used_by, vec![1]);
    }
}
