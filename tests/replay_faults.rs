//! `reprise replay` when things go wrong, and the command line itself: a target down from
//! the start, killed mid-run, answering 500s or too slowly; Ctrl-C; profiles and thresholds.

mod replay_util;

use replay_util::*;
use reprise::metrics::summary::kind;
use reprise::metrics::Summary;
use reprise::mock::{self, Latency, Misbehave, Share};
use reprise::replay::{plan::Plan, Workload};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

#[test]
fn target_down_from_the_start_exits_3_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_trace(dir.path(), &session("s", T, 1, 0, &[(100, 5)]));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let t = std::time::Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_reprise"))
        .args([
            "replay",
            path.to_str().unwrap(),
            "--target",
            &format!("http://127.0.0.1:{port}"),
            "--users",
            "5",
        ])
        .arg("--report")
        .arg(dir.path().join("r"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("unreachable") && err.contains(&port.to_string()),
        "{err}"
    );
    assert!(t.elapsed() < Duration::from_secs(10));
}

/// The mock dies 1 s into a 3 s run: the run completes, failures are counted by kind and
/// the summary is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_killed_mid_run_is_counted_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let b = mock_with(mock::Config::default()).await;
    let rec = session("s", T, 1, 0, &[(100, 5), (200, 5), (300, 5)]);
    let mut c = config(
        &b.url(),
        Workload::Closed {
            users: 20,
            spawn_rate: None,
        },
        1.0,
    );
    c.duration = Some(Duration::from_secs(3));
    let report = dir.path().join("killed");
    let r2 = report.clone();
    let run = tokio::task::spawn_blocking(move || {
        let out = reprise::cmd::replay::Output {
            dir: r2,
            ..Default::default()
        };
        reprise::cmd::replay::execute(
            Arc::new(Plan::from_exchanges(rec)),
            &c,
            &out,
            CancellationToken::new(),
        )
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    b.abort().await;
    let t = Instant::now();
    let exit = run.await.unwrap().unwrap();
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(exit as u8, 0);
    let s: Summary =
        serde_json::from_slice(&std::fs::read(report.join("summary.json")).unwrap()).unwrap();
    assert!(
        s.totals.requests > s.totals.failures && s.totals.failures > 0,
        "{:?}",
        s.totals
    );
    for f in &s.failures {
        assert!(
            [kind::CONNECT, kind::IO].contains(&f.kind.as_str()),
            "{f:?}"
        );
    }
    assert!(
        s.sessions
            .aborted_by_reason
            .keys()
            .any(|k| k == kind::CONNECT || k == kind::IO),
        "{:?}",
        s.sessions
    );
    assert!(
        s.series.len() >= 3,
        "{} seconds in the series",
        s.series.len()
    );
}

/// Injected 500s are counted exactly, by kind and code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_counted_exactly() {
    let b = mock_with(mock::Config::default().seed(3).misbehave(Misbehave {
        error_rate: Share::new(0.2),
        ..Default::default()
    }))
    .await;
    let rec = session("s", T, 1, 0, &[(20, 5), (40, 5), (60, 5)]);
    let mut c = config(
        &b.url(),
        Workload::Closed {
            users: 10,
            spawn_rate: None,
        },
        1.0,
    );
    c.duration = Some(Duration::from_millis(1500));
    let s = replay_run(Plan::from_exchanges(rec), c).await;
    let injected = b.counters().injected_errors;
    assert!(injected > 0);
    let status_500: u64 = s
        .failures
        .iter()
        .filter(|f| f.kind == kind::STATUS && f.detail == "500")
        .map(|f| f.count)
        .sum();
    assert_eq!(status_500, injected, "{:?}", s.failures);
    // a failed start leaves its session without a thread_id: those continues are not sent
    let corr: u64 = s
        .failures
        .iter()
        .filter(|f| f.kind == kind::CORRELATION)
        .map(|f| f.count)
        .sum();
    assert!(
        corr > 0
            && s.sessions
                .aborted_by_reason
                .get(kind::CORRELATION)
                .copied()
                .unwrap_or(0)
                == corr
    );
    assert_eq!(s.totals.failures, status_500 + corr);
    assert_eq!(
        b.unknown_thread_id_requests(),
        0,
        "never sent with a stale id"
    );
}

