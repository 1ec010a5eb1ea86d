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
//! - Responses are framed per RFC 9112 §6.3: no body for `HEAD`, 1xx, 204 and 304;
//!   `Transfer-Encoding: chunked` (trailers skipped); `Content-Length`; otherwise to EOF.
//!   What is buffered before it can be decoded is bounded: a head, a chunk-size line or a
//!   trailer line longer than 64 KiB is a `protocol` failure, like any response that is not
//!   valid HTTP/1.1; a connection that closes before the response ended is an `io` one.

use crate::metrics::summary::kind;
use crate::metrics::Failure;
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use rustls::pki_types::ServerName;
use std::cell::RefCell;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Below this idleness, an idle connection is checked through tokio's readiness alone
/// (see [`Conn::is_usable`]).
const RECENT: Duration = Duration::from_millis(20);
/// Idle connections a user keeps (more than one only while its recorded requests overlap).
const IDLE_MAX: usize = 4;
/// Size of a buffer the pool lends; a read buffer grows past it only for a large head.
const BUF_SIZE: usize = 16 * 1024;
/// Buffers the pool keeps per thread, and the largest it takes back.
const POOL_MAX: usize = 256;
const POOL_KEEP_MAX: usize = 64 * 1024;
/// Largest response head accepted.
const HEAD_MAX: usize = 64 * 1024;
/// Bodies up to this size are copied behind the head and written with it in one call.
const INLINE_BODY_MAX: usize = 16 * 1024;

/// What a user's client needs to know, built once per run.
#[derive(Clone)]
pub struct ClientConfig {
    /// Whole-exchange timeout (connect + send + full body).
    pub timeout: Duration,
    /// Names of the run's `--header`s (lower case): recorded headers of these names are
    /// replaced by them.
    overrides: Vec<HeaderName>,
    /// `host: <authority>\r\n` (unless a `--header` names `host`) followed by the run's
    /// `--header`s, ready to write.
    fixed: Vec<u8>,
    addrs: Vec<SocketAddr>,
    /// `Some` for `https://` targets.
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("timeout", &self.timeout)
            .field("addrs", &self.addrs)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

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

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("target `{0}` is not an http:// or https:// URL with a host")]
    Target(String),
    #[error("cannot resolve the target `{target}`: {detail}")]
    Resolve { target: String, detail: String },
}

impl ClientConfig {
    /// `base`: `http://host:port` or `https://…` (a path is ignored); `headers` are added
    /// to every request, replacing recorded ones of the same name.
    pub fn new(
        base: &str,
        timeout: Duration,
        headers: &[(HeaderName, HeaderValue)],
        tls: rustls::ClientConfig,
    ) -> Result<ClientConfig, Error> {
        let bad = || Error::Target(base.to_string());
        let uri: http::Uri = base.parse().map_err(|_| bad())?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(bad()),
        };
        let authority = uri.authority().ok_or_else(bad)?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(bad());
        }
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let addrs: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(|e| Error::Resolve {
                target: base.to_string(),
                detail: e.to_string(),
            })?
            .collect();
        if addrs.is_empty() {
            return Err(Error::Resolve {
                target: base.to_string(),
                detail: "no address".to_string(),
            });
        }
        let tls = if https {
            let name = ServerName::try_from(host.to_string()).map_err(|_| bad())?;
            Some((TlsConnector::from(Arc::new(tls)), name))
        } else {
            None
        };
        let mut fixed = Vec::new();
        // a `--header host: …` (a virtual host behind an address) replaces the authority
        if !headers.iter().any(|(n, _)| n == http::header::HOST) {
            fixed.extend_from_slice(b"host: ");
            fixed.extend_from_slice(authority.as_str().as_bytes());
            fixed.extend_from_slice(b"\r\n");
        }
        for (n, v) in headers {
            put_header(&mut fixed, n, v);
        }
        Ok(ClientConfig {
            timeout,
            overrides: headers.iter().map(|(n, _)| n.clone()).collect(),
            fixed,
            addrs,
            tls,
        })
    }
}

impl ClientConfig {
    /// Every address of the target is a loopback one: it runs on this machine.
    pub fn is_local(&self) -> bool {
        self.addrs.iter().all(|a| a.ip().is_loopback())
    }
}

