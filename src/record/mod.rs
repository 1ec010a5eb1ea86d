//! The recording proxy: a transparent HTTP/1.1 reverse proxy that writes every exchange,
//! keyed by its session, into a `.trace.zst` file.
//!
//! Built so the traffic never waits for the recording:
//! - bodies stream through frame by frame ([`tee`]); a copy of the first `body_cap` bytes is
//!   kept with each chunk's offset and size;
//! - a finished exchange is handed to the writer thread ([`sink`]) with a non-blocking
//!   `try_send` on a bounded queue; parsing, session keying, redaction, JSON encoding and
//!   compression all happen on that thread. A full queue drops the exchange and counts it.
//!
//! # Invariants
//! - Every request that reaches the proxy yields exactly one exchange sent to the sink
//!   (response completed, upstream failure, or client disconnect), or one `dropped` count.
//! - The footer's `dropped` equals the number of exchanges the queue refused.
//! - Secrets are redacted before anything is encoded; redaction is on unless the config
//!   explicitly turns the defaults off ([`Redaction::none`]).
//! - [`Proxy::finish`] returns only after the footer is written and the file fsynced.

mod early;
mod flight;
mod forward;
mod proxy;
mod redact;
mod sink;
mod tee;

pub use proxy::Proxy;
pub use redact::Redaction;
pub use sink::{Live, Probe};

use crate::correlate::session;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("--upstream `{url}`: {reason} (expected e.g. http://127.0.0.1:8000 or https://api.example.com)")]
    Upstream { url: String, reason: String },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: cannot create the recording: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: crate::trace::Error,
    },
    #[error("TLS setup for the upstream failed")]
    Tls(#[from] crate::tls::Error),
    #[error("session rule: {0}")]
    Session(#[from] session::Error),
    #[error("redaction rule: {0}")]
    Redact(String),
    #[error("the writer thread could not be started: {0}")]
    Thread(#[source] std::io::Error),
}

/// Everything the proxy needs; build with [`Config::new`] and adjust the public fields.
#[derive(Debug, Clone)]
pub struct Config {
    /// Base URL requests are forwarded to; a path prefix in it is prepended to every path.
    pub upstream: Upstream,
    /// Address to listen on (port 0 picks a free port; see [`Proxy::addr`]).
    pub listen: SocketAddr,
    /// The trace file to create (refused if it exists).
    pub out: PathBuf,
    /// Bytes of each request and response body kept in the recording.
    pub body_cap: usize,
    pub redaction: Redaction,
    pub sessions: session::Rules,
    /// How long in-flight exchanges may take to finish once stopping.
    pub grace: Duration,
    /// Longest wait for the upstream's response head (connect included): then 504.
    pub upstream_timeout: Duration,
    /// Exchanges waiting for the writer; past this they are dropped and counted.
    pub queue: NonZeroUsize,
    /// Proxy threads, each with its own runtime and `SO_REUSEPORT` listener (default: one
    /// per core).
    pub workers: NonZeroUsize,
    /// PEM file of CA certificates trusted for an `https://` upstream, besides the webpki
    /// roots (`--ca-cert`).
    pub ca_cert: Option<PathBuf>,
}

/// Default cap on each captured body.
pub const DEFAULT_BODY_CAP: usize = 1 << 20;
/// Default grace period when stopping.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);
/// Default upstream timeout: LLM turns take seconds to tens of seconds.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(60);
/// Default writer queue length.
pub const DEFAULT_QUEUE: usize = 65_536;

impl Config {
    /// A config with the defaults: listen on 127.0.0.1:8080, 1 MiB body cap, default
    /// redaction and session rules, 10 s grace, 60 s upstream timeout.
    pub fn new(upstream: &str, out: PathBuf) -> Result<Config, Error> {
        Ok(Config {
            upstream: Upstream::parse(upstream)?,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            out,
            body_cap: DEFAULT_BODY_CAP,
            redaction: Redaction::default(),
            sessions: session::Rules::default(),
            grace: DEFAULT_GRACE,
            upstream_timeout: DEFAULT_UPSTREAM_TIMEOUT,
            queue: NonZeroUsize::new(DEFAULT_QUEUE).expect("non-zero"),
            workers: std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN),
            ca_cert: None,
        })
    }
}

/// A parsed upstream base URL: `http` or `https`, an authority, an optional path prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub scheme: http::uri::Scheme,
    pub authority: http::uri::Authority,
    /// Path prefix without a trailing `/` (empty for none).
    pub prefix: String,
    text: String,
}

