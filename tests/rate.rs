//! Open workload at a rate (`--rate`, `R/s` stages): the mock receives the asked session
//! arrivals per second, the recorded sessions in recorded order, cycled; a stage's new rate
//! is followed; without `--duration` every recorded session arrives once.

mod replay_util;

use replay_util::*;
use reprise::mock::{self, Endpoint};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

fn replay(trace: &Path, target: &str, extra: &[&str], report: &Path) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_reprise"))
        .args(["replay", trace.to_str().unwrap(), "--target", target])
        .args(extra)
        .arg("--report")
        .arg(report)
        .output()
        .unwrap()
}

/// `n` one-turn sessions `s0…`, recorded 1 s apart (the rate, not the recording, spaces them).
fn recording(dir: &Path, n: u64) -> std::path::PathBuf {
    let mut ex = Vec::new();
    for i in 0..n {
        let thread = format!("3f2c1a9e-8c4b-4f1e-9a53-2b7d7c1e{i:04}");
        ex.extend(session(
            &format!("s{i}"),
            &thread,
            i * 10 + 1,
            i * 1000,
            &[(20, 5)],
        ));
    }
    write_trace(dir, &ex)
}

/// Session starts the mock received, as (seconds since the first, student id).
fn starts(m: &mock::Server) -> Vec<(f64, String)> {
    let log: Vec<_> = m
        .log()
        .entries()
        .into_iter()
        .filter(|e| e.endpoint == Endpoint::Start)
        .collect();
    let Some(first) = log.first().map(|e| e.at) else {
        return Vec::new();
    };
    log.iter()
        .map(|e| {
            let v: serde_json::Value = serde_json::from_slice(&e.body).unwrap_or_default();
            (
                e.at.duration_since(first).as_secs_f64(),
                v["student_id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn within(got: f64, want: f64, share: f64) -> bool {
    (got - want).abs() <= want * share
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mock_receives_the_asked_rate_in_recorded_order_cycled() {
    let dir = tempfile::tempdir().unwrap();
    let trace = recording(dir.path(), 3);
    let m = mock_with(mock::Config::default()).await;
    let (url, report) = (m.url(), dir.path().join("r"));
    let (t, r) = (trace.clone(), report.clone());
    let out = tokio::task::spawn_blocking(move || {
        replay(&t, &url, &["--rate", "20/s", "--duration", "4s"], &r)
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let got = starts(&m);
    // a window away from the edges: 20/s over 3 s
    let inside = got.iter().filter(|(t, _)| *t >= 0.5 && *t < 3.5).count() as f64;
    assert!(within(inside, 60.0, 0.10), "{inside} starts in 3 s");
    assert!(within(got.len() as f64, 80.0, 0.10), "{} starts", got.len());
    // the recorded sessions in recorded order, cycled
    let ids: Vec<&str> = got.iter().take(7).map(|(_, id)| id.as_str()).collect();
    assert_eq!(ids, ["s0", "s1", "s2", "s0", "s1", "s2", "s0"]);
    let s = summary(&report);
    assert_eq!(
        s.run.workload,
        reprise::metrics::summary::Workload::Rate { per_s: 20.0 }
    );
    assert_eq!(s.sessions.started, got.len() as u64);
    assert_eq!(s.totals.requests, m.counters().requests());
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_stage_is_followed_and_without_duration_each_session_arrives_once() {
    let dir = tempfile::tempdir().unwrap();
    let trace = recording(dir.path(), 4);
    let m = mock_with(mock::Config::default()).await;
    let (url, report) = (m.url(), dir.path().join("r"));
    let (t, r) = (trace.clone(), report.clone());
    let out =
        tokio::task::spawn_blocking(move || replay(&t, &url, &["--stages", "10/s:2s,30/s:2s"], &r))
            .await
            .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let got = starts(&m);
    let count = |from: f64, to: f64| got.iter().filter(|(t, _)| *t >= from && *t < to).count();
    let (one, two) = (count(0.2, 1.8) as f64, count(2.3, 3.9) as f64);
    assert!(
        within(one, 16.0, 0.10),
        "stage 1: {one} starts in 1.6 s at 10/s"
    );
    assert!(
        within(two, 48.0, 0.10),
        "stage 2: {two} starts in 1.6 s at 30/s"
    );
    let s = summary(&report);
    let e: Vec<_> = s
        .run
        .events
        .iter()
        .map(|e| (e.action.as_str(), e.rate))
        .collect();
    assert_eq!(e, vec![("rate", Some(30.0))]);
    let targets: Vec<f64> = s.stages.iter().map(|st| st.target).collect();
    assert_eq!(targets, vec![10.0, 30.0]);
    assert_eq!(
        s.stages.iter().map(|st| st.requests).sum::<u64>(),
        s.totals.requests
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("30/s"));
    m.shutdown().await;

    // no --duration: the 4 recorded sessions once, at 50/s
    let m = mock_with(mock::Config::default()).await;
    let (url, report) = (m.url(), dir.path().join("once"));
    let t = trace.clone();
    let r = report.clone();
    let began = std::time::Instant::now();
    let out = tokio::task::spawn_blocking(move || replay(&t, &url, &["--rate", "50/s"], &r))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(began.elapsed() < Duration::from_secs(20));
    let ids: Vec<String> = starts(&m).into_iter().map(|(_, id)| id).collect();
    assert_eq!(ids, ["s0", "s1", "s2", "s3"]);
    m.shutdown().await;
}

#[test]
fn bad_rates_are_exit_2_before_any_load() {
    let dir = tempfile::tempdir().unwrap();
    let trace = recording(dir.path(), 1);
    for (args, want) in [
        (vec!["--rate", "0/s"], "is not a rate"),
        (vec!["--rate", "fast"], "is not a rate"),
        (vec!["--rate", "5/s", "--users", "3"], "cannot be used with"),
        (vec!["--stages", "2/s:1s,3:1s"], "mixes rates and users"),
    ] {
        let out = replay(&trace, "http://127.0.0.1:9", &args, &dir.path().join("r"));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(want), "{args:?}: {}", text(&out));
    }
}