/// A target slower than the timeout: timeouts are failures of kind `timeout`, and the run
/// still ends on time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_are_failures_of_their_own_kind() {
    let b =
        mock_with(mock::Config::default().latency(Latency::Fixed(Duration::from_secs(3)))).await;
    let rec = session("s", T, 1, 0, &[(20, 5)]);
    let mut c = config(
        &b.url(),
        Workload::Closed {
            users: 4,
            spawn_rate: None,
        },
        1.0,
    );
    c.timeout = Duration::from_millis(300);
    let t = Instant::now();
    let s = replay_run(Plan::from_exchanges(rec), c).await;
    assert!(t.elapsed() < Duration::from_secs(3));
    let timeouts: u64 = s
        .failures
        .iter()
        .filter(|f| f.kind == kind::TIMEOUT)
        .map(|f| f.count)
        .sum();
    assert_eq!(timeouts, 4, "{:?}", s.failures);
    assert_eq!(s.sessions.aborted_by_reason.get(kind::TIMEOUT), Some(&4));
    let cont = s
        .endpoints
        .iter()
        .find(|e| e.name == "POST /session/continue")
        .unwrap();
    assert!(cont.latency.max_ms < 1000.0);
}

/// The command line end to end: a profile gives the workload, a flag overrides it, a
/// threshold that fails makes the exit code 1, and the report directory is complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_applies_profile_flags_and_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    let b = mock_with(mock::Config::default()).await;
    let path = write_trace(dir.path(), &session("s", T, 1, 0, &[(100, 5), (200, 5)]));
    let profile = dir.path().join("p.toml");
    std::fs::write(
        &profile,
        "users = 3\nspawn_rate = 100\nspeed = 10\nthresholds = [\"error_rate == 0%\"]\n",
    )
    .unwrap();
    let report = dir.path().join("run");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_reprise"))
        .args([
            "replay",
            path.to_str().unwrap(),
            "--target",
            &b.url(),
            "--users",
            "4",
        ])
        .args([
            "--threshold",
            "requests > 1000000",
            "--header",
            "x-run: cli",
        ])
        .arg("--profile")
        .arg(&profile)
        .arg("--report")
        .arg(&report)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("❌ requests > 1000000") && stdout.contains("✅ error_rate == 0%"),
        "{stdout}"
    );
    let s: Summary =
        serde_json::from_slice(&std::fs::read(report.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s.run.speed, 10.0, "from the profile");
    assert_eq!(s.sessions.started, 4, "--users 4 overrides the profile's 3");
    assert_eq!(b.counters().requests(), 4 * 3);
    assert!(b
        .log()
        .entries()
        .iter()
        .all(|e| e.headers["x-run"] == "cli"));
    assert!(report.join("report.html").exists());
}

/// Ctrl-C (SIGINT) stops the run: in-flight requests finish, the report is written marked
/// aborted, the exit code is 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_drains_and_writes_an_aborted_report() {
    let dir = tempfile::tempdir().unwrap();
    let b = mock_with(mock::Config::default().latency(Latency::Fixed(Duration::from_millis(300))))
        .await;
    let path = write_trace(
        dir.path(),
        &session("s", T, 1, 0, &[(100, 300), (500, 300)]),
    );
    let report = dir.path().join("run");
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_reprise"))
        .args([
            "replay",
            path.to_str().unwrap(),
            "--target",
            &b.url(),
            "--users",
            "10",
        ])
        .args(["--duration", "30s", "--report"])
        .arg(&report)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pid = child.id().unwrap() as libc::pid_t;
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let t = Instant::now();
    let out = child.wait_with_output().await.unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "drained within a timeout's worth"
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: Summary =
        serde_json::from_slice(&std::fs::read(report.join("summary.json")).unwrap()).unwrap();
    assert!(s.run.aborted);
    assert!(s.run.duration_s < 5.0);
    assert_eq!(
        s.totals.failures, 0,
        "in-flight requests were drained, not cut: {:?}",
        s.failures
    );
    assert_eq!(s.totals.requests, b.counters().requests());
    assert!(s.sessions.aborted_by_reason.contains_key("stopped"));
}
