//! The mock Educational Agent API (AGENT_API.md) and the synthetic students that drive it.
//!
//! It is the target of every test and benchmark, so it is built never to be the
//! bottleneck: sessions live in a sharded map (no global lock on the hot path), counters are
//! relaxed atomics, responses are written straight into one buffer with pre-built headers,
//! `serde_json` runs only where a body must be parsed or escaped, and nothing is logged per
//! request unless the request log is on.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use reprise::mock::{Config, Latency, Server};
//! use std::time::Duration;
//! let config = Config::default().latency(Latency::Fixed(Duration::from_millis(200)));
//! let mock = Server::start("127.0.0.1:0".parse().unwrap(), config).await?;
//! println!("mock agent API at {}", mock.url());
//! // … drive it …
//! assert_eq!(mock.counters().unknown_thread_id, 0);
//! mock.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Invariants
//! - A `thread_id` this server never issued always gets 404 and is counted.
//! - The node path is a pure function of the students' answers (see [`node`]), so a replay
//!   that sends the recorded answers walks the recorded path — unless misbehaviour is
//!   configured, and then every injection is counted in [`Counts`].
//! - Every seeded decision hashes (seed, session start order, request index within the
//!   session), with no shared RNG: the n-th session started gets the same latencies and
//!   injections whatever the interleaving of requests (sessions started concurrently may
//!   swap start order between runs).

pub mod banner;
mod bottleneck;
mod chance;
mod config;
mod counters;
mod handler;
mod metrics;
pub mod node;
mod server;
mod store;
mod stream;
pub mod students;

pub use config::{Config, Db, Latency, Misbehave, Share, Stream};
pub use counters::{Counts, Endpoint, Log, LogEntry};
pub use handler::MALFORMED_SERVER_TIMING;
pub use node::{Node, INCORRECT_MARKER};
pub use server::Server;
pub use stream::split_tokens;

use std::net::SocketAddr;

/// A session's state as the mock holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionView {
    pub node: Node,
    /// Agent turns taken.
    pub turn: u32,
    /// Requests that named this session (start included).
    pub requests: u64,
    pub complete: bool,
}

/// Errors of the mock module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "mock: cannot listen on {addr}: {source} (is the port in use? use port 0 for a free one)"
    )]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("students: `{target}` is not an http:// URL")]
    Target { target: String },
    #[error("students: cannot build the HTTP client: {0}")]
    Client(String),
}
