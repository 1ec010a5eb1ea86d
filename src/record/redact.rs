//! Redaction of secrets before an exchange is encoded.
//!
//! By default (everything below is off with [`Redaction::none`]; rules added afterwards
//! still apply) the recorder redacts what [`crate::secrets`] calls a credential:
//! - headers: Authorization, Proxy-Authorization, Cookie, Set-Cookie, X-Api-Key and every
//!   header whose name contains `auth`, `token`, `secret`, `passw`, `api-key`, `apikey`,
//!   `credential` or `signature`, in requests and responses;
//! - query parameters named like a credential (`api_key`, `token`, `access_token`, `key`,
//!   `sig`, `password`, …);
//! - JSON keys named like a credential at any depth (`password`, `client_secret`,
//!   `refresh_token`, …), in JSON bodies and in text that holds JSON (a body cut at the
//!   size cap, SSE `data:` lines — where a bare `token` key is a piece of a streamed answer
//!   and is kept);
//! - fields of `application/x-www-form-urlencoded` bodies named like a credential.
//!
//! # Invariants
//! - A redacted value reads [`REDACTED`]; its name or key stays, so a reader sees that it
//!   was there. Key rules replace string values (and strings in arrays); a JSON pointer
//!   replaces the value at it whatever its type.
//! - Every value redacted is a known secret of its exchange: each occurrence of it (of at
//!   least [`MIN_SCRUB_LEN`] bytes) anywhere else in the exchange — header values, path,
//!   query, bodies (JSON strings, text, and the decoded bytes of base64 bodies), error
//!   messages — is replaced too, as are its percent-encoded and JSON-escaped forms. A
//!   header's credential is known whole, without its scheme (`Bearer x` → `x`), and for
//!   Basic credentials also decoded (`user:password` and `password`); a cookie by each
//!   value.
//! - A body that is neither JSON nor text nor form (base64) is searched only for the known
//!   secrets.

use super::Error;
use crate::correlate::session::check_pointer;
use crate::secrets::{self, text};
use crate::trace::{Body, BodyData, Exchange, Headers, REDACTED};
use base64::Engine as _;
use serde_json::Value;

/// Headers always redacted unless [`Redaction::none`] is used (besides the name patterns).
pub const DEFAULT_HEADERS: [&str; 5] = secrets::HEADER_EXACT;

/// Secrets shorter than this are not searched for elsewhere (they would match by chance).
pub const MIN_SCRUB_LEN: usize = 4;

/// Which header values, query parameters, JSON fields and form fields never reach the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redaction {
    /// The credential patterns of [`crate::secrets`] apply.
    defaults: bool,
    /// Extra lower-case header names.
    headers: Vec<String>,
    /// Extra JSON / form keys, normalised ([`secrets::normalize`]).
    keys: Vec<String>,
    /// Extra query keys, normalised.
    query: Vec<String>,
    /// JSON pointers.
    json: Vec<String>,
}

impl Default for Redaction {
    /// The default set: the credential patterns (see the module docs).
    fn default() -> Self {
        Redaction {
            defaults: true,
            ..Redaction::none()
        }
    }
}

impl Redaction {
    /// Nothing redacted (`--no-redact`); rules added afterwards still apply.
    pub fn none() -> Self {
        Redaction {
            defaults: false,
            headers: Vec::new(),
            keys: Vec::new(),
            query: Vec::new(),
            json: Vec::new(),
        }
    }

    /// Adds a header name (`--redact-header`).
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

    /// Adds a JSON pointer such as `/password` or `/user/token` (`--redact-json`).
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

    /// Adds a JSON or form key redacted at any depth (`--redact-key`).
    pub fn key(mut self, name: &str) -> Result<Self, Error> {
        let n = secrets::normalize(name);
        if n.is_empty() {
            return Err(Error::Redact(format!("`{name}` is not a key name")));
        }
        self.keys.push(n);
        Ok(self)
    }

    /// Adds a query parameter name (`--redact-query`).
    pub fn query_key(mut self, name: &str) -> Result<Self, Error> {
        let n = secrets::normalize(name);
        if n.is_empty() {
            return Err(Error::Redact(format!("`{name}` is not a query key")));
        }
        self.query.push(n);
        Ok(self)
    }

    /// The header names redacted by name (the patterns come on top when on).
    pub fn headers(&self) -> Vec<String> {
        let mut out: Vec<String> = if self.defaults {
            DEFAULT_HEADERS.iter().map(|h| h.to_string()).collect()
        } else {
            Vec::new()
        };
        out.extend(self.headers.iter().cloned());
        out
    }

