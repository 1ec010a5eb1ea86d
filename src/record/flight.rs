//! The in-flight exchange model: what the proxy captures of one request and its response
//! before the writer thread encodes it — the hand-over between the request path
//! ([`super::tee`], [`super::forward`]) and the writer ([`super::sink`]).
//!
//! Its own file so that the tee bodies and the sink both depend on it and not on each
//! other.
//!
//! # Invariants
//! - A [`Capture`] never keeps more than its cap, whatever it is pushed; `len` counts every
//!   byte seen.

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri};
use std::time::Duration;

/// A copy of the first `cap` bytes of a body, and the full length seen.
///
/// The bytes are copied, not kept as `Bytes` references: a reference into hyper's read
/// buffer would stop hyper reusing that buffer and make it allocate a fresh one per read.
#[derive(Debug, Default)]
pub(crate) struct Capture {
    kept: Vec<u8>,
    cap: usize,
    /// Bytes seen on the wire so far.
    pub len: u64,
}

impl Capture {
    pub fn new(cap: usize) -> Self {
        Capture {
            cap,
            ..Capture::default()
        }
    }

    pub fn push(&mut self, data: &Bytes) {
        self.len += data.len() as u64;
        let room = self.cap - self.kept.len();
        let take = room.min(data.len());
        self.kept.extend_from_slice(&data[..take]);
    }

    /// The kept bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.kept
    }
}

/// An exchange as the proxy saw it, before encoding.
pub(crate) struct Captured {
    pub id: u64,
    pub conn: u64,
    /// Send time, from the recording start.
    pub t: Duration,
    pub ttfb: Option<Duration>,
    pub done: Duration,
    pub method: Method,
    pub uri: Uri,
    pub req_headers: HeaderMap,
    pub req_body: Capture,
    pub res: Option<CapturedResponse>,
    pub error: Option<Failure>,
}

pub(crate) struct CapturedResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Capture,
    pub chunks: Vec<(u64, u64)>,
}

/// Why an exchange has no complete response.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub kind: &'static str,
    pub message: String,
}

impl Failure {
    pub fn new(kind: &'static str, message: String) -> Self {
        Failure { kind, message }
    }
}
