//! `--realtime`: the replay's worker threads run under `SCHED_FIFO` (read back from
//! `/proc` while the run goes), and a process that may not is refused with exit 2 before
//! any request reaches the target. How much it buys on a busy machine is measured by
//! `tests/har.rs` (think times within 5 ms of a HAR's) and stated in the README.

mod replay_util;

use replay_util::*;
use reprise::mock::{self, Latency};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn replay(trace: &Path, target: &str, report: &Path) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_reprise"));
    c.args(["replay", trace.to_str().unwrap(), "--target", target])
        .arg("--report")
        .arg(report)
        .args(["--users", "4", "--duration", "3s", "--workers", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// (thread name, scheduling policy) of every thread of `pid`, from `/proc/PID/task/*/stat`
/// (field 41 is the policy; the name is between the parentheses of field 2).
fn thread_policies(pid: u32) -> Vec<(String, i32)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in dir.flatten() {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_string();
        // fields after the name start at field 3
        let rest: Vec<&str> = stat[close + 2..].split(' ').collect();
        if let Some(p) = rest.get(41 - 3).and_then(|p| p.parse().ok()) {
            out.push((name, p));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workers_run_under_sched_fifo() {
    if reprise::replay::priority::check().is_err() {
        // not root and no CAP_SYS_NICE: the refusal test below covers this process
        eprintln!("skipped: this process may not use SCHED_FIFO");
        assert!(std::env::var_os("CI").is_none(), "CI runs as root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let b =
        mock_with(mock::Config::default().latency(Latency::Fixed(Duration::from_millis(50)))).await;
    let trace = write_trace(dir.path(), &session("s", T, 1, 0, &[(100, 5), (200, 5)]));
    let report = dir.path().join("run");
    let child = replay(&trace, &b.url(), &report)
        .arg("--realtime")
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let until = Instant::now() + Duration::from_secs(3);
    let mut seen = Vec::new();
    while Instant::now() < until {
        seen = thread_policies(pid);
        if seen
            .iter()
            .filter(|(n, _)| n.starts_with("replay-"))
            .count()
            == 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let workers: Vec<_> = seen
        .iter()
        .filter(|(n, _)| n.starts_with("replay-"))
        .collect();
    assert_eq!(workers.len(), 2, "two worker threads: {seen:?}");
    assert!(
        workers.iter().all(|(_, p)| *p == libc::SCHED_FIFO),
        "every worker under SCHED_FIFO: {seen:?}"
    );
    let main = seen
        .iter()
        .find(|(n, _)| n == "reprise")
        .expect("the main thread");
    assert_eq!(main.1, libc::SCHED_OTHER, "only the workers: {seen:?}");
    let out = child.wait_with_output().await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(b.counters().requests() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_privilege_realtime_is_refused_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    let b = mock_with(mock::Config::default()).await;
    let trace = write_trace(dir.path(), &session("s", T, 1, 0, &[(100, 5), (200, 5)]));
    let report = dir.path().join("run");
    let exe = env!("CARGO_BIN_EXE_reprise");
    // root without CAP_SYS_NICE (dropped from the bounding set, so exec cannot regain it)
    // and with an rtprio limit of 0 is what an ordinary user is
    let mut c = if reprise::replay::priority::check().is_ok() {
        let mut c = tokio::process::Command::new("setpriv");
        c.args([
            "--bounding-set",
            "-sys_nice",
            "--inh-caps",
            "-sys_nice",
            "prlimit",
            "--rtprio=0",
            exe,
        ]);
        c
    } else {
        tokio::process::Command::new(exe)
    };
    let out = c
        .args(["replay", trace.to_str().unwrap(), "--target", &b.url()])
        .arg("--report")
        .arg(&report)
        .args(["--users", "2", "--duration", "2s", "--realtime"])
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--realtime"), "names the flag: {err}");
    assert!(err.contains("CAP_SYS_NICE"), "says what is needed: {err}");
    assert_eq!(b.counters().requests(), 0, "no request before the check");
}
