//! The proxy's lifecycle: bind, accept, serve connections, drain and close the recording.
//!
//! Stopping (after the caller's token is cancelled, or on [`Proxy::finish`]):
//! 1. the accept loop ends, so no new connection is taken;
//! 2. every connection is told to shut down gracefully: an in-flight exchange finishes, an
//!    idle keep-alive connection closes;
//! 3. after the grace period, connections still open are dropped (their exchanges are
//!    recorded as `client_disconnect`);
//! 4. the writer drains its queue, writes the footer and fsyncs.

use super::forward::{self, Shared};
use super::sink::{self, Counters, Encoder, Live, Outcome};
use super::{Config, Error, Summary};
use crate::trace::{Header, Writer};
use http::HeaderValue;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Upstream connect timeout (a refused port fails at once; this bounds a black hole).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A running recording proxy. Stop it with [`Proxy::finish`]; dropping it without finishing
/// stops accepting and lets the writer close the file in the background.
pub struct Proxy {
    addr: SocketAddr,
    path: PathBuf,
    counters: Arc<Counters>,
    stop: CancellationToken,
    abort: CancellationToken,
    tracker: TaskTracker,
    accept: Option<tokio::task::JoinHandle<()>>,
    writer: Option<JoinHandle<Outcome>>,
    grace: Duration,
    started: Instant,
}

impl Proxy {
    /// Binds `config.listen`, creates `config.out` (header written), starts the writer thread
    /// and the accept loop. Cancelling `cancel` stops accepting; call [`Proxy::finish`] to
    /// drain and close the file.
    pub async fn start(config: Config, cancel: CancellationToken) -> Result<Proxy, Error> {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| Error::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;
        let host = HeaderValue::from_str(config.upstream.authority.as_str()).map_err(|e| {
            Error::Upstream {
                url: config.upstream.to_string(),
                reason: e.to_string(),
            }
        })?;
        let client = forward::client(CONNECT_TIMEOUT)?;

        let mut source = serde_json::Map::new();
        source.insert("upstream".into(), config.upstream.to_string().into());
        source.insert("listen".into(), addr.to_string().into());
        source.insert(
            "redacted_headers".into(),
            config.redaction.headers().to_vec().into(),
        );
        let header = Header::new(source);
        if let Some(dir) = config.out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::Create {
                path: config.out.clone(),
                source: crate::trace::Error::Io {
                    path: dir.to_path_buf(),
                    source: e,
                },
            })?;
        }
        let writer = Writer::create(&config.out, &header).map_err(|source| Error::Create {
            path: config.out.clone(),
            source,
        })?;

        let started = Instant::now();
        let counters = Arc::new(Counters::default());
        let encoder = Encoder {
            rules: config.sessions.clone(),
            redaction: config.redaction.clone(),
            start_wall: header.created_at,
        };
        let (sink, writer) = sink::spawn(writer, config.queue.get(), counters.clone(), encoder)?;
        let shared = Arc::new(Shared {
            upstream: config.upstream.clone(),
            host,
            client,
            sink,
            start: started,
            next_id: AtomicU64::new(1),
            body_cap: config.body_cap,
            timeout: config.upstream_timeout,
        });

        let stop = cancel.child_token();
        let abort = CancellationToken::new();
        let tracker = TaskTracker::new();
        let accept = tokio::spawn(accept_loop(
            listener,
            shared,
            stop.clone(),
            abort.clone(),
            tracker.clone(),
        ));
        Ok(Proxy {
            addr,
            path: config.out,
            counters,
            stop,
            abort,
            tracker,
            accept: Some(accept),
            writer: Some(writer),
            grace: config.grace,
            started,
        })
    }

    /// The address the proxy listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, for clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The recording's path.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Live counters.
    pub fn live(&self) -> Live {
        self.counters.live()
    }

    /// A handle on the live counters that outlives borrows of the proxy.
    pub fn probe(&self) -> super::Probe {
        super::Probe(self.counters.clone())
    }

    /// A token that, once cancelled during [`Proxy::finish`], ends the grace period at once
    /// (a second Ctrl-C).
    pub fn abort_token(&self) -> CancellationToken {
        self.abort.clone()
    }

    /// Stops accepting, lets in-flight exchanges finish within the grace period, then writes
    /// the footer, fsyncs and returns what was recorded.
    pub async fn finish(mut self) -> Result<Summary, Error> {
        self.stop.cancel();
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
        }
        self.tracker.close();
        tokio::select! {
            _ = self.tracker.wait() => {}
            _ = tokio::time::sleep(self.grace) => self.abort.cancel(),
            _ = self.abort.cancelled() => {}
        }
        self.tracker.wait().await;
        self.counters.close();
        let writer = self.writer.take().expect("finish runs once");
        let outcome = tokio::task::spawn_blocking(move || writer.join())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or_else(|| Error::Thread(std::io::Error::other("the writer thread panicked")))?;
        if let Some(e) = outcome.finish_error {
            return Err(Error::Create {
                path: self.path.clone(),
                source: e,
            });
        }
        Ok(sink::summary(
            self.path.clone(),
            &outcome,
            self.started.elapsed(),
        ))
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
        self.counters.close();
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    stop: CancellationToken,
    abort: CancellationToken,
    tracker: TaskTracker,
) {
    let mut next_conn = 1u64;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let conn = next_conn;
                    next_conn += 1;
                    tracker.spawn(serve(stream, conn, shared.clone(), stop.clone(), abort.clone()));
                }
                // Out of file descriptors or a connection reset before accept: back off
                // briefly and keep serving the connections already open.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
        }
    }
}

async fn serve(
    stream: TcpStream,
    conn: u64,
    shared: Arc<Shared>,
    stop: CancellationToken,
    abort: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let svc = service_fn(move |req| forward::handle(shared.clone(), conn, req));
    let connection = http1::Builder::new()
        .keep_alive(true)
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => return,
        _ = stop.cancelled() => {}
    }
    connection.as_mut().graceful_shutdown();
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = abort.cancelled() => {}
    }
}
