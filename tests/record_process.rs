//! `reprise record` as a child process: SIGKILL mid-run, SIGINT drain, and its flags.

mod record_util;

use record_util::{client, read_trace, Stub};
use reprise::trace;
use serde_json::json;
use std::time::{Duration, Instant};

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

#[test]
fn record_flags_become_the_proxy_config() {
    use clap::Parser;
    use reprise::cli::{Cli, Command};
    let cli = Cli::try_parse_from([
        "reprise",
        "record",
        "--upstream",
        "https://api.example.com/v1",
        "--listen",
        "127.0.0.1:0",
        "--out",
        "x.trace.zst",
        "--body-cap",
        "64KiB",
        "--no-redact",
        "--redact-header",
        "X-Student-Token",
        "--redact-json",
        "/password",
        "--grace",
        "2s",
        "--session-path",
        "/chat/{conv}/messages",
        "--session-request",
        "/conv",
    ])
    .unwrap();
    let Command::Record(args) = cli.command else {
        panic!("not record")
    };
    let c = reprise::cmd::record::config(&args).unwrap();
    assert_eq!(c.upstream.to_string(), "https://api.example.com/v1");
    assert_eq!(c.body_cap, 64 * 1024);
    assert_eq!(c.grace, Duration::from_secs(2));
    assert_eq!(c.redaction.headers(), ["x-student-token"]);
    assert_eq!(
        c.sessions.key("/chat/c1/messages", None, None).as_deref(),
        Some("c1")
    );
    assert_eq!(
        c.sessions
            .key("/x", Some(&json!({"conv": "c2"})), None)
            .as_deref(),
        Some("c2")
    );
    // Defaults: the five secret headers, /thread_id rules, 1 MiB.
    let cli =
        Cli::try_parse_from(["reprise", "record", "--upstream", "http://127.0.0.1:8000"]).unwrap();
    let Command::Record(args) = cli.command else {
        panic!("not record")
    };
    let c = reprise::cmd::record::config(&args).unwrap();
    assert_eq!(c.redaction.headers().len(), 5);
    assert_eq!(c.body_cap, 1 << 20);
    assert!(c.out.starts_with("recordings") && c.out.to_string_lossy().ends_with(".trace.zst"));
    // Bad values are refused with the value named.
    for bad in [
        vec!["--upstream", "ftp://x"],
        vec!["--upstream", "http://x", "--redact-json", "password"],
        vec![
            "--upstream",
            "http://x",
            "--session-path",
            "/no/placeholder",
        ],
    ] {
        let cli =
            Cli::try_parse_from(["reprise", "record"].into_iter().chain(bad.clone())).unwrap();
        let Command::Record(args) = cli.command else {
            panic!("not record")
        };
        let err = reprise::cmd::record::config(&args).unwrap_err().to_string();
        assert!(err.contains(bad.last().unwrap()), "{err}");
    }
    assert!(Cli::try_parse_from([
        "reprise",
        "record",
        "--upstream",
        "http://x",
        "--body-cap",
        "12XB"
    ])
    .is_err());
}
