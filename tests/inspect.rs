//! `reprise inspect`: the report's figures on a known recording, and the command's output
//! and exit codes on good, cut and bad files.

mod trace_util;

use reprise::inspect::{self, Config};
use reprise::trace::{Exchange, Footer, Header, Writer};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use trace_util::{exchange, failed};

const A: &str = "3f2c1a9e-8c4b-4f1e-9a53-2b7d7c1e0f44";
const A2: &str = "7d1e0f44-8c4b-4f1e-9a53-2b7d3f2c1a9e";
const B: &str = "0b0b0b0b-8c4b-4f1e-9a53-2b7d7c1e0f44";
const C: &str = "0c0c0c0c-8c4b-4f1e-9a53-2b7d7c1e0f44";
const MS: u64 = 1000;

fn node(tid: &str, node: &str) -> serde_json::Value {
    json!({"thread_id": tid, "current_node": node, "turn": 0})
}

/// start, continue, status poll, continue: think times 1 s, 0.5 s, 2 s.
fn conversation(first_id: u64, tid: &str, t0: u64) -> Vec<Exchange> {
    let status = format!("/session/status/{tid}");
    vec![
        exchange(
            first_id,
            Some(tid),
            "POST",
            "/session/start",
            t0,
            100 * MS,
            200,
            node(tid, "APK"),
        ),
        exchange(
            first_id + 1,
            Some(tid),
            "POST",
            "/session/continue",
            t0 + 1100 * MS,
            200 * MS,
            200,
            node(tid, "CI"),
        ),
        exchange(
            first_id + 2,
            Some(tid),
            "GET",
            &status,
            t0 + 1800 * MS,
            10 * MS,
            200,
            node(tid, "CI"),
        ),
        exchange(
            first_id + 3,
            Some(tid),
            "POST",
            "/session/continue",
            t0 + 3810 * MS,
            300 * MS,
            200,
            node(tid, "GE"),
        ),
    ]
}

/// 4 sessions and one health check; see the expected figures in `report_figures`.
fn recording() -> Vec<Exchange> {
    let mut xs = conversation(0, A, 0);
    xs.extend(conversation(4, A2, 20_000 * MS));
    let status_b = format!("/session/status/{B}");
    xs.extend([
        exchange(
            8,
            Some(B),
            "POST",
            "/session/start",
            500 * MS,
            100 * MS,
            200,
            node(B, "APK"),
        ),
        // a slow turn with a status poll while it runs
        exchange(
            9,
            Some(B),
            "POST",
            "/session/continue",
            2600 * MS,
            5000 * MS,
            200,
            node(B, "CI"),
        ),
        exchange(
            10,
            Some(B),
            "GET",
            &status_b,
            3600 * MS,
            10 * MS,
            200,
            node(B, "APK"),
        ),
        exchange(
            11,
            Some(B),
            "POST",
            "/session/continue",
            8600 * MS,
            100 * MS,
            500,
            json!({"detail": "boom"}),
        ),
        exchange(
            12,
            Some(C),
            "POST",
            "/session/start",
            0,
            100 * MS,
            200,
            node(C, "APK"),
        ),
        exchange(
            13,
            None,
            "GET",
            "/health",
            50 * MS,
            MS,
            200,
            json!({"status": "ok"}),
        ),
    ]);
    let mut timeout = failed(14, Some(C), 1100 * MS, "timeout");
    timeout.done_us = 60_000 * MS;
    xs.push(timeout);
    // files are in completion order
    xs.sort_by_key(|x| x.t_us + x.done_us);
    xs
}

fn write(dir: &Path, name: &str, footer: bool) -> PathBuf {
    let path = dir.join(name);
    let mut source = serde_json::Map::new();
    source.insert("upstream".into(), "http://127.0.0.1:8000".into());
    let mut w = Writer::create(&path, &Header::new(source)).unwrap();
    for x in recording() {
        w.append(&x).unwrap();
    }
    if footer {
        w.finish(&Footer {
            exchanges: 15,
            sessions: 4,
            dropped: 2,
        })
        .unwrap();
    }
    path
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= b * 0.01
}

