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
