//! Forwarding one request: rewrite the head for the upstream, stream the bodies through
//! tees, turn upstream failures into 502/504 answers.
//!
//! # Invariants
//! - Hop-by-hop headers (RFC 9110 §7.6.1: `Connection` and the names it lists, `Keep-Alive`,
//!   `Proxy-Connection`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`,
//!   `Proxy-Authenticate`, `Proxy-Authorization`) are never forwarded, in either direction.
//! - `Host` is rewritten to the upstream's authority; every other end-to-end header and
//!   every body byte passes unchanged.
//! - A failure is an answer, never an `Err` to hyper: the client always gets a response.
//! - An upstream that answers before reading the whole body and closes (an early `413`) is
//!   answered with its own response, not a `502` (see [`super::early`]).

use super::early;
use super::flight::{Capture, Captured, Failure};
use super::sink::Sink;
use super::tee::{Flight, RequestTee, ResponseTee};
use super::Upstream;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Version};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::capture_connection;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The body of every response the proxy gives: a tee of the upstream's, or its own error.
pub(crate) type ProxyBody = Either<ResponseTee, Full<Bytes>>;

pub(crate) type UpstreamClient = Client<HttpsConnector<early::Connector>, RequestTee>;

/// Idle pooled upstream connections are closed after this, below uvicorn's 5 s keep-alive,
/// so the proxy rarely writes to a connection the server is closing.
pub const POOL_IDLE: Duration = Duration::from_secs(4);

/// State shared by every connection of one proxy.
pub(crate) struct Shared {
    pub upstream: Upstream,
    pub host: HeaderValue,
    pub client: UpstreamClient,
    pub sink: Sink,
    pub start: Instant,
    pub next_id: Arc<AtomicU64>,
    /// Connection ids, shared by every proxy worker so `conn` is unique in the file (each
    /// session-less connection replays as one session).
    pub next_conn: Arc<AtomicU64>,
    pub body_cap: usize,
    pub timeout: Duration,
}

/// Builds the pooled keep-alive upstream client (http and https with `tls`, TCP_NODELAY).
pub(crate) fn client(connect_timeout: Duration, tls: &rustls::ClientConfig) -> UpstreamClient {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls.clone())
        .https_or_http()
        .enable_http1()
        .wrap_connector(early::Connector(http));
    Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE)
        .pool_timer(hyper_util::rt::TokioTimer::new())
        .build(https)
}

/// Serves one request received on client connection `conn`.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    conn: u64,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let sent = Instant::now();
    let id = shared.next_id.fetch_add(1, Relaxed);
    let (parts, body) = req.into_parts();
    let req_capture = Arc::new(Mutex::new(Capture::new(shared.body_cap)));
    let captured = Captured {
        id,
        conn,
        t: sent.saturating_duration_since(shared.start),
        ttfb: None,
        done: Duration::ZERO,
        method: parts.method.clone(),
        uri: parts.uri.clone(),
        req_headers: parts.headers.clone(),
        req_body: Capture::default(),
        res: None,
        error: None,
    };
    let mut flight = Flight::new(
        captured,
        req_capture.clone(),
        sent,
        shared.sink.clone(),
        shared.body_cap,
    );

    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let uri = match shared.upstream.uri_for(path_and_query) {
        Ok(u) => u,
        Err(e) => {
            let message = format!("cannot forward `{}`: {e}", parts.uri);
            flight.end(Some(Failure::new("bad_request", message.clone())));
            return Ok(answer(
                StatusCode::BAD_REQUEST,
                &shared.upstream,
                "bad_request",
                &message,
            ));
        }
    };
    let mut headers = parts.headers;
    strip_hop_by_hop(&mut headers);
    headers.insert(header::HOST, shared.host.clone());
    let mut up = Request::new(RequestTee::new(body, req_capture));
    *up.method_mut() = parts.method;
    *up.uri_mut() = uri;
    *up.version_mut() = Version::HTTP_11;
    *up.headers_mut() = headers;
    let connection = capture_connection(&mut up);

    match tokio::time::timeout(shared.timeout, shared.client.request(up)).await {
        Ok(Ok(res)) => {
            // An early answer (the upstream stopped reading the body): never reuse that
            // connection.
            if res
                .extensions()
                .get::<early::Absorbed>()
                .is_some_and(|a| a.get())
            {
                if let Some(c) = connection.connection_metadata().as_ref() {
                    c.poison();
                }
            }
            let (mut parts, body) = res.into_parts();
            let streamed = !parts.headers.contains_key(header::CONTENT_LENGTH);
            flight.head(parts.status, parts.headers.clone(), streamed);
            strip_hop_by_hop(&mut parts.headers);
            parts.version = Version::HTTP_11;
            Ok(Response::from_parts(
                parts,
                Either::Left(ResponseTee::new(body, flight)),
            ))
        }
        Ok(Err(e)) => {
            let (kind, status) = if e.is_connect() {
                ("connect", StatusCode::BAD_GATEWAY)
            } else {
                ("upstream", StatusCode::BAD_GATEWAY)
            };
            let message = describe(&e);
            flight.end(Some(Failure::new(kind, message.clone())));
            Ok(answer(status, &shared.upstream, kind, &message))
        }
        Err(_) => {
            let message = format!(
                "no response head within {:.1}s",
                shared.timeout.as_secs_f64()
            );
            flight.end(Some(Failure::new("timeout", message.clone())));
            Ok(answer(
                StatusCode::GATEWAY_TIMEOUT,
                &shared.upstream,
                "timeout",
                &message,
            ))
        }
    }
}

/// The proxy's own JSON answer, naming the upstream.
fn answer(
    status: StatusCode,
    upstream: &Upstream,
    kind: &str,
    message: &str,
) -> Response<ProxyBody> {
    let body = serde_json::json!({
        "error": match status {
            StatusCode::GATEWAY_TIMEOUT => "upstream timed out",
            StatusCode::BAD_REQUEST => "bad request",
            _ => "upstream unreachable",
        },
        "upstream": upstream.to_string(),
        "kind": kind,
        "message": message,
        "proxy": "reprise record",
    });
    let mut res = Response::new(Either::Right(Full::new(Bytes::from(body.to_string()))));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// An error with its whole source chain, on one line.
pub(crate) fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHENTICATE,
];

/// Removes hop-by-hop headers, including those the `Connection` header names.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
    headers.remove(header::PROXY_AUTHORIZATION);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_are_removed() {
        let mut h = HeaderMap::new();
        h.insert("connection", "keep-alive, x-trace-hop".parse().unwrap());
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        h.insert("x-trace-hop", "1".parse().unwrap());
        h.insert("transfer-encoding", "chunked".parse().unwrap());
        h.insert("proxy-authorization", "Basic x".parse().unwrap());
        h.insert("authorization", "Bearer y".parse().unwrap());
        h.insert("content-type", "application/json".parse().unwrap());
        strip_hop_by_hop(&mut h);
        let mut names: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        names.sort();
        assert_eq!(names, ["authorization", "content-type"]);
    }
}
