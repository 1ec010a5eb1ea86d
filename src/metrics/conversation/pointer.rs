//! JSON pointers (RFC 6901) parsed once, looked up without allocating.
//!
//! `serde_json::Value::pointer` re-splits and unescapes its pointer on every call (two
//! allocations per token); the recorder reads several pointers per response, so it parses
//! each configured pointer once when the recorder is built.
//!
//! # Invariants
//! - `get` equals `serde_json::Value::pointer` for every pointer `parse` accepts (a unit
//!   test compares them).
//! - `parse` accepts `""` (the whole document) and strings starting with `/`; nothing else.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer {
    tokens: Vec<String>,
}

impl Pointer {
    pub fn parse(s: &str) -> Option<Pointer> {
        if s.is_empty() {
            return Some(Pointer { tokens: Vec::new() });
        }
        let rest = s.strip_prefix('/')?;
        Some(Pointer {
            tokens: rest
                .split('/')
                .map(|t| t.replace("~1", "/").replace("~0", "~"))
                .collect(),
        })
    }

    /// The unescaped reference tokens (`~1` → `/`, `~0` → `~`), none for `""`.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    pub fn get<'v>(&self, mut v: &'v Value) -> Option<&'v Value> {
        for t in &self.tokens {
            v = match v {
                Value::Object(m) => m.get(t.as_str())?,
                Value::Array(a) => a.get(index(t)?)?,
                _ => return None,
            };
        }
        Some(v)
    }
}

/// An array index as RFC 6901 spells it: `0`, or digits without a leading zero.
pub(super) fn index(t: &str) -> Option<usize> {
    if t.is_empty() || (t.len() > 1 && t.starts_with('0')) || !t.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    t.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn same_as_serde_json() {
        let v = json!({"a": {"b/c": [10, {"d~e": true}], "": 1}, "current_node": "CI", "n": null});
        for p in [
            "",
            "/a",
            "/a/b~1c",
            "/a/b~1c/0",
            "/a/b~1c/1/d~0e",
            "/a/b~1c/01",
            "/a/b~1c/2",
            "/a/",
            "/current_node",
            "/n",
            "/missing",
            "/a/b~1c/x",
            "/current_node/0",
            "/a/b~1c/-",
            "/a/b~1c/+1",
        ] {
            let parsed = Pointer::parse(p).unwrap();
            assert_eq!(parsed.get(&v), v.pointer(p), "pointer {p:?}");
        }
        assert_eq!(Pointer::parse("current_node"), None);
    }
}
