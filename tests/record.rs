//! The recording proxy end to end over loopback: pass-through, streaming, faults, stopping,
//! redaction. Assertions are on what the upstream received and what the file holds.

mod record_util;

use record_util::{client, decompressed, read_trace, Stub};
use reprise::record::{Config, Proxy, Redaction};
use reprise::trace;
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

fn config(upstream: &str, dir: &tempfile::TempDir) -> Config {
    let mut c = Config::new(upstream, dir.path().join("rec.trace.zst")).unwrap();
    c.listen = "127.0.0.1:0".parse().unwrap();
    c.grace = Duration::from_secs(5);
    c
}

async fn start(config: Config) -> Proxy {
    Proxy::start(config, CancellationToken::new())
        .await
        .unwrap()
}

#[tokio::test]
async fn exchanges_pass_through_and_are_recorded() {
    let stub = Stub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start(config(&stub.url(), &dir)).await;
    let http = client();
    let body = json!({"thread_id": "t-1", "user_response": "plants make food"});
    let res = http
        .post(format!("{}/session/continue?x=1", proxy.url()))
        .header("x-custom", "kept")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let answer: serde_json::Value = res.json().await.unwrap();
    assert_eq!(answer, json!({"path": "/session/continue", "echo": body}));
    let health = http
        .get(format!("{}/health", proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    health.bytes().await.unwrap();

    // The upstream saw the client's request, Host rewritten, end-to-end headers kept.
    let got = stub.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].method, "POST");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&got[0].body).unwrap(),
        body
    );
    let header = |name: &str| {
        got[0]
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("host"), Some(stub.addr.to_string()));
    assert_eq!(header("x-custom").as_deref(), Some("kept"));

    let summary = proxy.finish().await.unwrap();
    assert_eq!(
        (summary.exchanges, summary.sessions, summary.dropped),
        (2, 1, 0)
    );
    let (ex, integrity) = read_trace(&summary.path);
    assert_eq!(
        integrity.footer,
        Some(trace::Footer {
            exchanges: 2,
            sessions: 1,
            dropped: 0
        })
    );
    let cont = ex
        .iter()
        .find(|e| e.req.path == "/session/continue")
        .unwrap();
    assert_eq!(cont.session.as_deref(), Some("t-1"));
    assert_eq!(cont.req.query.as_deref(), Some("x=1"));
    assert_eq!(cont.req.body.json(), Some(&body));
    let res = cont.res.as_ref().unwrap();
    assert_eq!(res.status, 200);
    assert_eq!(res.body.json(), Some(&answer));
    assert!(
        res.chunks.is_empty(),
        "a Content-Length body is not a stream"
    );
    assert!(cont.ttfb_us.unwrap() <= cont.done_us);
    let h = ex.iter().find(|e| e.req.path == "/health").unwrap();
    assert_eq!(h.session, None);
    assert_ne!(cont.id, h.id);
    assert!(summary.file_bytes > 0 && summary.compression_ratio() > 0.0);
}

#[tokio::test]
async fn sse_events_reach_the_client_one_by_one_and_offsets_are_kept() {
    let stub = Stub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start(config(&stub.url(), &dir)).await;
    let sent = Instant::now();
    let mut res = client()
        .get(format!("{}/sse", proxy.url()))
        .send()
        .await
        .unwrap();
    let mut arrivals = Vec::new();
    let mut text = String::new();
    while let Some(chunk) = res.chunk().await.unwrap() {
        arrivals.push(sent.elapsed());
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert_eq!(text.matches("data: ").count(), 5, "{text}");
    // The 5th event is produced at ~800 ms: the first must arrive long before it.
    assert!(
        arrivals[0] < Duration::from_millis(500),
        "first event at {:?}",
        arrivals[0]
    );
    assert!(
        *arrivals.last().unwrap() >= Duration::from_millis(700),
        "{arrivals:?}"
    );

    let summary = proxy.finish().await.unwrap();
    let (ex, _) = read_trace(&summary.path);
    let res = ex[0].res.as_ref().unwrap();
    assert_eq!(res.chunks.len(), 5, "{:?}", res.chunks);
    let offsets: Vec<u64> = res.chunks.iter().map(|c| c.0).collect();
    for pair in offsets.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            (100_000..600_000).contains(&gap),
            "gap {gap} µs in {offsets:?}"
        );
    }
    assert_eq!(res.chunks.iter().map(|c| c.1).sum::<u64>(), res.body.len);
    assert_eq!(res.body.to_bytes(), text.as_bytes());
}

