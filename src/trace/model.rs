//! The records of a trace file: header, exchanges, footer.
//!
//! These types are the on-disk contract of trace format v1 (see the README's "Trace format"
//! section). Field names and shapes here are what users' own tools read; change them only
//! with a new format version.

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// The format name in every header.
pub const FORMAT: &str = "reprise.trace";
/// The newest format version this build writes and reads.
pub const VERSION: u32 = 1;

/// One line of a decompressed trace.
// Lines are parsed one at a time, never stored in bulk: the size difference does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Line {
    Header(Header),
    Exchange(Exchange),
    Footer(Footer),
}

/// Line 1 of every trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub version: u32,
    #[serde(with = "rfc3339_us")]
    pub created_at: DateTime<Utc>,
    /// Free-form description of where the traffic came from (upstream URL, listen address…).
    #[serde(default)]
    pub source: serde_json::Map<String, serde_json::Value>,
    /// `reprise x.y.z`.
    pub tool: String,
}

impl Header {
    /// A v1 header stamped now, with the given source description.
    pub fn new(source: serde_json::Map<String, serde_json::Value>) -> Self {
        Header {
            format: FORMAT.to_string(),
            version: VERSION,
            created_at: Utc::now(),
            source,
            tool: format!("reprise {}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// Last line of a trace that was closed cleanly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Footer {
    pub exchanges: u64,
    pub sessions: u64,
    /// Exchanges the recorder saw but could not write (its queue was full).
    pub dropped: u64,
}

/// One request and its response (or failure), with timings.
///
/// All `*_us` durations are microseconds. `t_us` is the offset of the send from the start of
/// the recording; `ttfb_us`, `done_us` and chunk offsets are measured from the send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    /// Unique within the file, in order of arrival of the request.
    pub id: u64,
    /// Session key (e.g. the `thread_id`), or null for exchanges that belong to no session.
    pub session: Option<String>,
    /// Client connection id: exchanges on one connection share it.
    pub conn: u64,
    #[serde(with = "rfc3339_us")]
    pub sent_at: DateTime<Utc>,
    pub t_us: u64,
    /// Time to the response head, from the send; null when no response came.
    pub ttfb_us: Option<u64>,
    /// Time to the last byte of the response (or to the failure), from the send.
    pub done_us: u64,
    pub req: Request,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub res: Option<Response>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ExchangeError>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub method: String,
    /// Path without the query string, as sent (percent-encoded).
    pub path: String,
    /// Raw query string without the `?`, or null.
    pub query: Option<String>,
    pub headers: Headers,
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub status: u16,
    pub headers: Headers,
    pub body: Body,
    /// `[offset_us, bytes]` per body chunk as it arrived, for streamed (chunked / SSE)
    /// responses; empty for a body that arrived whole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chunks: Vec<(u64, u64)>,
}

/// Why an exchange has no complete response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExchangeError {
    /// Short machine-readable kind: `connect`, `timeout`, `reset`, `client_disconnect`, …
    pub kind: String,
    pub message: String,
}

/// Header name/value pairs in the order they were sent; names lower-case. Values that were
/// redacted read `"[redacted]"`.
pub type Headers = Vec<(String, String)>;

/// The value that replaces a redacted secret.
pub const REDACTED: &str = "[redacted]";

/// A captured body: a JSON value where the bytes are JSON, else UTF-8 text, else base64.
///
/// `len` is the original length in bytes; `truncated` is set when only the first bytes (up
/// to the recorder's cap) were kept. A truncated body is never stored as JSON.
///
/// Deserialised by hand (see [`BodyRepr`]): serde's `flatten` would buffer every body twice.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Body {
    #[serde(flatten)]
    pub data: BodyData,
    pub len: u64,
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyData {
    Json(serde_json::Value),
    Text(String),
    Base64(String),
}

/// The on-disk shape of a [`Body`]: exactly one of `json`, `text`, `base64`.
#[derive(Deserialize)]
struct BodyRepr {
    #[serde(default, deserialize_with = "present")]
    json: Option<serde_json::Value>,
    text: Option<String>,
    base64: Option<String>,
    len: u64,
    #[serde(default)]
    truncated: bool,
}

/// `Some` whenever the field is present, so `"json": null` is the JSON body `null`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = BodyRepr::deserialize(d)?;
        let data = match (r.json, r.text, r.base64) {
            (Some(v), None, None) => BodyData::Json(v),
            (None, Some(t), None) => BodyData::Text(t),
            (None, None, Some(b)) => BodyData::Base64(b),
            _ => {
                return Err(serde::de::Error::custom(
                    "a body holds exactly one of `json`, `text`, `base64`",
                ))
            }
        };
        Ok(Body {
            data,
            len: r.len,
            truncated: r.truncated,
        })
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Body {
    /// The empty body.
    pub fn empty() -> Self {
        Body {
            data: BodyData::Text(String::new()),
            len: 0,
            truncated: false,
        }
    }

    /// Classifies captured bytes. `original_len` is the full length of the body on the wire
    /// (at least `bytes.len()`); when it is larger, the body is marked truncated.
    pub fn from_bytes(bytes: &[u8], original_len: u64) -> Self {
        let truncated = original_len > bytes.len() as u64;
        let data = if !truncated && looks_like_json(bytes) {
            match serde_json::from_slice::<serde_json::Value>(bytes) {
                Ok(v) => BodyData::Json(v),
                Err(_) => text_or_base64(bytes),
            }
        } else {
            text_or_base64(bytes)
        };
        Body {
            data,
            len: original_len.max(bytes.len() as u64),
            truncated,
        }
    }

    /// The bytes to send again. JSON values are serialised compactly (key order kept), so a
    /// JSON body equals the original as JSON, not necessarily byte for byte.
    pub fn to_bytes(&self) -> Vec<u8> {
        match &self.data {
            BodyData::Json(v) => serde_json::to_vec(v).unwrap_or_default(),
            BodyData::Text(s) => s.as_bytes().to_vec(),
            BodyData::Base64(b) => base64::engine::general_purpose::STANDARD
                .decode(b)
                .unwrap_or_default(),
        }
    }

    /// The JSON value, when the body is JSON.
    pub fn json(&self) -> Option<&serde_json::Value> {
        match &self.data {
            BodyData::Json(v) => Some(v),
            _ => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

fn looks_like_json(bytes: &[u8]) -> bool {
    matches!(
        bytes.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n')
    )
}

fn text_or_base64(bytes: &[u8]) -> BodyData {
    match std::str::from_utf8(bytes) {
        Ok(s) => BodyData::Text(s.to_string()),
        Err(_) => BodyData::Base64(base64::engine::general_purpose::STANDARD.encode(bytes)),
    }
}

/// RFC 3339 timestamps with microseconds and a `Z` suffix.
pub mod rfc3339_us {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Micros, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_classify() {
        let j = Body::from_bytes(br#"{"a":1}"#, 7);
        assert_eq!(j.json(), Some(&serde_json::json!({"a":1})));
        let t = Body::from_bytes(b"hello", 5);
        assert_eq!(t.data, BodyData::Text("hello".into()));
        let b = Body::from_bytes(&[0xff, 0xfe, 0x00], 3);
        assert!(matches!(b.data, BodyData::Base64(_)));
        assert_eq!(b.to_bytes(), vec![0xff, 0xfe, 0x00]);
        let cut = Body::from_bytes(br#"{"a":"#, 100);
        assert!(cut.truncated);
        assert_eq!(cut.len, 100);
        assert!(cut.json().is_none());
    }

    #[test]
    fn bodies_read_back_in_every_form() {
        for body in [
            Body::from_bytes(b"null", 4),
            Body::from_bytes(br#"{"a":[1,2.5,"x"]}"#, 17),
            Body::from_bytes(b"plain", 5),
            Body::from_bytes(&[0xff, 0], 2),
            Body::from_bytes(b"cut", 10),
            Body::empty(),
        ] {
            let s = serde_json::to_string(&body).unwrap();
            assert_eq!(serde_json::from_str::<Body>(&s).unwrap(), body, "{s}");
        }
        assert_eq!(
            Body::from_bytes(b"null", 4).data,
            BodyData::Json(serde_json::Value::Null)
        );
        for bad in [
            r#"{"len":1}"#,
            r#"{"text":"a","base64":"YQ==","len":1}"#,
            r#"{"json":1}"#,
        ] {
            assert!(serde_json::from_str::<Body>(bad).is_err(), "{bad}");
        }
        let extra: Body = serde_json::from_str(r#"{"text":"a","len":1,"encoding":"x"}"#).unwrap();
        assert_eq!(extra.data, BodyData::Text("a".into()));
    }

    #[test]
    fn header_line_shape() {
        let h = Line::Header(Header::new(Default::default()));
        let s = serde_json::to_string(&h).unwrap();
        assert!(
            s.starts_with(r#"{"kind":"header","format":"reprise.trace","version":1,"#),
            "{s}"
        );
    }
}
