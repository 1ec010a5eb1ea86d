//! Scripted HTTP/1.1 servers and client helpers for `tests/client.rs`.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use reprise::replay::client::{Client, ClientConfig, Exchanged, Response};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_rustls::rustls;

/// One step of a server's reply to a request.
#[derive(Clone)]
pub enum Step {
    /// Write these bytes (one `write_all`, TCP_NODELAY: they leave at once).
    Write(Vec<u8>),
    /// Sleep this many milliseconds.
    Pause(u64),
    /// Close the connection (no more requests are read on it).
    Close,
    /// Hold the connection open without writing or reading, for far longer than any test.
    Hang,
}

pub fn write(bytes: &[u8]) -> Step {
    Step::Write(bytes.to_vec())
}

/// A response head plus body, written in one piece.
pub fn reply(head: &str, body: &[u8]) -> Step {
    let mut v = head.as_bytes().to_vec();
    v.extend_from_slice(body);
    Step::Write(v)
}

pub fn ok_reply(body: &str) -> Step {
    reply(
        &format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len()),
        body.as_bytes(),
    )
}

/// What a scripted server saw.
#[derive(Default)]
pub struct Log {
    /// Connections accepted.
    pub conns: usize,
    /// Every complete request (head and `content-length` body), with its connection.
    pub requests: Vec<(usize, Vec<u8>)>,
    /// When each `Step::Write` finished.
    pub writes: Vec<Instant>,
    /// Connections closed by the script (`Step::Close`).
    pub closed: usize,
}

/// `script(connection, request on that connection, request bytes)` → the reply's steps.
type Script = dyn Fn(usize, usize, &[u8]) -> Vec<Step> + Send + Sync;

pub struct Server {
    pub base: String,
    pub log: Arc<Mutex<Log>>,
}

impl Server {
    pub async fn start(
        script: impl Fn(usize, usize, &[u8]) -> Vec<Step> + Send + Sync + 'static,
    ) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Log::default()));
        let script: Arc<Script> = Arc::new(script);
        let l = log.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let conn = {
                    let mut log = l.lock().unwrap();
                    log.conns += 1;
                    log.conns - 1
                };
                tokio::spawn(serve(stream, conn, script.clone(), l.clone()));
            }
        });
        Server { base, log }
    }

    pub fn conns(&self) -> usize {
        self.log.lock().unwrap().conns
    }

    pub fn requests(&self) -> Vec<(usize, Vec<u8>)> {
        self.log.lock().unwrap().requests.clone()
    }

    pub fn writes(&self) -> Vec<Instant> {
        self.log.lock().unwrap().writes.clone()
    }

    pub fn closed(&self) -> usize {
        self.log.lock().unwrap().closed
    }
}

async fn serve(mut s: TcpStream, conn: usize, script: Arc<Script>, log: Arc<Mutex<Log>>) {
    s.set_nodelay(true).unwrap();
    let mut buf = Vec::new();
    let mut nth = 0;
    while let Some(req) = read_request(&mut s, &mut buf).await {
        log.lock().unwrap().requests.push((conn, req.clone()));
        for step in script(conn, nth, &req) {
            match step {
                Step::Write(b) => {
                    if s.write_all(&b).await.is_err() {
                        return;
                    }
                    log.lock().unwrap().writes.push(Instant::now());
                }
                Step::Pause(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
                Step::Close => {
                    drop(s);
                    log.lock().unwrap().closed += 1;
                    return;
                }
                Step::Hang => {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    return;
                }
            }
        }
        nth += 1;
    }
}

/// Reads one request (head, then as many body bytes as its `content-length` says) from
/// `s`, keeping what follows in `buf`; `None` once the client closed.
pub async fn read_request(
    s: &mut (impl tokio::io::AsyncRead + Unpin),
    buf: &mut Vec<u8>,
) -> Option<Vec<u8>> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head_len = end + 4;
            let body_len = content_length(&buf[..head_len]);
            if buf.len() >= head_len + body_len {
                return Some(buf.drain(..head_len + body_len).collect());
            }
        }
        let mut tmp = [0u8; 16 * 1024];
        match s.read(&mut tmp).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
}

fn content_length(head: &[u8]) -> usize {
    String::from_utf8_lossy(head)
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())
                .flatten()
        })
        .unwrap_or(0)
}

pub fn client_with(base: &str, timeout: Duration, headers: &[(&str, &str)]) -> Client {
    let headers: Vec<(HeaderName, HeaderValue)> = headers
        .iter()
        .map(|(n, v)| {
            (
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            )
        })
        .collect();
    let tls = reprise::tls::client_config(None).unwrap();
    let config = ClientConfig::new(base, timeout, &headers, tls).unwrap();
    Client::new(Arc::new(config))
}

pub fn client(base: &str) -> Client {
    client_with(base, Duration::from_secs(5), &[])
}

pub async fn get(c: &Client, path: &str) -> Exchanged {
    c.send(Method::GET, path, Vec::new(), Bytes::new()).await
}

/// The response of a send that must have succeeded.
#[track_caller]
pub fn ok(ex: &Exchanged) -> &Response {
    assert!(ex.failure.is_none(), "failure: {:?}", ex.failure);
    ex.response.as_ref().expect("a response")
}

/// The failure kind of a send that must have failed.
#[track_caller]
pub fn failed(ex: &Exchanged) -> &'static str {
    ex.failure.as_ref().expect("a failure").kind
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The request line of each request the server received, with its connection.
pub fn lines(server: &Server) -> Vec<(usize, String)> {
    server
        .requests()
        .into_iter()
        .map(|(c, r)| (c, text(&r).lines().next().unwrap_or("").to_string()))
        .collect()
}

/// A rustls server config for `localhost` signed by a fresh CA, whose PEM is written to
/// `dir/ca.pem` (returned) for the client's `--ca-cert`.
pub fn tls_server(dir: &Path) -> (rustls::ServerConfig, PathBuf) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let ca_pem = dir.join("ca.pem");
    std::fs::write(&ca_pem, ca.pem()).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        )
        .unwrap();
    (server_config, ca_pem)
}
