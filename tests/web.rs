//! `replay --web` end to end: the shipped binary against the shipped mock (both on
//! loopback, port 0), the live server read over HTTP like a browser would: the SSE history,
//! `Last-Event-ID` resume, control through `POST /api/control` followed by the mock's own
//! connection count, 400s that change nothing, the Host and Origin checks, tokens off
//! loopback, `/metrics` against what the mock received, and a taken port (exit 2 before any
//! request).

mod replay_util;

use replay_util::*;
use reprise::mock;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `n` recorded sessions of a start and 6 continues 300 ms apart.
fn recording(dir: &std::path::Path, n: usize) -> std::path::PathBuf {
    let mut ex = Vec::new();
    for s in 0..n {
        let sends: Vec<(u64, u64)> = (1..=6).map(|k| (k * 300, 5)).collect();
        ex.extend(session(
            &format!("s{s}"),
            &format!("{T}{s}"),
            0,
            (s * 50) as u64,
            &sends,
        ));
    }
    for (i, e) in ex.iter_mut().enumerate() {
        e.id = i as u64;
    }
    write_trace(dir, &ex)
}

struct Run {
    child: Child,
    /// `http://127.0.0.1:PORT` of the live server.
    base: String,
    /// The links printed (control, viewer).
    links: Vec<String>,
    stderr: mpsc::Receiver<String>,
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `reprise replay` with `--web web` and waits for the printed link.
fn start(
    rec: &std::path::Path,
    target: &str,
    report: &std::path::Path,
    web: &str,
    extra: &[&str],
) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_reprise"))
        .arg("replay")
        .arg(rec)
        .args(["--target", target, "--web", web, "--report"])
        .arg(report)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let t = Instant::now();
    let mut links = Vec::new();
    while t.elapsed() < Duration::from_secs(20) {
        let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        if line.starts_with("live page:") {
            for word in line.split_whitespace() {
                let w = word.trim_end_matches([')', ',']);
                if w.starts_with("http://") {
                    links.push(w.to_string());
                }
            }
            // the viewer link follows on the next line when there are tokens
            if let Ok(l) = rx.recv_timeout(Duration::from_millis(300)) {
                for word in l.split_whitespace() {
                    let w = word.trim_end_matches([')', ',']);
                    if w.starts_with("http://") {
                        links.push(w.to_string());
                    }
                }
            }
            let url = reqwest::Url::parse(&links[0]).unwrap();
            let base = format!("http://127.0.0.1:{}", url.port().unwrap());
            return Run {
                child,
                base,
                links,
                stderr: rx,
            };
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("no `live page:` line within 20 s");
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Reads SSE frames from `/events` until `want` frames with an id came; returns (id,
/// event, data) of each.
async fn read_events(
    base: &str,
    last_id: Option<u64>,
    want: usize,
    extra: &str,
) -> Vec<(u64, String, Value)> {
    let mut req = client().get(format!("{base}/events{extra}"));
    if let Some(id) = last_id {
        req = req.header("Last-Event-ID", id.to_string());
    }
    let mut res = req.send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut buf = String::new();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while out.len() < want && Instant::now() < deadline {
        let Ok(Ok(Some(chunk))) = tokio::time::timeout(Duration::from_secs(5), res.chunk()).await
        else {
            break;
        };
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let (mut id, mut event, mut data) = (None, String::new(), String::new());
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = v.parse().ok();
                } else if let Some(v) = line.strip_prefix("event: ") {
                    event = v.to_string();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push_str(v);
                }
            }
            if let Some(id) = id {
                out.push((id, event, serde_json::from_str(&data).unwrap()));
            }
        }
    }
    out
}

async fn post(base: &str, body: Value) -> (u16, Value) {
    let r = client()
        .post(format!("{base}/api/control"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

async fn until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "{what} within {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn wait_exit(run: &mut Run, secs: u64) -> i32 {
    let t = Instant::now();
    loop {
        if let Some(s) = run.child.try_wait().unwrap() {
            return s.code().unwrap_or(-1);
        }
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "reprise still runs after {secs} s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_server_streams_history_resumes_and_steers_the_run() {
    let mock = mock_with(mock::Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let rec = recording(dir.path(), 4);
    let report = dir.path().join("report");
    let mut run = start(
        &rec,
        &mock.url(),
        &report,
        "127.0.0.1:0",
        &[
            "--users",
            "3",
            "--spawn-rate",
            "100",
            "--duration",
            "40s",
            "--threshold",
            "p95 < 10s",
        ],
    );
    let base = run.base.clone();
    assert_eq!(
        run.links.len(),
        1,
        "loopback: one link, no token: {:?}",
        run.links
    );
    assert!(!run.links[0].contains("token"));

    // the page and its meta
    let page = client().get(format!("{base}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("id=\"c-rate\"") && html.contains("<script>"));
    let meta: Value = client()
        .get(format!("{base}/api/meta"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            meta["closed"].clone(),
            meta["users"].clone(),
            meta["role"].clone()
        ),
        (json!(true), json!(3), json!("control"))
    );
    assert_eq!(meta["routes"].as_array().unwrap().len(), 2);

    // three seconds of history, then a resume from id 2 starts at id 3
    let first = read_events(&base, None, 3, "").await;
    assert_eq!(first.iter().map(|f| f.0).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert!(first.iter().all(|f| f.1 == "second"));
    assert_eq!(first[0].2["s"], 1);
    let resumed = read_events(&base, Some(2), 2, "").await;
    assert_eq!(resumed[0].0, 3, "Last-Event-ID 2 resumes at 3");
    assert_eq!(resumed[0].2, first[2].2, "the same frame, from the history");

    // out-of-range values: 400 with a message, nothing changed
    let (code, body) = post(&base, json!({"action": "users", "users": -1})).await;
    assert_eq!(code, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("users must be a whole number"),
        "{body}"
    );
    let (code, body) = post(
        &base,
        json!({"action": "users", "users": 5, "spawn_rate": 0}),
    )
    .await;
    assert_eq!(code, 400);
    assert!(
        body["error"].as_str().unwrap().contains("spawn rate"),
        "{body}"
    );
    let (code, _) = post(&base, json!({"action": "multiply", "multiply": 2})).await;
    assert_eq!(code, 400, "a multiplier for a closed run");
    let meta: Value = client()
        .get(format!("{base}/api/meta"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["users"], 3, "refused changes changed nothing");

    // a page on another site cannot steer it: foreign Origin, foreign Host
    let r = client()
        .post(format!("{base}/api/control"))
        .header("origin", "http://evil.example")
        .body(json!({"action": "stop"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = client()
        .get(format!("{base}/api/meta"))
        .header("host", "evil.example:80")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        403,
        "DNS rebinding: a non-loopback Host is refused"
    );

    // 3 users → 8: the mock's own open connections follow
    until("3 connections at the mock", 20, || {
        mock.counters().connections_open >= 3
    })
    .await;
    let (code, body) = post(
        &base,
        json!({"action": "users", "users": 8, "spawn_rate": 50}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["users"], 8);
    until("8 connections at the mock", 20, || {
        mock.counters().connections_open >= 8
    })
    .await;
    // the stream says so too, and carries the control event
    let frames = read_until_users(&base, 8).await;
    assert!(frames.iter().any(|f| f.1 == "control" && f.2["users"] == 8));

    // /metrics: the run's requests so far, never more than the mock received
    let text = client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let page = reprise::scrape::text::parse(text.as_bytes());
    assert!(page.errors.is_empty(), "{:?}", page.errors);
    let sent: f64 = page
        .samples
        .iter()
        .filter(|s| s.name == "reprise_requests_total")
        .map(|s| s.value)
        .sum();
    assert!(
        sent > 0.0 && sent <= mock.counters().requests() as f64,
        "{sent} vs {}",
        mock.counters().requests()
    );
    assert!(page
        .samples
        .iter()
        .any(|s| s.name == "reprise_request_duration_seconds_bucket"
            && s.labels.iter().any(|(k, v)| k == "le" && v == "+Inf")));
    assert!(page
        .samples
        .iter()
        .any(|s| s.name == "reprise_users_target" && s.value == 8.0));

    // a live download is a summary that parses
    let live: Value = client()
        .get(format!("{base}/download/summary.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(live["schema"], "reprise.summary");
    assert!(live["totals"]["requests"].as_u64().unwrap() > 0);

    // stop: the report is written, the process ends though a stream is open
    let open = tokio::spawn({
        let base = base.clone();
        async move { read_events(&base, None, usize::MAX, "").await }
    });
    let (code, _) = post(&base, json!({"action": "stop"})).await;
    assert_eq!(code, 200);
    let (code, body) = post(&base, json!({"action": "pause"})).await;
    assert_eq!(code, 400, "nothing after stop: {body}");
    let exit = tokio::task::block_in_place(|| wait_exit(&mut run, 30));
    assert_eq!(
        exit, 0,
        "stopped through the page: a normal end, thresholds judged"
    );
    let streamed = tokio::time::timeout(Duration::from_secs(10), open)
        .await
        .unwrap()
        .unwrap();
    let end = streamed
        .iter()
        .find(|f| f.1 == "end")
        .expect("the end event reached the open stream");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(
        end.2["summary"]["totals"]["requests"],
        summary["totals"]["requests"]
    );
    let events: Vec<&str> = summary["run"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(events, vec!["users", "stop"]);
    // every request the summary counts reached the mock
    assert_eq!(
        summary["totals"]["requests"].as_u64().unwrap(),
        mock.counters().requests()
    );
    // the last second frame's totals are the series' sums
    let seconds: Vec<&(u64, String, Value)> = streamed.iter().filter(|f| f.1 == "second").collect();
    let sum: u64 = summary["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(
        seconds.last().unwrap().2["tot"]["req"].as_u64().unwrap(),
        sum
    );
    while run.stderr.try_recv().is_ok() {}
}

/// Sum of the `count`s of a map of histogram summaries (`{"1": {"count": 3, …}, …}`).
fn counts(v: &Value) -> u64 {
    v.as_object().map_or(0, |m| {
        m.values().map(|h| h["count"].as_u64().unwrap_or(0)).sum()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversation_panels_fill_each_second_and_end_as_the_summary() {
    let mock = mock_with(mock::Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let rec = recording(dir.path(), 4);
    let report = dir.path().join("report");
    let mut run = start(
        &rec,
        &mock.url(),
        &report,
        "127.0.0.1:0",
        &["--users", "4", "--spawn-rate", "100", "--duration", "8s"],
    );
    let base = run.base.clone();
    // the whole stream, from the first second to the end event
    let all = read_events(&base, None, usize::MAX, "").await;
    assert_eq!(tokio::task::block_in_place(|| wait_exit(&mut run, 30)), 0);
    assert_eq!(all.last().map(|f| f.1.as_str()), Some("end"));
    let conv: Vec<(u64, &Value)> = all
        .iter()
        .filter(|f| f.1 == "second")
        .filter_map(|f| Some((f.2["s"].as_u64()?, f.2.get("conv")?)))
        .collect();
    // mid-run (by second 4 of 8) the panels already have figures
    let (s, mid) = conv
        .iter()
        .find(|(_, c)| counts(&c["turns"]) > 0 && counts(&c["nodes"]) > 0)
        .copied()
        .expect("a second with turns and node transitions");
    assert!(s <= 4, "conversation figures came only at second {s}");
    assert!(counts(&mid["server_timing"]) > 0, "{mid}");
    // the panels follow the run: more turns later than at first
    let last = conv.last().unwrap().1;
    assert!(counts(&last["turns"]) > counts(&mid["turns"]));
    assert!(
        conv.len() >= 3,
        "updated each second: {} frames",
        conv.len()
    );
    // at the end they are summary.json's figures, exactly
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("summary.json")).unwrap())
            .unwrap();
    for key in ["nodes", "turns", "server_timing", "streaming"] {
        fn strip(v: &mut Value) {
            if let Some(m) = v.as_object_mut() {
                m.remove("hist");
                m.values_mut().for_each(strip);
            }
        }
        let mut want = summary["conversation"][key].clone();
        strip(&mut want);
        assert_eq!(last[key], want, "{key}");
    }
    // every turn the page counts is a continue the mock received
    let turns = counts(&last["turns"]);
    assert!(turns > 0 && turns <= mock.counters().continue_, "{turns}");
    while run.stderr.try_recv().is_ok() {}
}

/// Reads the whole stream from the start until a second with `users` active users.
async fn read_until_users(base: &str, users: u64) -> Vec<(u64, String, Value)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    {
        let mut res = client().get(format!("{base}/events")).send().await.unwrap();
        let mut buf = String::new();
        let mut frames = Vec::new();
        while Instant::now() < deadline {
            let Ok(Ok(Some(chunk))) =
                tokio::time::timeout(Duration::from_secs(5), res.chunk()).await
            else {
                break;
            };
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let frame: String = buf.drain(..end + 2).collect();
                let mut id = None;
                let (mut ev, mut data) = (String::new(), String::new());
                for l in frame.lines() {
                    if let Some(v) = l.strip_prefix("id: ") {
                        id = v.parse().ok();
                    } else if let Some(v) = l.strip_prefix("event: ") {
                        ev = v.into();
                    } else if let Some(v) = l.strip_prefix("data: ") {
                        data.push_str(v);
                    }
                }
                if let Some(id) = id {
                    let v: Value = serde_json::from_str(&data).unwrap();
                    let done = ev == "second" && v["users"] == users;
                    frames.push((id, ev, v));
                    if done {
                        return frames;
                    }
                }
            }
        }
    }
    panic!("no second with {users} users within 30 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_loopback_every_request_needs_a_token_and_the_viewer_cannot_steer() {
    let mock = mock_with(mock::Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let rec = recording(dir.path(), 2);
    let run = start(
        &rec,
        &mock.url(),
        &dir.path().join("r"),
        "0.0.0.0:0",
        &["--users", "2", "--duration", "20s"],
    );
    assert_eq!(
        run.links.len(),
        2,
        "control and viewer links: {:?}",
        run.links
    );
    let token = |l: &str| {
        reqwest::Url::parse(l)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "token")
            .unwrap()
            .1
            .to_string()
    };
    let (control, view) = (token(&run.links[0]), token(&run.links[1]));
    assert_ne!(control, view);
    let base = &run.base;
    for path in [
        "/",
        "/api/meta",
        "/events",
        "/metrics",
        "/download/summary.json",
    ] {
        let r = client().get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path} without a token");
        let r = client()
            .get(format!("{base}{path}?token=wrong"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path} with a wrong token");
    }
    let (code, _) = post(base, json!({"action": "stop"})).await;
    assert_eq!(code, 401);
    // the viewer reads, cannot control; the cookie set from ?token= works alone
    let r = client()
        .get(format!("{base}/api/meta?token={view}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let meta: Value = r.json().await.unwrap();
    assert_eq!(meta["role"], "view");
    let r = client()
        .post(format!("{base}/api/control"))
        .header("cookie", format!("reprise_token={view}"))
        .body(json!({"action": "stop"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "the viewer token cannot steer");
    let frames = read_events(base, None, 1, &format!("?token={view}")).await;
    assert_eq!(frames[0].0, 1);
    let r = client()
        .post(format!("{base}/api/control?token={control}"))
        .body(json!({"action": "users", "users": 1}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the control token steers");
}

#[test]
fn a_taken_port_exits_2_naming_it_before_any_request() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mock = rt.block_on(mock_with(mock::Config::default()));
    let dir = tempfile::tempdir().unwrap();
    let rec = recording(dir.path(), 1);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    for (web, names) in [(addr.as_str(), addr.as_str()), ("nonsense:x", "nonsense:x")] {
        let out = Command::new(env!("CARGO_BIN_EXE_reprise"))
            .arg("replay")
            .arg(&rec)
            .args([
                "--target",
                &mock.url(),
                "--users",
                "2",
                "--duration",
                "5s",
                "--web",
                web,
                "--report",
            ])
            .arg(dir.path().join("r"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains(&format!("--web {names}")) || err.contains(&format!("--web `{names}`")),
            "{err}"
        );
    }
    assert_eq!(mock.counters().requests(), 0, "no user started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_linger_keeps_the_final_page_up_then_exits() {
    let mock = mock_with(mock::Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let rec = recording(dir.path(), 1);
    let mut run = start(
        &rec,
        &mock.url(),
        &dir.path().join("r"),
        "127.0.0.1:0",
        &["--users", "1", "--duration", "2s", "--web-linger", "3s"],
    );
    let base = run.base.clone();
    let t = Instant::now();
    let mut linger_seen = false;
    while t.elapsed() < Duration::from_secs(20) && !linger_seen {
        if let Ok(l) = run.stderr.recv_timeout(Duration::from_millis(200)) {
            linger_seen = l.contains("--web-linger");
        }
    }
    assert!(linger_seen, "the linger is announced");
    // the run is over, the final page is still served, with its end event
    let frames = read_events(&base, None, usize::MAX, "").await;
    assert_eq!(frames.last().unwrap().1, "end");
    assert!(
        run.child.try_wait().unwrap().is_none(),
        "still up while lingering"
    );
    let exit = tokio::task::block_in_place(|| wait_exit(&mut run, 15));
    assert_eq!(exit, 0);
    assert!(
        client().get(format!("{base}/")).send().await.is_err(),
        "gone after the linger"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ui_starts_only_listed_files_and_a_run_that_fails_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let recs = dir.path().join("recordings");
    std::fs::create_dir_all(&recs).unwrap();
    std::fs::rename(recording(dir.path(), 1), recs.join("a.trace.zst")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_reprise"))
        .args(["ui", "127.0.0.1:0", "--recordings"])
        .arg(&recs)
        .arg("--reports")
        .arg(dir.path().join("reports"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let l = lines.next().unwrap().unwrap();
        if let Some(u) = l.strip_prefix("start page: ") {
            break u.trim_end_matches('/').to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let start = |body: Value| {
        let url = url.clone();
        async move {
            let r = client()
                .post(format!("{url}/api/start"))
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let opts: Value = client()
        .get(format!("{url}/api/options"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(opts["recordings"], json!(["a.trace.zst"]));
    let (code, body) =
        start(json!({"recordings": ["../a.trace.zst"], "target": "http://127.0.0.1:1"})).await;
    assert_eq!(code, 400, "{body}");
    // a load value out of range: the form's own check names it
    let (code, body) =
        start(json!({"recordings": ["a.trace.zst"], "target": "http://127.0.0.1:1", "users": "x"}))
            .await;
    assert_eq!(code, 400);
    assert_eq!(
        body["error"], "users must be a whole number ≥ 1, not `x`",
        "{body}"
    );
    // a value only the command knows to be wrong: its own message
    let (code, body) = start(
        json!({"recordings": ["a.trace.zst"], "target": "http://127.0.0.1:1", "duration": "forever"}),
    )
    .await;
    assert_eq!(code, 400);
    assert!(
        body["error"].as_str().unwrap().contains("--duration"),
        "the command's own message: {body}"
    );
    // a closed port: the run is shown, then ends with the reason, and the next start is allowed
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (code, body) =
        start(json!({"recordings": ["a.trace.zst"], "target": format!("http://{closed}")})).await;
    assert_eq!(code, 200, "{body}");
    let frames = read_events(&url, None, usize::MAX, "").await;
    let end = frames.iter().find(|f| f.1 == "end").expect("an end event");
    assert!(
        end.2["error"].as_str().unwrap().contains("unreachable"),
        "{}",
        end.2
    );
    let (code, body) =
        start(json!({"recordings": ["a.trace.zst"], "target": format!("http://{closed}")})).await;
    assert_eq!(code, 200, "not 409 after a failed run: {body}");
    let _ = child.kill();
    let _ = child.wait();
}
