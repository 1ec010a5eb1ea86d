//! Redaction of secrets before an exchange is encoded.
//!
//! # Invariants
//! - Header names match case-insensitively; a redacted header keeps its name and reads
//!   [`REDACTED`], so a reader sees that it was there.
//! - A JSON pointer is applied to request and response bodies that are JSON; the value at the
//!   pointer, whatever its type, becomes the string [`REDACTED`]. A body that is not JSON
//!   (e.g. truncated at the cap) cannot be searched by pointer and is kept as it is.
//! - A string value found at a redacted pointer is a known secret of its exchange: every
//!   occurrence of it (of at least [`MIN_SCRUB_LEN`] bytes) in the exchange's other JSON
//!   strings and text bodies is replaced too, so an API that echoes a request field back
//!   does not leak it through the response.

use super::Error;
use crate::correlate::session::check_pointer;
use crate::trace::{Body, BodyData, Exchange, Headers, REDACTED};
use serde_json::Value;

/// Headers redacted unless [`Redaction::none`] is used.
pub const DEFAULT_HEADERS: [&str; 5] = [
    "authorization",
    "cookie",
    "set-cookie",
    "proxy-authorization",
    "x-api-key",
];

/// Which header values and JSON fields never reach the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redaction {
    /// Lower-case header names.
    headers: Vec<String>,
    /// JSON pointers.
    json: Vec<String>,
}

impl Default for Redaction {
    /// The default set: Authorization, Cookie, Set-Cookie, Proxy-Authorization, X-Api-Key.
    fn default() -> Self {
        Redaction {
            headers: DEFAULT_HEADERS.iter().map(|h| h.to_string()).collect(),
            json: Vec::new(),
        }
    }
}

impl Redaction {
    /// Nothing redacted (`--no-redact`); fields added afterwards still apply.
    pub fn none() -> Self {
        Redaction {
            headers: Vec::new(),
            json: Vec::new(),
        }
    }

    /// Adds a header name.
    pub fn header(mut self, name: &str) -> Result<Self, Error> {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(Error::Redact(format!("`{name}` is not a header name")));
        }
        let lower = name.to_ascii_lowercase();
        if !self.headers.contains(&lower) {
            self.headers.push(lower);
        }
        Ok(self)
    }

    /// Adds a JSON pointer such as `/password` or `/user/token`.
    pub fn json_pointer(mut self, pointer: &str) -> Result<Self, Error> {
        check_pointer(pointer).map_err(|e| Error::Redact(e.to_string()))?;
        if pointer.is_empty() {
            return Err(Error::Redact(
                "the empty pointer would redact whole bodies".into(),
            ));
        }
        self.json.push(pointer.to_string());
        Ok(self)
    }

    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    /// Replaces the values of redacted headers.
    pub fn apply_headers(&self, headers: &mut Headers) {
        if self.headers.is_empty() {
            return;
        }
        for (name, value) in headers.iter_mut() {
            if self.headers.iter().any(|h| h.eq_ignore_ascii_case(name)) {
                *value = REDACTED.to_string();
            }
        }
    }

    /// Replaces the values at the configured pointers of a JSON body; the string values
    /// replaced are added to `secrets`.
    pub fn apply_body(&self, body: &mut Body, secrets: &mut Vec<String>) {
        if let BodyData::Json(v) = &mut body.data {
            for p in &self.json {
                if let Some(slot) = v.pointer_mut(p) {
                    let old = std::mem::replace(slot, Value::String(REDACTED.to_string()));
                    collect_strings(&old, secrets);
                }
            }
        }
    }

    /// Redacts a whole exchange: headers, body pointers, then every occurrence of a string
    /// found at a pointer elsewhere in its bodies (the recorder and the HAR importer both
    /// use this, so a recording and an imported HAR are redacted alike).
    pub fn apply(&self, ex: &mut Exchange) {
        self.apply_headers(&mut ex.req.headers);
        let mut secrets = Vec::new();
        self.apply_body(&mut ex.req.body, &mut secrets);
        if let Some(r) = ex.res.as_mut() {
            self.apply_headers(&mut r.headers);
            self.apply_body(&mut r.body, &mut secrets);
            self.scrub(&mut r.body, &secrets);
        }
        self.scrub(&mut ex.req.body, &secrets);
    }

    /// Replaces every occurrence of the known `secrets` in a body.
    pub fn scrub(&self, body: &mut Body, secrets: &[String]) {
        if secrets.is_empty() {
            return;
        }
        match &mut body.data {
            BodyData::Json(v) => scrub_value(v, secrets),
            BodyData::Text(t) => scrub_str(t, secrets),
            BodyData::Base64(_) => {}
        }
    }
}

