//! The HTTP client of one virtual user: HTTP/1.1 written and read by the user's own task on
//! the user's own connections.
//!
//! Kept behind this small module (`Client::new`, `Client::send`) so the transport can be
//! swapped or tuned without touching the driver. History, by measurement
//! (`bench/efficiency.sh`, CPU per request at 64 users against nginx; `bench/users10k.sh`,
//! peak RSS at 10,000 users):
//! - one `reqwest::Client` per user: 28.8 µs/request;
//! - hyper's `client::conn::http1` per user: 16.6–18.6 µs/request, and ~18 KB per idle
//!   user, because a hyper connection keeps an 8 KiB write buffer, an 8 KiB read buffer
//!   (its minimum), a request channel and its own task for as long as it is open — through
//!   every think time — and each request crosses that channel twice;
//! - this client: the request is written by the user's task in one `write` and the response
//!   parsed ([`httparse`]) as it is read, from buffers lent by a per-thread pool only for the
//!   length of one exchange. An idle user holds its socket and nothing else.
//!
//! Split along its seams: the target ([`ClientConfig`], made once per run), a connection
//! and its liveness (`conn`), the per-thread buffer pool (`pool`), and the I/O-free
//! response decoder ([`decode`]). An exchange here is thin: write, then read → feed →
//! act on the [`decode::Progress`] (note a head's time, a body piece's arrival, the end).
//!
//! The connection set-up is made once per run in [`ClientConfig::new`]: the target's
//! addresses are resolved once (no resolver call per connection), the `Host` header and the
//! run's `--header`s are kept as bytes, and `https://` targets share one rustls config.
//!
//! # Invariants
//! - `send` never fails for the target's behaviour: every outcome, a refused connection
//!   included, is an [`Exchanged`] carrying a [`Failure`] of a known kind.
//! - A request is retried, once and on a fresh connection, only when it cannot have reached
//!   the server: the idle connection was found closed before it was written (FIELD_NOTES:
//!   the keep-alive race), or writing it failed. A request that was written is never resent.
//! - The body is read to its end (or to the timeout) before `send` returns; only then does
//!   the connection go back to the user's idle list, and only if the response allows it
//!   (HTTP/1.1 without `Connection: close`, a known body length, no stray bytes after it).
//!   A response whose head came is returned even when its body broke off or timed out,
//!   with what had come of it.
//! - Buffers are returned to the pool at the end of the exchange, and the pool keeps only
//!   small ones, so memory per idle user stays flat however large a response was.
//! - Responses are framed per RFC 9112 §6.3 ([`decode`]): no body for `HEAD`, 1xx, 204
//!   and 304; `Transfer-Encoding: chunked` (trailers skipped); `Content-Length`; otherwise
//!   to EOF. What is buffered before it can be decoded is bounded: a head, a chunk-size line or a
//!   trailer line longer than 64 KiB is a `protocol` failure, like any response that is not
//!   valid HTTP/1.1; a connection that closes before the response ended is an `io` one.

mod conn;
pub mod decode;
mod pool;
mod target;

pub use target::{ClientConfig, Error};

use crate::metrics::summary::kind;
use crate::metrics::Failure;
use bytes::Bytes;
use conn::Conn;
use decode::Decoder;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use pool::Buf;
use std::cell::RefCell;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use target::put_header;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Idle connections a user keeps (more than one only while its recorded requests overlap).
const IDLE_MAX: usize = 4;

/// Bodies up to this size are copied behind the head and written with it in one call.
const INLINE_BODY_MAX: usize = 16 * 1024;

/// A response read to its end.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Arrival of the body's data, from the send, with its size: one entry per read that
    /// brought body bytes (a streamed response's events as they came).
    pub chunks: Vec<(Duration, usize)>,
}