#[test]
fn report_figures() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "r.trace.zst", true);
    let r = inspect::inspect(&path, &Config::default()).unwrap();
    assert_eq!((r.sessions, r.exchanges, r.without_session), (4, 15, 1));
    let span = r.span.as_ref().unwrap();
    assert!(close(span.seconds, 61.1), "{span:?}");
    assert_eq!(
        span.end - span.start,
        chrono::Duration::milliseconds(61_100)
    );

    let endpoints: Vec<(&str, u64, u64)> = r
        .endpoints
        .iter()
        .map(|e| (e.name.as_str(), e.count, e.failures))
        .collect();
    assert_eq!(
        endpoints,
        [
            ("POST /session/continue", 7, 2),
            ("POST /session/start", 4, 0),
            ("GET /session/status/{thread_id}", 3, 0),
            ("GET /health", 1, 0),
        ]
    );
    let start = &r.endpoints[1];
    assert!(
        close(start.p50_ms, 100.0) && close(start.max_ms, 100.0),
        "{start:?}"
    );

    let per = r.exchanges_per_session.unwrap();
    assert_eq!((per.min, per.p50, per.max), (2, 4, 4));

    // A, A2: 1, 0.5, 2 s; B: 2 s, 3 s (the poll during the slow turn), 1 s; C: 1 s
    let think = r.think_time.unwrap();
    assert_eq!(think.samples, 10);
    assert!(close(think.p50_ms, 1000.0), "{think:?}");
    assert!(close(think.p90_ms, 2000.0), "{think:?}");
    assert_eq!(think.max_ms, 3000.0);

    let paths: Vec<(&str, u64)> = r
        .node_paths
        .iter()
        .map(|p| (p.path.as_str(), p.sessions))
        .collect();
    assert_eq!(paths, [("APK→CI→GE", 2), ("APK", 1), ("APK→CI", 1)]);
    assert_eq!(r.distinct_node_paths, 3);

    assert_eq!(
        r.statuses.into_iter().collect::<Vec<_>>(),
        [(200, 13), (500, 1)]
    );
    assert_eq!(
        r.errors.into_iter().collect::<Vec<_>>(),
        [("timeout".to_string(), 1)]
    );
    let i = r.integrity;
    assert_eq!(i.dropped, Some(2));
    assert_eq!(i.footer_matches, Some(true));
    assert_eq!(i.torn, None);
    assert_eq!(r.source["upstream"], "http://127.0.0.1:8000");
}

#[test]
fn another_node_pointer_and_a_tiny_top() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "n.trace.zst", true);
    let config = Config {
        node_pointer: "/turn".into(),
        top_paths: 1,
        ..Config::default()
    };
    let r = inspect::inspect(&path, &config).unwrap();
    assert_eq!(r.node_paths.len(), 1);
    assert_eq!(r.node_paths[0].path, "0→0→0");
    assert_eq!(r.node_paths[0].sessions, 2);
}

fn reprise(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_reprise"))
        .arg("inspect")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_command_prints_a_table_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "cli.trace.zst", true);
    let out = reprise(&[path.as_os_str()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for want in [
        "sessions       4  (+1 exchanges outside any session)",
        "exchanges      15",
        "GET /session/status/{thread_id}",
        "think time     p50 1.00 s",
        "APK→CI→GE",
        "200 ×13 · 500 ×1",
        "timeout ×1",
        "footer ✓ (15 exchanges, 4 sessions, 2 dropped) · no torn tail",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }

    let out = reprise(&[path.as_os_str(), "--json".as_ref()]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sessions"], 4);
    assert_eq!(v["endpoints"][2]["name"], "GET /session/status/{thread_id}");
    assert_eq!(v["statuses"]["500"], 1);
    assert_eq!(v["integrity"]["footer"]["dropped"], 2);
    assert_eq!(v["node_paths"][0]["path"], "APK→CI→GE");
}

#[test]
fn a_cut_recording_is_described_with_its_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "whole.trace.zst", true);
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.trace.zst");
    // cut inside the last (footer) frame
    std::fs::write(&cut, &bytes[..bytes.len() - 30]).unwrap();
    let out = reprise(&[cut.as_os_str()]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("no footer: the recording did not stop cleanly"),
        "{text}"
    );
    assert!(text.contains("damaged at byte"), "{text}");
}