    /// Whether the credential patterns are on.
    pub fn defaults(&self) -> bool {
        self.defaults
    }

    fn secret_header(&self, name: &str) -> bool {
        (self.defaults && secrets::is_secret_header(name))
            || self.headers.iter().any(|h| h.eq_ignore_ascii_case(name))
    }

    fn secret_key(&self, name: &str) -> bool {
        (self.defaults && secrets::is_secret_key(name))
            || (!self.keys.is_empty() && self.keys.contains(&secrets::normalize(name)))
    }

    fn secret_query(&self, name: &str) -> bool {
        (self.defaults && secrets::is_secret_query_key(name))
            || (!self.query.is_empty() && self.query.contains(&secrets::normalize(name)))
    }

    /// Redacts `ex` in place: the rules, then every echo of what they found.
    pub fn apply(&self, ex: &mut Exchange) {
        let mut found = Vec::new();
        self.redact_headers(&mut ex.req.headers, &mut found);
        if let Some(q) = &mut ex.req.query {
            let ranges: Vec<_> = text::pairs(q)
                .into_iter()
                .filter(|p| !p.value.is_empty() && self.secret_query(&p.key))
                .map(|p| p.value)
                .collect();
            if !ranges.is_empty() {
                for r in &ranges {
                    push_secret(&mut found, &q[r.clone()]);
                    push_secret(&mut found, &text::decode(&q[r.clone()]));
                }
                *q = text::replace_ranges(q, &ranges, REDACTED);
            }
        }
        let kind = BodyKind::of(&ex.req.headers);
        self.redact_body(&mut ex.req.body, kind, &mut found);
        if let Some(r) = &mut ex.res {
            self.redact_headers(&mut r.headers, &mut found);
            let kind = BodyKind::of(&r.headers);
            self.redact_body(&mut r.body, kind, &mut found);
        }
        if found.is_empty() {
            return;
        }
        let secrets = variants(found);
        for (_, v) in ex.req.headers.iter_mut() {
            scrub_str(v, &secrets);
        }
        scrub_str(&mut ex.req.path, &secrets);
        if let Some(q) = &mut ex.req.query {
            scrub_str(q, &secrets);
        }
        scrub_body(&mut ex.req.body, &secrets);
        if let Some(r) = &mut ex.res {
            for (_, v) in r.headers.iter_mut() {
                scrub_str(v, &secrets);
            }
            scrub_body(&mut r.body, &secrets);
        }
        if let Some(e) = &mut ex.error {
            scrub_str(&mut e.message, &secrets);
        }
    }

    fn redact_headers(&self, headers: &mut Headers, found: &mut Vec<String>) {
        for (name, value) in headers.iter_mut() {
            if value != REDACTED && self.secret_header(name) {
                header_secrets(name, value, found);
                *value = REDACTED.to_string();
            }
        }
    }

    fn redact_body(&self, body: &mut Body, kind: BodyKind, found: &mut Vec<String>) {
        let form = kind == BodyKind::Form;
        match &mut body.data {
            BodyData::Json(v) => {
                for p in &self.json {
                    if let Some(slot) = v.pointer_mut(p) {
                        let old = std::mem::replace(slot, Value::String(REDACTED.to_string()));
                        collect_strings(&old, found);
                    }
                }
                if self.defaults || !self.keys.is_empty() {
                    self.redact_keys(v, found);
                }
            }
            BodyData::Text(t) => {
                let mut ranges: Vec<_> = if form {
                    text::pairs(t)
                        .into_iter()
                        .filter(|p| !p.value.is_empty() && self.secret_key(&p.key))
                        .map(|p| p.value)
                        .collect()
                } else {
                    Vec::new()
                };
                // an event stream's `{"token": …}` is a piece of the model's answer
                let stream = kind == BodyKind::EventStream;
                ranges.extend(text::json_string_values(t, |k| {
                    !(stream && secrets::is_stream_token(k)) && self.secret_key(k)
                }));
                ranges.retain(|r| !r.is_empty() && &t[r.clone()] != REDACTED);
                if ranges.is_empty() {
                    return;
                }
                ranges.sort_by_key(|r| r.start);
                for r in &ranges {
                    push_secret(found, &t[r.clone()]);
                    if form {
                        push_secret(found, &text::decode(&t[r.clone()]));
                    }
                }
                *t = text::replace_ranges(t, &ranges, REDACTED);
            }
            BodyData::Base64(_) => {}
        }
    }

