//! The replay's HTTP/1.1 client against scripted, sometimes hostile, servers.
//!
//! Each test starts a raw `TcpListener` on 127.0.0.1:0 whose replies are written byte by
//! byte from a script (split heads, pauses, early closes, stalls), and asserts on both
//! sides: what the server received (the exact request bytes, how many requests on how many
//! connections) and what `Client::send` returned (status, headers, body, chunk times,
//! failure kind). The client is not `Send`: it runs in the test's own current-thread
//! runtime, the servers in tasks spawned beside it (one on its own thread, one behind
//! TLS). The scripted server and the helpers are in `client_util`.

mod client_util;

use bytes::Bytes;
use client_util::*;
use http::{HeaderName, HeaderValue, Method};
use reprise::replay::client::{Client, ClientConfig, Exchanged};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::time::Instant;

// ---- keep-alive ----------------------------------------------------------------------

#[tokio::test]
async fn three_sends_share_one_keep_alive_connection() {
    let server = Server::start(|_, n, _| vec![ok_reply(&format!("r{n}"))]).await;
    let c = client(&server.base);
    for i in 0..3 {
        let ex = get(&c, &format!("/k{i}")).await;
        let r = ok(&ex);
        assert_eq!(r.status, 200);
        assert_eq!(&r.body[..], format!("r{i}").as_bytes());
        assert!(ex.ttfb.is_some());
    }
    assert_eq!(server.conns(), 1);
    assert_eq!(
        lines(&server),
        vec![
            (0, "GET /k0 HTTP/1.1".to_string()),
            (0, "GET /k1 HTTP/1.1".to_string()),
            (0, "GET /k2 HTTP/1.1".to_string()),
        ]
    );
}

#[tokio::test]
async fn connection_close_is_honoured_even_if_the_server_keeps_the_socket() {
    // the server says `Connection: close` but keeps the socket open and would answer more
    let server = Server::start(|_, _, _| {
        vec![reply(
            "HTTP/1.1 200 OK\r\nConnection: close\r\ncontent-length: 2\r\n\r\n",
            b"ok",
        )]
    })
    .await;
    let c = client(&server.base);
    ok(&get(&c, "/a").await);
    ok(&get(&c, "/b").await);
    assert_eq!(server.conns(), 2);
    assert_eq!(
        lines(&server),
        vec![
            (0, "GET /a HTTP/1.1".to_string()),
            (1, "GET /b HTTP/1.1".to_string())
        ]
    );
}

#[tokio::test]
async fn http_1_0_responses_are_reused_only_with_keep_alive() {
    let server = Server::start(|conn, _, req| {
        let keep = if text(req).starts_with("GET /ka") {
            "Connection: keep-alive\r\n"
        } else {
            ""
        };
        vec![reply(
            &format!("HTTP/1.0 200 OK\r\n{keep}content-length: 2\r\n\r\n"),
            format!("c{conn}").as_bytes(),
        )]
    })
    .await;
    let c = client(&server.base);
    let mut bodies = Vec::new();
    for path in ["/plain1", "/plain2", "/ka1", "/ka2"] {
        bodies.push(text(&ok(&get(&c, path).await).body));
    }
    // plain 1.0: a connection each; 1.0 with keep-alive: reused
    assert_eq!(bodies, ["c0", "c1", "c2", "c2"]);
    assert_eq!(server.conns(), 3);
}

#[tokio::test]
async fn stray_bytes_after_a_response_retire_the_connection() {
    let server = Server::start(|_, _, _| {
        vec![reply(
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n",
            b"okJUNK",
        )]
    })
    .await;
    let c = client(&server.base);
    assert_eq!(&ok(&get(&c, "/a").await).body[..], b"ok");
    assert_eq!(&ok(&get(&c, "/b").await).body[..], b"ok");
    assert_eq!(server.conns(), 2);
}