/// Secrets shorter than this are not searched for elsewhere (they would match by chance).
pub const MIN_SCRUB_LEN: usize = 4;

fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if s.len() >= MIN_SCRUB_LEN => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

fn scrub_value(v: &mut Value, secrets: &[String]) {
    match v {
        Value::String(s) => scrub_str(s, secrets),
        Value::Array(a) => a.iter_mut().for_each(|x| scrub_value(x, secrets)),
        Value::Object(o) => o.values_mut().for_each(|x| scrub_value(x, secrets)),
        _ => {}
    }
}

fn scrub_str(s: &mut String, secrets: &[String]) {
    for secret in secrets {
        if s.contains(secret.as_str()) {
            *s = s.replace(secret.as_str(), REDACTED);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn default_headers_are_redacted_case_insensitively() {
        let r = Redaction::default();
        let mut h: Headers = vec![
            ("Authorization".into(), "Bearer s3cret".into()),
            ("x-api-key".into(), "k".into()),
            ("content-type".into(), "application/json".into()),
        ];
        r.apply_headers(&mut h);
        assert_eq!(h[0].1, REDACTED);
        assert_eq!(h[1].1, REDACTED);
        assert_eq!(h[2].1, "application/json");
    }

    #[test]
    fn extra_header_and_pointer() {
        let r = Redaction::none()
            .header("X-Student-Token")
            .unwrap()
            .json_pointer("/auth/password")
            .unwrap();
        let mut h: Headers = vec![
            ("authorization".into(), "Bearer kept".into()),
            ("x-student-token".into(), "t".into()),
        ];
        r.apply_headers(&mut h);
        assert_eq!(h[0].1, "Bearer kept", "--no-redact keeps defaults off");
        assert_eq!(h[1].1, REDACTED);
        let raw = json!({"auth": {"password": 1234, "user": "u"}}).to_string();
        let mut body = Body::from_bytes(raw.as_bytes(), raw.len() as u64);
        let mut secrets = Vec::new();
        r.apply_body(&mut body, &mut secrets);
        assert_eq!(
            body.json(),
            Some(&json!({"auth": {"password": REDACTED, "user": "u"}}))
        );
        assert!(secrets.is_empty(), "numbers are not searched for");
        let raw = json!({"auth": {"password": "hunter22"}, "echo": ["x hunter22 y"]}).to_string();
        let mut body = Body::from_bytes(raw.as_bytes(), raw.len() as u64);
        r.apply_body(&mut body, &mut secrets);
        assert_eq!(secrets, ["hunter22"]);
        r.scrub(&mut body, &secrets);
        let mut text = Body::from_bytes(b"you said hunter22", 17);
        r.scrub(&mut text, &secrets);
        assert_eq!(
            body.json(),
            Some(&json!({"auth": {"password": REDACTED}, "echo": ["x [redacted] y"]}))
        );
        assert_eq!(text.data, BodyData::Text("you said [redacted]".into()));
    }

    #[test]
    fn bad_rules_are_refused() {
        assert!(Redaction::default().header("bad header").is_err());
        assert!(Redaction::default().json_pointer("password").is_err());
        assert!(Redaction::default().json_pointer("").is_err());
    }
}
