//! An I/O-free HTTP/1.1 response decoder: bytes in as they arrive, a response out.
//!
//! The client reads, [`Decoder::feed`]s what it read and acts on the [`Progress`]; at the
//! connection's end it calls [`Decoder::finish`]. Nothing here touches a socket or a clock,
//! so every framing is tested across every split point and fuzzed (`fuzz/`, target
//! `http_response`), and the arrival times of a streamed body's pieces stay the caller's.
//!
//! Built for the replay hot path: a head that comes whole in one read is parsed in place
//! ([`httparse`]) and copied once (each header value a slice of that copy); body bytes are
//! copied once, into the body. Only what cannot be decoded yet — a partial head, chunk-size
//! or trailer line — is held back in the decoder, bounded by [`LINE_MAX`].
//!
//! # Invariants
//! - Framing per RFC 9112 §6.3: no body for `HEAD`, 1xx, 204 and 304; 1xx informational
//!   responses other than 101 are skipped; `Transfer-Encoding` ending in `chunked` is
//!   chunked (trailers read and dropped), any other transfer coding reads to the close
//!   whatever `Content-Length` says; then `Content-Length`; otherwise to the close.
//! - Any response that is not valid HTTP/1.1 is a [`ProtocolError`], never a panic; a
//!   connection that closes early is a [`Truncated`] from [`Decoder::finish`] — the
//!   caller's `io` failure, not a protocol one.
//! - How the bytes are cut into feeds changes nothing of the result.
//! - Bytes after the end of the response are never consumed: [`Progress::end`] says how
//!   many of the last feed's bytes follow it (pipelined or stray).

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};

/// Longest response head, chunk-size line or trailer line held while incomplete.
pub const LINE_MAX: usize = 64 * 1024;

/// Most of a declared body length reserved ahead of its bytes.
const RESERVE_MAX: usize = 16 * 1024 * 1024;

/// The response is not valid HTTP/1.1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("response head too large")]
    HeadTooLarge,
    #[error("malformed response head: {0}")]
    Head(httparse::Error),
    #[error("malformed content-length")]
    ContentLength,
    #[error("conflicting content-length headers")]
    ConflictingLength,
    #[error("body too large")]
    BodyTooLarge,
    #[error("malformed chunk size")]
    ChunkSize,
    #[error("chunk data not followed by CRLF")]
    ChunkEnd,
    #[error("chunk size or trailer line too long")]
    LineTooLong,
}

/// The connection closed before the response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Truncated {
    #[error("connection closed before the response")]
    BeforeResponse,
    #[error("connection closed in the response head")]
    InHead,
    #[error("connection closed before the end of the body")]
    InBody,
    #[error("connection closed before the last chunk")]
    InChunks,
}

/// What one [`Decoder::feed`] brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// The final response head was parsed in this feed.
    pub head: bool,
    /// Body bytes this feed added to [`Decoder::body`].
    pub body: usize,
    /// `Some(n)`: the response is complete, and the last `n` bytes of this feed follow it.
    pub end: Option<usize>,
}

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
    /// To the close of the connection.
    Close,
}

/// The final response head.
#[derive(Debug, Clone)]
pub struct Head {
    pub status: u16,
    pub headers: HeaderMap,
    pub framing: Framing,
    /// The connection may carry another request, as far as the head tells.
    pub keep_alive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    /// This many body bytes are still to come.
    Length(u64),
    ChunkSize,
    /// This many data bytes of the current chunk are still to come.
    ChunkData(u64),
    /// The CRLF after a chunk's data.
    ChunkEnd,
    /// Trailer lines after the last chunk, up to an empty line.
    Trailers,
    Close,
    Done,
}

/// Decodes one response; make a new one per request.
#[derive(Debug)]
pub struct Decoder {
    head_request: bool,
    state: State,
    /// Bytes not decodable yet (a partial head or line), decoded with the next feed.
    held: Vec<u8>,
    head: Option<Head>,
    body: BytesMut,
}

