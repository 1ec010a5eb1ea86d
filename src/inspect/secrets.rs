//! `reprise inspect --secrets FILE`: what looks like a credential left in a trace.
//!
//! Checks every exchange with the recorder's own patterns ([`crate::secrets`]) — header
//! names, query keys, JSON keys at any depth, form fields — for values that are not
//! `[redacted]`, and every header value, query, path, JSON string and text body for
//! credential shapes (bearer and basic credentials, JWTs, private keys, provider API keys).
//! A trace recorded with the default redaction has no finding; one recorded with
//! `--no-redact` usually has.
//!
//! # Invariants
//! - Values are never printed whole: a finding shows at most the first 4 characters and the
//!   length, so the scan's output does not leak what it found.
//! - One finding per place (exchange, where); reading stops at damage like every reader.

use crate::secrets::{self, text};
use crate::trace::{self, BodyData, Exchange, Reader, REDACTED};
use serde::Serialize;
use serde_json::Value;
use std::path::Path;

/// One credential-looking value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Exchange id.
    pub exchange: u64,
    /// `METHOD /path` of the exchange (the path cut at 60 characters).
    pub request: String,
    /// Where: `request header x-auth-token`, `request query token`, `response JSON /a/token`…
    pub place: String,
    /// Why: `credential-looking name` or a shape (`JWT`, `bearer token`…).
    pub why: String,
    /// The first characters of the value and its length.
    pub hint: String,
}

/// Every finding of the trace at `path`, in file order.
pub fn scan(path: &Path) -> Result<Vec<Finding>, trace::Error> {
    let mut reader = Reader::open(path)?;
    let mut out = Vec::new();
    for ex in reader.by_ref() {
        scan_exchange(&ex?, &mut out);
    }
    Ok(out)
}

/// The findings of one exchange.
pub fn scan_exchange(ex: &Exchange, out: &mut Vec<Finding>) {
    let mut path: String = ex.req.path.chars().take(60).collect();
    if path.len() < ex.req.path.len() {
        path.push('…');
    }
    let request = format!("{} {path}", ex.req.method);
    let mut add = |place: String, why: &str, value: &str| {
        out.push(Finding {
            exchange: ex.id,
            request: request.clone(),
            place,
            why: why.to_string(),
            hint: hint(value),
        });
    };
    let headers =
        |side: &str, headers: &trace::Headers, add: &mut dyn FnMut(String, &str, &str)| {
            for (name, value) in headers {
                if value == REDACTED {
                    continue;
                }
                if secrets::is_secret_header(name) {
                    add(
                        format!("{side} header {name}"),
                        "credential-looking name",
                        value,
                    );
                } else if let Some((why, r)) = secrets::shape(value) {
                    add(format!("{side} header {name}"), why, &value[r]);
                }
            }
        };
    headers("request", &ex.req.headers, &mut add);
    if let Some(q) = &ex.req.query {
        for p in text::pairs(q) {
            let v = &q[p.value.clone()];
            if !v.is_empty() && v != REDACTED && secrets::is_secret_query_key(&p.key) {
                add(
                    format!("request query {}", p.key),
                    "credential-looking name",
                    v,
                );
            }
        }
        if let Some((why, r)) = secrets::shape(&text::decode(q)) {
            add("request query".into(), why, &text::decode(q)[r]);
        }
    }
    if let Some((why, r)) = secrets::shape(&ex.req.path) {
        add("request path".into(), why, &ex.req.path[r]);
    }
    body("request", &ex.req.body.data, false, &mut add);
    if let Some(res) = &ex.res {
        headers("response", &res.headers, &mut add);
        let stream = res.headers.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("content-type") && v.starts_with("text/event-stream")
        });
        body("response", &res.body.data, stream, &mut add);
    }
}

