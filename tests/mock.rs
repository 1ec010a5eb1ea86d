//! The mock agent API over loopback: contract (AGENT_API.md), node machine, SSE shape and
//! pacing, misbehaviour knobs counted exactly, request log, keep-alive timeout, shutdown and
//! abort, and the synthetic students end to end.

use reprise::mock::{self, Config, Endpoint, Latency, Misbehave, Node, Server, Share};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn any_port() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn mock(config: Config) -> Server {
    Server::start(any_port(), config)
        .await
        .expect("mock starts")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

async fn post(c: &reqwest::Client, url: String, body: Value) -> (u16, Value, Option<String>) {
    let r = c.post(url).json(&body).send().await.expect("request");
    let code = r.status().as_u16();
    let timing = r
        .headers()
        .get("server-timing")
        .map(|v| v.to_str().unwrap().to_owned());
    let v = r.json::<Value>().await.expect("json body");
    (code, v, timing)
}

async fn get(c: &reqwest::Client, url: String) -> (u16, Value) {
    let r = c.get(url).send().await.expect("request");
    let code = r.status().as_u16();
    (code, r.json::<Value>().await.expect("json body"))
}

async fn start(c: &reqwest::Client, m: &Server) -> String {
    let (code, v, _) = post(
        c,
        format!("{}/session/start", m.url()),
        json!({"student_id": "s-1", "topic": "photosynthesis"}),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    v["thread_id"].as_str().unwrap().to_owned()
}

async fn answer(
    c: &reqwest::Client,
    m: &Server,
    id: &str,
    text: &str,
) -> (u16, Value, Option<String>) {
    post(
        c,
        format!("{}/session/continue", m.url()),
        json!({"thread_id": id, "user_response": text}),
    )
    .await
}

#[tokio::test]
async fn made_up_thread_id_gets_404_on_continue_and_status() {
    let m = mock(Config::default()).await;
    let c = client();
    let made_up = "3f2c1a9e-8c4b-4f1e-9a53-2b7d7c1e0f44";
    let (code, v, _) = answer(&c, &m, made_up, "hello").await;
    assert_eq!((code, v), (404, json!({"detail": "Session not found"})));
    let (code, v) = get(&c, format!("{}/session/status/{made_up}", m.url())).await;
    assert_eq!((code, v), (404, json!({"detail": "Session not found"})));
    let (code, _) = get(&c, format!("{}/session/status/not-a-uuid", m.url())).await;
    assert_eq!(code, 404);
    let n = m.counters();
    assert_eq!(n.unknown_thread_id, 3);
    assert_eq!(n.status_4xx, 3);
    assert_eq!((n.continue_, n.status, n.sessions_started), (1, 2, 0));
}

#[tokio::test]
async fn malformed_bodies_get_fastapi_422() {
    let m = mock(Config::default()).await;
    let c = client();
    let url = format!("{}/session/continue", m.url());
    let (code, v, _) = post(&c, url.clone(), json!({"thread_id": "x"})).await;
    assert_eq!(code, 422);
    assert_eq!(v["detail"][0]["type"], "missing");
    assert_eq!(v["detail"][0]["loc"], json!(["body", "user_response"]));
    let (code, v, _) = post(
        &c,
        url.clone(),
        json!({"thread_id": 5, "user_response": "a"}),
    )
    .await;
    assert_eq!(
        (code, &v["detail"][0]["type"]),
        (422, &json!("string_type"))
    );
    let r = c.post(&url).body("{not json").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["detail"][0]["type"], "json_invalid");
    let (code, _, _) = post(
        &c,
        format!("{}/session/start", m.url()),
        json!({"topic": 3}),
    )
    .await;
    assert_eq!(code, 422);
    // An empty start body is fine (both fields optional).
    let r = c
        .post(format!("{}/session/start", m.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (code, v) = get(&c, format!("{}/nope", m.url())).await;
    assert_eq!((code, v), (404, json!({"detail": "Not Found"})));
    let (code, v) = get(&c, format!("{}/session/start", m.url())).await;
    assert_eq!((code, v), (405, json!({"detail": "Method Not Allowed"})));
    let (code, _) = get(&c, format!("{}/session/status/", m.url())).await;
    assert_eq!(code, 404);
    let n = m.counters();
    assert_eq!(n.other, 3);
    assert_eq!(
        (n.status_4xx, n.unknown_thread_id, n.sessions_started),
        (7, 0, 1)
    );
}

#[tokio::test]
async fn a_session_walks_the_node_path_and_ar_repeats_on_the_marker() {
    let m = mock(Config::default()).await;
    let c = client();
    let (_, h) = get(&c, format!("{}/health", m.url())).await;
    assert_eq!(h, json!({"status": "ok"}));
    let (code, v, timing) = post(&c, format!("{}/session/start", m.url()), json!({})).await;
    assert_eq!(code, 200);
    assert_eq!(
        (v["current_node"].as_str(), v["turn"].as_u64()),
        (Some("APK"), Some(0))
    );
    assert!(timing.unwrap().contains("checkpoint_save;dur="));
    let id = v["thread_id"].as_str().unwrap().to_owned();
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 4);

    let answers = [
        "I know a bit",
        "it is light to sugar",
        "the leaf got darker",
        &format!("my {} is C", mock::INCORRECT_MARKER),
        "B",
        "in solar panels",
        "sugar, from light",
    ];
    let mut seen = Vec::new();
    for (i, a) in answers.iter().enumerate() {
        let (code, v, timing) = answer(&c, &m, &id, a).await;
        assert_eq!(code, 200, "{v}");
        assert_eq!(v["thread_id"], id.as_str());
        assert_eq!(v["turn"].as_u64(), Some(i as u64 + 1));
        let t = timing.expect("server-timing");
        for k in ["llm;dur=", "checkpoint_save;dur=", "checkpoint_load;dur="] {
            assert!(t.contains(k), "{t}");
        }
        let node = v["current_node"].as_str().unwrap().to_owned();
        assert_eq!(v["simulation_triggered"], node == "GE");
        assert_eq!(v["image_url"].is_string(), node == "CI");
        assert_eq!(v["session_complete"], node == "complete");
        seen.push(node);
    }
    assert_eq!(seen, ["CI", "GE", "AR", "AR", "TC", "RLC", "complete"]);
    let (code, s) = get(&c, format!("{}/session/status/{id}", m.url())).await;
    assert_eq!(code, 200);
    assert_eq!(
        s,
        json!({"thread_id": id, "current_node": "complete", "turn": 7, "history_length": 15, "session_complete": true})
    );
    let view = m.session(&id).unwrap();
    assert_eq!(
        (view.node, view.turn, view.requests, view.complete),
        (Node::Complete, 7, 9, true)
    );
    let n = m.counters();
    assert_eq!((n.start, n.continue_, n.status, n.health), (1, 7, 1, 1));
    assert_eq!((n.status_4xx, n.status_5xx, n.unknown_thread_id), (0, 0, 0));
}

#[tokio::test]
async fn fixed_latency_delays_each_turn() {
    let m = mock(Config::default().latency(Latency::Fixed(Duration::from_millis(150)))).await;
    let c = client();
    let id = start(&c, &m).await;
    let t = Instant::now();
    let (code, _, timing) = answer(&c, &m, &id, "hi").await;
    let took = t.elapsed();
    assert_eq!(code, 200);
    assert!(took >= Duration::from_millis(150), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(timing.unwrap().starts_with("llm;dur=150.000"));
}

/// Reads an SSE response as (arrival offset, complete event text) pairs.
async fn read_sse(r: reqwest::Response, t0: Instant) -> Vec<(Duration, String)> {
    use futures_util::StreamExt;
    let mut out = Vec::new();
    let mut buf = String::new();
    let mut s = r.bytes_stream();
    while let Some(chunk) = s.next().await {
        buf.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        while let Some(end) = buf.find("\n\n") {
            out.push((t0.elapsed(), buf[..end].to_owned()));
            buf.drain(..end + 2);
        }
    }
    assert!(buf.is_empty(), "stream ended mid-event: {buf:?}");
    out
}

#[tokio::test]
async fn sse_stream_has_token_events_then_done_at_the_configured_pace() {
    let first = Duration::from_millis(300);
    let gap = Duration::from_millis(100);
    let m = mock(Config::default().stream(first, gap, 4)).await;
    let c = client();
    let id = start(&c, &m).await;
    let t0 = Instant::now();
    let r = c
        .post(format!("{}/session/continue/stream", m.url()))
        .json(&json!({"thread_id": id, "user_response": "I know a bit"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    assert!(r.headers()["server-timing"]
        .to_str()
        .unwrap()
        .starts_with("llm;dur=700.000"));
    let events = read_sse(r, t0).await;
    assert_eq!(events.len(), 5);
    let mut text = String::new();
    for (_, e) in &events[..4] {
        let data = e.strip_prefix("data: ").expect("token event");
        text.push_str(
            serde_json::from_str::<Value>(data).unwrap()["token"]
                .as_str()
                .unwrap(),
        );
    }
    assert_eq!(text, Node::Ci.prompt());
    let done = events[4]
        .1
        .strip_prefix("event: done\ndata: ")
        .expect("done event");
    let state: Value = serde_json::from_str(done).unwrap();
    assert_eq!(
        (state["current_node"].as_str(), state["turn"].as_u64()),
        (Some("CI"), Some(1))
    );
    assert_eq!(state["thread_id"], id.as_str());
    // Pacing: first event near 300 ms, then ~100 ms apart (generous: a busy 2-core box).
    let ttft = events[0].0;
    assert!(
        ttft >= first && ttft < first + Duration::from_millis(250),
        "ttft {ttft:?}"
    );
    for w in events.windows(2) {
        let g = w[1].0 - w[0].0;
        assert!(
            g >= Duration::from_millis(60) && g < Duration::from_millis(300),
            "gap {g:?}"
        );
    }
    assert_eq!(m.counters().stream, 1);
    assert_eq!(m.session(&id).unwrap().turn, 1);
}

#[tokio::test]
async fn request_log_records_what_arrived_in_order() {
    let m = mock(Config::default().request_log(true)).await;
    let c = client();
    let id = start(&c, &m).await;
    answer(&c, &m, &id, "first").await;
    get(&c, format!("{}/session/status/{id}", m.url())).await;
    answer(&c, &m, &id, "second").await;
    let log = m.log().entries();
    let eps: Vec<Endpoint> = log.iter().map(|e| e.endpoint).collect();
    assert_eq!(
        eps,
        [
            Endpoint::Start,
            Endpoint::Continue,
            Endpoint::Status,
            Endpoint::Continue
        ]
    );
    assert_eq!(log[0].thread_id, None);
    assert!(log[1..]
        .iter()
        .all(|e| e.thread_id.as_deref() == Some(id.as_str())));
    let body: Value = serde_json::from_slice(&log[3].body).unwrap();
    assert_eq!(body["user_response"], "second");
    assert_eq!(log[2].path, format!("/session/status/{id}"));
    assert!(log
        .windows(2)
        .all(|w| w[0].at <= w[1].at && w[0].seq < w[1].seq));
    assert!(log.iter().all(|e| e.status == 200));
    assert_eq!(m.log().drain().len(), 4);
    assert!(m.log().entries().is_empty());
    // Off by default.
    let quiet = mock(Config::default()).await;
    start(&c, &quiet).await;
    assert!(quiet.log().entries().is_empty());
}

/// Sends raw HTTP/1.1 on one socket; returns the socket after reading one full response.
async fn raw_request(s: &mut tokio::net::TcpStream, req: &str) -> String {
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let mut got = String::new();
    loop {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before a full response");
        got.push_str(std::str::from_utf8(&buf[..n]).unwrap());
        if let Some(h) = got.find("\r\n\r\n") {
            let len: usize = got[..h]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap();
            if got.len() >= h + 4 + len {
                return got;
            }
        }
    }
}

#[tokio::test]
async fn keep_alive_connection_is_reused_then_closed_after_idle_timeout() {
    let m = mock(Config::default().keep_alive_timeout(Duration::from_millis(1000))).await;
    let mut s = tokio::net::TcpStream::connect(m.addr()).await.unwrap();
    let req = "GET /health HTTP/1.1\r\nhost: x\r\n\r\n";
    assert!(raw_request(&mut s, req).await.starts_with("HTTP/1.1 200"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(raw_request(&mut s, req).await.starts_with("HTTP/1.1 200"));
    assert_eq!(m.counters().connections_accepted, 1);
    // Idle past the timeout: the server closes (EOF, or a reset).
    let t = Instant::now();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("server closes the idle connection")
        .unwrap_or(0);
    assert_eq!(n, 0);
    let idle = t.elapsed();
    assert!(
        idle >= Duration::from_millis(600) && idle < Duration::from_millis(3000),
        "{idle:?}"
    );
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_then_frees_the_port() {
    let m = mock(Config::default().latency(Latency::Fixed(Duration::from_millis(400)))).await;
    let c = client();
    let id = start(&c, &m).await;
    let (c2, url, id2) = (c.clone(), m.url(), id.clone());
    let inflight = tokio::spawn(async move {
        c2.post(format!("{url}/session/continue"))
            .json(&json!({"thread_id": id2, "user_response": "x"}))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = Instant::now();
    m.shutdown().await;
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "shutdown waited for the request"
    );
    let r = inflight
        .await
        .unwrap()
        .expect("in-flight request completed");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(m.counters().connections_open, 0);
    // Stopped accepting; a new server can take the same address, and knows no old session.
    let fresh = client();
    assert!(fresh
        .get(format!("{}/health", m.url()))
        .send()
        .await
        .is_err());
    let again = Server::start(m.addr(), Config::default())
        .await
        .expect("rebind same address");
    let (code, _) = get(&fresh, format!("{}/session/status/{id}", again.url())).await;
    assert_eq!(code, 404);
    again.shutdown().await;
}

#[tokio::test]
async fn abort_drops_in_flight_requests() {
    let m = mock(Config::default().latency(Latency::Fixed(Duration::from_secs(5)))).await;
    let c = client();
    let id = start(&c, &m).await;
    let (c2, url) = (c.clone(), m.url());
    let inflight = tokio::spawn(async move {
        c2.post(format!("{url}/session/continue"))
            .json(&json!({"thread_id": id, "user_response": "x"}))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let t = Instant::now();
    m.abort().await;
    assert!(t.elapsed() < Duration::from_secs(2));
    assert!(
        inflight.await.unwrap().is_err(),
        "the aborted request fails"
    );
    let again = Server::start(m.addr(), Config::default())
        .await
        .expect("rebind after abort");
    again.abort().await;
}

// ---------------------------------------------------------------- synthetic students

fn students(m: &Server, seed: u64) -> mock::students::Config {
    mock::students::Config::new(m.url())
        .sessions(20)
        .seed(seed)
        .concurrency(8)
        .think(Duration::from_millis(10), Duration::from_millis(40))
        .stream_share(0.3)
}

/// Per session (by thread id): the (endpoint, user_response) sequence the mock received.
fn per_session(m: &Server, ids: &[Option<String>]) -> Vec<Vec<(Endpoint, Option<String>)>> {
    let log = m.log().entries();
    ids.iter()
        .map(|id| {
            let id = id.as_deref().expect("every session started");
            log.iter()
                .filter(|e| e.issued.as_deref() == Some(id) || e.thread_id.as_deref() == Some(id))
                .map(|e| {
                    let body: Option<Value> = serde_json::from_slice(&e.body).ok();
                    let said = body.and_then(|b| b["user_response"].as_str().map(str::to_owned));
                    (e.endpoint, said)
                })
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn twenty_synthetic_sessions_run_their_turns_with_only_expected_statuses() {
    let m = mock(Config::default().request_log(true)).await;
    let report = mock::students::run(&students(&m, 42))
        .await
        .expect("students run");
    assert_eq!(
        (report.sessions, report.failed, report.transport_errors),
        (20, 0, 0),
        "{:?}",
        report.failures
    );
    assert_eq!(report.statuses.keys().collect::<Vec<_>>(), [&200]);
    assert_eq!(report.statuses[&200], report.requests);

    // What the mock counted matches what the students sent.
    let n = m.counters();
    let ep = |k: &str| report.endpoints.get(k).copied().unwrap_or(0);
    assert_eq!((n.sessions_started, n.start), (20, 20));
    assert_eq!(
        (n.continue_, n.stream, n.status),
        (ep("continue"), ep("stream"), ep("status"))
    );
    assert_eq!(n.requests(), report.requests);
    assert_eq!((n.unknown_thread_id, n.status_4xx, n.status_5xx), (0, 0, 0));
    assert!(
        ep("stream") > 0 && ep("status") > 0,
        "{:?}",
        report.endpoints
    );

    // What the mock received, session by session.
    let log = m.log().entries();
    assert_eq!(log.len() as u64, report.requests);
    assert!(log
        .iter()
        .all(|e| e.headers["authorization"] == "Bearer synthetic-student-token"));
    let sessions = per_session(&m, &report.thread_ids);
    let mut turns = 0;
    for (i, s) in sessions.iter().enumerate() {
        assert_eq!(s[0].0, Endpoint::Start, "session {i} begins with start");
        let t = s
            .iter()
            .filter(|(e, _)| matches!(e, Endpoint::Continue | Endpoint::Stream))
            .count();
        let view = m.session(report.thread_ids[i].as_deref().unwrap()).unwrap();
        assert_eq!(view.turn as usize, t);
        assert!((5..=10).contains(&t), "session {i}: {t} turns");
        turns += t as u64;
    }
    assert_eq!(turns, report.turns);
    assert_eq!(
        report.completed,
        (0..20)
            .filter(|&i| m
                .session(report.thread_ids[i].as_deref().unwrap())
                .unwrap()
                .complete)
            .count() as u64
    );

    // Think time: consecutive requests of one session are at least think_min apart.
    for id in report.thread_ids.iter().flatten() {
        let at: Vec<Instant> = log
            .iter()
            .filter(|e| {
                e.issued.as_deref() == Some(id.as_str())
                    || e.thread_id.as_deref() == Some(id.as_str())
            })
            .map(|e| e.at)
            .collect();
        for w in at.windows(2) {
            assert!(
                w[1] - w[0] >= Duration::from_millis(9),
                "gap {:?}",
                w[1] - w[0]
            );
        }
    }
}

#[tokio::test]
async fn the_same_seed_sends_the_same_requests_per_session() {
    let (a, b, c) = (
        mock(Config::default().request_log(true)).await,
        mock(Config::default().request_log(true)).await,
        mock(Config::default().request_log(true)).await,
    );
    let (ca, cb, cc) = (students(&a, 9), students(&b, 9), students(&c, 10));
    let (ra, rb, rc) = tokio::join!(
        mock::students::run(&ca),
        mock::students::run(&cb),
        mock::students::run(&cc)
    );
    let (ra, rb, rc) = (ra.unwrap(), rb.unwrap(), rc.unwrap());
    assert_eq!((ra.failed, rb.failed, rc.failed), (0, 0, 0));
    let (sa, sb, sc) = (
        per_session(&a, &ra.thread_ids),
        per_session(&b, &rb.thread_ids),
        per_session(&c, &rc.thread_ids),
    );
    assert_eq!(sa, sb);
    assert_ne!(sa, sc);
    assert_eq!(
        (ra.requests, ra.endpoints.clone()),
        (rb.requests, rb.endpoints.clone())
    );
}

#[tokio::test]
async fn students_report_failures_as_data() {
    // Every session request fails: each session ends at its start, counted, no Err.
    let misbehave = Misbehave {
        error_rate: Share::new(1.0),
        ..Misbehave::default()
    };
    let m = mock(Config::default().misbehave(misbehave)).await;
    let r = mock::students::run(&students(&m, 1))
        .await
        .expect("a report, not an error");
    assert_eq!(
        (r.sessions, r.failed, r.requests, r.completed),
        (20, 20, 20, 0)
    );
    assert_eq!(r.statuses.get(&500), Some(&20));
    assert!(r.thread_ids.iter().all(Option::is_none));
    assert_eq!(r.failures.len(), 10);
    assert_eq!(m.counters().injected_errors, 20);

    // Nobody listening: transport errors, still a report.
    let addr = m.addr();
    m.abort().await;
    let r = mock::students::run(&mock::students::Config::new(format!("http://{addr}")).sessions(3))
        .await
        .unwrap();
    assert_eq!((r.failed, r.transport_errors, r.requests), (3, 3, 3));
    assert!(r.statuses.is_empty());

    // Not an http URL: a typed error.
    assert!(mock::students::run(&mock::students::Config::new("ftp://x"))
        .await
        .is_err());
}

#[tokio::test]
async fn students_stop_when_cancelled() {
    let m = mock(Config::default()).await;
    let cfg = mock::students::Config::new(m.url())
        .sessions(5)
        .think(Duration::from_secs(30), Duration::from_secs(30));
    let cancel = tokio_util::sync::CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.cancel();
    });
    let t = Instant::now();
    let r = mock::students::run_until(&cfg, cancel).await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(5));
    // Each session got its start in before the long think; nothing after.
    assert_eq!((r.sessions, r.requests, r.failed), (5, 5, 0));
    assert_eq!(m.counters().requests(), 5);
}

#[tokio::test]
async fn an_address_in_use_is_a_clear_error() {
    let m = mock(Config::default()).await;
    let err = Server::bind(m.addr(), Config::default())
        .await
        .err()
        .expect("second bind fails");
    let msg = err.to_string();
    assert!(
        msg.contains(&m.addr().to_string()) && msg.contains("port 0"),
        "{msg}"
    );
}