#[tokio::test]
async fn an_idle_connection_the_server_closed_is_replaced_before_the_send() {
    // the keep-alive race: a response without `Connection: close`, then the server closes
    let server = Server::start(|conn, _, _| vec![ok_reply(&format!("c{conn}")), Step::Close]).await;
    let c = client(&server.base);
    assert_eq!(&ok(&get(&c, "/a").await).body[..], b"c0");
    // wait until the server has closed, without giving the client's runtime a reason to
    // look at the socket (no sleep: only this task yields)
    let start = Instant::now();
    while server.closed() < 1 && start.elapsed() < Duration::from_secs(5) {
        tokio::task::yield_now().await;
    }
    assert_eq!(server.closed(), 1);
    let ex = get(&c, "/b").await;
    assert_eq!(&ok(&ex).body[..], b"c1");
    assert_eq!(server.conns(), 2);
    // `/b` arrived once, on the new connection
    assert_eq!(
        lines(&server),
        vec![
            (0, "GET /a HTTP/1.1".to_string()),
            (1, "GET /b HTTP/1.1".to_string())
        ]
    );
}

#[tokio::test]
async fn a_close_the_clients_runtime_has_not_polled_for_yet_is_still_seen() {
    // The same race with the server on its own thread and the client's thread blocked
    // while the server closes: the client's runtime has not polled its I/O driver since the
    // first response, so only the kernel knows the connection is gone. (A busy worker runs
    // many users between two polls of its driver.)
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (closed_tx, closed_rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let mut got = Vec::new();
        for conn in 0..2 {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut req = Vec::new();
            let mut tmp = [0u8; 4096];
            while !req.ends_with(b"\r\n\r\n") {
                match s.read(&mut tmp) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&tmp[..n]),
                }
            }
            got.push(text(&req));
            s.write_all(format!("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nc{conn}").as_bytes())
                .unwrap();
            if conn == 0 {
                // after the client has read the response (and found the socket drained)
                std::thread::sleep(Duration::from_millis(50));
                s.shutdown(std::net::Shutdown::Both).unwrap();
                drop(s);
                std::thread::sleep(Duration::from_millis(20));
                closed_tx.send(()).unwrap();
            } else {
                // the client must not have sent anything else on this connection
                let n = s.read(&mut tmp).unwrap_or(0);
                assert_eq!(n, 0, "unexpected bytes after the second request");
            }
        }
        got
    });
    let c = client(&base);
    assert_eq!(&ok(&get(&c, "/a").await).body[..], b"c0");
    // blocks this thread (and so its runtime) until the server has closed
    closed_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let ex = get(&c, "/b").await;
    assert_eq!(&ok(&ex).body[..], b"c1");
    drop(c);
    let got = server.join().unwrap();
    assert_eq!(got.len(), 2);
    assert!(got[0].starts_with("GET /a "), "{got:?}");
    assert!(got[1].starts_with("GET /b "), "{got:?}");
}

#[tokio::test]
async fn an_idle_tls_connection_closed_with_close_notify_is_replaced() {
    // A TLS server closing an idle connection sends close_notify before its FIN: the
    // socket then has bytes to read *and* is closed. Bytes alone may be session tickets
    // (no reason to drop the connection); with the close behind them it is gone.
    let dir = tempfile::tempdir().unwrap();
    let (server_config, ca_pem) = tls_server(dir.path());
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = Arc::new(Mutex::new(Log::default()));
    let l = log.clone();
    tokio::spawn(async move {
        for conn in 0..2 {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            // (without it, Nagle holds the response until the close_notify goes too)
            tcp.set_nodelay(true).unwrap();
            let Ok(mut tls) = acceptor.accept(tcp).await else {
                return;
            };
            l.lock().unwrap().conns += 1;
            let mut buf = Vec::new();
            while let Some(req) = read_request(&mut tls, &mut buf).await {
                l.lock().unwrap().requests.push((conn, req));
                let body = format!("c{conn}");
                let res = format!("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{body}");
                tls.write_all(res.as_bytes()).await.unwrap();
                tls.flush().await.unwrap();
                if conn == 0 {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    // close_notify, then FIN
                    let _ = tls.shutdown().await;
                    drop(tls);
                    l.lock().unwrap().closed += 1;
                    break;
                }
            }
        }
    });
    let tls = reprise::tls::client_config(Some(&ca_pem)).unwrap();
    let config = ClientConfig::new(
        &format!("https://localhost:{port}"),
        Duration::from_secs(5),
        &[],
        tls,
    )
    .unwrap();
    let c = Client::new(Arc::new(config));
    assert_eq!(&ok(&get(&c, "/a").await).body[..], b"c0");
    let start = Instant::now();
    while log.lock().unwrap().closed < 1 && start.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let ex = get(&c, "/b").await;
    assert_eq!(&ok(&ex).body[..], b"c1");
    let log = log.lock().unwrap();
    assert_eq!(log.conns, 2);
    let got: Vec<(usize, String)> = log
        .requests
        .iter()
        .map(|(c, r)| (*c, text(r).lines().next().unwrap_or("").to_string()))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, "GET /a HTTP/1.1".to_string()),
            (1, "GET /b HTTP/1.1".to_string())
        ]
    );
}

