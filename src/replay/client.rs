//! The HTTP client of one virtual user.
//!
//! Kept behind this small module (`Client::new`, `Client::send`) so the transport can be
//! swapped or tuned without touching the driver. Today it is one `reqwest` client per user:
//! HTTP/1.1, keep-alive, `TCP_NODELAY`, rustls for `https://`. Its connection pool holds this
//! user's connections only (one, or more while recorded requests overlap). When the server
//! has closed an idle keep-alive connection, hyper's pool retries the request on a new
//! connection only if none of its bytes were written (`retry_canceled_requests`), which is
//! exactly the safe case.
//!
//! # Invariants
//! - `send` never returns `Err` for the target's behaviour: every outcome, a refused
//!   connection included, is an [`Exchanged`] carrying a [`Failure`] of a known kind.
//! - The body is read to its end (or to the timeout) before `send` returns, so the
//!   connection can carry the next request.

use crate::metrics::summary::kind;
use crate::metrics::Failure;
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use std::time::Duration;
use tokio::time::Instant;

/// What a user's client needs to know.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL without a trailing slash: `http://127.0.0.1:8000`.
    pub base: String,
    /// Whole-exchange timeout (connect + send + full body).
    pub timeout: Duration,
    /// Headers added to every request, replacing recorded ones of the same name.
    pub headers: Vec<(HeaderName, HeaderValue)>,
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
    #[error("cannot build the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
}

pub struct Client {
    http: reqwest::Client,
    config: std::sync::Arc<ClientConfig>,
}

impl Client {
    pub fn new(config: std::sync::Arc<ClientConfig>) -> Result<Client, Error> {
        let http = reqwest::Client::builder()
            .http1_only()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(4)
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(Error::Build)?;
        Ok(Client { http, config })
    }

    /// Sends one request and reads its response to the end.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        headers: Vec<(HeaderName, HeaderValue)>,
        body: Bytes,
    ) -> Exchanged {
        let url = format!("{}{}", self.config.base, path_and_query);
        let mut map = HeaderMap::with_capacity(headers.len() + self.config.headers.len());
        for (n, v) in headers {
            map.append(n, v);
        }
        for (n, v) in &self.config.headers {
            map.insert(n.clone(), v.clone());
        }
        let req = self.http.request(method, url).headers(map).body(body);
        let sent = Instant::now();
        let res = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                return Exchanged {
                    sent,
                    done: Instant::now(),
                    ttfb: None,
                    response: None,
                    failure: Some(failure(&e)),
                }
            }
        };
        let ttfb = sent.elapsed();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let mut res = res;
        let mut buf = BytesMut::new();
        let mut chunks = Vec::new();
        let mut broke = None;
        loop {
            match res.chunk().await {
                Ok(Some(c)) => {
                    chunks.push((sent.elapsed(), c.len()));
                    buf.extend_from_slice(&c);
                }
                Ok(None) => break,
                Err(e) => {
                    broke = Some(failure(&e));
                    break;
                }
            }
        }
        Exchanged {
            sent,
            done: Instant::now(),
            ttfb: Some(ttfb),
            response: Some(Response {
                status,
                headers,
                body: buf.freeze(),
                chunks,
            }),
            failure: broke,
        }
    }
}

/// Classifies a client error by kind, with the innermost cause as detail.
fn failure(e: &reqwest::Error) -> Failure {
    let kind = if e.is_timeout() {
        kind::TIMEOUT
    } else if e.is_connect() {
        kind::CONNECT
    } else {
        kind::IO
    };
    let mut src: &dyn std::error::Error = e;
    while let Some(next) = src.source() {
        src = next;
    }
    let detail = if kind == kind::TIMEOUT {
        "timed out".to_string()
    } else {
        src.to_string()
    };
    Failure { kind, detail }
}
