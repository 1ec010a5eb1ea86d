//! The recorder between synthetic students and the mock agent API.

mod record_util;

use record_util::{client, config, decompressed, read_trace, start};
use reprise::trace;
use std::time::Duration;

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

#[tokio::test]
async fn an_upstream_closing_idle_connections_after_1s_loses_no_request() {
    use reprise::mock;
    let mock_config = mock::Config::default().keep_alive_timeout(Duration::from_secs(1));
    let mock = mock::Server::start("127.0.0.1:0".parse().unwrap(), mock_config)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let proxy = start(config(&mock.url(), &dir)).await;
    let http = client();
    // Gaps straddle the upstream's 1 s idle close, where a pooled connection may be closing.
    for gap_ms in [0u64, 990, 1000, 1010, 1100] {
        tokio::time::sleep(Duration::from_millis(gap_ms)).await;
        let res = http
            .get(format!("{}/health", proxy.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "after a {gap_ms} ms gap");
        res.bytes().await.unwrap();
    }
    let summary = proxy.finish().await.unwrap();
    assert_eq!(summary.exchanges, 5);
    assert_eq!(mock.counters().health, 5);
}
