//! The HTTP client of one virtual user: hyper's HTTP/1.1 connection API on the user's own
//! connections.
//!
//! Kept behind this small module (`Client::new`, `Client::send`) so the transport can be
//! swapped or tuned without touching the driver. It was one `reqwest::Client` per user; a
//! leaner client measured faster (`bench/efficiency.sh`: 28.8 → 19.3 µs of CPU per request
//! at 64 users against nginx) and smaller: a `reqwest::Client` carries its own pool, resolver,
//! timer handles and TLS configuration (a parsed root store) and parses a URL per request.
//! Here a user keeps only its idle connections' `SendRequest` handles; the connector
//! (TCP_NODELAY, rustls with the webpki roots + `--ca-cert` for `https://`) is built once
//! per run, carried in [`ClientConfig`] and cloned (an `Arc` inside). A user holds one
//! connection, or more while its recorded requests overlap.
//!
//! # Invariants
//! - `send` never fails for the target's behaviour: every outcome, a refused connection
//!   included, is an [`Exchanged`] carrying a [`Failure`] of a known kind.
//! - A request is retried on a fresh connection only when hyper hands it back unsent
//!   (`TrySendError::take_message`): the server closed an idle keep-alive connection before
//!   any byte of the request was written (FIELD_NOTES). Any other failure is reported.
//! - The body is read to its end (or to the timeout) before `send` returns; only then does
//!   the connection go back to the user's idle list, so it can carry the next request.
//! - Read buffers are bounded by [`READ_BUF_MAX`], so memory per idle connection stays small
//!   and flat however large a response was.
//! - `send` runs inside a `tokio::task::LocalSet` (the replay's workers are current-thread
//!   runtimes driving one): each connection's task is spawned there with `spawn_local`, so
//!   the connection waking its user (and back) stays on the set's local queue instead of
//!   waking the runtime through its driver (an eventfd write per request, measured by
//!   `strace -c`: 0.92 → 0.43 `write` calls per request).

use crate::metrics::summary::kind;
use crate::metrics::Failure;
use bytes::{Bytes, BytesMut};
use http::header::{HeaderValue, HOST};
use http::{HeaderMap, HeaderName, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tower_service::Service;

/// Largest read buffer a connection keeps (hyper's minimum allowed; bodies stream past it).
pub const READ_BUF_MAX: usize = 8 * 1024;
/// Idle connections a user keeps (more than one only while its recorded requests overlap).
const IDLE_MAX: usize = 4;

/// What a user's client needs to know.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL without a trailing slash: `http://127.0.0.1:8000`.
    pub base: String,
    /// Whole-exchange timeout (connect + send + full body).
    pub timeout: Duration,
    /// Headers added to every request, replacing recorded ones of the same name.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Shared by every user of a run (see [`connector`]).
    pub connector: HttpsConnector<HttpConnector>,
}

/// A response read to its end.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Arrival of each body chunk, from the send, with its size.
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
    /// The response, when one came (a 500 is a response). Its body may be partial when
    /// `failure` says the body broke off.
    pub response: Option<Response>,
    /// Transport failure (connect, timeout, io); status failures are the caller's call.
    pub failure: Option<Failure>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("target `{0}` is not an http:// or https:// URL with a host")]
    Target(String),
}

pub struct Client {
    config: Arc<ClientConfig>,
    /// `scheme://authority` of the target, for the connector.
    base: Uri,
    /// The `Host` header every request carries.
    host: HeaderValue,
    connector: HttpsConnector<HttpConnector>,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
}