#[tokio::test]
async fn an_idle_connection_closed_long_ago_is_replaced_too() {
    let server = Server::start(|conn, _, _| vec![ok_reply(&format!("c{conn}")), Step::Close]).await;
    let c = client(&server.base);
    for i in 0..3 {
        let ex = get(&c, &format!("/{i}")).await;
        assert_eq!(ok(&ex).body, format!("c{i}"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.conns(), 3);
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn a_written_request_is_never_resent() {
    // fresh connection: read, then close without a word
    let server = Server::start(|_, _, _| vec![Step::Close]).await;
    let c = client(&server.base);
    let ex = c
        .send(Method::POST, "/once", Vec::new(), Bytes::from_static(b"x"))
        .await;
    assert_eq!(failed(&ex), "io");
    assert!(ex.response.is_none());
    assert!(ex.ttfb.is_none());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.requests().len(), 1);
    assert_eq!(server.conns(), 1);
}

#[tokio::test]
async fn a_request_on_a_reused_connection_is_not_resent_after_a_silent_close() {
    // the first request is answered; the second, on the same connection, is read and the
    // connection closed without an answer: it reached the server, so it must not be resent
    let server = Server::start(|_, n, _| {
        if n == 0 {
            vec![ok_reply("first")]
        } else {
            vec![Step::Close]
        }
    })
    .await;
    let c = client(&server.base);
    ok(&get(&c, "/1").await);
    let ex = get(&c, "/2").await;
    assert_eq!(failed(&ex), "io");
    assert!(ex.response.is_none());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        lines(&server),
        vec![
            (0, "GET /1 HTTP/1.1".to_string()),
            (0, "GET /2 HTTP/1.1".to_string())
        ]
    );
    assert_eq!(server.conns(), 1);
}

// ---- bodies ----------------------------------------------------------------------------

/// Asserts that each chunk was seen no earlier than the server wrote its last byte: the
/// `k`-th write of the server's body pieces (`sizes`) written at `writes[k]`.
#[track_caller]
fn assert_causal(ex: &Exchanged, sizes: &[usize], writes: &[Instant]) {
    let r = ok(ex);
    let mut seen = 0;
    let mut last = Duration::ZERO;
    for &(at, n) in &r.chunks {
        assert!(at >= last, "chunk times go forward: {:?}", r.chunks);
        last = at;
        seen += n;
        // the piece that holds the chunk's last byte was written before the chunk was seen
        let mut cum = 0;
        let piece = sizes
            .iter()
            .position(|s| {
                cum += s;
                cum >= seen
            })
            .unwrap();
        assert!(
            ex.sent + at >= writes[piece],
            "a chunk seen before its bytes were written: {:?}",
            r.chunks
        );
    }
    assert_eq!(seen, sizes.iter().sum::<usize>());
}

#[tokio::test]
async fn a_content_length_body_in_small_delayed_writes_is_recorded_per_arrival() {
    let pieces = ["ab", "cde", "f", "ghij", "k"];
    let server = Server::start(move |_, _, _| {
        let mut steps = vec![write(b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n")];
        for p in pieces {
            steps.push(Step::Pause(60));
            steps.push(write(p.as_bytes()));
        }
        steps
    })
    .await;
    let c = client(&server.base);
    let ex = get(&c, "/slow").await;
    let r = ok(&ex);
    assert_eq!(&r.body[..], b"abcdefghijk");
    // 60 ms apart, the pieces arrive as separate reads (allowing one merge on a busy host)
    assert!(r.chunks.len() >= pieces.len() - 1, "{:?}", r.chunks);
    let writes = server.writes();
    assert_causal(&ex, &pieces.map(str::len), &writes[1..]);
    assert!(r.chunks.last().unwrap().0 >= Duration::from_millis(5 * 60));
    assert!(ex.ttfb.unwrap() < r.chunks[0].0);
    // and the connection is still good
    ok(&get(&c, "/again").await);
    assert_eq!(server.conns(), 1);
}

#[tokio::test]
async fn a_chunked_body_split_at_awkward_places_decodes_and_keeps_the_connection() {
    let wire: [&[u8]; 10] = [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\ntrailer: x-sum\r\n\r\n",
        b"5;name=\"v\"",
        b";x\r\nhel",
        b"lo\r",
        b"\n6\r\n worl",
        b"d\r",
        b"\n1",
        b"0\r\n0123456789abcdef\r\n0",
        b"\r\nx-sum: 1\r",
        b"\n\r\n",
    ];
    let server = Server::start(move |_, n, _| {
        if n > 0 {
            return vec![ok_reply("next")];
        }
        let mut steps = Vec::new();
        for w in wire {
            steps.push(write(w));
            steps.push(Step::Pause(15));
        }
        steps
    })
    .await;
    let c = client(&server.base);
    let ex = get(&c, "/chunked").await;
    let r = ok(&ex);
    assert_eq!(text(&r.body), "hello world0123456789abcdef");
    assert_eq!(r.chunks.iter().map(|c| c.1).sum::<usize>(), r.body.len());
    assert_eq!(r.headers["transfer-encoding"], "chunked");
    // the trailers were consumed exactly: the next response on the connection parses
    assert_eq!(&ok(&get(&c, "/next").await).body[..], b"next");
    assert_eq!(server.conns(), 1);
}

#[tokio::test]
async fn an_sse_stream_records_each_event_when_it_came() {
    let events: Vec<String> = (0..5).map(|i| format!("data: {{\"n\":{i}}}\n\n")).collect();
    let frames: Vec<Vec<u8>> = events
        .iter()
        .map(|e| format!("{:x}\r\n{e}\r\n", e.len()).into_bytes())
        .collect();
    let server = Server::start(move |_, _, _| {
        let mut steps = vec![write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n",
        )];
        for f in &frames {
            steps.push(write(f));
            steps.push(Step::Pause(100));
        }
        steps.push(write(b"0\r\n\r\n"));
        steps
    })
    .await;
    let c = client(&server.base);
    let ex = get(&c, "/stream").await;
    let r = ok(&ex);
    assert_eq!(text(&r.body), events.concat());
    // one entry per event, each no earlier than the server wrote it, 100 ms apart
    assert_eq!(r.chunks.len(), events.len(), "{:?}", r.chunks);
    let writes = server.writes();
    assert_causal(
        &ex,
        &events.iter().map(String::len).collect::<Vec<_>>(),
        &writes[1..6],
    );
    for (k, &(at, n)) in r.chunks.iter().enumerate() {
        assert_eq!(n, events[k].len());
        assert!(
            at >= Duration::from_millis(100 * k as u64),
            "{:?}",
            r.chunks
        );
    }
    // the whole exchange lasted past the last pause (the terminating chunk came after it)
    assert!(ex.done - ex.sent >= Duration::from_millis(500));
    ok(&get(&c, "/after").await);
    assert_eq!(server.conns(), 1);
}

#[tokio::test]
async fn an_eof_delimited_body_is_read_to_the_close_and_not_reused() {
    let server = Server::start(|conn, _, _| {
        vec![
            write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nfirst part, "),
            Step::Pause(30),
            write(format!("then the rest of c{conn}").as_bytes()),
            Step::Pause(30),
            Step::Close,
        ]
    })
    .await;
    let c = client(&server.base);
    let ex = get(&c, "/eof").await;
    assert_eq!(text(&ok(&ex).body), "first part, then the rest of c0");
    assert!(ex.done - ex.sent >= Duration::from_millis(60));
    assert_eq!(
        text(&ok(&get(&c, "/eof").await).body),
        "first part, then the rest of c1"
    );
    assert_eq!(server.conns(), 2);
}

#[tokio::test]
async fn a_one_mib_body_arrives_whole() {
    let body: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    let expected = body.clone();
    let server = Server::start(move |_, n, _| {
        if n > 0 {
            return vec![ok_reply("small")];
        }
        vec![reply(
            &format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len()),
            &body,
        )]
    })
    .await;
    let c = client(&server.base);
    let ex = get(&c, "/big").await;
    let r = ok(&ex);
    assert_eq!(r.body.len(), 1 << 20);
    assert!(r.body[..] == expected[..], "body bytes differ");
    assert_eq!(r.chunks.iter().map(|c| c.1).sum::<usize>(), 1 << 20);
    assert!(r.chunks.len() > 1);
    assert_eq!(&ok(&get(&c, "/small").await).body[..], b"small");
    assert_eq!(server.conns(), 1);
}

#[tokio::test]
async fn head_reads_no_body_and_keeps_the_connection() {
    let server = Server::start(|_, _, req| {
        if text(req).starts_with("HEAD") {
            vec![write(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n")]
        } else {
            vec![ok_reply("got")]
        }
    })
    .await;
    let c = client_with(&server.base, Duration::from_secs(2), &[]);
    let ex = c.send(Method::HEAD, "/h", Vec::new(), Bytes::new()).await;
    let r = ok(&ex);
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-length"], "100000");
    assert!(r.body.is_empty());
    assert!(r.chunks.is_empty());
    assert!(ex.done - ex.sent < Duration::from_secs(1));
    assert_eq!(&ok(&get(&c, "/g").await).body[..], b"got");
    assert_eq!(server.conns(), 1);
    assert_eq!(
        lines(&server),
        vec![
            (0, "HEAD /h HTTP/1.1".to_string()),
            (0, "GET /g HTTP/1.1".to_string())
        ]
    );
}

#[tokio::test]
async fn no_content_and_not_modified_have_no_body() {
    let server = Server::start(|_, n, _| match n {
        0 => vec![write(b"HTTP/1.1 204 No Content\r\n\r\n")],
        1 => vec![write(
            b"HTTP/1.1 304 Not Modified\r\ncontent-length: 50\r\n\r\n",
        )],
        _ => vec![ok_reply("after")],
    })
    .await;
    let c = client_with(&server.base, Duration::from_secs(2), &[]);
    let r = get(&c, "/204").await;
    assert_eq!(ok(&r).status, 204);
    assert!(ok(&r).body.is_empty());
    let r = get(&c, "/304").await;
    assert_eq!(ok(&r).status, 304);
    assert!(ok(&r).body.is_empty());
    assert_eq!(&ok(&get(&c, "/x").await).body[..], b"after");
    assert_eq!(server.conns(), 1);
}

#[tokio::test]
async fn interim_100_continue_responses_are_skipped() {
    let server = Server::start(|_, _, _| {
        vec![
            write(b"HTTP/1.1 100 Continue\r\n\r\n"),
            Step::Pause(20),
            write(b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\nHTTP/1.1 201 Cre"),
            Step::Pause(20),
            write(b"ated\r\nx-id: 7\r\ncontent-length: 4\r\n\r\ndone"),
        ]
    })
    .await;
    let c = client(&server.base);
    let ex = c
        .send(Method::POST, "/c", Vec::new(), Bytes::from_static(b"{}"))
        .await;
    let r = ok(&ex);
    assert_eq!(r.status, 201);
    assert_eq!(r.headers["x-id"], "7");
    assert!(
        r.headers.get("link").is_none(),
        "interim headers are not the response's"
    );
    assert_eq!(&r.body[..], b"done");
    ok(&get(&c, "/again").await);
    assert_eq!(server.conns(), 1);
}

#[tokio::test]
async fn a_head_written_byte_by_byte_parses() {
    let head = b"HTTP/1.1 200 OK\r\nx-slow: yes\r\ncontent-length: 5\r\n\r\nslow!";
    let server = Server::start(move |_, _, _| {
        head.iter()
            .flat_map(|&b| [Step::Write(vec![b]), Step::Pause(1)])
            .collect()
    })
    .await;
    let c = client(&server.base);
    let ex = get(&c, "/b").await;
    let r = ok(&ex);
    assert_eq!(r.headers["x-slow"], "yes");
    assert_eq!(&r.body[..], b"slow!");
    ok(&get(&c, "/b").await);
    assert_eq!(server.conns(), 1);
}

#[tokio::test]
async fn a_head_with_hundreds_of_headers_is_accepted() {
    let mut head = String::from("HTTP/1.1 200 OK\r\n");
    for i in 0..300 {
        head.push_str(&format!("x-h{i}: {i}\r\n"));
    }
    head.push_str("content-length: 2\r\n\r\nok");
    let server = Server::start(move |_, _, _| vec![write(head.as_bytes())]).await;
    let c = client(&server.base);
    let ex = get(&c, "/many").await;
    let r = ok(&ex);
    assert_eq!(r.headers.len(), 301);
    assert_eq!(r.headers["x-h299"], "299");
    assert_eq!(&r.body[..], b"ok");
}

// ---- errors ----------------------------------------------------------------------------

#[tokio::test]
async fn a_malformed_head_is_a_protocol_failure() {
    for bad in [
        &b"HTTP/1.1 2OO OK\r\n\r\n"[..],
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nbad header line\r\n\r\n",
    ] {
        let server = Server::start(move |_, _, _| vec![write(bad)]).await;
        let c = client_with(&server.base, Duration::from_secs(2), &[]);
        let ex = get(&c, "/").await;
        assert_eq!(failed(&ex), "protocol", "{}", text(bad));
        assert!(
            ex.failure.as_ref().unwrap().detail.contains("malformed"),
            "{:?}",
            ex.failure
        );
        assert!(ex.response.is_none());
        assert_eq!(server.requests().len(), 1);
    }
}

#[tokio::test]
async fn a_bad_content_length_is_a_protocol_failure() {
    for cl in ["12x", "-1", "1, 2", ""] {
        let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {cl}\r\n\r\nhello world!");
        let server = Server::start(move |_, _, _| vec![write(head.as_bytes())]).await;
        let c = client_with(&server.base, Duration::from_secs(2), &[]);
        let ex = get(&c, "/").await;
        assert_eq!(failed(&ex), "protocol", "content-length {cl:?}");
        assert!(ex.response.is_none());
    }
}

#[tokio::test]
async fn a_head_over_64_kib_is_refused() {
    // 100 KiB of headers, in one write and in 4 KiB pieces
    let mut head = String::from("HTTP/1.1 200 OK\r\n");
    while head.len() < 100 * 1024 {
        head.push_str(&format!("x-pad-{}: {}\r\n", head.len(), "a".repeat(200)));
    }
    head.push_str("content-length: 0\r\n\r\n");
    for piece in [head.len(), 4096] {
        let head = head.clone();
        let server = Server::start(move |_, _, _| {
            head.as_bytes()
                .chunks(piece)
                .map(|p| Step::Write(p.to_vec()))
                .collect()
        })
        .await;
        let c = client_with(&server.base, Duration::from_secs(3), &[]);
        let ex = get(&c, "/").await;
        assert_eq!(failed(&ex), "protocol", "pieces of {piece}");
        assert!(
            ex.failure.as_ref().unwrap().detail.contains("too large"),
            "{:?}",
            ex.failure
        );
        assert!(ex.response.is_none());
    }
}

#[tokio::test]
async fn a_stalled_server_times_out_within_the_timeout() {
    let timeout = Duration::from_millis(300);
    // stalls before the head, and in the middle of the body
    let server = Server::start(|_, _, req| {
        if text(req).starts_with("GET /head") {
            vec![Step::Hang]
        } else {
            vec![
                write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc"),
                Step::Hang,
            ]
        }
    })
    .await;
    let c = client_with(&server.base, timeout, &[]);
    for path in ["/head", "/body"] {
        let ex = get(&c, path).await;
        assert_eq!(failed(&ex), "timeout", "{path}");
        let took = ex.done - ex.sent;
        assert!(took >= timeout, "{path}: {took:?}");
        assert!(took < timeout + Duration::from_secs(2), "{path}: {took:?}");
        if path == "/head" {
            assert!(ex.response.is_none());
            assert!(ex.ttfb.is_none());
        } else {
            // what came before the stall is kept
            let r = ex.response.as_ref().expect("the partial response");
            assert_eq!(r.status, 200);
            assert_eq!(&r.body[..], b"abc");
            assert_eq!(r.chunks.len(), 1);
            assert!(ex.ttfb.is_some());
        }
    }
    // a timed-out connection is not reused
    assert_eq!(server.conns(), 2);
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_failure() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let c = client_with(&base, Duration::from_secs(2), &[]);
    let ex = get(&c, "/").await;
    assert_eq!(failed(&ex), "connect");
    assert!(ex.response.is_none());
    assert!(ex.ttfb.is_none());
}

#[tokio::test]
async fn a_body_cut_short_is_an_io_failure_that_keeps_the_partial_body() {
    let server = Server::start(|_, _, req| {
        if text(req).starts_with("GET /len") {
            vec![
                write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\nx-a: 1\r\n\r\nabcd"),
                Step::Pause(20),
                Step::Close,
            ]
        } else {
            vec![
                write(b"HTTP/1.1 502 Bad Gateway\r\ntransfer-encoding: chunked\r\n\r\n3\r\nxyz\r\n4\r\nuv"),
                Step::Pause(20),
                Step::Close,
            ]
        }
    })
    .await;
    let c = client_with(&server.base, Duration::from_secs(2), &[]);
    let ex = get(&c, "/len").await;
    assert_eq!(failed(&ex), "io");
    let r = ex.response.as_ref().expect("the partial response");
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["x-a"], "1");
    assert_eq!(&r.body[..], b"abcd");
    assert!(ex.ttfb.is_some());

    let ex = get(&c, "/chunked").await;
    assert_eq!(failed(&ex), "io");
    let r = ex.response.as_ref().expect("the partial response");
    assert_eq!(r.status, 502);
    assert_eq!(&r.body[..], b"xyzuv");
    assert_eq!(server.conns(), 2);
}

#[tokio::test]
async fn an_endless_chunk_size_or_trailer_line_is_refused_not_buffered() {
    // a chunk extension, or a trailer, that never ends: the client must give up on the
    // framing, not buffer it until the timeout
    for start in [&b"5;x="[..], b"2\r\nok\r\n0\r\nx-trailer: "] {
        let server = Server::start(move |_, _, _| {
            let mut steps = vec![
                write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"),
                write(start),
            ];
            for _ in 0..64 {
                steps.push(Step::Write(vec![b'a'; 4096]));
            }
            steps.push(Step::Hang);
            steps
        })
        .await;
        let c = client_with(&server.base, Duration::from_secs(3), &[]);
        let ex = get(&c, "/").await;
        assert_eq!(failed(&ex), "protocol", "{:?}", ex.failure);
        assert!(ex.done - ex.sent < Duration::from_secs(2));
        let r = ex.response.as_ref().expect("the partial response");
        assert_eq!(r.status, 200);
        assert_eq!(text(&r.body), if start[0] == b'2' { "ok" } else { "" });
    }
}

// ---- the request side ------------------------------------------------------------------

#[tokio::test]
async fn requests_are_written_exactly() {
    let server = Server::start(|_, _, _| vec![ok_reply("")]).await;
    let authority = server.base.trim_start_matches("http://").to_string();
    let c = client(&server.base);
    let rec = |n: &str, v: &str| {
        (
            HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        )
    };
    ok(&c
        .send(Method::POST, "/empty", Vec::new(), Bytes::new())
        .await);
    ok(&get(&c, "/q?a=1&b=%20").await);
    ok(&c
        .send(
            Method::PUT,
            "/small",
            vec![rec("Content-Type", "application/json")],
            Bytes::from_static(b"{\"a\":1}"),
        )
        .await);
    ok(&c.send(Method::DELETE, "", Vec::new(), Bytes::new()).await);
    let got: Vec<String> = server.requests().iter().map(|(_, r)| text(r)).collect();
    assert_eq!(
        got,
        vec![
            format!("POST /empty HTTP/1.1\r\nhost: {authority}\r\ncontent-length: 0\r\n\r\n"),
            format!("GET /q?a=1&b=%20 HTTP/1.1\r\nhost: {authority}\r\n\r\n"),
            format!(
                "PUT /small HTTP/1.1\r\nhost: {authority}\r\ncontent-type: application/json\r\n\
                 content-length: 7\r\n\r\n{{\"a\":1}}"
            ),
            format!("DELETE / HTTP/1.1\r\nhost: {authority}\r\n\r\n"),
        ]
    );
    assert_eq!(server.conns(), 1);
}

#[tokio::test]
async fn a_large_request_body_arrives_intact() {
    let server = Server::start(|_, _, req| vec![ok_reply(&req.len().to_string())]).await;
    let c = client(&server.base);
    for size in [16 * 1024, 16 * 1024 + 1, 300 * 1024] {
        let body: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
        let ex = c
            .send(
                Method::POST,
                "/upload",
                Vec::new(),
                Bytes::from(body.clone()),
            )
            .await;
        ok(&ex);
        let (_, req) = server.requests().pop().unwrap();
        let head_len = req.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert!(text(&req[..head_len]).contains(&format!("\r\ncontent-length: {size}\r\n")));
        assert_eq!(req.len() - head_len, size);
        assert!(req[head_len..] == body[..], "body of {size} bytes differs");
    }
    assert_eq!(server.requests().len(), 3);
    assert_eq!(server.conns(), 1);
}

#[tokio::test]
async fn run_headers_replace_recorded_ones_of_the_same_name() {
    let server = Server::start(|_, _, _| vec![ok_reply("")]).await;
    let authority = server.base.trim_start_matches("http://").to_string();
    let c = client_with(
        &server.base,
        Duration::from_secs(5),
        &[("Authorization", "Bearer run"), ("X-Run", "1")],
    );
    let recorded = vec![
        (
            HeaderName::from_static("authorization"),
            HeaderValue::from_static("Bearer recorded"),
        ),
        (
            HeaderName::from_static("accept"),
            HeaderValue::from_static("application/json"),
        ),
        (
            HeaderName::from_bytes(b"X-RUN").unwrap(),
            HeaderValue::from_static("recorded"),
        ),
    ];
    ok(&c.send(Method::GET, "/h", recorded, Bytes::new()).await);
    let (_, req) = server.requests().pop().unwrap();
    let req = text(&req);
    let header_lines: Vec<&str> = req
        .split("\r\n")
        .skip(1)
        .filter(|l| !l.is_empty())
        .collect();
    let mut sorted = header_lines.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        vec![
            "accept: application/json",
            "authorization: Bearer run",
            &format!("host: {authority}"),
            "x-run: 1",
        ],
        "{req}"
    );
}

#[tokio::test]
async fn a_run_host_header_replaces_the_targets_authority() {
    let server = Server::start(|_, _, _| vec![ok_reply("")]).await;
    let c = client_with(
        &server.base,
        Duration::from_secs(5),
        &[("Host", "api.example.test")],
    );
    ok(&get(&c, "/vhost").await);
    let (_, req) = server.requests().pop().unwrap();
    assert_eq!(
        text(&req),
        "GET /vhost HTTP/1.1\r\nhost: api.example.test\r\n\r\n"
    );
}

#[tokio::test]
async fn host_is_the_targets_authority() {
    let server = Server::start(|_, _, _| vec![ok_reply("")]).await;
    let port = server.base.rsplit(':').next().unwrap().to_string();
    // a name (resolved once; `localhost` may try ::1 first) and a path that is ignored
    let c = client(&format!("http://localhost:{port}/base/ignored"));
    ok(&get(&c, "/p").await);
    let (_, req) = server.requests().pop().unwrap();
    assert_eq!(
        text(&req),
        format!("GET /p HTTP/1.1\r\nhost: localhost:{port}\r\n\r\n")
    );
}
