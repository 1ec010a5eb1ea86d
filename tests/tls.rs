//! `https://` for the record upstream and the replay target, against a local TLS server
//! whose CA is generated here and trusted only through `--ca-cert`.
//!
//! The TLS server is a small terminating relay in front of the plain shipped mock: it
//! accepts TLS on 127.0.0.1:0 with a certificate for `localhost`/127.0.0.1 signed by the
//! test CA and copies the bytes to the mock, so the mock's counters and request log say
//! what really crossed TLS.

mod replay_util;

use clap::Parser;
use replay_util::{mock_with, session, write_trace};
use reprise::cli::{Cli, Command};
use reprise::metrics::Summary;
use reprise::mock::{self, students};
use reprise::record::Proxy;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;
use tokio_util::sync::CancellationToken;

/// A TLS front for `backend`, listening on 127.0.0.1:0.
struct TlsFront {
    port: u16,
    /// Handshakes that failed with an alert or bad TLS (e.g. the client refused our
    /// certificate); a connection closed before any TLS byte is not counted.
    refused: Arc<AtomicU64>,
    /// Connections relayed to the backend after a completed handshake.
    relayed: Arc<AtomicU64>,
}

impl TlsFront {
    fn url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }
}

/// Writes a fresh CA to `dir/ca.pem` and starts a TLS front for `backend` with a
/// certificate for `localhost` and 127.0.0.1 signed by it.
async fn tls_front(backend: SocketAddr, dir: &Path) -> (TlsFront, PathBuf) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "reprise test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let ca_pem = dir.join("ca.pem");
    std::fs::write(&ca_pem, ca.pem()).unwrap();

    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let refused = Arc::new(AtomicU64::new(0));
    let relayed = Arc::new(AtomicU64::new(0));
    let (r, ok) = (refused.clone(), relayed.clone());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, r, ok) = (acceptor.clone(), r.clone(), ok.clone());
            tokio::spawn(async move {
                let mut tls = match acceptor.accept(tcp).await {
                    Ok(tls) => tls,
                    // a bare TCP probe (the replay's reachability check) closes at once
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return,
                    Err(_) => {
                        r.fetch_add(1, Relaxed);
                        return;
                    }
                };
                ok.fetch_add(1, Relaxed);
                if let Ok(mut up) = TcpStream::connect(backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                }
            });
        }
    });
    (
        TlsFront {
            port,
            refused,
            relayed,
        },
        ca_pem,
    )
}

fn read_trace(path: &Path) -> (Vec<reprise::trace::Exchange>, reprise::trace::Integrity) {
    let mut reader = reprise::trace::Reader::open(path).expect("a readable trace");
    let exchanges: Vec<_> = reader.by_ref().map(|e| e.expect("no I/O error")).collect();
    (exchanges, reader.integrity())
}

/// `reprise record` as the command line builds it, started in process on a free port.
async fn record(args: &[&str]) -> Proxy {
    let cli = Cli::try_parse_from(
        ["reprise", "record", "--listen", "127.0.0.1:0"]
            .iter()
            .chain(args),
    )
    .unwrap();
    let Command::Record(args) = cli.command else {
        unreachable!("parsed a record command")
    };
    let config = reprise::cmd::record::config(&args).unwrap();
    Proxy::start(config, CancellationToken::new())
        .await
        .unwrap()
}

