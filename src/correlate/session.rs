//! Session keys: which conversation an exchange belongs to, learned from the traffic itself.
//!
//! A [`Rules`] value names where a session id can be found:
//! - **issued** — JSON pointers into a *response* body (`/thread_id` of `POST /session/start`);
//! - **carried** — JSON pointers into a *request* body (`{"thread_id": …}` of a `continue`);
//! - **paths** — path patterns with one `{name}` placeholder segment
//!   (`/session/status/{thread_id}`).
//!
//! The rules are pure data and [`Rules::key`] is a pure function of one exchange, so the
//! recorder (live) and the replayer and `inspect` (from a file) agree on every key.
//!
//! # Invariants
//! - A key is a non-empty string; numbers are keyed by their decimal text; anything else
//!   (objects, arrays, null, booleans, empty strings) is no key.
//! - Look-up order is request path, request body, response body: what the client *sends*
//!   names the session it acts on, even when a response mentions another id.
//! - An exchange that matches no rule has no session (`None`), e.g. `GET /health`.

use crate::trace::Exchange;
use percent_encoding::percent_decode_str;
use serde_json::Value;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("`{0}` is not a JSON pointer (it must be empty or start with `/`, e.g. /thread_id)")]
    Pointer(String),
    #[error(
        "`{0}` is not a session path pattern (it must start with `/` and hold exactly one \
         `{{name}}` segment, e.g. /session/status/{{thread_id}})"
    )]
    Pattern(String),
}

/// A path pattern such as `/session/status/{thread_id}`: literal segments and exactly one
/// placeholder segment that captures the session id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    segments: Vec<Segment>,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Capture,
}

impl PathPattern {
    pub fn parse(pattern: &str) -> Result<Self, Error> {
        let bad = || Error::Pattern(pattern.to_string());
        let rest = pattern.strip_prefix('/').ok_or_else(bad)?;
        let mut segments = Vec::new();
        for seg in rest.split('/') {
            if seg.starts_with('{') && seg.ends_with('}') && seg.len() > 2 {
                segments.push(Segment::Capture);
            } else if seg.contains('{') || seg.contains('}') {
                return Err(bad());
            } else {
                segments.push(Segment::Literal(seg.to_string()));
            }
        }
        if segments.iter().filter(|s| **s == Segment::Capture).count() != 1 {
            return Err(bad());
        }
        Ok(PathPattern {
            segments,
            text: pattern.to_string(),
        })
    }

    /// The captured segment, percent-decoded, when `path` (no query) matches.
    pub fn capture(&self, path: &str) -> Option<String> {
        let rest = path.strip_prefix('/')?;
        let mut found = None;
        let mut parts = rest.split('/');
        for seg in &self.segments {
            let part = parts.next()?;
            match seg {
                Segment::Literal(l) if l == part => {}
                Segment::Literal(_) => return None,
                Segment::Capture => {
                    let decoded = percent_decode_str(part).decode_utf8().ok()?;
                    if decoded.is_empty() {
                        return None;
                    }
                    found = Some(decoded.into_owned());
                }
            }
        }
        if parts.next().is_some() {
            return None;
        }
        found
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Where session ids are found. [`Rules::default`] fits the Educational Agent API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// Pointers into response bodies that issue a session id.
    pub issued: Vec<String>,
    /// Pointers into request bodies that carry a session id.
    pub carried: Vec<String>,
    /// Path patterns that carry a session id.
    pub paths: Vec<PathPattern>,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            issued: vec!["/thread_id".to_string()],
            carried: vec!["/thread_id".to_string()],
            paths: vec![PathPattern::parse("/session/status/{thread_id}").expect("valid pattern")],
        }
    }
}

impl Rules {
    /// Builds rules from flag values; any empty list falls back to the default for that list.
    pub fn from_parts(
        issued: &[String],
        carried: &[String],
        paths: &[String],
    ) -> Result<Self, Error> {
        let default = Rules::default();
        let pointers = |given: &[String], fallback: Vec<String>| -> Result<Vec<String>, Error> {
            if given.is_empty() {
                return Ok(fallback);
            }
            given
                .iter()
                .map(|p| check_pointer(p).map(|_| p.clone()))
                .collect()
        };
        Ok(Rules {
            issued: pointers(issued, default.issued)?,
            carried: pointers(carried, default.carried)?,
            paths: if paths.is_empty() {
                default.paths
            } else {
                paths
                    .iter()
                    .map(|p| PathPattern::parse(p))
                    .collect::<Result<_, _>>()?
            },
        })
    }