fn body(side: &str, data: &BodyData, stream: bool, add: &mut dyn FnMut(String, &str, &str)) {
    match data {
        BodyData::Json(v) => json(side, v, &mut String::new(), add),
        BodyData::Text(t) => {
            let key =
                |k: &str| !(stream && secrets::is_stream_token(k)) && secrets::is_secret_key(k);
            for r in text::json_string_values(t, key) {
                let v = &t[r];
                if !v.is_empty() && v != REDACTED {
                    add(format!("{side} body"), "credential-looking key", v);
                }
            }
            for p in text::pairs(t) {
                let v = &t[p.value.clone()];
                if !v.is_empty()
                    && v != REDACTED
                    && !p.key.contains(char::is_whitespace)
                    && secrets::is_secret_key(&p.key)
                {
                    add(
                        format!("{side} form field {}", p.key),
                        "credential-looking name",
                        v,
                    );
                }
            }
            if let Some((why, r)) = secrets::shape(t) {
                add(format!("{side} body"), why, &t[r]);
            }
        }
        BodyData::Base64(_) => {}
    }
}

fn json(side: &str, v: &Value, at: &mut String, add: &mut dyn FnMut(String, &str, &str)) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                let len = at.len();
                at.push('/');
                at.push_str(&k.replace('~', "~0").replace('/', "~1"));
                match x {
                    Value::String(s) if s != REDACTED && secrets::is_secret_key(k) => {
                        add(format!("{side} JSON {at}"), "credential-looking key", s)
                    }
                    _ => json(side, x, at, add),
                }
                at.truncate(len);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let len = at.len();
                at.push_str(&format!("/{i}"));
                json(side, x, at, add);
                at.truncate(len);
            }
        }
        Value::String(s) => {
            if let Some((why, r)) = secrets::shape(s) {
                add(format!("{side} JSON {at}"), why, &s[r]);
            }
        }
        _ => {}
    }
}

/// At most the first 4 characters of `value`, then its length.
fn hint(value: &str) -> String {
    let head: String = value.chars().take(4).collect();
    format!("{head}… ({} chars)", value.chars().count())
}

/// The findings as a table for the terminal.
pub fn render(file: &Path, findings: &[Finding]) -> String {
    if findings.is_empty() {
        return format!("{}: nothing that looks like a credential\n", file.display());
    }
    let mut out = format!(
        "{}: {} value(s) that look like credentials\n",
        file.display(),
        findings.len()
    );
    for f in findings {
        out.push_str(&format!(
            "  exchange {} ({}): {}: {} — {}\n",
            f.exchange, f.request, f.place, f.why, f.hint
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::discover::tests::ex;
    use serde_json::json;

    #[test]
    fn finds_names_and_shapes_but_not_redacted_values() {
        let mut e = ex(
            3,
            0,
            1,
            "POST",
            "/login",
            json!({"user": {"password": "hunter22"}, "note": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc"}),
            json!({"token": REDACTED}),
        );
        e.req.headers = vec![
            ("x-auth-token".into(), "tok-1234".into()),
            ("authorization".into(), REDACTED.into()),
            ("x-note".into(), "Bearer abcdefgh1234".into()),
        ];
        e.req.query = Some("api_key=k-99999&page=1".into());
        let mut f = Vec::new();
        scan_exchange(&e, &mut f);
        let places: Vec<_> = f
            .iter()
            .map(|f| (f.place.as_str(), f.why.as_str()))
            .collect();
        assert_eq!(
            places,
            [
                ("request header x-auth-token", "credential-looking name"),
                ("request header x-note", "bearer token"),
                ("request query api_key", "credential-looking name"),
                ("request JSON /user/password", "credential-looking key"),
                ("request JSON /note", "JWT"),
            ]
        );
        assert_eq!(f[0].hint, "tok-… (8 chars)");
        let text = render(Path::new("x.trace.zst"), &f);
        assert!(
            !text.contains("hunter22") && !text.contains("tok-1234"),
            "{text}"
        );
    }
}