impl Upstream {
    pub fn parse(url: &str) -> Result<Upstream, Error> {
        let bad = |reason: &str| Error::Upstream {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let uri: http::Uri = url.parse().map_err(|e| bad(&format!("not a URL ({e})")))?;
        let scheme = uri.scheme().cloned().ok_or_else(|| bad("no scheme"))?;
        if scheme != http::uri::Scheme::HTTP && scheme != http::uri::Scheme::HTTPS {
            return Err(bad("only http:// and https:// are supported"));
        }
        let authority = uri.authority().cloned().ok_or_else(|| bad("no host"))?;
        if uri.query().is_some() {
            return Err(bad("a query string is not allowed in the base URL"));
        }
        let prefix = uri.path().trim_end_matches('/').to_string();
        let text = format!("{scheme}://{authority}{prefix}");
        Ok(Upstream {
            scheme,
            authority,
            prefix,
            text,
        })
    }

    /// The URI for a request path and query received by the proxy.
    pub fn uri_for(&self, path_and_query: &str) -> Result<http::Uri, http::Error> {
        http::Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(format!("{}{}", self.prefix, path_and_query))
            .build()
    }
}

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// What a finished recording holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub path: PathBuf,
    pub sessions: u64,
    pub exchanges: u64,
    pub dropped: u64,
    /// JSON Lines bytes before compression.
    pub raw_bytes: u64,
    /// Bytes of the file.
    pub file_bytes: u64,
    /// Exchanges the writer could not write (I/O errors); they are not in the file.
    pub write_errors: u64,
    pub duration: Duration,
}

impl Summary {
    /// Raw bytes per file byte (0 when nothing was written).
    pub fn compression_ratio(&self) -> f64 {
        if self.file_bytes == 0 {
            0.0
        } else {
            self.raw_bytes as f64 / self.file_bytes as f64
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "recorded {}", self.path.display())?;
        writeln!(f, "  sessions     {}", self.sessions)?;
        writeln!(f, "  exchanges    {}", self.exchanges)?;
        writeln!(f, "  dropped      {}", self.dropped)?;
        if self.write_errors > 0 {
            writeln!(f, "  write errors {}", self.write_errors)?;
        }
        writeln!(
            f,
            "  bytes        {} written ({} raw, compression {:.1}x)",
            self.file_bytes,
            self.raw_bytes,
            self.compression_ratio()
        )?;
        write!(f, "  duration     {:.1}s", self.duration.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls() {
        let u = Upstream::parse("https://api.example.com/v1/").unwrap();
        assert_eq!(u.to_string(), "https://api.example.com/v1");
        assert_eq!(
            u.uri_for("/session/start?x=1").unwrap().to_string(),
            "https://api.example.com/v1/session/start?x=1"
        );
        let u = Upstream::parse("http://127.0.0.1:8000").unwrap();
        assert_eq!(
            u.uri_for("/health").unwrap().to_string(),
            "http://127.0.0.1:8000/health"
        );
        for bad in ["127.0.0.1:8000", "ftp://x", "http://x/?q=1", "not a url"] {
            assert!(Upstream::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn summary_ratio() {
        let mut s = Summary {
            path: "x".into(),
            sessions: 1,
            exchanges: 2,
            dropped: 0,
            raw_bytes: 1000,
            file_bytes: 250,
            write_errors: 0,
            duration: Duration::from_secs(1),
        };
        assert_eq!(s.compression_ratio(), 4.0);
        assert!(s.to_string().contains("compression 4.0x"));
        s.file_bytes = 0;
        assert_eq!(s.compression_ratio(), 0.0);
    }
}
