//! A lenient HAR 1.2 reader: a file (plain, gzip or zstd) into [`Har`] entries.
//!
//! HAR writers disagree on details, so the reader accepts what real tools write and refuses
//! only what cannot be used: `null` and `-1` timings, a missing `time` (summed from
//! `timings`), dates with or without a zone and with ms or µs, base64 and text bodies,
//! `postData.text` or only `postData.params`, HTTP/2 pseudo-headers (dropped), and any
//! `_`-prefixed field (kept in [`Entry::custom`]; `_chunks`, `_truncated`, `_error` and
//! `_resourceType` are read).
//!
//! # Invariants
//! - Every refusal names the file, the entry index and the field:
//!   `x.har: log.entries[3].startedDateTime: …`.
//! - Entries keep their index in the file; their order is not trusted (see the importer).
//! - All durations are whole microseconds, rounded from HAR's millisecond floats.

use super::Error;
use base64::Engine as _;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value};
use std::io::Read;
use std::path::Path;

/// A parsed HAR file.
#[derive(Debug, Clone, PartialEq)]
pub struct Har {
    /// `log.creator.name` and `version`, e.g. `mitmproxy 11.0.2`.
    pub creator: Option<String>,
    pub creator_name: Option<String>,
    pub entries: Vec<Entry>,
}

/// One `log.entries[i]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Position in `log.entries`.
    pub index: usize,
    pub pageref: Option<String>,
    pub started: DateTime<Utc>,
    /// `time`: send to last byte of the response.
    pub time_us: u64,
    /// Send to the first byte of the response: `time` − `timings.receive`.
    pub ttfb_us: u64,
    /// HAR's `connection` (a connection id or a port), when given.
    pub connection: Option<String>,
    pub request: Request,
    /// `None` for status 0 (no response: blocked, failed, aborted).
    pub response: Option<Response>,
    /// `_error` or `response._error`.
    pub error: Option<String>,
    /// Chromium's `_resourceType` (`document`, `script`, `fetch`, `xhr`, …).
    pub resource_type: Option<String>,
    /// Whether the entry carries WebSocket messages (`_webSocketMessages`).
    pub websocket: bool,
    /// Every `_`-prefixed field of the entry, as written.
    pub custom: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: String,
    pub url: String,
    /// Names as written (HTTP/2 pseudo-headers dropped).
    pub headers: Vec<(String, String)>,
    /// `request.cookies`, for a request whose `Cookie` header was not kept.
    pub cookies: Vec<(String, String)>,
    /// Bytes of `postData` (its `text`, or its `params` form-encoded); `None` without one.
    pub body: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// `content.mimeType` (or the `Content-Type` header).
    pub mime: String,
    /// The decoded body bytes that were kept (`content.text`).
    pub body: Vec<u8>,
    /// The body's full length (`content.size`, at least `body.len()`).
    pub body_len: u64,
    /// The body was not kept whole: no `content.text` for a non-empty body, or `_truncated`.
    pub truncated: bool,
    /// `_chunks`: `[offset from send µs, bytes]`.
    pub chunks: Vec<(u64, u64)>,
}

/// Reads and parses a HAR file, decompressing gzip (`.har.gz`, `.zhar`) or zstd by their
/// magic bytes.
pub fn open(path: &Path) -> Result<Har, Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let raw = std::fs::read(path).map_err(io)?;
    let bytes = decompress(&raw).map_err(io)?;
    parse(path, &bytes)
}

fn decompress(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    match raw {
        [0x1f, 0x8b, ..] => {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(raw).read_to_end(&mut out)?;
            Ok(out)
        }
        [0x28, 0xb5, 0x2f, 0xfd, ..] => zstd::decode_all(raw),
        _ => Ok(raw.to_vec()),
    }
}