impl Decoder {
    /// `head_request`: the request was a `HEAD` (its response has no body).
    pub fn new(head_request: bool) -> Decoder {
        Decoder {
            head_request,
            state: State::Head,
            held: Vec::new(),
            head: None,
            body: BytesMut::new(),
        }
    }

    /// Decodes the next bytes of the connection.
    pub fn feed(&mut self, input: &[u8]) -> Result<Progress, ProtocolError> {
        if self.state == State::Done {
            return Ok(Progress {
                end: Some(input.len()),
                ..Progress::default()
            });
        }
        let mut progress = Progress::default();
        let before = self.body.len();
        let r = if self.held.is_empty() {
            let used = self.decode(input, &mut progress)?;
            if self.state != State::Done {
                self.hold(&input[used..])?;
            }
            used
        } else {
            // held bytes were not enough on their own: the end, if any, is in `input`
            let mut data = std::mem::take(&mut self.held);
            let old = data.len();
            data.extend_from_slice(input);
            let used = self.decode(&data, &mut progress)?;
            if self.state != State::Done {
                data.drain(..used);
                self.held = data;
                self.check_held()?;
            }
            used.saturating_sub(old)
        };
        progress.body = self.body.len() - before;
        if self.state == State::Done {
            progress.end = Some(input.len() - r);
        }
        Ok(progress)
    }

    /// The connection closed: `Ok` when the response ended (a close-delimited body ends
    /// here), or where it broke off.
    pub fn finish(&mut self) -> Result<(), Truncated> {
        match self.state {
            State::Done => Ok(()),
            State::Close => {
                self.state = State::Done;
                Ok(())
            }
            State::Head if self.held.is_empty() => Err(Truncated::BeforeResponse),
            State::Head => Err(Truncated::InHead),
            State::Length(_) => Err(Truncated::InBody),
            State::ChunkSize | State::ChunkData(_) | State::ChunkEnd | State::Trailers => {
                Err(Truncated::InChunks)
            }
        }
    }

    /// The response ended on its framing (not at a close).
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The final head, once parsed.
    pub fn head(&self) -> Option<&Head> {
        self.head.as_ref()
    }

    /// The body as far as it came.
    pub fn body(&self) -> &BytesMut {
        &self.body
    }

    /// The head (once parsed) and the body as far as it came.
    pub fn into_parts(self) -> (Option<Head>, Bytes) {
        (self.head, self.body.freeze())
    }

    /// Keeps `rest` (undecodable yet) for the next feed.
    fn hold(&mut self, rest: &[u8]) -> Result<(), ProtocolError> {
        if !rest.is_empty() {
            self.held.extend_from_slice(rest);
            self.check_held()?;
        }
        Ok(())
    }

    fn check_held(&self) -> Result<(), ProtocolError> {
        if self.held.len() > LINE_MAX {
            return Err(if self.state == State::Head {
                ProtocolError::HeadTooLarge
            } else {
                ProtocolError::LineTooLong
            });
        }
        Ok(())
    }