#[tokio::test]
async fn redaction_keeps_secrets_out_of_the_file() {
    let stub = Stub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&stub.url(), &dir);
    c.redaction = Redaction::default()
        .json_pointer("/student/password")
        .unwrap();
    let proxy = start(c).await;
    let res = client()
        .post(format!("{}/session/start", proxy.url()))
        .header("authorization", "Bearer sk-live-AUTHSECRET")
        .header("cookie", "sid=COOKIESECRET")
        .json(&json!({"student": {"name": "ana", "password": "PWSECRET"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.bytes().await.unwrap();
    // The secrets still reach the upstream: redaction is for the file only.
    let got = stub.received();
    assert!(got[0]
        .headers
        .iter()
        .any(|(k, v)| k == "authorization" && v.contains("AUTHSECRET")));
    let summary = proxy.finish().await.unwrap();
    let text = decompressed(&summary.path);
    for secret in [
        "AUTHSECRET",
        "COOKIESECRET",
        "PWSECRET",
        "upstream-secret-cookie",
    ] {
        assert!(!text.contains(secret), "{secret} leaked into the recording");
    }
    assert!(text.contains(trace::REDACTED));
    let (ex, _) = read_trace(&summary.path);
    let req = ex[0].req.body.json().unwrap();
    assert_eq!(
        req["student"],
        json!({"name": "ana", "password": trace::REDACTED})
    );
    // The upstream echoed the password at another pointer: scrubbed there too.
    let res = ex[0].res.as_ref().unwrap().body.json().unwrap();
    assert_eq!(res["echo"]["student"]["password"], trace::REDACTED);
    assert_eq!(res["echo"]["student"]["name"], "ana");
}

#[tokio::test]
async fn upstream_down_at_start_gives_502_then_recovers() {
    // Reserve a port, free it: nothing listens there yet.
    let stub = Stub::start().await;
    let addr = stub.addr;
    stub.kill().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start(config(&format!("http://{addr}"), &dir)).await;
    let http = client();
    let res = http
        .get(format!("{}/health", proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 502);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["upstream"], format!("http://{addr}"));
    assert_eq!(body["kind"], "connect");

    let stub = Stub::start_on(addr).await;
    let res = http
        .get(format!("{}/health", proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.bytes().await.unwrap();
    assert_eq!(stub.received().len(), 1);

    let summary = proxy.finish().await.unwrap();
    let (ex, integrity) = read_trace(&summary.path);
    assert_eq!(integrity.footer.unwrap().exchanges, 2);
    assert_eq!(ex[0].error.as_ref().unwrap().kind, "connect");
    assert!(ex[0].res.is_none() && ex[0].ttfb_us.is_none());
    assert_eq!(ex[1].res.as_ref().unwrap().status, 200);
}

#[tokio::test]
async fn upstream_killed_and_restarted_mid_run() {
    let stub = Stub::start().await;
    let addr = stub.addr;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start(config(&stub.url(), &dir)).await;
    let http = client();
    let get = |i: u32| {
        let http = http.clone();
        let url = format!("{}/session/status/t-{i}", proxy.url());
        async move {
            let res = http.get(url).send().await.unwrap();
            let status = res.status().as_u16();
            res.bytes().await.unwrap();
            status
        }
    };
    for i in 0..5 {
        assert_eq!(get(i).await, 200);
    }
    stub.kill().await;
    let mut during = Vec::new();
    for i in 5..10 {
        during.push(get(i).await);
    }
    assert!(during.iter().all(|s| *s == 502), "{during:?}");
    let stub = Stub::start_on(addr).await;
    for i in 10..15 {
        assert_eq!(get(i).await, 200, "traffic flows again after the restart");
    }
    assert_eq!(stub.received().len(), 5);

    let summary = proxy.finish().await.unwrap();
    let (ex, integrity) = read_trace(&summary.path);
    assert_eq!(integrity.footer.unwrap().exchanges, 15);
    let failed: Vec<_> = ex
        .iter()
        .filter(|e| e.error.is_some())
        .map(|e| e.req.path.clone())
        .collect();
    assert_eq!(failed.len(), 5, "{failed:?}");
    for i in 5..10 {
        assert!(failed.contains(&format!("/session/status/t-{i}")));
    }
    // Status paths key their session even when the upstream was down.
    assert_eq!(summary.sessions, 15);
}

#[tokio::test]
async fn upstream_timeout_gives_504() {
    let stub = Stub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&stub.url(), &dir);
    c.upstream_timeout = Duration::from_millis(300);
    let proxy = start(c).await;
    let res = client()
        .get(format!("{}/slow", proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 504);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["kind"], "timeout");
    let summary = proxy.finish().await.unwrap();
    let (ex, _) = read_trace(&summary.path);
    assert_eq!(ex[0].error.as_ref().unwrap().kind, "timeout");
}

#[tokio::test]
async fn client_disconnect_mid_response_is_recorded() {
    let stub = Stub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start(config(&stub.url(), &dir)).await;
    let mut res = client()
        .get(format!("{}/drip", proxy.url()))
        .send()
        .await
        .unwrap();
    res.chunk().await.unwrap().unwrap();
    drop(res); // hang up after the first chunk of 20
    tokio::time::sleep(Duration::from_millis(400)).await;
    let ok = client()
        .get(format!("{}/health", proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "the proxy keeps serving");
    ok.bytes().await.unwrap();
    let summary = proxy.finish().await.unwrap();
    let (ex, _) = read_trace(&summary.path);
    let drip = ex.iter().find(|e| e.req.path == "/drip").unwrap();
    assert_eq!(drip.error.as_ref().unwrap().kind, "client_disconnect");
    let res = drip.res.as_ref().unwrap();
    assert!(
        res.body.len < 20 * 8,
        "only part of the body passed: {}",
        res.body.len
    );
}

#[tokio::test]
async fn malformed_http_gets_400_and_harms_nothing_else() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stub = Stub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start(config(&stub.url(), &dir)).await;
    let http = client();
    // A request on a keep-alive connection is in flight while garbage arrives elsewhere.
    let slow_ok = {
        let url = format!("{}/drip", proxy.url());
        let http = http.clone();
        tokio::spawn(async move { http.get(url).send().await.unwrap().bytes().await.unwrap() })
    };
    let mut sock = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    sock.write_all(b"THIS IS NOT\x01 HTTP\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), sock.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(
        slow_ok.await.unwrap().len(),
        (0..20).map(|i| format!("chunk {i}\n").len()).sum::<usize>()
    );
    let res = http
        .get(format!("{}/health", proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.bytes().await.unwrap();
    let summary = proxy.finish().await.unwrap();
    assert_eq!(summary.exchanges, 2, "the garbage is no exchange");
    assert_eq!(stub.received().len(), 2);
}

#[tokio::test]
async fn bodies_past_the_cap_pass_whole_and_are_stored_truncated() {
    let stub = Stub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&stub.url(), &dir);
    c.body_cap = 1000;
    let proxy = start(c).await;
    let res = client()
        .get(format!("{}/big", proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.bytes().await.unwrap().len(), 300 * 1024);
    let summary = proxy.finish().await.unwrap();
    let (ex, _) = read_trace(&summary.path);
    let body = &ex[0].res.as_ref().unwrap().body;
    assert!(body.truncated);
    assert_eq!(body.len, 300 * 1024);
    assert_eq!(body.to_bytes().len(), 1000);
}

#[tokio::test]
async fn an_existing_file_is_refused_and_a_busy_port_named() {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("rec.trace.zst");
    std::fs::write(&path, b"keep me").unwrap();
    let c = config("http://127.0.0.1:9", &dir);
    let err = Proxy::start(c, CancellationToken::new())
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("rec.trace.zst"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
}

/// The real binary as a child process, and the proxy URL it printed.
struct Recorder {
    child: std::process::Child,
    url: String,
    stderr: std::sync::mpsc::Receiver<String>,
}

fn spawn_recorder(upstream: &str, out: &std::path::Path) -> Recorder {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_reprise"))
        .args([
            "record",
            "--upstream",
            upstream,
            "--listen",
            "127.0.0.1:0",
            "--grace",
            "5s",
        ])
        .args(["--status-every", "1s", "--out"])
        .arg(out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the recorder starts");
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_string();
    Recorder {
        child,
        url,
        stderr: rx,
    }
}

fn signal(child: &std::process::Child, sig: i32) {
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

#[tokio::test]
async fn sigkill_loses_at_most_the_last_second() {
    let stub = Stub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("killed.trace.zst");
    let mut rec = spawn_recorder(&stub.url(), &out);
    let http = client();
    let started = Instant::now();
    let mut completed = Vec::new();
    let mut i = 0u64;
    while started.elapsed() < Duration::from_millis(2500) {
        let body =
            json!({"thread_id": format!("t-{}", i % 5), "user_response": format!("answer {i}")});
        let res = http
            .post(format!("{}/session/continue", rec.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.bytes().await.unwrap();
        completed.push(started.elapsed());
        i += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    signal(&rec.child, libc::SIGKILL);
    let killed_at = started.elapsed();
    rec.child.wait().unwrap();

    let (ex, integrity) = read_trace(&out);
    assert!(
        integrity.footer.is_none(),
        "a killed recorder writes no footer"
    );
    let safe = completed
        .iter()
        .filter(|t| **t + Duration::from_secs(1) < killed_at)
        .count();
    assert!(
        ex.len() >= safe,
        "recovered {} of {} completed ≥1 s before the kill",
        ex.len(),
        safe
    );
    assert!(ex.len() <= completed.len());
    // What was recovered is exactly what the students sent, in order.
    for (n, e) in ex.iter().enumerate() {
        assert_eq!(
            e.req.body.json().unwrap()["user_response"],
            format!("answer {n}")
        );
        assert_eq!(e.session.as_deref(), Some(format!("t-{}", n % 5).as_str()));
    }
}

#[tokio::test]
async fn sigint_drains_in_flight_writes_the_footer_and_counts_match() {
    let stub = Stub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stopped.trace.zst");
    let rec = spawn_recorder(&stub.url(), &out);
    let http = client();
    let mut tasks = Vec::new();
    for w in 0..3 {
        let (http, url) = (http.clone(), rec.url.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                let body = json!({"thread_id": format!("w{w}"), "user_response": i});
                let res = http
                    .post(format!("{url}/session/continue"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                res.bytes().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // A 2-second stream is in flight when SIGINT arrives: the grace period lets it finish.
    let drip = {
        let url = format!("{}/drip", rec.url);
        let http = http.clone();
        tokio::spawn(async move { http.get(url).send().await.unwrap().bytes().await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(1200)).await;
    signal(&rec.child, libc::SIGINT);
    let drip = drip.await.unwrap();
    assert_eq!(
        drip.len(),
        (0..20).map(|i| format!("chunk {i}\n").len()).sum::<usize>()
    );
    let output = tokio::task::spawn_blocking(move || rec.child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("exchanges    31"), "{stdout}");
    assert!(stdout.contains("compression"), "{stdout}");
    let status_lines: Vec<String> = rec.stderr.try_iter().collect();
    assert!(
        status_lines.iter().any(|l| l.starts_with("recording: ")),
        "{status_lines:?}"
    );

    let (ex, integrity) = read_trace(&out);
    let received = stub.received().len() as u64;
    assert_eq!(received, 31);
    assert_eq!(
        integrity.footer,
        Some(trace::Footer {
            exchanges: received,
            sessions: 3,
            dropped: 0
        })
    );
    assert_eq!(ex.len() as u64, received);
    assert!(
        ex.iter().all(|e| e.error.is_none()),
        "nothing was cut short"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

/// The endpoint of a recorded exchange, in the mock's terms.
fn endpoint(e: &trace::Exchange) -> &'static str {
    match (e.req.method.as_str(), e.req.path.as_str()) {
        ("POST", "/session/start") => "start",
        ("POST", "/session/continue") => "continue",
        ("POST", "/session/continue/stream") => "stream",
        ("GET", p) if p.starts_with("/session/status/") => "status",
        ("GET", "/health") => "health",
        _ => "other",
    }
}

#[tokio::test]
async fn fifty_student_sessions_recorded_exactly_as_the_mock_saw_them() {
    use reprise::mock::{self, students};
    use std::collections::{BTreeMap, HashMap, HashSet};
    let mock_config = mock::Config::default().request_log(true).stream(
        Duration::from_millis(5),
        Duration::from_millis(5),
        3,
    );
    let mock = mock::Server::start("127.0.0.1:0".parse().unwrap(), mock_config)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let proxy = start(config(&mock.url(), &dir)).await;
    let students = students::Config::new(proxy.url())
        .sessions(50)
        .concurrency(10)
        .seed(7)
        .think(Duration::from_millis(1), Duration::from_millis(15))
        .stream_share(0.2);
    let report = students::run(&students).await.unwrap();
    assert_eq!(report.failed, 0, "{:?}", report.failures);
    let summary = proxy.finish().await.unwrap();
    let counts = mock.counters();
    let (ex, integrity) = read_trace(&summary.path);

    // Exactly as many exchanges per endpoint as the mock counted; nothing dropped.
    let mut recorded: BTreeMap<&str, u64> = BTreeMap::new();
    for e in &ex {
        *recorded.entry(endpoint(e)).or_default() += 1;
    }
    let expected: BTreeMap<&str, u64> = [
        ("start", counts.start),
        ("continue", counts.continue_),
        ("stream", counts.stream),
        ("status", counts.status),
        ("health", counts.health),
        ("other", counts.other),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .collect();
    assert_eq!(recorded, expected);
    assert!(counts.stream > 0 && counts.status > 0, "{counts:?}");
    assert_eq!(summary.dropped, 0);
    assert_eq!(
        integrity.footer,
        Some(trace::Footer {
            exchanges: counts.requests(),
            sessions: 50,
            dropped: 0
        })
    );

    // Every request body equals what the mock received (as a multiset of requests).
    let key = |method: &str, path: &str, body: &[u8]| {
        let json: serde_json::Value =
            serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
        format!("{method} {path} {json}")
    };
    let mut sent: Vec<String> = mock
        .log()
        .entries()
        .iter()
        .map(|l| key(l.method.as_str(), &l.path, &l.body))
        .collect();
    let mut got: Vec<String> = ex
        .iter()
        .map(|e| key(&e.req.method, &e.req.path, &e.req.body.to_bytes()))
        .collect();
    sent.sort();
    got.sort();
    assert_eq!(got, sent);

    // Responses: the ids the mock issued are the ids the students got and the recording
    // keyed; each session's last recorded turn is the mock's final state of it.
    let issued: HashSet<String> = mock
        .log()
        .entries()
        .iter()
        .filter_map(|l| l.issued.clone())
        .collect();
    let students_ids: HashSet<String> = report.thread_ids.iter().flatten().cloned().collect();
    let starts: HashSet<String> = ex
        .iter()
        .filter(|e| endpoint(e) == "start")
        .map(|e| {
            e.res.as_ref().unwrap().body.json().unwrap()["thread_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(issued.len(), 50);
    assert_eq!(starts, issued);
    assert_eq!(students_ids, issued);
    let mut last_turn: HashMap<String, u64> = HashMap::new();
    for e in &ex {
        let res = e.res.as_ref().expect("every exchange completed");
        assert_eq!(res.status, 200, "{} {}", e.req.method, e.req.path);
        assert!(e.error.is_none());
        let session = e
            .session
            .clone()
            .expect("every student exchange has a session");
        assert!(issued.contains(&session), "{session} was issued by a start");
        // The session is the id the request names (continue/status) or the id issued (start).
        match endpoint(e) {
            "start" => assert_eq!(res.body.json().unwrap()["thread_id"], session.as_str()),
            "continue" | "stream" => {
                assert_eq!(e.req.body.json().unwrap()["thread_id"], session.as_str())
            }
            "status" => assert!(e.req.path.ends_with(&session)),
            other => panic!("unexpected endpoint {other}"),
        }
        let turn = match endpoint(e) {
            "stream" => {
                assert!(!res.chunks.is_empty(), "SSE chunk timing kept");
                let text = String::from_utf8(res.body.to_bytes()).unwrap();
                let done = students::done_data(&text).expect("a done event");
                serde_json::from_str::<serde_json::Value>(done).unwrap()["turn"].as_u64()
            }
            _ => res.body.json().unwrap()["turn"].as_u64(),
        };
        let t = last_turn.entry(session).or_default();
        *t = (*t).max(turn.unwrap_or(0));
    }
    for (id, turn) in &last_turn {
        let view = mock.session(id).expect("the mock knows the session");
        assert_eq!(*turn, u64::from(view.turn), "session {id}");
    }
    // The students' bearer token never reaches the file.
    assert!(!decompressed(&summary.path).contains("synthetic-student-token"));
}
