//! The target of a run: its URL checked, its addresses resolved once, the fixed header
//! bytes written once, and the TLS config shared by every connection.
//!
//! Made once per run ([`ClientConfig::new`]), so no connection pays a resolver call and no
//! request re-encodes the `Host` header or the run's `--header`s.

use http::{HeaderName, HeaderValue};
use rustls::pki_types::ServerName;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::TlsConnector;

/// What a user's client needs to know, built once per run.
#[derive(Clone)]
pub struct ClientConfig {
    /// Whole-exchange timeout (connect + send + full body).
    pub timeout: Duration,
    /// Names of the run's `--header`s (lower case): recorded headers of these names are
    /// replaced by them.
    pub(super) overrides: Vec<HeaderName>,
    /// `host: <authority>\r\n` (unless a `--header` names `host`) followed by the run's
    /// `--header`s, ready to write.
    pub(super) fixed: Vec<u8>,
    pub(super) addrs: Vec<SocketAddr>,
    /// `Some` for `https://` targets.
    pub(super) tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("timeout", &self.timeout)
            .field("addrs", &self.addrs)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("target `{0}` is not an http:// or https:// URL with a host")]
    Target(String),
    #[error("cannot resolve the target `{target}`: {detail}")]
    Resolve { target: String, detail: String },
}

impl ClientConfig {
    /// `base`: `http://host:port` or `https://…` (a path is ignored); `headers` are added
    /// to every request, replacing recorded ones of the same name.
    pub fn new(
        base: &str,
        timeout: Duration,
        headers: &[(HeaderName, HeaderValue)],
        tls: rustls::ClientConfig,
    ) -> Result<ClientConfig, Error> {
        let bad = || Error::Target(base.to_string());
        let uri: http::Uri = base.parse().map_err(|_| bad())?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(bad()),
        };
        let authority = uri.authority().ok_or_else(bad)?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(bad());
        }
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let addrs: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(|e| Error::Resolve {
                target: base.to_string(),
                detail: e.to_string(),
            })?
            .collect();
        if addrs.is_empty() {
            return Err(Error::Resolve {
                target: base.to_string(),
                detail: "no address".to_string(),
            });
        }
        let tls = if https {
            let name = ServerName::try_from(host.to_string()).map_err(|_| bad())?;
            Some((TlsConnector::from(Arc::new(tls)), name))
        } else {
            None
        };
        let mut fixed = Vec::new();
        // a `--header host: …` (a virtual host behind an address) replaces the authority
        if !headers.iter().any(|(n, _)| n == http::header::HOST) {
            fixed.extend_from_slice(b"host: ");
            fixed.extend_from_slice(authority.as_str().as_bytes());
            fixed.extend_from_slice(b"\r\n");
        }
        for (n, v) in headers {
            put_header(&mut fixed, n, v);
        }
        Ok(ClientConfig {
            timeout,
            overrides: headers.iter().map(|(n, _)| n.clone()).collect(),
            fixed,
            addrs,
            tls,
        })
    }
}

impl ClientConfig {
    /// Every address of the target is a loopback one: it runs on this machine.
    pub fn is_local(&self) -> bool {
        self.addrs.iter().all(|a| a.ip().is_loopback())
    }
}

pub(super) fn put_header(out: &mut Vec<u8>, n: &HeaderName, v: &HeaderValue) {
    out.extend_from_slice(n.as_str().as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(v.as_bytes());
    out.extend_from_slice(b"\r\n");
}
