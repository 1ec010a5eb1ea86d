//! The mock's listener and connections: hyper 1.x HTTP/1.1, keep-alive, `TCP_NODELAY`.
//!
//! # Shutdown
//! - [`Server::shutdown`]: stop accepting (the listening socket is closed at once), let
//!   every in-flight request (streams included) finish, close idle connections, return.
//! - [`Server::abort`]: drop every connection mid-request, as a crash would. Also what
//!   dropping the `Server` does.
//!
//! After either returns the address is free: a new server may bind it (restart tests).

use super::config::Config;
use super::counters::{bump, Counts, Log};
use super::handler::{self, Shared};
use super::Error;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Listen backlog: a 10,000-connection benchmark connects in a burst.
const BACKLOG: u32 = 16_384;

/// A running mock server. Dropping it aborts it.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    graceful: CancellationToken,
    kill: CancellationToken,
    tracker: TaskTracker,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port) and starts serving on the current runtime.
    pub async fn start(addr: SocketAddr, config: Config) -> std::io::Result<Server> {
        let listener = bind(addr)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config));
        let graceful = CancellationToken::new();
        let kill = CancellationToken::new();
        let tracker = TaskTracker::new();
        let accept = tokio::spawn(accept_loop(
            listener,
            shared.clone(),
            graceful.clone(),
            kill.clone(),
            tracker.clone(),
        ));
        Ok(Server {
            addr,
            shared,
            graceful,
            kill,
            tracker,
            accept: Mutex::new(Some(accept)),
        })
    }

    /// Like [`Server::start`] with the error typed for callers that want [`Error`].
    pub async fn bind(addr: SocketAddr, config: Config) -> Result<Server, Error> {
        Server::start(addr, config)
            .await
            .map_err(|source| Error::Bind { addr, source })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> Counts {
        self.shared.counters.snapshot()
    }

    /// Thread ids issued so far.
    pub fn issued_thread_ids(&self) -> u64 {
        self.counters().sessions_started
    }

    /// Requests that named a thread id this server never issued.
    pub fn unknown_thread_id_requests(&self) -> u64 {
        self.counters().unknown_thread_id
    }

    /// The request log (empty unless [`Config::request_log`]).
    pub fn log(&self) -> &Log {
        &self.shared.log
    }

    /// The state of a session, if this server issued `thread_id`.
    pub fn session(&self, thread_id: &str) -> Option<super::SessionView> {
        let id = uuid::Uuid::try_parse(thread_id).ok()?.as_u128();
        self.shared.store.get(id).map(|s| super::SessionView {
            node: s.node,
            turn: s.turn,
            requests: s.requests,
            complete: s.complete(),
        })
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Graceful: stop accepting, finish in-flight requests, close connections, return.
    pub async fn shutdown(&self) {
        self.graceful.cancel();
        self.join().await;
    }

    /// Abrupt: close every connection now, in-flight requests included.
    pub async fn abort(&self) {
        self.kill.cancel();
        self.join().await;
    }

    async fn join(&self) {
        let accept = self.accept.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(a) = accept {
            let _ = a.await;
        }
        self.tracker.close();
        self.tracker.wait().await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill.cancel();
    }
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    graceful: CancellationToken,
    kill: CancellationToken,
    tracker: TaskTracker,
) {
    let mut builder = http1::Builder::new();
    builder.keep_alive(true);
    if let Some(idle) = shared.config.keep_alive_timeout {
        // hyper (≥ 1.6) restarts the header-read timer whenever a connection goes idle, so
        // this is the keep-alive idle timeout.
        builder.timer(TokioTimer::new()).header_read_timeout(idle);
    }
    loop {
        let accepted = tokio::select! {
            biased;
            _ = kill.cancelled() => return,
            _ = graceful.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                bump(&shared.counters.connections_accepted);
                tracker.spawn(connection(
                    stream,
                    peer,
                    builder.clone(),
                    shared.clone(),
                    graceful.clone(),
                    kill.clone(),
                ));
            }
            // Out of file descriptors or a reset before accept: back off briefly; the
            // listener stays usable.
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    builder: http1::Builder,
    shared: Arc<Shared>,
    graceful: CancellationToken,
    kill: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    shared.counters.connections_open.fetch_add(1, Relaxed);
    let svc_shared = shared.clone();
    let service = service_fn(move |req| {
        let shared = svc_shared.clone();
        async move { Ok::<_, Infallible>(handler::handle(&shared, peer, req).await) }
    });
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = kill.cancelled() => {}
        _ = graceful.cancelled() => {
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = kill.cancelled() => {}
            }
        }
    }
    shared.counters.connections_open.fetch_sub(1, Relaxed);
}
