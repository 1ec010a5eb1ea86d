//! `conn` is unique in a recording whatever the proxy worker that accepted the connection:
//! session-less exchanges are replayed one session per connection, so two connections
//! sharing a number would be merged into one replayed session.

mod record_util;

use record_util::{config, read_trace, start, Stub};
use std::collections::HashSet;
use std::io::{Read, Write};
use std::num::NonZeroUsize;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_of_different_workers_never_share_a_conn() {
    let stub = Stub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&stub.url(), &dir);
    c.workers = NonZeroUsize::new(4).unwrap();
    let proxy = start(c).await;
    let addr = proxy.addr();
    tokio::task::spawn_blocking(move || {
        for i in 0..40 {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            write!(
                s,
                "GET /c{i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut out = Vec::new();
            s.read_to_end(&mut out).unwrap();
            assert!(out.starts_with(b"HTTP/1.1 200"));
        }
    })
    .await
    .unwrap();
    let summary = proxy.finish().await.unwrap();
    let (ex, _) = read_trace(&summary.path);
    assert_eq!(ex.len(), 40);
    let conns: HashSet<u64> = ex.iter().map(|e| e.conn).collect();
    assert_eq!(
        conns.len(),
        40,
        "one conn per connection: {:?}",
        ex.iter().map(|e| e.conn).collect::<Vec<_>>()
    );
}

/// A stream still open when the grace period ends is cut by the recorder: it is recorded
/// as `recorder_stopped`, not as a client that went away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_the_recorder_cuts_is_not_a_client_disconnect() {
    let stub = Stub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&stub.url(), &dir);
    c.grace = std::time::Duration::from_millis(300);
    let proxy = start(c).await;
    let url = format!("{}/drip", proxy.url());
    // 20 chunks 100 ms apart: still streaming when the 300 ms grace ends
    let reading = tokio::spawn(async move {
        let mut r = record_util::client().get(url).send().await.unwrap();
        while let Ok(Some(_)) = r.chunk().await {}
    });
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let summary = proxy.finish().await.unwrap();
    let _ = reading.await;
    let (ex, _) = read_trace(&summary.path);
    assert_eq!(ex.len(), 1);
    let e = ex[0].error.as_ref().expect("cut");
    assert_eq!(e.kind, "recorder_stopped", "{e:?}");
}
