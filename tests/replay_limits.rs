//! The open-files check of `reprise replay`, on the real binary: a run whose users cannot
//! all hold a connection is refused before it starts, naming the files it needs; a low soft
//! limit under a high enough hard limit is raised and the run goes ahead.
//!
//! The limits are set on the child process only (`pre_exec` + `setrlimit`), so the test
//! process and its siblings are untouched. The target is the shipped mock on 127.0.0.1:0.

use reprise::mock;
use reprise::trace::{Body, Exchange, Footer, Header, Request, Response, Writer};
use serde_json::json;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};

fn recording(path: &Path) {
    let mut w = Writer::create(path, &Header::new(Default::default())).unwrap();
    let start = Exchange {
        id: 0,
        session: Some("s".into()),
        conn: 1,
        sent_at: chrono::Utc::now(),
        t_us: 0,
        ttfb_us: Some(1000),
        done_us: 1000,
        req: Request {
            method: "POST".into(),
            path: "/session/start".into(),
            query: None,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Body::from_bytes(br#"{"student_id":"s-1"}"#, 20),
        },
        res: Some(Response {
            status: 200,
            headers: vec![],
            body: Body::from_bytes(
                json!({"thread_id": "3f2c1a9e-8c4b-4f1e-9a53-2b7d7c1e0f44"})
                    .to_string()
                    .as_bytes(),
                0,
            ),
            chunks: vec![],
        }),
        error: None,
    };
    w.append(&start).unwrap();
    w.finish(&Footer {
        exchanges: 1,
        sessions: 1,
        dropped: 0,
    })
    .unwrap();
}

/// Runs `reprise replay` with the given open-files limits (soft, hard).
fn replay(trace: &Path, target: &str, users: u32, soft: u64, hard: u64) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_reprise"));
    cmd.args(["replay", trace.to_str().unwrap(), "--target", target])
        .args(["--users", &users.to_string(), "--duration", "1s"])
        .arg("--report")
        .arg(trace.with_extension("report"));
    // SAFETY: only async-signal-safe setrlimit runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: soft as libc::rlim_t,
                rlim_max: hard as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_few_open_files_refuse_the_run_before_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("one.trace.zst");
    recording(&trace);
    let server = mock::Server::start("127.0.0.1:0".parse().unwrap(), mock::Config::default())
        .await
        .unwrap();
    let out = replay(&trace, &server.url(), 1000, 256, 256);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("1000 virtual users need 1064 open files"),
        "{stderr}"
    );
    assert!(stderr.contains("ulimit -n 1064"), "{stderr}");
    // refused before any user started: the mock saw nothing
    assert_eq!(server.counters().requests(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_soft_limit_is_raised_to_the_hard_limit() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("one.trace.zst");
    recording(&trace);
    let server = mock::Server::start("127.0.0.1:0".parse().unwrap(), mock::Config::default())
        .await
        .unwrap();
    // 300 users need 364 files: a soft limit of 128 would not do, the hard limit of 1024 does
    let out = replay(&trace, &server.url(), 300, 128, 1024);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // every one of the 300 users reached the mock with its own session start
    assert!(
        server.counters().sessions_started >= 300,
        "{}",
        server.counters().sessions_started
    );
}
