//! The proxy's lifecycle: bind, accept, serve connections, drain and close the recording.
//!
//! Serving runs on `config.workers` threads (one per core by default), each with a
//! single-threaded tokio runtime, its own `SO_REUSEPORT` listener on the same address and
//! its own upstream pool — the way nginx runs one event loop per worker — so a client
//! connection, its upstream connection and every wakeup between them stay on one thread.
//! Only the writer queue is shared.
//!
//! Stopping (after the caller's token is cancelled, or on [`Proxy::finish`]):
//! 1. every accept loop ends, so no new connection is taken;
//! 2. every connection is told to shut down gracefully: an in-flight exchange finishes, an
//!    idle keep-alive connection closes;
//! 3. after the grace period, connections still open are dropped (their exchanges are
//!    recorded as `recorder_stopped`);
//! 4. once every worker has exited, the writer drains its queue, writes the footer and
//!    fsyncs.

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
    workers: Vec<JoinHandle<()>>,
    writer: Option<JoinHandle<Outcome>>,
    grace: Duration,
    started: Instant,
}

impl Proxy {
    /// Binds `config.listen`, creates `config.out` (header written), starts the writer thread
    /// and the accept loop. Cancelling `cancel` stops accepting; call [`Proxy::finish`] to
    /// drain and close the file.
    pub async fn start(config: Config, cancel: CancellationToken) -> Result<Proxy, Error> {
        let host = HeaderValue::from_str(config.upstream.authority.as_str()).map_err(|e| {
            Error::Upstream {
                url: config.upstream.to_string(),
                reason: e.to_string(),
            }
        })?;
        // before anything is bound or created: a bad --ca-cert leaves no trace behind
        let tls = crate::tls::client_config(config.ca_cert.as_deref())?;
        let stop = cancel.child_token();
        let abort = CancellationToken::new();
        let workers_wanted = config.workers.get();
        let bind_error = |source| Error::Bind {
            addr: config.listen,
            source,
        };

        // Worker 0 binds first (resolving port 0); the others join its concrete address.
        let (first, addr) = {
            let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
            let (go_tx, go_rx) = std::sync::mpsc::channel::<Option<Arc<Shared>>>();
            let (listen, stop, abort) = (config.listen, stop.clone(), abort.clone());
            let handle = std::thread::Builder::new()
                .name("reprise-proxy-0".into())
                .spawn(move || worker(listen, ready_tx, go_rx, stop, abort))
                .map_err(Error::Thread)?;
            let addr = ready_rx
                .await
                .map_err(|_| bind_error(std::io::Error::other("proxy worker died")))?
                .map_err(bind_error)?;
            ((handle, go_tx), addr)
        };
        let mut pending = vec![first];
        for i in 1..workers_wanted {
            let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
            let (go_tx, go_rx) = std::sync::mpsc::channel::<Option<Arc<Shared>>>();
            let (stop_w, abort_w) = (stop.clone(), abort.clone());
            let handle = std::thread::Builder::new()
                .name(format!("reprise-proxy-{i}"))
                .spawn(move || worker(addr, ready_tx, go_rx, stop_w, abort_w))
                .map_err(Error::Thread)?;
            let bound = ready_rx
                .await
                .map_err(|_| bind_error(std::io::Error::other("proxy worker died")))?;
            pending.push((handle, go_tx));
            if let Err(e) = bound {
                for (_, go) in &pending {
                    let _ = go.send(None);
                }
                return Err(bind_error(e));
            }
        }
        let fail = |pending: &[Pending]| {
            for (_, go) in pending {
                let _ = go.send(None);
            }
        };

        let mut source = serde_json::Map::new();
        source.insert("upstream".into(), config.upstream.to_string().into());
        source.insert("listen".into(), addr.to_string().into());
        source.insert("redacted_headers".into(), config.redaction.headers().into());
        source.insert(
            "redacted_patterns".into(),
            config.redaction.defaults().into(),
        );
        let header = Header::new(source);
        if let Some(dir) = config.out.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Err(e) = std::fs::create_dir_all(dir) {
                fail(&pending);
                return Err(Error::Create {
                    path: config.out.clone(),
                    source: crate::trace::Error::Io {
                        path: dir.to_path_buf(),
                        source: e,
                    },
                });
            }
        }
        let writer = match Writer::create(&config.out, &header) {
            Ok(w) => w,
            Err(source) => {
                fail(&pending);
                return Err(Error::Create {
                    path: config.out.clone(),
                    source,
                });
            }
        };

        let started = Instant::now();
        let counters = Arc::new(Counters::default());
        let encoder = Encoder {
            rules: config.sessions.clone(),
            redaction: config.redaction.clone(),
            start_wall: header.created_at,
        };
        let (sink, writer) = sink::spawn(writer, config.queue.get(), counters.clone(), encoder)?;
        let next_id = Arc::new(AtomicU64::new(1));
        let next_conn = Arc::new(AtomicU64::new(1));
        // One pooled client per worker: its connection tasks run on that worker's runtime.
        let clients: Vec<_> = (0..pending.len())
            .map(|_| forward::client(CONNECT_TIMEOUT, &tls))
            .collect();
        let mut workers = Vec::with_capacity(pending.len());
        for ((handle, go), client) in pending.into_iter().zip(clients) {
            let shared = Arc::new(Shared {
                upstream: config.upstream.clone(),
                host: host.clone(),
                client,
                sink: sink.clone(),
                start: started,
                next_id: next_id.clone(),
                next_conn: next_conn.clone(),
                body_cap: config.body_cap,
                timeout: config.upstream_timeout,
            });
            let _ = go.send(Some(shared));
            workers.push(handle);
        }
        drop(sink);
        Ok(Proxy {
            addr,
            path: config.out,
            counters,
            stop,
            abort,
            workers,
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
        let workers = std::mem::take(&mut self.workers);
        let mut joined = tokio::task::spawn_blocking(move || {
            for w in workers {
                let _ = w.join();
            }
        });
        tokio::select! {
            _ = &mut joined => {}
            _ = tokio::time::sleep(self.grace) => {
                self.abort.cancel();
                let _ = joined.await;
            }
            _ = self.abort.cancelled() => {
                let _ = joined.await;
            }
        }
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

/// A started worker and the channel that hands it its shared state.
type Pending = (JoinHandle<()>, std::sync::mpsc::Sender<Option<Arc<Shared>>>);

/// One proxy worker: its own single-threaded runtime and its own `SO_REUSEPORT` listener,
/// so a connection, its upstream connection and its tasks never hop threads. Reports the
/// bound address (or the bind error), waits for its shared state (`None`: start failed),
/// serves until `stop`, then drains its connections.
fn worker(
    addr: SocketAddr,
    ready: tokio::sync::oneshot::Sender<std::io::Result<SocketAddr>>,
    go: std::sync::mpsc::Receiver<Option<Arc<Shared>>>,
    stop: CancellationToken,
    abort: CancellationToken,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    runtime.block_on(async move {
        let listener = match listen(addr) {
            Ok(l) => l,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let bound = listener.local_addr();
        let _ = ready.send(bound);
        let Ok(Some(shared)) = go.recv() else { return };
        let tracker = TaskTracker::new();
        accept_loop(listener, shared, stop, abort, tracker.clone()).await;
        tracker.close();
        tracker.wait().await;
    });
}

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    stop: CancellationToken,
    abort: CancellationToken,
    tracker: TaskTracker,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let conn = shared.next_conn.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
    let sink = shared.sink.clone();
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
        _ = abort.cancelled() => sink.cut(),
    }
}