    /// Decodes what it can of `buf`; returns how many bytes it used.
    fn decode(&mut self, buf: &[u8], progress: &mut Progress) -> Result<usize, ProtocolError> {
        let mut pos = 0;
        loop {
            let rest = &buf[pos..];
            match self.state {
                State::Done => return Ok(pos),
                State::Head => {
                    if rest.is_empty() {
                        return Ok(pos);
                    }
                    match parse_head(rest, self.head_request)? {
                        None => return Ok(pos),
                        Some(Parsed::Interim(len)) => pos += len,
                        Some(Parsed::Final(head, len)) => {
                            pos += len;
                            self.state = match head.framing {
                                Framing::None => State::Done,
                                Framing::Length(0) => State::Done,
                                Framing::Length(l) => {
                                    let l = usize::try_from(l)
                                        .map_err(|_| ProtocolError::BodyTooLarge)?;
                                    self.body.reserve(l.min(RESERVE_MAX));
                                    State::Length(l as u64)
                                }
                                Framing::Chunked => State::ChunkSize,
                                Framing::Close => State::Close,
                            };
                            self.head = Some(head);
                            progress.head = true;
                        }
                    }
                }
                State::Length(left) => {
                    if rest.is_empty() {
                        return Ok(pos);
                    }
                    let take = (rest.len() as u64).min(left) as usize;
                    self.body.extend_from_slice(&rest[..take]);
                    pos += take;
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::Done
                    } else {
                        State::Length(left)
                    };
                }
                State::Close => {
                    self.body.extend_from_slice(rest);
                    return Ok(buf.len());
                }
                State::ChunkSize => match httparse::parse_chunk_size(rest) {
                    Ok(httparse::Status::Complete((used, 0))) => {
                        pos += used;
                        self.state = State::Trailers;
                    }
                    Ok(httparse::Status::Complete((used, size))) => {
                        pos += used;
                        self.state = State::ChunkData(size);
                    }
                    Ok(httparse::Status::Partial) => return Ok(pos),
                    Err(_) => return Err(ProtocolError::ChunkSize),
                },
                State::ChunkData(left) => {
                    if rest.is_empty() {
                        return Ok(pos);
                    }
                    let take = (rest.len() as u64).min(left) as usize;
                    self.body.extend_from_slice(&rest[..take]);
                    pos += take;
                    self.state = if take as u64 == left {
                        State::ChunkEnd
                    } else {
                        State::ChunkData(left - take as u64)
                    };
                }
                State::ChunkEnd => {
                    if rest.len() < 2 {
                        return Ok(pos);
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err(ProtocolError::ChunkEnd);
                    }
                    pos += 2;
                    self.state = State::ChunkSize;
                }
                State::Trailers => {
                    let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
                        return Ok(pos);
                    };
                    pos += eol + 2;
                    if eol == 0 {
                        self.state = State::Done;
                    }
                }
            }
        }
    }
}

enum Parsed {
    /// A 1xx informational response of this many bytes, to skip.
    Interim(usize),
    /// The final head, of this many bytes.
    Final(Head, usize),
}

/// Parses a response head at the start of `buf`; `None` while it is incomplete.
fn parse_head(buf: &[u8], head_request: bool) -> Result<Option<Parsed>, ProtocolError> {
    let mut slots = [httparse::EMPTY_HEADER; 64];
    let mut big;
    let mut res = httparse::Response::new(&mut slots);
    let parsed = match res.parse(buf) {
        Err(httparse::Error::TooManyHeaders) => {
            big = vec![httparse::EMPTY_HEADER; 1024];
            res = httparse::Response::new(&mut big);
            res.parse(buf)
        }
        other => other,
    };
    let len = match parsed {
        // a head that came whole in one large read is held to the same limit
        Ok(httparse::Status::Complete(len)) if len > LINE_MAX => {
            return Err(ProtocolError::HeadTooLarge)
        }
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(ProtocolError::Head(e)),
    };
    let status = res.code.unwrap_or(0);
    if (100..200).contains(&status) && status != 101 {
        return Ok(Some(Parsed::Interim(len)));
    }
    let mut headers = HeaderMap::with_capacity(res.headers.len());
    // one copy of the head; each header value is a slice of it (no allocation per header)
    let shared = Bytes::copy_from_slice(&buf[..len]);
    let base = buf.as_ptr() as usize;
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut encoded = false;
    let mut close = res.version == Some(0);
    for h in res.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            let v = std::str::from_utf8(h.value)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or(ProtocolError::ContentLength)?;
            if length.is_some_and(|l| l != v) {
                return Err(ProtocolError::ConflictingLength);
            }
            length = Some(v);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            encoded = true;
            chunked = h
                .value
                .rsplit(|&b| b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && res.version == Some(0) {
                    close = false;
                }
            }
        }
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name),
            HeaderValue::from_maybe_shared({
                let at = (h.value.as_ptr() as usize).wrapping_sub(base);
                match at.checked_add(h.value.len()) {
                    Some(end) if end <= len => shared.slice(at..end),
                    _ => Bytes::copy_from_slice(h.value),
                }
            }),
        ) {
            headers.append(n, v);
        }
    }
    let framing = if head_request || status == 204 || status == 304 || status == 101 {
        Framing::None
    } else if chunked {
        Framing::Chunked
    } else if encoded {
        // a transfer coding that does not end in chunked: to the close, whatever
        // Content-Length says (RFC 9112 §6.3, 3 and 4)
        Framing::Close
    } else if let Some(l) = length {
        Framing::Length(l)
    } else {
        Framing::Close
    };
    let keep_alive = !close && framing != Framing::Close && status != 101;
    Ok(Some(Parsed::Final(
        Head {
            status,
            headers,
            framing,
            keep_alive,
        },
        len,
    )))
}