impl Client {
    pub fn new(config: Arc<ClientConfig>) -> Result<Client, Error> {
        let base: Uri = config
            .base
            .parse()
            .map_err(|_| Error::Target(config.base.clone()))?;
        let host = base
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            .ok_or_else(|| Error::Target(config.base.clone()))?;
        if !matches!(base.scheme_str(), Some("http" | "https")) {
            return Err(Error::Target(config.base.clone()));
        }
        Ok(Client {
            connector: config.connector.clone(),
            config,
            base,
            host,
            idle: Mutex::new(Vec::new()),
        })
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
        let mut ttfb = None;
        let mut partial = None;
        let outcome = tokio::time::timeout(
            self.config.timeout,
            self.exchange(
                method,
                path_and_query,
                headers,
                body,
                sent,
                &mut ttfb,
                &mut partial,
            ),
        )
        .await;
        let (response, failure) = match outcome {
            Ok(Ok(response)) => (Some(response), None),
            Ok(Err(failure)) => (partial.take(), Some(failure)),
            Err(_) => (
                partial.take(),
                Some(Failure {
                    kind: kind::TIMEOUT,
                    detail: "timed out".to_string(),
                }),
            ),
        };
        Exchanged {
            sent,
            done: Instant::now(),
            ttfb,
            response,
            failure,
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn exchange(
        &self,
        method: Method,
        path_and_query: &str,
        headers: Vec<(HeaderName, HeaderValue)>,
        body: Bytes,
        sent: Instant,
        ttfb: &mut Option<Duration>,
        partial: &mut Option<Response>,
    ) -> Result<Response, Failure> {
        let mut req = Request::builder()
            .method(method)
            .uri(path_and_query)
            .body(Full::new(body))
            .map_err(|e| io_failure(&e))?;
        let map = req.headers_mut();
        map.reserve(headers.len() + self.config.headers.len() + 1);
        map.insert(HOST, self.host.clone());
        for (n, v) in headers {
            map.append(n, v);
        }
        for (n, v) in &self.config.headers {
            map.insert(n.clone(), v.clone());
        }

        let (mut conn, mut fresh) = match self.take_idle() {
            Some(c) => (c, false),
            None => (self.connect().await?, true),
        };
        let res = loop {
            match conn.try_send_request(req).await {
                Ok(res) => break res,
                Err(mut e) => match e.take_message() {
                    // never written: the server closed the idle connection; one retry
                    Some(unsent) if !fresh => {
                        req = unsent;
                        conn = self.connect().await?;
                        fresh = true;
                    }
                    _ => return Err(io_failure(e.error())),
                },
            }
        };
        *ttfb = Some(sent.elapsed());
        let (parts, mut incoming) = res.into_parts();
        let mut buf = BytesMut::new();
        let mut chunks = Vec::new();
        let mut broke = None;
        loop {
            match incoming.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        chunks.push((sent.elapsed(), data.len()));
                        buf.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) => {
                    broke = Some(io_failure(&e));
                    break;
                }
                None => break,
            }
        }
        let response = Response {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: buf.freeze(),
            chunks,
        };
        match broke {
            Some(f) => {
                *partial = Some(response);
                Err(f)
            }
            None => {
                self.put_idle(conn);
                Ok(response)
            }
        }
    }

    fn take_idle(&self) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(c) = idle.pop() {
            if !c.is_closed() {
                return Some(c);
            }
        }
        None
    }

    fn put_idle(&self, conn: SendRequest<Full<Bytes>>) {
        if conn.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < IDLE_MAX {
            idle.push(conn);
        }
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, Failure> {
        let mut connector = self.connector.clone();
        let io = connector
            .call(self.base.clone())
            .await
            .map_err(|e| Failure {
                kind: kind::CONNECT,
                detail: innermost(e.as_ref()),
            })?;
        let (sender, conn) = http1::Builder::new()
            .max_buf_size(READ_BUF_MAX)
            .handshake(io)
            .await
            .map_err(|e| Failure {
                kind: kind::CONNECT,
                detail: innermost(&e),
            })?;
        // the replay's workers run users in a LocalSet (see the module invariants)
        tokio::task::spawn_local(async move {
            // ends when the server closes or every SendRequest is dropped; its error, if
            // any, reaches the request that was in flight
            let _ = conn.await;
        });
        Ok(sender)
    }
}

/// The connector of one run, built once ahead of it (so no user pays for the TLS root
/// store in its timed path) and cloned by every user: TCP_NODELAY, http and https with
/// `tls` (see [`crate::tls`]), HTTP/1.1.
pub fn connector(tls: rustls::ClientConfig) -> HttpsConnector<HttpConnector> {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.enforce_http(false);
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http)
}

fn io_failure(e: &(dyn std::error::Error + 'static)) -> Failure {
    Failure {
        kind: kind::IO,
        detail: innermost(e),
    }
}

fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut src = e;
    while let Some(next) = src.source() {
        src = next;
    }
    src.to_string()
}
