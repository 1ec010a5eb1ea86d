//! The live web UI: `replay --web`, `reprise ui`, `demo --web`, and `/metrics`.
//!
//! A [`Server`] is bound before the run starts (a bad address or a port in use is an
//! [`Error`] then, not after users started), and served by a thread of its own with a
//! current-thread runtime, so the replay's workers and aggregator never share a thread
//! with it. The aggregator's progress callback hands each second to a [`Feed`]
//! ([`live`]), which never waits; the web thread keeps every second as an SSE frame, so a
//! reload or a second viewer gets the whole history and `Last-Event-ID` resumes.
//!
//! The page ([`page`]) is one self-contained HTML document (inline CSS and script, no
//! external URL), like `report.html`.
//!
//! # Security model
//! - A loopback address (the default `127.0.0.1:8089`): no token; requests must name a
//!   loopback host (DNS rebinding) and `POST`s must come from the page's own origin.
//! - Any other address: two random tokens are printed, one to control and one to view;
//!   every request needs one (`?token=`, then a cookie). The viewer token cannot change
//!   the run.
//!
//! # Invariants
//! - [`Server::bind`] fails before anything starts; nothing else here fails a run.
//! - The run does not wait for a viewer: [`Running::finish`] publishes the final summary,
//!   keeps serving for the linger time, then stops the server whatever tabs are open.

pub mod live;
mod page;
mod prom;
mod server;
pub mod ui;

pub use live::{Feed, Live, Meta};

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The default `--web` address, Locust's port.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8089";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "{what} `{addr}`: not an address ({why}); expected e.g. 127.0.0.1:8089 or 0.0.0.0:8089"
    )]
    Address {
        what: String,
        addr: String,
        why: String,
    },
    #[error("{what} {addr}: cannot listen ({source}); is another process using the port? choose another address and port")]
    Bind {
        what: String,
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot start the web server thread: {0}")]
    Thread(std::io::Error),
}

/// What a request may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Read and steer the run.
    Control,
    /// Read only.
    View,
}

/// Who may ask: open on loopback, tokens elsewhere.
#[derive(Debug, Clone)]
pub struct Access {
    pub loopback: bool,
    pub control_token: String,
    pub view_token: String,
}

impl Access {
    fn new(loopback: bool) -> Access {
        let token = || uuid::Uuid::new_v4().simple().to_string();
        Access {
            loopback,
            control_token: token(),
            view_token: token(),
        }
    }

    /// The role a request with `token` has; `None`: refused.
    pub fn role(&self, token: Option<&str>) -> Option<Role> {
        match token {
            Some(t) if eq(t, &self.control_token) => Some(Role::Control),
            Some(t) if eq(t, &self.view_token) => Some(Role::View),
            _ if self.loopback => Some(Role::Control),
            _ => None,
        }
    }
}

/// Constant-time comparison of tokens.
fn eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// A bound listener, not yet serving.
pub struct Server {
    listener: std::net::TcpListener,
    addr: SocketAddr,
    access: Arc<Access>,
}

impl Server {
    /// Binds `addr` (`HOST:PORT`; port 0 picks one). `what` names the flag in errors
    /// (`--web`).
    pub fn bind(addr: &str, what: &str) -> Result<Server, Error> {
        let bad = |why: String| Error::Address {
            what: what.to_string(),
            addr: addr.to_string(),
            why,
        };
        let sock = addr
            .to_socket_addrs()
            .map_err(|e| bad(e.to_string()))?
            .next()
            .ok_or_else(|| bad("resolves to no address".into()))?;
        let listener = std::net::TcpListener::bind(sock).map_err(|source| Error::Bind {
            what: what.to_string(),
            addr: addr.to_string(),
            source,
        })?;
        let _ = listener.set_nonblocking(true);
        let addr = listener.local_addr().unwrap_or(sock);
        Ok(Server {
            listener,
            addr,
            access: Arc::new(Access::new(sock.ip().is_loopback())),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn access(&self) -> &Access {
        &self.access
    }

    /// The links to print: (control, viewer); the viewer link only with tokens.
    pub fn links(&self) -> (String, Option<String>) {
        let base = format!("http://{}/", self.addr);
        if self.access.loopback {
            (base, None)
        } else {
            (
                format!("{base}?token={}", self.access.control_token),
                Some(format!("{base}?token={}", self.access.view_token)),
            )
        }
    }

    /// Prints where the page is (stderr), with the tokens when the address is not loopback.
    pub fn announce(&self, what: &str) {
        let (control, view) = self.links();
        eprintln!("{what}: {control}");
        if let Some(v) = view {
            eprintln!(
                "  (not loopback: the link above carries the control token; read-only viewer link: {v})"
            );
        }
    }

    /// Serves `app` on a thread of its own until the returned token is cancelled.
    pub(crate) fn serve<A: server::App>(self, app: Arc<A>) -> Result<Served, Error> {
        let stop = CancellationToken::new();
        let Server {
            listener, access, ..
        } = self;
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("web".into())
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    server::serve(listener, app, access, s).await;
                });
            })
            .map_err(Error::Thread)?;
        Ok(Served {
            stop,
            thread: Some(thread),
        })
    }
}