/// One connection, plain or TLS.
enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Conn {
    async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.write_all(buf).await,
            Conn::Tls(s) => {
                s.write_all(buf).await?;
                s.flush().await
            }
        }
    }

    async fn read(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        if buf.capacity() == buf.len() {
            buf.reserve(BUF_SIZE);
        }
        match self {
            Conn::Plain(s) => s.read_buf(buf).await,
            Conn::Tls(s) => s.read_buf(buf).await,
        }
    }

    fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => s.get_ref().0,
        }
    }

    /// Clears tokio's readable state of a drained socket without a system call (a
    /// read-closed state, once tokio has seen the peer's FIN, is kept: tokio never clears
    /// it).
    fn forget_readable(&self) {
        // TLS reads whole records and may leave the next one in the socket: not drained
        let Conn::Plain(tcp) = self else {
            return;
        };
        let _ = tcp.try_io(tokio::io::Interest::READABLE, || {
            Err::<(), _>(io::ErrorKind::WouldBlock.into())
        });
    }

    /// False when the server has closed this idle connection (or sent something unasked).
    ///
    /// Idle for `idle` < [`RECENT`] since a response that drained the socket: the kernel is
    /// asked only if tokio has seen anything on the socket since (bytes or a close), which
    /// costs nothing otherwise — back-to-back (zero-think) replay would pay a system call
    /// per request. Idle longer: the kernel is always asked (one `poll` with a zero
    /// timeout), because a close that came after the worker last polled its I/O driver is
    /// not known to tokio yet, and a busy worker polls it only every so many tasks.
    fn is_usable(&self, idle: Duration) -> bool {
        if idle < RECENT {
            return match self
                .tcp()
                .try_io(tokio::io::Interest::READABLE, || Ok(self.kernel_usable()))
            {
                Ok(usable) => usable,
                Err(e) => e.kind() == io::ErrorKind::WouldBlock,
            };
        }
        self.kernel_usable()
    }

    fn kernel_usable(&self) -> bool {
        let tls = matches!(self, Conn::Tls(_));
        match poll_idle(self.tcp()) {
            Ok(Idle::Quiet) => true,
            // TLS may carry session tickets after the handshake: bytes alone are no reason
            // to drop the connection (a close_notify comes with the close behind it)
            Ok(Idle::Bytes) => tls,
            Ok(Idle::Closed) | Err(_) => false,
        }
    }
}

/// What an idle socket holds, asked of the kernel without waiting.
enum Idle {
    Quiet,
    /// Bytes to read, the peer's side still open.
    Bytes,
    /// The peer closed its side (with or without bytes before the close), or reset.
    Closed,
}

/// Linux tells a peer's FIN apart from bytes to read (`POLLRDHUP`), so a TLS close_notify
/// followed by the close is seen as a close; elsewhere such a connection looks readable.
#[cfg(any(target_os = "linux", target_os = "android"))]
const POLL_RDHUP: libc::c_short = libc::POLLRDHUP;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const POLL_RDHUP: libc::c_short = 0;

fn poll_idle(tcp: &TcpStream) -> io::Result<Idle> {
    use std::os::fd::AsRawFd;
    let mut p = libc::pollfd {
        fd: tcp.as_raw_fd(),
        events: libc::POLLIN | POLL_RDHUP,
        revents: 0,
    };
    // SAFETY: `p` is one valid pollfd for the call's duration; the fd is open (borrowed
    // from the live stream); a zero timeout never blocks.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(
        if p.revents & (POLL_RDHUP | libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            Idle::Closed
        } else if p.revents & libc::POLLIN != 0 {
            // without POLLRDHUP (not Linux) an EOF reads as POLLIN: for a plain connection
            // that is unusable all the same
            Idle::Bytes
        } else {
            Idle::Quiet
        },
    )
}

thread_local! {
    static POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer lent by this thread's pool for one exchange, returned on drop.
struct Buf(Vec<u8>);

impl Buf {
    fn take() -> Buf {
        let v = POOL
            .try_with(|p| p.borrow_mut().pop())
            .ok()
            .flatten()
            .unwrap_or_else(|| Vec::with_capacity(BUF_SIZE));
        Buf(v)
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        let mut v = std::mem::take(&mut self.0);
        if v.capacity() > POOL_KEEP_MAX {
            return;
        }
        v.clear();
        let _ = POOL.try_with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < POOL_MAX {
                p.push(v);
            }
        });
    }
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
        let mut got = Received::default();
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
            let r = exchange_on(
                &mut conn,
                &out.0,
                (!inline).then_some(&body[..]),
                method == Method::HEAD,
                sent,
                got,
            )
            .await;
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

