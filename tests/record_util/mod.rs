//! Helpers for the recorder's tests: a tiny upstream that remembers what it received, and
//! trace reading.

#![allow(dead_code)]

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use reprise::trace;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpSocket;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// One request as the upstream received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// A small upstream:
/// - `GET /sse` — 5 SSE events, 200 ms apart (chunked);
/// - `GET /slow` — answers after 3 s;
/// - `GET /big` — 300 KiB of `x`;
/// - `GET /drip` — 20 chunks 100 ms apart;
/// - anything else — echoes the request body as JSON `{"path", "echo"}` with Content-Length.
pub struct Stub {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    stop: CancellationToken,
    tracker: TaskTracker,
}

impl Stub {
    pub async fn start() -> Stub {
        Stub::start_on("127.0.0.1:0".parse().unwrap()).await
    }

    /// Binds `addr` with SO_REUSEADDR, so a stopped stub can come back on the same port.
    pub async fn start_on(addr: SocketAddr) -> Stub {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(addr).unwrap();
        let listener = socket.listen(128).unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = CancellationToken::new();
        let tracker = TaskTracker::new();
        let (rx, st, tr) = (received.clone(), stop.clone(), tracker.clone());
        tracker.spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    _ = st.cancelled() => return,
                    a = listener.accept() => match a { Ok(a) => a, Err(_) => continue },
                };
                let rx = rx.clone();
                let st = st.clone();
                tr.spawn(async move {
                    let svc = service_fn(move |req| serve(rx.clone(), req));
                    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
                    tokio::select! {
                        _ = conn => {}
                        _ = st.cancelled() => {}
                    }
                });
            }
        });
        Stub {
            addr,
            received,
            stop,
            tracker,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Stops listening and drops every open connection (a crashed upstream).
    pub async fn kill(self) {
        self.stop.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

type StubBody = BoxBody<Bytes, Infallible>;

fn full(bytes: impl Into<Bytes>) -> StubBody {
    Full::new(bytes.into()).boxed()
}

/// A body that yields `chunks` after `gap` each, from a task.
fn paced(chunks: Vec<Bytes>, gap: Duration) -> StubBody {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(1);
    tokio::spawn(async move {
        for (i, c) in chunks.into_iter().enumerate() {
            if i > 0 {
                tokio::time::sleep(gap).await;
            }
            if tx.send(Ok(Frame::data(c))).await.is_err() {
                return;
            }
        }
    });
    StreamBody::new(tokio_stream_from(rx)).boxed()
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Frame<Bytes>, Infallible>>,
) -> impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

async fn serve(
    received: Arc<Mutex<Vec<Received>>>,
    req: Request<Incoming>,
) -> Result<Response<StubBody>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    received.lock().unwrap().push(Received {
        method: parts.method.to_string(),
        path: path.clone(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: body.clone(),
    });
    let res = match path.as_str() {
        "/sse" => {
            let events = (1..=5)
                .map(|i| Bytes::from(format!("data: {{\"token\":\"t{i}\"}}\n\n")))
                .collect();
            Response::builder()
                .header("content-type", "text/event-stream")
                .body(paced(events, Duration::from_millis(200)))
        }
        "/drip" => {
            let chunks = (0..20)
                .map(|i| Bytes::from(format!("chunk {i}\n")))
                .collect();
            Response::builder().body(paced(chunks, Duration::from_millis(100)))
        }
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Response::builder().body(full("slow"))
        }
        "/big" => Response::builder().body(full(vec![b'x'; 300 * 1024])),
        _ => {
            let echo: serde_json::Value = serde_json::from_slice(&body)
                .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned().into());
            let out = serde_json::json!({"path": path, "echo": echo}).to_string();
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .header("set-cookie", "session=upstream-secret-cookie")
                .body(full(out))
        }
    };
    Ok(res.unwrap())
}

/// Every exchange of a trace, and its integrity.
pub fn read_trace(path: &Path) -> (Vec<trace::Exchange>, trace::Integrity) {
    let mut reader = trace::Reader::open(path).expect("a readable trace");
    let exchanges: Vec<_> = reader.by_ref().map(|e| e.expect("no I/O error")).collect();
    (exchanges, reader.integrity())
}

/// The decompressed text of a trace (via the zstd crate, the same bytes `zstdcat` shows).
pub fn decompressed(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    String::from_utf8(zstd::stream::decode_all(&bytes[..]).unwrap()).unwrap()
}

/// A keep-alive HTTP client.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}