/// The outcome of one send.
#[derive(Debug, Clone)]
pub struct Exchanged {
    pub sent: Instant,
    /// Last byte of the response, or the failure.
    pub done: Instant,
    /// Send → response head.
    pub ttfb: Option<Duration>,
    /// The response, when its head came (a 500 is a response). Its body (and `chunks`) may
    /// be partial when `failure` says the body broke off or timed out.
    pub response: Option<Response>,
    /// Transport failure (connect, timeout, io); status failures are the caller's call.
    pub failure: Option<Failure>,
}

pub struct Client {
    config: Arc<ClientConfig>,
    /// Only touched between awaits (the user's task is the only one using it).
    idle: RefCell<Vec<(Conn, Instant)>>,
}

/// How an exchange failed, and whether the request may be resent.
struct Failed {
    failure: Failure,
    /// The request cannot have reached the server.
    unsent: bool,
}

impl Client {
    /// A user's client; the target was checked when its [`ClientConfig`] was made.
    pub fn new(config: Arc<ClientConfig>) -> Client {
        Client {
            config,
            idle: RefCell::new(Vec::new()),
        }
    }

    /// Sends one request and reads its response to the end.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        headers: Vec<(HeaderName, HeaderValue)>,
        body: Bytes,
    ) -> Exchanged {
        let sent = Instant::now();
        // outside the timed future, so a timeout keeps what had come
        let mut got = Received::new(method == Method::HEAD);
        let outcome = tokio::time::timeout(
            self.config.timeout,
            self.exchange(&method, path_and_query, &headers, &body, sent, &mut got),
        )
        .await;
        let failure = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(failure)) => Some(failure),
            Err(_) => Some(Failure {
                kind: kind::TIMEOUT,
                detail: "timed out".to_string(),
            }),
        };
        Exchanged {
            sent,
            done: Instant::now(),
            ttfb: got.ttfb,
            response: got.into_response(),
            failure,
        }
    }

    async fn exchange(
        &self,
        method: &Method,
        path_and_query: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: &Bytes,
        sent: Instant,
        got: &mut Received,
    ) -> Result<(), Failure> {
        let mut out = Buf::take();
        self.head(&mut out.0, method, path_and_query, headers, body.len());
        let inline = body.len() <= INLINE_BODY_MAX;
        if inline {
            out.0.extend_from_slice(body);
        }
        let mut retried = false;
        loop {
            // the retry goes on a new connection, not on another idle one the server may
            // have closed as well
            let idle = if retried { None } else { self.take_idle(sent) };
            let (mut conn, fresh) = match idle {
                Some(c) => (c, false),
                None => (self.connect().await?, true),
            };
            let r = exchange_on(&mut conn, &out.0, (!inline).then_some(&body[..]), sent, got).await;
            match r {
                Ok(reusable) => {
                    if reusable {
                        self.put_idle(conn);
                    }
                    return Ok(());
                }
                Err(f) if f.unsent && !fresh && !retried => retried = true,
                Err(f) => return Err(f.failure),
            }
        }
    }

    /// Writes the request head into `out`.
    fn head(
        &self,
        out: &mut Vec<u8>,
        method: &Method,
        path_and_query: &str,
        headers: &[(HeaderName, HeaderValue)],
        body_len: usize,
    ) {
        out.extend_from_slice(method.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(if path_and_query.is_empty() {
            b"/"
        } else {
            path_and_query.as_bytes()
        });
        out.extend_from_slice(b" HTTP/1.1\r\n");
        out.extend_from_slice(&self.config.fixed);
        for (n, v) in headers {
            if !self.config.overrides.contains(n) {
                put_header(out, n, v);
            }
        }
        if body_len > 0 || matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(itoa::Buffer::new().format(body_len).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }

    fn take_idle(&self, now: Instant) -> Option<Conn> {
        let mut idle = self.idle.borrow_mut();
        while let Some((c, since)) = idle.pop() {
            if c.is_usable(now.saturating_duration_since(since)) {
                return Some(c);
            }
        }
        None
    }

    fn put_idle(&self, conn: Conn) {
        let mut idle = self.idle.borrow_mut();
        if idle.len() < IDLE_MAX {
            idle.push((conn, Instant::now()));
        }
    }

    async fn connect(&self) -> Result<Conn, Failure> {
        let connect_failure = |e: io::Error| Failure {
            kind: kind::CONNECT,
            detail: e.to_string(),
        };
        let mut last = None;
        let mut tcp = None;
        for addr in &self.config.addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let tcp = match tcp {
            Some(t) => t,
            None => {
                return Err(connect_failure(last.unwrap_or_else(|| {
                    io::Error::new(io::ErrorKind::NotFound, "no address")
                })))
            }
        };
        let _ = tcp.set_nodelay(true);
        match &self.config.tls {
            None => Ok(Conn::Plain(tcp)),
            Some((connector, name)) => connector
                .connect(name.clone(), tcp)
                .await
                .map(|s| Conn::Tls(Box::new(s)))
                .map_err(connect_failure),
        }
    }
}

fn io_failed(e: &io::Error, unsent: bool) -> Failed {
    Failed {
        failure: Failure {
            kind: kind::IO,
            detail: e.to_string(),
        },
        unsent,
    }
}

/// The response is not valid HTTP/1.1.
fn protocol(e: &decode::ProtocolError) -> Failed {
    Failed {
        failure: Failure {
            kind: kind::PROTOCOL,
            detail: e.to_string(),
        },
        unsent: false,
    }
}

/// The connection closed before the response ended.
fn closed(detail: &str) -> Failed {
    Failed {
        failure: Failure {
            kind: kind::IO,
            detail: detail.to_string(),
        },
        unsent: false,
    }
}

/// What has come of a response so far. Owned by [`Client::send`], outside the timed
/// exchange, so a response whose body broke off or timed out is still returned.
struct Received {
    ttfb: Option<Duration>,
    decoder: Decoder,
    /// Arrival of the body's data, from the send, with its size: one entry per read.
    chunks: Vec<(Duration, usize)>,
}

impl Received {
    fn new(head_request: bool) -> Received {
        Received {
            ttfb: None,
            decoder: Decoder::new(head_request),
            chunks: Vec::new(),
        }
    }

    /// The response, when its head came.
    fn into_response(self) -> Option<Response> {
        let (head, body) = self.decoder.into_parts();
        let head = head?;
        Some(Response {
            status: head.status,
            headers: head.headers,
            body,
            chunks: self.chunks,
        })
    }
}

/// One request/response on `conn`, read into `got`: returns whether the connection may
/// carry another request.
async fn exchange_on(
    conn: &mut Conn,
    out: &[u8],
    body: Option<&[u8]>,
    sent: Instant,
    got: &mut Received,
) -> Result<bool, Failed> {
    conn.write_all(out).await.map_err(|e| io_failed(&e, true))?;
    if let Some(body) = body {
        conn.write_all(body)
            .await
            .map_err(|e| io_failed(&e, false))?;
    }
    let mut inb = Buf::take();
    let buf = &mut inb.0;
    loop {
        buf.clear();
        let n = conn.read(buf).await.map_err(|e| io_failed(&e, false))?;
        if n == 0 {
            return match got.decoder.finish() {
                // a close-delimited body: complete, and the connection is gone
                Ok(()) => Ok(false),
                Err(t) => Err(closed(&t.to_string())),
            };
        }
        let p = got.decoder.feed(buf).map_err(|e| protocol(&e))?;
        if p.head {
            got.ttfb = Some(sent.elapsed());
        }
        if p.body > 0 {
            got.chunks.push((sent.elapsed(), p.body));
        }
        if let Some(rest) = p.end {
            let keep = rest == 0 && got.decoder.head().is_some_and(|h| h.keep_alive);
            if keep && buf.len() < buf.capacity() {
                // the last read came back short: the socket was drained, so the readable
                // state tokio keeps from it is stale (a close it has seen stays recorded
                // apart)
                conn.forget_readable();
            }
            return Ok(keep);
        }
    }
}