/// Parses HAR JSON (`path` only names the file in errors).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Har, Error> {
    if bytes.starts_with(b"PK\x03\x04") {
        return Err(not_har(
            path,
            "a zip archive (e.g. Playwright's recordHar to .zip): unzip it and pass the .har inside",
        ));
    }
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let root: Value = serde_json::from_slice(bytes).map_err(|e| Error::NotJson {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        reason: e.to_string(),
    })?;
    let log = root
        .get("log")
        .and_then(Value::as_object)
        .ok_or_else(|| not_har(path, "no top-level `log` object"))?;
    let entries = log
        .get("entries")
        .and_then(Value::as_array)
        .ok_or_else(|| not_har(path, "`log.entries` is not a list"))?;
    let creator = log.get("creator");
    let creator_name = creator
        .and_then(|c| c.get("name"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let creator_text = creator_name.as_ref().map(|n| {
        match creator
            .and_then(|c| c.get("version"))
            .and_then(Value::as_str)
        {
            Some(v) if !v.is_empty() => format!("{n} {v}"),
            _ => n.clone(),
        }
    });
    // mitmproxy times `connect` and `ssl` on the server connection, which it opens before
    // the request starts (or while it waits for the response), yet adds them to `time`:
    // its exchanges end at `startedDateTime` + send + wait + receive.
    let connect_outside = creator_name
        .as_deref()
        .is_some_and(|n| n.eq_ignore_ascii_case("mitmproxy"));
    let entries = entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            entry(i, e, connect_outside).map_err(|(field, reason)| Error::Entry {
                path: path.to_path_buf(),
                index: i,
                field,
                reason,
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(Har {
        creator: creator_text,
        creator_name,
        entries,
    })
}

fn not_har(path: &Path, reason: &str) -> Error {
    Error::NotHar {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// A refusal inside one entry: (field path, reason).
type Bad = (String, String);

fn bad(field: &str, reason: impl Into<String>) -> Bad {
    (field.to_string(), reason.into())
}

fn entry(index: usize, v: &Value, connect_outside: bool) -> Result<Entry, Bad> {
    let e = v.as_object().ok_or_else(|| bad("", "not an object"))?;
    let started = match e.get("startedDateTime") {
        Some(Value::String(s)) => date(s).ok_or_else(|| {
            bad(
                "startedDateTime",
                format!("`{s}` is not an ISO 8601 date-time"),
            )
        })?,
        Some(_) => return Err(bad("startedDateTime", "not a string")),
        None => return Err(bad("startedDateTime", "missing")),
    };
    let timings = e.get("timings").and_then(Value::as_object);
    let timing = |name: &str| -> Option<f64> {
        timings
            .and_then(|t| t.get(name))
            .and_then(Value::as_f64)
            .filter(|x| x.is_finite() && *x >= 0.0)
    };
    let exchange_phases = ["send", "wait", "receive"].map(&timing);
    let time_ms = match e.get("time").and_then(Value::as_f64) {
        Some(_) if connect_outside && exchange_phases.iter().all(Option::is_some) => {
            exchange_phases.iter().flatten().sum()
        }
        Some(t) if t.is_finite() && t >= 0.0 => t,
        _ => {
            let parts = ["blocked", "dns", "connect", "send", "wait", "receive"];
            let known: Vec<f64> = parts.iter().filter_map(|p| timing(p)).collect();
            if known.is_empty() {
                return Err(bad(
                    "time",
                    "missing or negative, and no `timings` to sum instead",
                ));
            }
            known.iter().sum()
        }
    };
    let time_us = us(time_ms);
    let ttfb_us = match timing("receive") {
        Some(r) => time_us.saturating_sub(us(r)),
        None => time_us,
    };
    let request = request(e.get("request").ok_or_else(|| bad("request", "missing"))?)?;
    let res_v = e.get("response");
    let response = match res_v {
        Some(r) if r.is_object() => response(r)?,
        Some(Value::Null) | None => None,
        Some(_) => return Err(bad("response", "not an object")),
    };
    let error = str_field(e, "_error")
        .or_else(|| res_v.and_then(|r| r.get("_error")).and_then(Value::as_str))
        .map(str::to_string);
    let custom: Map<String, Value> = e
        .iter()
        .filter(|(k, _)| k.starts_with('_'))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let websocket = e
        .get("_webSocketMessages")
        .and_then(Value::as_array)
        .is_some();
    let chunks = match e
        .get("_chunks")
        .or_else(|| res_v.and_then(|r| r.get("_chunks")))
    {
        Some(c) => chunks(c)?,
        None => Vec::new(),
    };
    let response = response.map(|mut r| {
        r.chunks = chunks;
        r
    });
    Ok(Entry {
        index,
        pageref: str_field(e, "pageref").map(str::to_string),
        started,
        time_us,
        ttfb_us,
        connection: match e.get("connection") {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        },
        request,
        response,
        error,
        resource_type: str_field(e, "_resourceType").map(str::to_string),
        websocket,
        custom,
    })
}

fn request(v: &Value) -> Result<Request, Bad> {
    let r = v
        .as_object()
        .ok_or_else(|| bad("request", "not an object"))?;
    let method = str_field(r, "method")
        .filter(|m| !m.is_empty())
        .ok_or_else(|| bad("request.method", "missing"))?
        .to_string();
    let url = str_field(r, "url")
        .filter(|u| !u.is_empty())
        .ok_or_else(|| bad("request.url", "missing"))?
        .to_string();
    let headers = pairs(r.get("headers"), "request.headers")?
        .into_iter()
        .filter(|(n, _)| !n.starts_with(':'))
        .collect();
    let cookies = pairs(r.get("cookies"), "request.cookies")?;
    let body = match r.get("postData") {
        Some(p) if p.is_object() => Some(post_data(p)?),
        _ => None,
    };
    Ok(Request {
        method,
        url,
        headers,
        cookies,
        body,
    })
}

fn post_data(p: &Value) -> Result<Vec<u8>, Bad> {
    let encoding = p
        .get("encoding")
        .or_else(|| p.get("_encoding"))
        .and_then(Value::as_str);
    if let Some(text) = p.get("text").and_then(Value::as_str) {
        return decode_text(text, encoding, "request.postData.text");
    }
    let params = pairs(p.get("params"), "request.postData.params")?;
    let form: Vec<String> = params
        .iter()
        .map(|(n, v)| format!("{}={}", form_encode(n), form_encode(v)))
        .collect();
    Ok(form.join("&").into_bytes())
}

/// `application/x-www-form-urlencoded` encoding of one name or value.
fn form_encode(s: &str) -> String {
    const FORM: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'*')
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b' ');
    percent_encoding::utf8_percent_encode(s, FORM)
        .to_string()
        .replace(' ', "+")
}

fn response(v: &Value) -> Result<Option<Response>, Bad> {
    let r = v.as_object().expect("checked by the caller");
    let status = match r.get("status") {
        Some(s) => s
            .as_u64()
            .or_else(|| s.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
            .filter(|s| *s <= 999)
            .ok_or_else(|| bad("response.status", format!("`{s}` is not a status code")))?,
        None => return Err(bad("response.status", "missing")),
    } as u16;
    if status == 0 {
        return Ok(None);
    }
    let headers: Vec<(String, String)> = pairs(r.get("headers"), "response.headers")?
        .into_iter()
        .filter(|(n, _)| !n.starts_with(':'))
        .collect();
    let content = r.get("content").and_then(Value::as_object);
    let mime = content
        .and_then(|c| str_field(c, "mimeType"))
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .or_else(|| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
                .map(|(_, v)| v.clone())
        })
        .unwrap_or_default();
    let size = content
        .and_then(|c| c.get("size"))
        .and_then(Value::as_f64)
        .filter(|s| *s > 0.0)
        .map(|s| s as u64)
        .unwrap_or(0);
    let text = content.and_then(|c| c.get("text")).and_then(Value::as_str);
    let encoding = content
        .and_then(|c| c.get("encoding"))
        .and_then(Value::as_str);
    let body = match text {
        Some(t) => decode_text(t, encoding, "response.content.text")?,
        None => Vec::new(),
    };
    let flagged = content
        .and_then(|c| c.get("_truncated"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let truncated = flagged || (text.is_none() && size > 0);
    let body_len = if truncated {
        size.max(body.len() as u64)
    } else {
        body.len() as u64
    };
    Ok(Some(Response {
        status,
        headers,
        mime,
        body,
        body_len,
        truncated,
        chunks: Vec::new(),
    }))
}

fn chunks(v: &Value) -> Result<Vec<(u64, u64)>, Bad> {
    let list = v.as_array().ok_or_else(|| bad("_chunks", "not a list"))?;
    list.iter()
        .enumerate()
        .map(|(i, c)| {
            let time = c.get("time").and_then(Value::as_f64);
            let bytes = c.get("bytes").and_then(Value::as_u64);
            match (time, bytes) {
                (Some(t), Some(b)) if t.is_finite() && t >= 0.0 => Ok((us(t), b)),
                _ => Err(bad(
                    &format!("_chunks[{i}]"),
                    "expected {\"time\": ms, \"bytes\": n}",
                )),
            }
        })
        .collect()
}

fn decode_text(text: &str, encoding: Option<&str>, field: &str) -> Result<Vec<u8>, Bad> {
    match encoding {
        Some(e) if e.eq_ignore_ascii_case("base64") => base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|err| bad(field, format!("not base64 ({err})"))),
        _ => Ok(text.as_bytes().to_vec()),
    }
}

/// A list of `{name, value}` objects (missing → empty; a missing value → "").
fn pairs(v: Option<&Value>, field: &str) -> Result<Vec<(String, String)>, Bad> {
    let list = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(bad(field, "not a list")),
    };
    list.iter()
        .enumerate()
        .map(|(i, p)| {
            let name = p
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(&format!("{field}[{i}].name"), "missing"))?;
            let value = match p.get("value") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            Ok((name.to_string(), value))
        })
        .collect()
}

fn str_field<'a>(o: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    o.get(name).and_then(Value::as_str)
}

/// RFC 3339 / ISO 8601 with a zone, or without one (read as UTC).
fn date(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

/// Milliseconds (HAR) to whole microseconds.
pub fn us(ms: f64) -> u64 {
    (ms * 1000.0).round().max(0.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(e: Value) -> Result<Har, Error> {
        let har = json!({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"},
            "entries": [e]}});
        parse(Path::new("x.har"), har.to_string().as_bytes())
    }

    fn base() -> Value {
        json!({
            "startedDateTime": "2026-01-02T03:04:05.123456Z",
            "time": 12.5,
            "request": {"method": "POST", "url": "http://h:1/session/start?a=1",
                "headers": [{"name": "Content-Type", "value": "application/json"},
                            {"name": ":authority", "value": "h"}],
                "postData": {"mimeType": "application/json", "text": "{\"x\":1}"}},
            "response": {"status": 200, "headers": [],
                "content": {"size": 2, "mimeType": "application/json", "text": "{}"}},
            "timings": {"blocked": -1, "dns": null, "send": 0.5, "wait": 10, "receive": 2.0},
            "_initiator": {"type": "script"}
        })
    }

    #[test]
    fn reads_times_bodies_and_keeps_custom_fields() {
        let har = one(base()).unwrap();
        let e = &har.entries[0];
        assert_eq!(har.creator.as_deref(), Some("t 1"));
        assert_eq!(e.time_us, 12_500);
        assert_eq!(e.ttfb_us, 10_500);
        assert_eq!(e.started.timestamp_subsec_micros(), 123_456);
        assert_eq!(e.request.headers.len(), 1, "pseudo-headers dropped");
        assert_eq!(e.request.body.as_deref(), Some(&b"{\"x\":1}"[..]));
        assert_eq!(e.response.as_ref().unwrap().body, b"{}");
        assert!(e.custom.contains_key("_initiator"));
    }

    #[test]
    fn lenient_where_tools_differ() {
        let mut e = base();
        e["time"] = json!(null);
        e["startedDateTime"] = json!("2026-01-02T04:04:05.5+01:00");
        e["request"]["postData"] = json!({"mimeType": "application/x-www-form-urlencoded",
            "params": [{"name": "a b", "value": "c&d"}, {"name": "e"}]});
        e["response"]["content"] = json!({"size": 3, "text": "AAEC", "encoding": "base64"});
        let har = one(e).unwrap();
        let e = &har.entries[0];
        assert_eq!(
            e.time_us, 12_500,
            "summed from timings, -1 and null ignored"
        );
        assert_eq!(e.started.to_rfc3339(), "2026-01-02T03:04:05.500+00:00");
        assert_eq!(e.request.body.as_deref(), Some(&b"a+b=c%26d&e="[..]));
        assert_eq!(e.response.as_ref().unwrap().body, vec![0, 1, 2]);
        let mut e = base();
        e["startedDateTime"] = json!("2026-01-02T03:04:05.123");
        e["response"]["content"] = json!({"size": 100, "mimeType": "text/plain"});
        e["response"]["status"] = json!(0);
        let har = one(e).unwrap();
        assert!(har.entries[0].response.is_none(), "status 0: no response");
        let mut e = base();
        e["response"]["content"] = json!({"size": 100, "mimeType": "text/plain"});
        let har = one(e).unwrap();
        let r = har.entries[0].response.as_ref().unwrap();
        assert!(r.truncated && r.body_len == 100 && r.body.is_empty());
    }

    #[test]
    fn mitmproxy_connect_time_is_not_part_of_the_exchange() {
        let mut e = base();
        e["time"] = json!(19.5);
        e["timings"] = json!({"connect": 7.0, "ssl": -1, "send": 0.5, "wait": 10, "receive": 2});
        let har = json!({"log": {"creator": {"name": "mitmproxy", "version": "11"}, "entries": [e.clone()]}});
        let read = |h: &Value| parse(Path::new("m.har"), h.to_string().as_bytes()).unwrap();
        assert_eq!(read(&har).entries[0].time_us, 12_500);
        let other = json!({"log": {"creator": {"name": "Firefox"}, "entries": [e]}});
        assert_eq!(
            read(&other).entries[0].time_us,
            19_500,
            "others' `time` is trusted"
        );
    }

    #[test]
    fn refusals_name_the_entry_and_field() {
        let msg = |e: Value| one(e).unwrap_err().to_string();
        let mut e = base();
        e["startedDateTime"] = json!("yesterday");
        assert_eq!(
            msg(e),
            "x.har: log.entries[0].startedDateTime: `yesterday` is not an ISO 8601 date-time"
        );
        let mut e = base();
        e["time"] = json!(-1);
        e["timings"] = json!({"send": -1});
        assert!(msg(e).contains("log.entries[0].time: missing"));
        let mut e = base();
        e["request"]["url"] = json!("");
        assert!(msg(e).contains("log.entries[0].request.url: missing"));
        let mut e = base();
        e["response"]["content"]["encoding"] = json!("base64");
        e["response"]["content"]["text"] = json!("***");
        assert!(msg(e).contains("log.entries[0].response.content.text: not base64"));
        let mut e = base();
        e["request"]["headers"] = json!([{"value": "x"}]);
        assert!(msg(e).contains("log.entries[0].request.headers[0].name: missing"));
        let p = Path::new("x.har");
        assert_eq!(
            parse(p, b"{\"log\": 1").unwrap_err().to_string(),
            "x.har: not JSON (line 1, column 9): EOF while parsing an object at line 1 column 9"
        );
        assert_eq!(
            parse(p, b"{\"entries\": []}").unwrap_err().to_string(),
            "x.har: not a HAR file (no top-level `log` object)"
        );
    }

    #[test]
    fn gzip_and_zstd_are_read_by_their_magic() {
        use std::io::Write;
        let text = json!({"log": {"entries": [base()]}}).to_string();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(text.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(decompress(&gz).unwrap(), text.as_bytes());
        let zs = zstd::encode_all(text.as_bytes(), 3).unwrap();
        assert_eq!(decompress(&zs).unwrap(), text.as_bytes());
    }
}