fn put_header(out: &mut Vec<u8>, n: &HeaderName, v: &HeaderValue) {
    out.extend_from_slice(n.as_str().as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(v.as_bytes());
    out.extend_from_slice(b"\r\n");
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
fn protocol(detail: &str) -> Failed {
    Failed {
        failure: Failure {
            kind: kind::PROTOCOL,
            detail: detail.to_string(),
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

/// How a response body is delimited.
enum Framing {
    None,
    Length(u64),
    Chunked,
    Eof,
}

/// What has come of a response so far. Owned by [`Client::send`], outside the timed
/// exchange, so a response whose body broke off or timed out is still returned.
#[derive(Default)]
struct Received {
    ttfb: Option<Duration>,
    /// Status and headers of the final response head, once parsed.
    head: Option<(u16, HeaderMap)>,
    body: BytesMut,
    chunks: Vec<(Duration, usize)>,
}

impl Received {
    /// The response, when its head came.
    fn into_response(self) -> Option<Response> {
        let (status, headers) = self.head?;
        Some(Response {
            status,
            headers,
            body: self.body.freeze(),
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
    head_request: bool,
    sent: Instant,
    got: &mut Received,
) -> Result<bool, Failed> {
    conn.write_all(out).await.map_err(|e| io_failed(&e, true))?;
    if let Some(body) = body {
        conn.write_all(body)
            .await
            .map_err(|e| io_failed(&e, false))?;
    }

    // the head (skipping 1xx interim responses)
    let mut inb = Buf::take();
    let buf = &mut inb.0;
    let (status, headers, framing, mut keep, head_len) = loop {
        if !buf.is_empty() {
            match parse_head(buf, head_request)? {
                Some(Head::Interim(len)) => {
                    buf.drain(..len);
                    continue;
                }
                Some(Head::Final {
                    status,
                    headers,
                    framing,
                    keep,
                    len,
                }) => break (status, headers, framing, keep, len),
                None if buf.len() > HEAD_MAX => return Err(protocol("response head too large")),
                None => {}
            }
        }
        let n = conn.read(buf).await.map_err(|e| io_failed(&e, false))?;
        if n == 0 {
            return Err(closed(if buf.is_empty() {
                "connection closed before the response"
            } else {
                "connection closed in the response head"
            }));
        }
    };
    got.ttfb = Some(sent.elapsed());
    got.head = Some((status, headers));

    let mut pos = head_len;
    let clean = read_body(
        conn,
        buf,
        &mut pos,
        framing,
        &mut got.body,
        &mut got.chunks,
        sent,
    )
    .await?;
    keep &= clean && pos == buf.len();
    if keep && buf.len() < buf.capacity() {
        // the last read came back short: the socket was drained, so the readable state
        // tokio keeps from it is stale (a close it has seen stays recorded apart)
        conn.forget_readable();
    }
    Ok(keep)
}

enum Head {
    /// A 1xx response of this many bytes, to skip.
    Interim(usize),
    Final {
        status: u16,
        headers: HeaderMap,
        framing: Framing,
        /// The connection may be reused (as far as the head tells).
        keep: bool,
        len: usize,
    },
}

/// Parses a response head at the start of `buf`; `None` while it is incomplete.
fn parse_head(buf: &[u8], head_request: bool) -> Result<Option<Head>, Failed> {
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
        Ok(httparse::Status::Complete(len)) if len > HEAD_MAX => {
            return Err(protocol("response head too large"))
        }
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(protocol(&format!("malformed response head: {e}"))),
    };
    let status = res.code.unwrap_or(0);
    if (100..200).contains(&status) && status != 101 {
        return Ok(Some(Head::Interim(len)));
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
                .ok_or_else(|| protocol("malformed content-length"))?;
            if length.is_some_and(|l| l != v) {
                return Err(protocol("conflicting content-length headers"));
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
        Framing::Eof
    } else if let Some(l) = length {
        Framing::Length(l)
    } else {
        Framing::Eof
    };
    let keep = !close && !matches!(framing, Framing::Eof) && status != 101;
    Ok(Some(Head::Final {
        status,
        headers,
        framing,
        keep,
        len,
    }))
}

/// Reads the body from `buf[*pos..]` and then `conn` into `body`, noting each arrival.
/// Returns whether the body ended cleanly on its framing (so the connection is reusable).
async fn read_body(
    conn: &mut Conn,
    buf: &mut Vec<u8>,
    pos: &mut usize,
    framing: Framing,
    body: &mut BytesMut,
    chunks: &mut Vec<(Duration, usize)>,
    sent: Instant,
) -> Result<bool, Failed> {
    let broke = |e: io::Error| io_failed(&e, false);
    match framing {
        Framing::None => Ok(true),
        Framing::Length(total) => {
            let total = usize::try_from(total).map_err(|_| protocol("body too large"))?;
            body.reserve(total.min(16 * 1024 * 1024));
            let take = (buf.len() - *pos).min(total);
            if take > 0 {
                body.extend_from_slice(&buf[*pos..*pos + take]);
                *pos += take;
                chunks.push((sent.elapsed(), take));
            }
            while body.len() < total {
                buf.clear();
                *pos = 0;
                let n = conn.read(buf).await.map_err(broke)?;
                if n == 0 {
                    return Err(closed("connection closed before the end of the body"));
                }
                let take = n.min(total - body.len());
                body.extend_from_slice(&buf[..take]);
                *pos = take;
                chunks.push((sent.elapsed(), take));
            }
            Ok(true)
        }
        Framing::Eof => {
            let rest = buf.len() - *pos;
            if rest > 0 {
                body.extend_from_slice(&buf[*pos..]);
                chunks.push((sent.elapsed(), rest));
            }
            loop {
                buf.clear();
                *pos = 0;
                let n = conn.read(buf).await.map_err(broke)?;
                if n == 0 {
                    return Ok(false);
                }
                body.extend_from_slice(&buf[..n]);
                chunks.push((sent.elapsed(), n));
            }
        }
        Framing::Chunked => {
            let mut dec = Chunked::Size;
            loop {
                let before = body.len();
                let done = dec.decode(buf, pos, body)?;
                if body.len() > before {
                    chunks.push((sent.elapsed(), body.len() - before));
                }
                if done {
                    return Ok(true);
                }
                // keep what is not decoded yet (a partial size or trailer line), read more
                // behind it — up to a limit, or a line that never ends grows without bound
                buf.drain(..*pos);
                *pos = 0;
                if buf.len() > HEAD_MAX {
                    return Err(protocol("chunk size or trailer line too long"));
                }
                let n = conn.read(buf).await.map_err(broke)?;
                if n == 0 {
                    return Err(closed("connection closed before the last chunk"));
                }
            }
        }
    }
}

/// Where a chunked body's decoder is.
enum Chunked {
    Size,
    /// This many data bytes of the current chunk are still to come.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// Trailer lines after the last chunk, up to an empty line.
    Trailers,
}

impl Chunked {
    /// Decodes what `buf[*pos..]` holds; true once the body is complete.
    fn decode(&mut self, buf: &[u8], pos: &mut usize, body: &mut BytesMut) -> Result<bool, Failed> {
        loop {
            let rest = &buf[*pos..];
            match *self {
                Chunked::Size => match httparse::parse_chunk_size(rest) {
                    Ok(httparse::Status::Complete((used, 0))) => {
                        *pos += used;
                        *self = Chunked::Trailers;
                    }
                    Ok(httparse::Status::Complete((used, size))) => {
                        *pos += used;
                        *self = Chunked::Data(size);
                    }
                    Ok(httparse::Status::Partial) => return Ok(false),
                    Err(_) => return Err(protocol("malformed chunk size")),
                },
                Chunked::Data(left) => {
                    if rest.is_empty() {
                        return Ok(false);
                    }
                    let take = (rest.len() as u64).min(left) as usize;
                    body.extend_from_slice(&rest[..take]);
                    *pos += take;
                    *self = if take as u64 == left {
                        Chunked::DataEnd
                    } else {
                        Chunked::Data(left - take as u64)
                    };
                }
                Chunked::DataEnd => {
                    if rest.len() < 2 {
                        return Ok(false);
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err(protocol("chunk data not followed by CRLF"));
                    }
                    *pos += 2;
                    *self = Chunked::Size;
                }
                Chunked::Trailers => {
                    let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
                        return Ok(false);
                    };
                    *pos += eol + 2;
                    if eol == 0 {
                        return Ok(true);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(parts: &[&[u8]]) -> Result<(Vec<u8>, bool), ()> {
        let mut dec = Chunked::Size;
        let mut buf = Vec::new();
        let mut pos = 0;
        let mut body = BytesMut::new();
        for p in parts {
            buf.drain(..pos);
            pos = 0;
            buf.extend_from_slice(p);
            if dec.decode(&buf, &mut pos, &mut body).map_err(|_| ())? {
                return Ok((body.to_vec(), pos == buf.len()));
            }
        }
        Ok((body.to_vec(), false))
    }

    #[test]
    fn chunked_bodies_decode_across_any_split() {
        let wire = b"5\r\nhello\r\n1;ext=1\r\n \r\nb\r\nhello world\r\n0\r\nx-trailer: 1\r\n\r\n";
        for cut in 0..wire.len() {
            for cut2 in cut..wire.len() {
                let (body, whole) =
                    decode_all(&[&wire[..cut], &wire[cut..cut2], &wire[cut2..]]).unwrap();
                assert_eq!(body, b"hello hello world", "cuts {cut} {cut2}");
                assert!(whole, "cuts {cut} {cut2}");
            }
        }
    }

    #[test]
    fn malformed_chunks_are_errors() {
        assert!(decode_all(&[b"zz\r\n"]).is_err());
        assert!(decode_all(&[b"2\r\nabX\r\n"]).is_err());
    }

    #[test]
    fn head_framing_follows_rfc_9112() {
        let head = |s: &str, head_req| match parse_head(s.as_bytes(), head_req) {
            Ok(Some(Head::Final {
                framing,
                keep,
                status,
                ..
            })) => (
                status,
                match framing {
                    Framing::None => "none".to_string(),
                    Framing::Length(l) => format!("len {l}"),
                    Framing::Chunked => "chunked".to_string(),
                    Framing::Eof => "eof".to_string(),
                },
                keep,
            ),
            Ok(Some(Head::Interim(_))) => (100, "interim".to_string(), false),
            Ok(None) => (0, "partial".to_string(), false),
            Err(_) => (0, "error".to_string(), false),
        };
        let r = |s: u16, f: &str, k| (s, f.to_string(), k);
        assert_eq!(
            head("HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n", false),
            r(200, "len 3", true)
        );
        assert_eq!(
            head("HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n", true),
            r(200, "none", true)
        );
        assert_eq!(
            head("HTTP/1.1 204 No Content\r\n\r\n", false),
            r(204, "none", true)
        );
        assert_eq!(
            head(
                "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\ncontent-length: 9\r\n\r\n",
                false
            ),
            r(200, "chunked", true)
        );
        assert_eq!(head("HTTP/1.1 200 OK\r\n\r\n", false), r(200, "eof", false));
        assert_eq!(
            head(
                "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\ncontent-length: 9\r\n\r\n",
                false
            ),
            r(200, "eof", false)
        );
        assert_eq!(
            head(
                "HTTP/1.1 200 OK\r\nConnection: Close\r\ncontent-length: 0\r\n\r\n",
                false
            ),
            r(200, "len 0", false)
        );
        assert_eq!(
            head("HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n", false),
            r(200, "len 0", false)
        );
        assert_eq!(
            head(
                "HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n",
                false
            ),
            r(200, "len 0", true)
        );
        assert_eq!(
            head("HTTP/1.1 100 Continue\r\n\r\n", false),
            r(100, "interim", false)
        );
        assert_eq!(
            head("HTTP/1.1 200 OK\r\ncontent-le", false),
            r(0, "partial", false)
        );
        assert_eq!(
            head("HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n", false),
            r(0, "error", false)
        );
        assert_eq!(
            head(
                "HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
                false
            ),
            r(0, "error", false)
        );
        assert_eq!(head("garbage\r\n\r\n", false), r(0, "error", false));
    }
}