    /// String values under credential-looking keys, at any depth.
    fn redact_keys(&self, v: &mut Value, found: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                for (k, x) in o.iter_mut() {
                    if self.secret_key(k) {
                        redact_strings(x, found);
                    } else {
                        self.redact_keys(x, found);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| self.redact_keys(x, found)),
            _ => {}
        }
    }
}

/// A string, or the strings of an array, become [`REDACTED`]; objects are searched by key.
fn redact_strings(v: &mut Value, found: &mut Vec<String>) {
    match v {
        Value::String(s) if s != REDACTED => {
            push_secret(found, s);
            *s = REDACTED.to_string();
        }
        Value::Array(a) => a.iter_mut().for_each(|x| redact_strings(x, found)),
        Value::Object(o) => o.values_mut().for_each(|x| redact_strings(x, found)),
        _ => {}
    }
}

/// What a text body holds, by its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Form,
    EventStream,
    Other,
}

impl BodyKind {
    fn of(headers: &Headers) -> BodyKind {
        let ct = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.to_ascii_lowercase())
            .unwrap_or_default();
        if ct.starts_with("application/x-www-form-urlencoded") {
            BodyKind::Form
        } else if ct.starts_with("text/event-stream") {
            BodyKind::EventStream
        } else {
            BodyKind::Other
        }
    }
}

/// What a redacted header value makes known: the value, its credential without the scheme,
/// decoded Basic credentials, each cookie value.
fn header_secrets(name: &str, value: &str, found: &mut Vec<String>) {
    let value = value.trim();
    push_secret(found, value);
    let lower = name.to_ascii_lowercase();
    if lower == "cookie" || lower == "set-cookie" {
        let cookies = if lower == "cookie" {
            value.split(';').collect::<Vec<_>>()
        } else {
            value.split(';').take(1).collect()
        };
        for c in cookies {
            if let Some((_, v)) = c.split_once('=') {
                push_secret(found, v.trim());
            }
        }
        return;
    }
    if let Some((scheme, cred)) = value.split_once(' ') {
        let cred = cred.trim();
        push_secret(found, cred);
        if scheme.eq_ignore_ascii_case("basic") {
            if let Some(plain) = base64::engine::general_purpose::STANDARD
                .decode(cred)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
            {
                if let Some((_, password)) = plain.split_once(':') {
                    push_secret(found, password);
                }
                push_secret(found, &plain);
            }
        }
    }
}

fn push_secret(found: &mut Vec<String>, s: &str) {
    if s.len() >= MIN_SCRUB_LEN && s != REDACTED && !found.iter().any(|f| f == s) {
        found.push(s.to_string());
    }
}

fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => push_secret(out, s),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

/// The secrets with their percent-encoded and JSON-escaped forms, longest first (so a
/// whole `user:password` goes before its `password`).
fn variants(found: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(found.len() * 2);
    for s in found {
        let pct = percent_encoding::utf8_percent_encode(&s, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
        let quoted = serde_json::to_string(&s).unwrap_or_default();
        let json = quoted
            .get(1..quoted.len().saturating_sub(1))
            .unwrap_or_default()
            .to_string();
        for v in [pct, json] {
            if v != s && v.len() >= MIN_SCRUB_LEN {
                out.push(v);
            }
        }
        out.push(s);
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

fn scrub_body(body: &mut Body, secrets: &[String]) {
    match &mut body.data {
        BodyData::Json(v) => scrub_value(v, secrets),
        BodyData::Text(t) => scrub_str(t, secrets),
        BodyData::Base64(b) => {
            let engine = base64::engine::general_purpose::STANDARD;
            let Ok(mut bytes) = engine.decode(b.as_bytes()) else {
                return;
            };
            let mut changed = false;
            for s in secrets {
                if let Some(out) = replace_bytes(&bytes, s.as_bytes(), REDACTED.as_bytes()) {
                    bytes = out;
                    changed = true;
                }
            }
            if changed {
                *b = engine.encode(&bytes);
            }
        }
    }
}

fn replace_bytes(hay: &[u8], needle: &[u8], with: &[u8]) -> Option<Vec<u8>> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    let mut out = Vec::new();
    let (mut i, mut last, mut hit) = (0, 0, false);
    while i + needle.len() <= hay.len() {
        if &hay[i..i + needle.len()] == needle {
            out.extend_from_slice(&hay[last..i]);
            out.extend_from_slice(with);
            i += needle.len();
            last = i;
            hit = true;
        } else {
            i += 1;
        }
    }
    hit.then(|| {
        out.extend_from_slice(&hay[last..]);
        out
    })
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
mod tests;