#[tokio::test]
async fn record_passes_https_upstream_exchanges_through_and_records_them() {
    let mock = mock_with(mock::Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let (front, ca) = tls_front(mock.addr(), dir.path()).await;
    let out = dir.path().join("rec.trace.zst");
    let proxy = record(&[
        "--upstream",
        &front.url(),
        "--ca-cert",
        ca.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
    .await;

    let students = students::Config::new(proxy.url())
        .sessions(5)
        .concurrency(2)
        .seed(3)
        .think(Duration::from_millis(1), Duration::from_millis(5));
    let report = students::run(&students).await.unwrap();
    assert_eq!(report.failed, 0, "{:?}", report.failures);
    let summary = proxy.finish().await.unwrap();

    let counts = mock.counters();
    assert!(counts.start == 5 && counts.continue_ > 0, "{counts:?}");
    assert!(front.relayed.load(Relaxed) > 0);
    assert_eq!(front.refused.load(Relaxed), 0);
    let (exchanges, integrity) = read_trace(&summary.path);
    assert!(integrity.footer.is_some());
    assert_eq!(exchanges.len() as u64, counts.requests());
    assert_eq!(summary.dropped, 0);
    for e in &exchanges {
        assert_eq!(e.error, None, "{} {}", e.req.method, e.req.path);
        assert_eq!(e.res.as_ref().map(|r| r.status), Some(200));
    }
    // the ids the mock issued over TLS are the ids the recording keyed its sessions by
    let issued: HashSet<String> = mock
        .log()
        .entries()
        .iter()
        .filter_map(|l| l.issued.clone())
        .collect();
    let sessions: HashSet<String> = exchanges.iter().filter_map(|e| e.session.clone()).collect();
    assert_eq!(issued.len(), 5);
    assert_eq!(sessions, issued);
}

#[tokio::test]
async fn record_without_the_ca_answers_502_and_records_the_failure() {
    let mock = mock_with(mock::Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let (front, _ca) = tls_front(mock.addr(), dir.path()).await;
    let out = dir.path().join("rec.trace.zst");
    let proxy = record(&["--upstream", &front.url(), "--out", out.to_str().unwrap()]).await;

    let res = reqwest::get(format!("{}/health", proxy.url()))
        .await
        .unwrap();
    assert_eq!(res.status(), 502);
    let body: serde_json::Value = res.json().await.unwrap();
    let upstream = body["upstream"].as_str().unwrap_or_default();
    assert!(upstream.starts_with(&front.url()), "{body}");
    let message = body["message"].as_str().unwrap_or_default().to_lowercase();
    assert!(message.contains("certificate"), "{body}");
    let summary = proxy.finish().await.unwrap();

    assert_eq!(mock.counters().requests(), 0);
    assert!(front.refused.load(Relaxed) > 0);
    let (exchanges, _) = read_trace(&summary.path);
    assert_eq!(exchanges.len(), 1);
    assert!(exchanges[0].error.is_some(), "{:?}", exchanges[0]);
}

/// Runs the `reprise replay` binary on `trace` with 2 users; its summary and stderr.
async fn replay(trace: &Path, target: &str, ca: Option<&Path>, report: &Path) -> (Summary, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_reprise"));
    cmd.arg("replay")
        .arg(trace)
        .args(["--target", target, "--users", "2", "--timeout", "10s"])
        .arg("--report")
        .arg(report);
    if let Some(ca) = ca {
        cmd.arg("--ca-cert").arg(ca);
    }
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("the replay ends")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    let json = std::fs::read(report.join("summary.json"))
        .unwrap_or_else(|e| panic!("no summary.json ({e}); exit {:?}: {stderr}", out.status));
    (serde_json::from_slice(&json).unwrap(), stderr)
}

/// Two recorded sessions, a start and two continues each.
fn recording(dir: &Path) -> PathBuf {
    let mut ex = session("s1", "rec-thread-1", 1, 0, &[(20, 5), (40, 5)]);
    ex.extend(session("s2", "rec-thread-2", 10, 10, &[(20, 5), (40, 5)]));
    write_trace(dir, &ex)
}

#[tokio::test]
async fn replay_against_an_https_target_with_the_ca_completes_without_failures() {
    let mock = mock_with(mock::Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let (front, ca) = tls_front(mock.addr(), dir.path()).await;
    let trace = recording(dir.path());
    let (summary, stderr) = replay(&trace, &front.url(), Some(&ca), &dir.path().join("r")).await;

    assert_eq!(
        summary.totals.failures, 0,
        "{:?}\n{stderr}",
        summary.failures
    );
    assert_eq!(summary.totals.requests, 6);
    let counts = mock.counters();
    assert_eq!((counts.start, counts.continue_), (2, 4), "{counts:?}");
    assert_eq!(counts.unknown_thread_id, 0);
    assert_eq!(front.refused.load(Relaxed), 0);
    // every continue carried a thread id this mock issued live, never a recorded one
    let log = mock.log().entries();
    let issued: HashSet<String> = log.iter().filter_map(|l| l.issued.clone()).collect();
    assert_eq!(issued.len(), 2);
    let named: Vec<&String> = log.iter().filter_map(|l| l.thread_id.as_ref()).collect();
    assert_eq!(named.len(), 4);
    assert!(
        named.iter().all(|t| issued.contains(*t)),
        "{named:?} vs {issued:?}"
    );
}

#[tokio::test]
async fn replay_without_the_ca_counts_connect_failures() {
    let mock = mock_with(mock::Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let (front, _ca) = tls_front(mock.addr(), dir.path()).await;
    let trace = recording(dir.path());
    let (summary, stderr) = replay(&trace, &front.url(), None, &dir.path().join("r")).await;

    assert_eq!(mock.counters().requests(), 0);
    assert!(front.refused.load(Relaxed) > 0);
    assert!(summary.totals.failures > 0, "{stderr}");
    assert!(!summary.failures.is_empty());
    for f in &summary.failures {
        assert_eq!(f.kind, "connect", "{f:?}");
        assert!(f.detail.to_lowercase().contains("certificate"), "{f:?}");
    }
}

#[tokio::test]
async fn a_bad_ca_file_is_refused_by_record_and_replay_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("not-a-ca.pem");
    std::fs::write(&bad, "hello\n").unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_reprise"))
        .args([
            "record",
            "--upstream",
            "https://localhost:1",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--out")
        .arg(dir.path().join("rec.trace.zst"))
        .arg("--ca-cert")
        .arg(&bad)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("not-a-ca.pem"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!dir.path().join("rec.trace.zst").exists());

    // replay names it before trying the (here unreachable) target
    let trace = recording(dir.path());
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_reprise"))
        .arg("replay")
        .arg(&trace)
        .args(["--target", "https://localhost:1", "--users", "1"])
        .arg("--report")
        .arg(dir.path().join("r"))
        .arg("--ca-cert")
        .arg(&bad)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("not-a-ca.pem"), "{stderr}");
    assert!(!stderr.contains("unreachable"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