/// Decodes `input` cut at each of `cuts` (ascending offsets), then the close when the
/// response had not ended: what a connection that brought those bytes gives. For tests
/// and the fuzz target, which check that any cutting gives the same outcome.
pub fn decode_cut(head_request: bool, input: &[u8], cuts: &[usize]) -> Outcome {
    let mut d = Decoder::new(head_request);
    let mut at = 0;
    let mut body_seen = 0;
    let mut heads = 0;
    let mut bounds: Vec<usize> = cuts.iter().map(|&c| c.min(input.len())).collect();
    bounds.push(input.len());
    for end in bounds {
        let end = end.max(at);
        let p = match d.feed(&input[at..end]) {
            Ok(p) => p,
            Err(e) => return Outcome::Protocol(e),
        };
        body_seen += p.body;
        heads += usize::from(p.head);
        assert_eq!(body_seen, d.body().len(), "progress counts every body byte");
        assert!(heads <= 1, "one final head");
        if let Some(rest) = p.end {
            assert!(rest <= end - at, "the rest is part of this feed");
            let consumed = end - rest;
            let (head, body) = d.into_parts();
            let head = head.expect("a complete response has a head");
            return Outcome::Complete {
                status: head.status,
                framing: head.framing,
                keep_alive: head.keep_alive,
                body: body.to_vec(),
                rest: input.len() - consumed,
            };
        }
        at = end;
    }
    let ended = d.finish();
    let (head, body) = d.into_parts();
    match ended {
        Ok(()) => {
            let head = head.expect("a complete response has a head");
            Outcome::Complete {
                status: head.status,
                framing: head.framing,
                keep_alive: head.keep_alive,
                body: body.to_vec(),
                rest: 0,
            }
        }
        Err(t) => Outcome::Truncated {
            why: t,
            status: head.map(|h| h.status),
            body: body.to_vec(),
        },
    }
}