    /// The session key of one exchange, given its path (no query) and the JSON of its request
    /// and response bodies (when they are JSON).
    pub fn key(&self, path: &str, req: Option<&Value>, res: Option<&Value>) -> Option<String> {
        self.paths
            .iter()
            .find_map(|p| p.capture(path))
            .or_else(|| req.and_then(|v| first_at(v, &self.carried)))
            .or_else(|| res.and_then(|v| first_at(v, &self.issued)))
    }

    /// The session key of a recorded exchange (used by replay and inspect).
    pub fn key_of(&self, exchange: &Exchange) -> Option<String> {
        self.key(
            &exchange.req.path,
            exchange.req.body.json(),
            exchange.res.as_ref().and_then(|r| r.body.json()),
        )
    }
}

/// Checks the RFC 6901 shape: empty (the whole document) or starting with `/`.
pub fn check_pointer(p: &str) -> Result<(), Error> {
    if p.is_empty() || p.starts_with('/') {
        Ok(())
    } else {
        Err(Error::Pointer(p.to_string()))
    }
}

fn first_at(v: &Value, pointers: &[String]) -> Option<String> {
    pointers.iter().find_map(|p| match v.pointer(p)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn start_is_keyed_by_the_id_it_issues() {
        let r = Rules::default();
        let res = json!({"thread_id": "t-1", "current_node": "APK"});
        assert_eq!(
            r.key(
                "/session/start",
                Some(&json!({"student_id": "s"})),
                Some(&res)
            ),
            Some("t-1".into())
        );
    }

    #[test]
    fn continue_is_keyed_by_the_id_it_carries() {
        let r = Rules::default();
        let req = json!({"thread_id": "t-2", "user_response": "x"});
        assert_eq!(
            r.key("/session/continue", Some(&req), None),
            Some("t-2".into())
        );
        // The request wins over a response naming another id.
        let res = json!({"thread_id": "other"});
        assert_eq!(
            r.key("/session/continue", Some(&req), Some(&res)),
            Some("t-2".into())
        );
    }

    #[test]
    fn status_is_keyed_by_its_path() {
        let r = Rules::default();
        assert_eq!(r.key("/session/status/t-3", None, None), Some("t-3".into()));
        assert_eq!(
            r.key("/session/status/a%20b", None, None),
            Some("a b".into())
        );
        assert_eq!(r.key("/session/status/", None, None), None);
        assert_eq!(r.key("/session/status/t-3/extra", None, None), None);
        assert_eq!(r.key("/session/state/t-3", None, None), None);
    }

    #[test]
    fn health_has_no_session() {
        let r = Rules::default();
        assert_eq!(r.key("/health", None, Some(&json!({"status": "ok"}))), None);
        // Non-string ids are not keys, numbers are.
        assert_eq!(r.key("/x", Some(&json!({"thread_id": null})), None), None);
        assert_eq!(r.key("/x", Some(&json!({"thread_id": ""})), None), None);
        assert_eq!(
            r.key("/x", Some(&json!({"thread_id": 42})), None),
            Some("42".into())
        );
    }

    #[test]
    fn custom_rules_replace_defaults() {
        let r = Rules::from_parts(
            &["/data/conversation".into()],
            &["/conv".into()],
            &["/chat/{id}/messages".into()],
        )
        .unwrap();
        assert_eq!(r.key("/chat/c9/messages", None, None), Some("c9".into()));
        assert_eq!(r.key("/session/status/t", None, None), None);
        assert_eq!(
            r.key("/x", Some(&json!({"conv": "c1"})), None),
            Some("c1".into())
        );
        assert_eq!(
            r.key("/x", None, Some(&json!({"data": {"conversation": "c2"}}))),
            Some("c2".into())
        );
        assert_eq!(r.key("/x", Some(&json!({"thread_id": "t"})), None), None);
    }

    #[test]
    fn bad_rules_are_refused_with_the_value() {
        assert_eq!(
            Rules::from_parts(&["thread_id".into()], &[], &[]),
            Err(Error::Pointer("thread_id".into()))
        );
        for p in ["session/{id}", "/a/b", "/a/{x}/{y}", "/a/x{y}"] {
            assert_eq!(PathPattern::parse(p), Err(Error::Pattern(p.into())), "{p}");
        }
    }
}