/// A serving thread; [`Served::stop`] ends it (open streams included).
pub(crate) struct Served {
    stop: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Served {
    pub(crate) fn stop(mut self) {
        self.stop.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `--web` options of a run.
#[derive(Debug, Clone)]
pub struct Options {
    /// `HOST:PORT`.
    pub addr: String,
    /// Keep the final page up this long after the run.
    pub linger: Duration,
}

/// A server that shows runs one after another (`reprise ui`): a run attaches its state.
pub trait Host: Send + Sync + std::fmt::Debug {
    fn attach(&self, live: Arc<Live>);
}

/// One run shown live: its feed, and the server when the run has its own (`--web`).
pub struct Session {
    live: Arc<Live>,
    feed: Feed,
    served: Option<Served>,
    linger: Duration,
}

impl Session {
    /// Starts serving the run of `meta` / `control` on the bound `server`.
    pub fn start(
        server: Server,
        meta: Meta,
        control: crate::replay::Control,
        linger: Duration,
    ) -> Result<Session, Error> {
        let (live, feed) = Live::start(meta, control).map_err(Error::Thread)?;
        let served = server.serve(Arc::new(live.clone()))?;
        Ok(Session {
            live,
            feed,
            served: Some(served),
            linger,
        })
    }

    /// Shows the run on a server that is already up (`reprise ui`).
    pub fn attach(
        host: &dyn Host,
        meta: Meta,
        control: crate::replay::Control,
    ) -> Result<Session, Error> {
        let (live, feed) = Live::start(meta, control).map_err(Error::Thread)?;
        host.attach(live.clone());
        Ok(Session {
            live,
            feed,
            served: None,
            linger: Duration::ZERO,
        })
    }

    pub fn feed(&self) -> &Feed {
        &self.feed
    }

    /// The run could not go (target unreachable, bad target…): the page's `end` event
    /// carries `error`; the server stops at once.
    pub fn fail(self, error: String) {
        self.feed.fail(error);
        let t = std::time::Instant::now();
        while !self.live.ended() && t.elapsed() < Duration::from_secs(1) {
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Some(served) = self.served {
            std::thread::sleep(Duration::from_millis(200));
            served.stop();
        }
    }

    /// Publishes the final summary (the page's `end` event); a run with its own server
    /// then serves `--web-linger` more and stops it, whatever tabs are open. Waits at most
    /// a second for the page state to take the summary.
    pub fn finish(self, summary: crate::metrics::summary::Summary) {
        self.feed.finish(summary);
        let t = std::time::Instant::now();
        while !self.live.ended() && t.elapsed() < Duration::from_secs(1) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let Some(served) = self.served else {
            return;
        };
        // the end event reaches the open streams
        std::thread::sleep(Duration::from_millis(200));
        if !self.linger.is_zero() {
            eprintln!(
                "web: the final page stays up for {} (--web-linger)",
                humantime::format_duration(self.linger)
            );
            std::thread::sleep(self.linger);
        }
        served.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_give_roles() {
        let a = Access::new(false);
        assert_eq!(a.role(Some(&a.control_token)), Some(Role::Control));
        assert_eq!(a.role(Some(&a.view_token)), Some(Role::View));
        assert_eq!(a.role(Some("nope")), None);
        assert_eq!(a.role(None), None);
        assert_ne!(a.control_token, a.view_token);
        let l = Access::new(true);
        assert_eq!(l.role(None), Some(Role::Control));
        assert_eq!(l.role(Some(&l.view_token)), Some(Role::View));
    }

    #[test]
    fn bad_addresses_and_taken_ports_are_named() {
        let e = Server::bind("nonsense", "--web").err().unwrap().to_string();
        assert!(e.starts_with("--web `nonsense`: not an address"), "{e}");
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        let e = Server::bind(&addr, "--web").err().unwrap().to_string();
        assert!(e.contains(&addr) && e.contains("cannot listen"), "{e}");
    }
}