/// What [`decode_cut`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Complete {
        status: u16,
        framing: Framing,
        keep_alive: bool,
        body: Vec<u8>,
        /// Bytes of the input after the response.
        rest: usize,
    },
    Truncated {
        why: Truncated,
        status: Option<u16>,
        body: Vec<u8>,
    },
    Protocol(ProtocolError),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every cut of `wire` into three feeds (two cut points) gives what one feed gives.
    fn same_across_splits(head_request: bool, wire: &[u8]) -> Outcome {
        let whole = decode_cut(head_request, wire, &[]);
        for a in 0..=wire.len() {
            for b in a..=wire.len() {
                assert_eq!(
                    decode_cut(head_request, wire, &[a, b]),
                    whole,
                    "cuts {a} {b} of {:?}",
                    String::from_utf8_lossy(wire)
                );
            }
        }
        whole
    }

    fn complete(status: u16, framing: Framing, keep: bool, body: &[u8], rest: usize) -> Outcome {
        Outcome::Complete {
            status,
            framing,
            keep_alive: keep,
            body: body.to_vec(),
            rest,
        }
    }

    #[test]
    fn content_length_across_any_split() {
        let wire = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-a: b\r\n\r\nhello";
        assert_eq!(
            same_across_splits(false, wire),
            complete(200, Framing::Length(5), true, b"hello", 0)
        );
    }

    #[test]
    fn chunked_with_extensions_and_trailers_across_any_split() {
        let wire = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
            5\r\nhello\r\n1;ext=1\r\n \r\nb\r\nhello world\r\n0\r\nx-trailer: 1\r\n\r\n";
        assert_eq!(
            same_across_splits(false, wire),
            complete(200, Framing::Chunked, true, b"hello hello world", 0)
        );
    }

    #[test]
    fn close_delimited_across_any_split() {
        let wire = b"HTTP/1.1 200 OK\r\n\r\nto the end";
        assert_eq!(
            same_across_splits(false, wire),
            complete(200, Framing::Close, false, b"to the end", 0)
        );
    }

    #[test]
    fn informational_responses_are_skipped_across_any_split() {
        let wire = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n\
            HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok";
        assert_eq!(
            same_across_splits(false, wire),
            complete(201, Framing::Length(2), true, b"ok", 0)
        );
        // 101 is final: no body, the connection is no longer HTTP
        assert_eq!(
            same_across_splits(false, b"HTTP/1.1 101 Switching Protocols\r\n\r\nxyz"),
            complete(101, Framing::None, false, b"", 3)
        );
    }

    #[test]
    fn bodiless_responses_end_at_the_head() {
        let wire = b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n";
        assert_eq!(
            same_across_splits(true, wire),
            complete(200, Framing::None, true, b"", 0)
        );
        for status in ["204 No Content", "304 Not Modified"] {
            let wire = format!("HTTP/1.1 {status}\r\ncontent-length: 3\r\n\r\n");
            assert_eq!(
                same_across_splits(false, wire.as_bytes()),
                complete(status[..3].parse().unwrap(), Framing::None, true, b"", 0)
            );
        }
    }

    #[test]
    fn pipelined_bytes_after_a_response_are_left_over() {
        let first = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nab".to_vec();
        let second = b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nc";
        let mut wire = first.clone();
        wire.extend_from_slice(second);
        assert_eq!(
            same_across_splits(false, &wire),
            complete(200, Framing::Length(2), true, b"ab", second.len())
        );
        let chunked =
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\nstray";
        assert_eq!(
            same_across_splits(false, chunked),
            complete(200, Framing::Chunked, true, b"x", 5)
        );
        // the rest starts where the response ended: decoding it gives the next response
        let mut d = Decoder::new(false);
        let p = d.feed(&wire).unwrap();
        let rest = &wire[wire.len() - p.end.unwrap()..];
        assert_eq!(
            decode_cut(false, rest, &[]),
            complete(200, Framing::Length(1), true, b"c", 0)
        );
        // a feed after the end consumes nothing
        assert_eq!(d.feed(b"more").unwrap().end, Some(4));
    }

    #[test]
    fn streamed_chunks_are_reported_as_they_come() {
        let mut d = Decoder::new(false);
        let p = d
            .feed(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
            .unwrap();
        assert_eq!((p.head, p.body, p.end), (true, 0, None));
        let p = d.feed(b"d\r\ndata: first\n\n\r\n").unwrap();
        assert_eq!((p.head, p.body, p.end), (false, 13, None));
        let p = d.feed(b"e\r\ndata: sec").unwrap();
        assert_eq!((p.body, p.end), (9, None));
        let p = d.feed(b"ond\n\n\r\n0\r\n\r\n").unwrap();
        assert_eq!((p.body, p.end), (5, Some(0)));
        assert_eq!(&d.body()[..], b"data: first\n\ndata: second\n\n");
        assert_eq!(d.head().unwrap().status, 200);
    }

    #[test]
    fn early_closes_are_truncations_not_protocol_errors() {
        let t = |wire: &[u8]| decode_cut(false, wire, &[]);
        assert_eq!(
            t(b""),
            Outcome::Truncated {
                why: Truncated::BeforeResponse,
                status: None,
                body: vec![]
            }
        );
        assert_eq!(
            t(b"HTTP/1.1 100 Continue\r\n\r\n"),
            Outcome::Truncated {
                why: Truncated::BeforeResponse,
                status: None,
                body: vec![]
            }
        );
        assert_eq!(
            t(b"HTTP/1.1 200 OK\r\ncontent-le"),
            Outcome::Truncated {
                why: Truncated::InHead,
                status: None,
                body: vec![]
            }
        );
        assert_eq!(
            t(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhel"),
            Outcome::Truncated {
                why: Truncated::InBody,
                status: Some(200),
                body: b"hel".to_vec()
            }
        );
        assert_eq!(
            t(b"HTTP/1.1 500 Oops\r\ntransfer-encoding: chunked\r\n\r\n3\r\nab"),
            Outcome::Truncated {
                why: Truncated::InChunks,
                status: Some(500),
                body: b"ab".to_vec()
            }
        );
    }

    #[test]
    fn malformed_responses_are_protocol_errors_across_any_split() {
        let cases: &[(&[u8], ProtocolError)] = &[
            (
                b"garbage\r\n\r\n",
                ProtocolError::Head(httparse::Error::Version),
            ),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n",
                ProtocolError::ContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
                ProtocolError::ConflictingLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
                ProtocolError::ChunkSize,
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabX\r\n",
                ProtocolError::ChunkEnd,
            ),
        ];
        for (wire, e) in cases {
            assert_eq!(
                same_across_splits(false, wire),
                Outcome::Protocol(e.clone())
            );
        }
    }

    #[test]
    fn lines_that_never_end_are_bounded() {
        let mut head = b"HTTP/1.1 200 OK\r\nx: ".to_vec();
        head.resize(LINE_MAX + 10, b'a');
        assert_eq!(
            decode_cut(false, &head, &[100, 5000]),
            Outcome::Protocol(ProtocolError::HeadTooLarge)
        );
        let mut d = Decoder::new(false);
        d.feed(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            .unwrap();
        let line = vec![b'1'; 4096];
        let mut e = None;
        for _ in 0..(LINE_MAX / 4096 + 2) {
            if let Err(x) = d.feed(&line) {
                e = Some(x);
                break;
            }
        }
        // a chunk size of that many digits overflows first, or the line grows too long
        assert!(matches!(
            e,
            Some(ProtocolError::ChunkSize | ProtocolError::LineTooLong)
        ));
        let mut d = Decoder::new(false);
        d.feed(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\nx: ")
            .unwrap();
        let mut e = None;
        for _ in 0..(LINE_MAX / 4096 + 2) {
            if let Err(x) = d.feed(&[b'a'; 4096]) {
                e = Some(x);
                break;
            }
        }
        assert_eq!(e, Some(ProtocolError::LineTooLong));
    }

    #[test]
    fn head_framing_follows_rfc_9112() {
        let f = |s: &str| match decode_cut(false, s.as_bytes(), &[]) {
            Outcome::Complete {
                framing,
                keep_alive,
                ..
            } => (framing, keep_alive),
            o => panic!("{s}: {o:?}"),
        };
        assert_eq!(
            f("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\ncontent-length: 9\r\n\r\n0\r\n\r\n"),
            (Framing::Chunked, true)
        );
        assert_eq!(
            f("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\ncontent-length: 9\r\n\r\n"),
            (Framing::Close, false)
        );
        assert_eq!(
            f("HTTP/1.1 200 OK\r\nConnection: Close\r\ncontent-length: 0\r\n\r\n"),
            (Framing::Length(0), false)
        );
        assert_eq!(
            f("HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n"),
            (Framing::Length(0), false)
        );
        assert_eq!(
            f("HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n"),
            (Framing::Length(0), true)
        );
    }

    #[test]
    fn header_values_are_kept() {
        let mut d = Decoder::new(false);
        d.feed(b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nx-id: 7\r\ncontent-length: 0\r\n\r\n")
            .unwrap();
        let h = &d.head().unwrap().headers;
        let cookies: Vec<_> = h.get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert_eq!(h["x-id"], "7");
    }
}
