//! An upstream that answers before it has read the request body — a `413` for an upload
//! that is too large, then closes — is answered, not unreachable: the client and the trace
//! get its `413`, never the proxy's `502 upstream unreachable`.

mod record_util;

use record_util::{config, read_trace, start};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ANSWER: &str = r#"{"detail":"payload too large"}"#;

/// A real upstream doing what servers with a body limit do: read the head, answer `413`
/// with `Connection: close`, close the socket with the body unread (the kernel then resets
/// the connection). Counts the request heads it received.
async fn upstream_that_refuses_bodies() -> (String, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let heads = Arc::new(AtomicU64::new(0));
    let counted = heads.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let heads = counted.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                if got.starts_with(b"POST /upload ") {
                    heads.fetch_add(1, Relaxed);
                }
                let answer = format!(
                    "HTTP/1.1 413 Payload Too Large\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{ANSWER}",
                    ANSWER.len()
                );
                let _ = sock.write_all(answer.as_bytes()).await;
                // Dropped with the body unread: the peer gets a reset.
            });
        }
    });
    (format!("http://{addr}"), heads)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_413_reaches_the_client_and_the_trace() {
    let (upstream, heads) = upstream_that_refuses_bodies().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start(config(&upstream, &dir)).await;
    let addr = proxy.addr();
    // A client uploading 16 MiB in 64 KiB writes while it reads the answer on another
    // thread, as curl and browsers do.
    let answer = tokio::task::spawn_blocking(move || {
        let total: usize = 16 << 20;
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut reader = s.try_clone().unwrap();
        let read = std::thread::spawn(move || {
            let mut out = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
                if complete(&out) {
                    break;
                }
            }
            out
        });
        write!(
            s,
            "POST /upload HTTP/1.1\r\nHost: x\r\ncontent-type: application/octet-stream\r\n\
             content-length: {total}\r\n\r\n"
        )
        .unwrap();
        let chunk = vec![b'x'; 64 << 10];
        let mut sent = 0;
        // Stops at the first refused write: a client may give up once it is answered.
        while sent < total && s.write_all(&chunk).is_ok() {
            sent += chunk.len();
        }
        String::from_utf8_lossy(&read.join().unwrap()).into_owned()
    })
    .await
    .unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "the client gets the upstream's answer: {answer}"
    );
    assert!(answer.ends_with(ANSWER), "{answer}");
    assert_eq!(heads.load(Relaxed), 1, "the upstream received the request");

    let summary = proxy.finish().await.unwrap();
    let (ex, _) = read_trace(&summary.path);
    assert_eq!(ex.len(), 1, "{ex:?}");
    let res = ex[0].res.as_ref().expect("a response is recorded");
    assert_eq!(res.status, 413, "{:?}", ex[0].error);
    assert_eq!(ex[0].error, None, "a complete exchange");
    assert_eq!(
        res.body.json(),
        Some(&serde_json::from_str(ANSWER).unwrap())
    );
    assert_eq!(ex[0].req.path, "/upload");
}

/// Whether `out` holds a whole response head and the `content-length` bytes after it.
fn complete(out: &[u8]) -> bool {
    let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&out[..end]).to_ascii_lowercase();
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    out.len() >= end + 4 + len
}
