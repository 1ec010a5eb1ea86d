//! A replay always leaves a report and never floods a broken target: SIGTERM, a second
//! signal, an unwritable report directory, a target answering garbage or resetting, the
//! `--abort-on` condition, a closed stdout, and the flags that used to be accepted wrongly.
//! Every test drives the shipped binary over loopback and reads what it left on disk.

mod replay_util;

use replay_util::*;
use reprise::metrics::Summary;
use reprise::mock::{self, Latency};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn replay(trace: &Path, target: &str, report: &Path) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_reprise"));
    c.args(["replay", trace.to_str().unwrap(), "--target", target])
        .arg("--report")
        .arg(report)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn signal(child: &tokio::process::Child, sig: libc::c_int) {
    let pid = child.id().unwrap() as libc::pid_t;
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
}

fn summary(report: &Path) -> Summary {
    serde_json::from_slice(&std::fs::read(report.join("summary.json")).unwrap()).unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn trace(dir: &Path) -> PathBuf {
    write_trace(dir, &session("s", T, 1, 0, &[(100, 5), (200, 5)]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_leaves_a_report_with_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let b = mock_with(mock::Config::default().latency(Latency::Fixed(Duration::from_millis(200))))
        .await;
    let report = dir.path().join("run");
    let child = replay(&trace(dir.path()), &b.url(), &report)
        .args(["--users", "5", "--duration", "60s"])
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    signal(&child, libc::SIGTERM);
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("drained and exited")
        .unwrap();
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    let s = summary(&report);
    assert!(s.run.aborted);
    assert!(
        s.run
            .abort_reason
            .as_deref()
            .unwrap_or("")
            .contains("SIGTERM"),
        "{:?}",
        s.run.abort_reason
    );
    assert!(s.totals.requests > 0);
    assert_eq!(
        s.totals.requests,
        b.counters().requests(),
        "drained, nothing lost"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_stops_at_once_and_still_reports_within_2s() {
    let dir = tempfile::tempdir().unwrap();
    // every turn takes 30 s: draining would wait that long
    let b =
        mock_with(mock::Config::default().latency(Latency::Fixed(Duration::from_secs(30)))).await;
    let report = dir.path().join("run");
    let child = replay(&trace(dir.path()), &b.url(), &report)
        .args(["--users", "4", "--duration", "120s"])
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    signal(&child, libc::SIGINT);
    tokio::time::sleep(Duration::from_millis(500)).await;
    signal(&child, libc::SIGINT);
    let t = Instant::now();
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("exited")
        .unwrap();
    let elapsed = t.elapsed();
    let (stdout, err) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        elapsed < Duration::from_secs(2),
        "took {elapsed:?} after the second signal"
    );
    let s = summary(&report);
    assert!(s.run.aborted);
    let reason = s.run.abort_reason.unwrap_or_default();
    assert!(
        reason.contains("SIGINT, then SIGINT: stopped at once"),
        "{reason}"
    );
    assert!(stdout.contains("ABORTED"), "the table is printed: {stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_report_directory_is_refused_before_the_first_request() {
    let dir = tempfile::tempdir().unwrap();
    let b = mock_with(mock::Config::default()).await;
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let report = file.join("run");
    let out = replay(&trace(dir.path()), &b.url(), &report)
        .args(["--users", "2", "--duration", "30s"])
        .output()
        .await
        .unwrap();
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(b.counters().requests(), 0, "no request before the check");
    let shown = report.display().to_string();
    assert_eq!(err.matches(&shown).count(), 1, "the path once: {err}");
    assert_eq!(
        err.matches("os error").count(),
        1,
        "the OS error once: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_that_cannot_be_written_still_prints_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let b = mock_with(mock::Config::default()).await;
    let report = dir.path().join("run");
    let child = replay(&trace(dir.path()), &b.url(), &report)
        .args(["--users", "2", "--duration", "3s"])
        .spawn()
        .unwrap();
    // the directory is checked (and created) at the start; then it becomes a file
    let t = Instant::now();
    while !report.is_dir() && t.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    std::fs::remove_dir_all(&report).unwrap();
    std::fs::write(&report, "in the way").unwrap();
    let out = child.wait_with_output().await.unwrap();
    let (stdout, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(stdout.contains("TOTAL"), "the table: {stdout}");
    let shown = report.display().to_string();
    assert_eq!(err.matches(&shown).count(), 1, "the path once: {err}");
    assert_eq!(
        err.matches("os error").count(),
        1,
        "the OS error once: {err}"
    );
}

/// A TCP server that answers every connection with `reply` (or resets it when `None`) and
/// counts the connections.
fn broken_target(reply: Option<&'static [u8]>) -> (String, Arc<AtomicU64>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let n = Arc::new(AtomicU64::new(0));
    let count = n.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            count.fetch_add(1, Ordering::Relaxed);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = s.read(&mut buf);
                match reply {
                    Some(r) => {
                        let _ = s.write_all(r);
                    }
                    None => {
                        // SO_LINGER 0: close sends a reset
                        let l = libc::linger {
                            l_onoff: 1,
                            l_linger: 0,
                        };
                        use std::os::fd::AsRawFd;
                        // SAFETY: setting a socket option on a socket we own.
                        unsafe {
                            libc::setsockopt(
                                s.as_raw_fd(),
                                libc::SOL_SOCKET,
                                libc::SO_LINGER,
                                &l as *const _ as *const libc::c_void,
                                std::mem::size_of::<libc::linger>() as libc::socklen_t,
                            );
                        }
                    }
                }
            });
        }
    });
    (url, n)
}

async fn against_broken(reply: Option<&'static [u8]>) {
    let dir = tempfile::tempdir().unwrap();
    let (url, connections) = broken_target(reply);
    let report = dir.path().join("run");
    let out = replay(&trace(dir.path()), &url, &report)
        .args(["--users", "3", "--duration", "4s"])
        .output()
        .await
        .unwrap();
    let (stdout, err) = text(&out);
    let s = summary(&report);
    // before: 10,197 requests in 4 s against garbage, 1,384/s against resets
    let seen = connections.load(Ordering::Relaxed);
    assert!(
        seen <= 150 && s.totals.requests <= 150,
        "{seen} connections, {} requests in 4 s",
        s.totals.requests
    );
    assert!(s.totals.requests >= 3, "each user tried");
    assert_eq!(s.totals.requests, s.totals.failures);
    assert_eq!(out.status.code(), Some(1), "nothing succeeded: {err}");
    assert!(
        stdout.contains("at least one request succeeded"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_answering_garbage_is_backed_off_and_the_run_fails() {
    against_broken(Some(b"garbage\r\n\r\n")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_resetting_connections_is_backed_off_and_the_run_fails() {
    against_broken(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_on_ends_a_failing_run_early_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _) = broken_target(Some(b"HTTP/1.1 ???\r\n\r\n"));
    let report = dir.path().join("run");
    let t = Instant::now();
    let out = replay(&trace(dir.path()), &url, &report)
        .args(["--users", "3", "--duration", "120s"])
        .args(["--abort-on", "error_rate > 50% for 2s"])
        .output()
        .await
        .unwrap();
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    let s = summary(&report);
    assert!(s.run.aborted && s.run.duration_s < 30.0);
    let reason = s.run.abort_reason.unwrap_or_default();
    assert!(
        reason.starts_with("--abort-on \"error_rate > 50% for 2s\""),
        "{reason}"
    );
    assert!(s
        .thresholds
        .iter()
        .any(|v| v.expr.starts_with("--abort-on") && !v.ok));
}

#[test]
fn flags_that_cannot_work_are_refused_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = trace(dir.path());
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_reprise"))
            .args([
                "replay",
                path.to_str().unwrap(),
                "--target",
                "http://127.0.0.1:9",
            ])
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["--users", "2", "--workers", "1000"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("--workers 1000: at most") && err.contains("4 per core"),
        "{err}"
    );
    let (code, err) = run(&["--duration", "0s"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--duration must be more than 0"), "{err}");
    let (code, err) = run(&["--threshold", "error_rate < 101%"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("a rate is at most 100%"), "{err}");
    let (code, err) = run(&["--abort-on", "p95 > 1s for 5s"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--abort-on \"p95 > 1s for 5s\""), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_does_not_crash_the_replay() {
    let dir = tempfile::tempdir().unwrap();
    let b = mock_with(mock::Config::default()).await;
    let report = dir.path().join("run");
    let mut child = replay(&trace(dir.path()), &b.url(), &report)
        .args(["--users", "2"])
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // `| head -1` that has already exited
    let out = child.wait_with_output().await.unwrap();
    let (_, err) = text(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(report.join("summary.json").exists());
}

#[test]
fn inspect_survives_a_path_of_70000_characters() {
    let dir = tempfile::tempdir().unwrap();
    let long = format!("/{}", "a".repeat(70_000));
    let e = ex(
        1,
        "s",
        0,
        5,
        "GET",
        &long,
        serde_json::json!(null),
        serde_json::json!({}),
    );
    let path = write_trace(dir.path(), &[e]);
    let out = Command::new(env!("CARGO_BIN_EXE_reprise"))
        .args(["inspect", path.to_str().unwrap()])
        .output()
        .unwrap();
    let (stdout, err) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        stdout.contains("GET /aaaa") && stdout.contains('…'),
        "{stdout}"
    );
    assert!(stdout.lines().all(|l| l.chars().count() < 200));
}