#[test]
fn bad_files_exit_2_with_one_line_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("x.trace.gz");
    std::fs::write(
        &gz,
        [
            0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ],
    )
    .unwrap();
    let empty = dir.path().join("empty.trace.zst");
    std::fs::write(&empty, b"").unwrap();
    let random = dir.path().join("random.bin");
    std::fs::write(
        &random,
        (0..999u32)
            .map(|i| (i * 7919 % 251) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let newer = dir.path().join("newer.trace.zst");
    let v2 = "{\"kind\":\"header\",\"format\":\"reprise.trace\",\"version\":9}\n";
    std::fs::write(&newer, zstd::encode_all(v2.as_bytes(), 3).unwrap()).unwrap();
    let good = std::fs::read(write(dir.path(), "g.trace.zst", true)).unwrap();
    let cut = dir.path().join("cut-header.trace.zst");
    std::fs::write(&cut, &good[..good.len().min(25)]).unwrap();
    let missing = dir.path().join("missing.trace.zst");
    let noheader = dir.path().join("noheader.trace.zst");
    let line = "{\"kind\":\"footer\",\"exchanges\":0,\"sessions\":0,\"dropped\":0}\n";
    std::fs::write(&noheader, zstd::encode_all(line.as_bytes(), 3).unwrap()).unwrap();
    for path in [gz, empty, random, newer, cut, missing, noheader] {
        let out = reprise(&[path.as_os_str()]);
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{}: {err}", path.display());
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn a_response_broken_mid_body_counts_as_status_and_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.trace.zst");
    let mut x = exchange(
        0,
        Some(A),
        "POST",
        "/session/continue/stream",
        0,
        MS,
        200,
        json!(null),
    );
    x.error = Some(reprise::trace::ExchangeError {
        kind: "upstream_body".into(),
        message: "connection reset".into(),
    });
    let mut w = Writer::create(&path, &Header::new(Default::default())).unwrap();
    w.append(&x).unwrap();
    drop(w); // no footer
    let r = inspect::inspect(&path, &Config::default()).unwrap();
    assert_eq!(r.statuses.into_iter().collect::<Vec<_>>(), [(200, 1)]);
    assert_eq!(
        r.errors.into_iter().collect::<Vec<_>>(),
        [("upstream_body".to_string(), 1)]
    );
    assert_eq!(r.endpoints[0].failures, 1);
    assert_eq!(r.integrity.footer, None);
    assert_eq!(r.integrity.footer_matches, None);
    assert_eq!(r.think_time, None);
}

/// A streamed turn names its node in the last event of its SSE body (the `done` state): it
/// belongs in the node path like a plain JSON turn.
#[test]
fn streamed_turns_take_their_node_from_the_final_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.trace.zst");
    let tid = "3f2c1a9e-8c4b-4f1e-9a53-2b7d7c1e0f44";
    let start = exchange(
        1,
        Some(tid),
        "POST",
        "/session/start",
        0,
        1_000,
        200,
        node(tid, "APK"),
    );
    let plain = exchange(
        2,
        Some(tid),
        "POST",
        "/session/continue",
        10_000,
        1_000,
        200,
        node(tid, "CI"),
    );
    let mut streamed = exchange(
        3,
        Some(tid),
        "POST",
        "/session/continue/stream",
        20_000,
        1_000,
        200,
        json!(null),
    );
    let sse = format!(
        "data: {{\"token\": \"a\"}}\r\n\r\ndata: {{\"token\": \"b\"}}\r\n\r\nevent: done\r\ndata: {}\r\n\r\n",
        node(tid, "GE")
    );
    let res = streamed.res.as_mut().unwrap();
    res.headers = vec![("content-type".into(), "text/event-stream".into())];
    res.body = reprise::trace::Body::from_bytes(sse.as_bytes(), sse.len() as u64);
    let mut w = Writer::create(&path, &Header::new(Default::default())).unwrap();
    for x in [start, plain, streamed] {
        w.append(&x).unwrap();
    }
    w.finish(&Footer {
        exchanges: 3,
        sessions: 1,
        dropped: 0,
    })
    .unwrap();
    let r = inspect::inspect(&path, &Config::default()).unwrap();
    assert_eq!(r.node_paths.len(), 1);
    assert_eq!(r.node_paths[0].path, "APK→CI→GE");
}
