//! `reprise capacity` against the mock's bottlenecks, whose capacity is known from their
//! settings: it finds the database's within ±15 % and names the database, names the LLM
//! when the LLM is the limit, and calls a level the generator could not drive
//! "generator-bound" instead of placing a knee there. Bad input is exit 2 before the mock
//! sees a single request.

mod replay_util;

use replay_util::*;
use reprise::capacity::Report;
use reprise::mock::{self, Latency};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

/// Sessions of one start and `turns` continues, each request sent `gap_ms` after the
/// previous response completed (its recorded think time).
fn recording(dir: &Path, sessions: usize, turns: usize, gap_ms: u64) -> PathBuf {
    spaced(dir, sessions, turns, gap_ms, 50)
}

/// As [`recording`], the sessions starting `spacing_ms` apart.
fn spaced(dir: &Path, sessions: usize, turns: usize, gap_ms: u64, spacing_ms: u64) -> PathBuf {
    let mut all = Vec::new();
    for s in 0..sessions {
        // thread ids must be distinct per recorded session
        let thread = format!("3f2c1a9e-8c4b-4f1e-9a53-{:012x}", s + 1);
        let sends: Vec<(u64, u64)> = (0..turns)
            .map(|k| (5 + (k as u64 + 1) * gap_ms + k as u64 * 5, 5))
            .collect();
        all.extend(session(
            &format!("s{s}"),
            &thread,
            (s * 100) as u64,
            s as u64 * spacing_ms,
            &sends,
        ));
    }
    write_trace(dir, &all)
}

fn capacity(trace: &Path, target: &str, report: &Path, extra: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_reprise"))
        .arg("capacity")
        .arg(trace)
        .args(["--target", target])
        .arg("--report")
        .arg(report)
        .args(extra)
        .output()
        .unwrap()
}

async fn run(trace: &Path, target: &str, report: &Path, extra: &[&str]) -> Output {
    let (t, u, r) = (
        trace.to_path_buf(),
        target.to_string(),
        report.to_path_buf(),
    );
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        capacity(&t, &u, &r, &extra)
    })
    .await
    .unwrap()
}

fn report(dir: &Path) -> Report {
    let bytes = std::fs::read(dir.join("capacity.json")).expect("capacity.json written");
    serde_json::from_slice(&bytes).unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finds_the_database_pools_capacity_and_names_the_database() {
    let dir = tempfile::tempdir().unwrap();
    // 6 sessions of a start and 4 continues, 1 s of recorded think before each continue
    let (turns, gap_ms, speed) = (4usize, 1000u64, 2.0);
    let trace = recording(dir.path(), 6, turns, gap_ms);
    let (pool, service) = (4u32, Duration::from_millis(20));
    let m = mock_with(mock::Config::default().db(pool, service)).await;
    // The mock's database: a start saves one checkpoint, a continue loads and saves one:
    // 1 + 2·turns checkpoints per session, each holding a connection for `service`.
    // A closed user cycles through a session in Z + R0: its think time (turns · gap /
    // speed; a session starts as soon as the last one ended) plus its unloaded response
    // times (every checkpoint once). The pool serves N / S checkpoints per second, so
    // it saturates at
    //     U* = N · (Z + R0) / (checkpoints · S)        (the operational-law knee)
    let checkpoints = 1.0 + 2.0 * turns as f64;
    let z = turns as f64 * gap_ms as f64 / 1000.0 / speed;
    let r0 = checkpoints * service.as_secs_f64();
    let expected = pool as f64 * (z + r0) / (checkpoints * service.as_secs_f64());
    // (4 · 2.18 s / 0.18 s = 48.4 users.) The SLO, p95 < 150 ms (3.5× the unloaded
    // continue's 43 ms), breaks where the pool saturates: queueing below U* stays short.
    let out_dir = dir.path().join("cap");
    let metrics = format!("{}/metrics@250ms", m.url());
    let out = run(
        &trace,
        &m.url(),
        &out_dir,
        &[
            "--slo",
            "p95 < 150ms",
            "--slo",
            "error_rate < 1%",
            "--speed",
            "2",
            "--start",
            "12",
            "--warmup",
            "1s",
            "--hold",
            "2s",
            "--confirm",
            "3s",
            "--max-duration",
            "50s",
            "--scrape",
            &metrics,
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = report(&out_dir);
    assert_eq!(r.result.kind, "knee", "{}", text(&out));
    let found = r.result.capacity.unwrap() as f64;
    assert!(
        (found - expected).abs() <= 0.15 * expected,
        "capacity {found} users, expected {expected:.1} ± 15 %\n{}",
        text(&out)
    );
    // what the mock received: every level's users really came, sessions whole
    let c = m.counters();
    assert!(c.start > 0 && c.continue_ >= c.start, "{c:?}");
    assert_eq!(c.unknown_thread_id, 0, "{c:?}");
    let levels_requests: u64 = r.levels.iter().map(|l| l.requests).sum();
    assert!(
        c.requests() >= levels_requests,
        "{c:?} vs {levels_requests}"
    );
    // the database is named, first on the headline and in the attribution
    let stdout = String::from_utf8_lossy(&out.stdout);
    let headline = r.headline.clone().unwrap();
    assert!(stdout.trim_start().starts_with(&headline), "{stdout}");
    assert!(headline.ends_with("→ the database side"), "{headline}");
    assert!(headline.contains("checkpoint_"), "{headline}");
    assert!(headline.contains("db pool"), "{headline}");
    let a = r.attribution.as_ref().unwrap();
    assert_eq!(a.side, Some(reprise::report::attribution::Side::Database));
    // the confirmation held longer, and the html page was written with the knee marked
    assert!(r.levels.iter().any(|l| l.confirm && l.hold_s >= 3.0));
    let html = std::fs::read_to_string(out_dir.join("capacity.html")).unwrap();
    assert!(html.contains("mark-capacity") && html.contains("the database side"));
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_llm_limit_is_named_as_the_llm() {
    let dir = tempfile::tempdir().unwrap();
    let (turns, gap_ms) = (4usize, 1000u64);
    let trace = recording(dir.path(), 6, turns, gap_ms);
    // 2 LLM calls at once, 100 ms each: 20 continues/s. Per session at speed 2: 4 calls
    // (0.4 s of LLM) in a 2.4 s cycle → U* = 2 · 2.4 / 0.4 = 12 users.
    let config = mock::Config::default()
        .llm_limit(2)
        .latency(Latency::Fixed(Duration::from_millis(100)));
    let m = mock_with(config).await;
    let out_dir = dir.path().join("cap");
    let out = run(
        &trace,
        &m.url(),
        &out_dir,
        &[
            "--slo",
            "p95 < 300ms",
            "--speed",
            "2",
            "--start",
            "4",
            "--warmup",
            "1s",
            "--hold",
            "2s",
            "--confirm",
            "3s",
            "--max-duration",
            "45s",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = report(&out_dir);
    assert_eq!(r.result.kind, "knee", "{}", text(&out));
    let found = r.result.capacity.unwrap() as f64;
    assert!((6.0..=18.0).contains(&found), "{found}\n{}", text(&out));
    let headline = r.headline.unwrap();
    assert!(headline.ends_with("→ the LLM side"), "{headline}");
    assert!(headline.contains("llm"), "{headline}");
    assert!(m.counters().continue_ > 0);
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_faster_than_the_generator_is_generator_bound_not_a_knee() {
    let dir = tempfile::tempdir().unwrap();
    // 5 ms of think, no latency: each user asks for ~200 requests a second, so a few
    // hundred users ask for more than one worker thread can send
    let trace = recording(dir.path(), 6, 8, 5);
    let m = mock_with(mock::Config::default()).await;
    let out_dir = dir.path().join("cap");
    let out = run(
        &trace,
        &m.url(),
        &out_dir,
        &[
            "--slo",
            "p95 < 50ms",
            "--start",
            "100",
            "--max-users",
            "1600",
            "--workers",
            "1",
            "--lag-bound",
            "20ms",
            "--warmup",
            "1s",
            "--hold",
            "2s",
            "--confirm",
            "2s",
            "--max-duration",
            "40s",
        ],
    )
    .await;
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out));
    let r = report(&out_dir);
    assert_eq!(r.result.kind, "generator_bound", "{}", text(&out));
    assert!(r.result.broke_at.is_none(), "no knee: {:?}", r.result);
    let bound = r.result.generator_bound_at.unwrap();
    // (the level may have passed a short hold and lagged in its confirmation)
    let level = r.levels.iter().rev().find(|l| l.load == bound).unwrap();
    assert_eq!(level.verdict, "generator_bound", "{}", text(&out));
    assert!(level.generator.is_some());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("generator-bound"), "{stdout}");
    assert!(r.headline.unwrap().contains("reprise itself"));
    // the load really went out
    assert!(m.counters().requests() > 1000, "{:?}", m.counters());
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_exit_2_naming_it_before_any_load() {
    let dir = tempfile::tempdir().unwrap();
    let trace = recording(dir.path(), 2, 2, 100);
    let m = mock_with(mock::Config::default()).await;
    let url = m.url();
    let cases: [(&[&str], &str); 5] = [
        (&["--slo", "p95 <<< 5s"], "p95 <<< 5s"),
        (
            &["--slo", "p95 < 5s", "--scrape", "ftp://x/metrics"],
            "--scrape ftp://x/metrics",
        ),
        (
            &["--slo", "p95 < 5s", "--start", "50", "--max-users", "20"],
            "--max-users 20 is below the first level",
        ),
        (&["--slo", "p95 < 5s", "--growth", "1"], "--growth"),
        (&["--slo", "p95 < 5s", "--precision", "0%"], "--precision"),
    ];
    for (args, needle) in cases {
        let out_dir = dir.path().join("never");
        let out = run(&trace, &url, &out_dir, args).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!out_dir.join("capacity.json").exists());
    }
    // no SLO at all: clap's usage error, also exit 2
    let out = run(&trace, &url, &dir.path().join("never"), &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--slo"));
    assert_eq!(m.counters().requests(), 0, "{:?}", m.counters());
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_search_with_exit_3_and_a_partial_capacity_json() {
    let dir = tempfile::tempdir().unwrap();
    let trace = recording(dir.path(), 4, 4, 200);
    let m = mock_with(mock::Config::default()).await;
    let out_dir = dir.path().join("cap");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_reprise"))
        .arg("capacity")
        .arg(&trace)
        .args(["--target", &m.url(), "--slo", "p95 < 5s", "--start", "5"])
        .args(["--warmup", "1s", "--hold", "2s", "--max-duration", "60s"])
        .arg("--report")
        .arg(&out_dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // the first level ends (capacity.json appears), then the second is stopped mid-way
    let json = out_dir.join("capacity.json");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !json.exists() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(json.exists(), "no level ended in 30 s");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // SAFETY: signalling our own child by its pid
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return Some(s);
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap()
    .expect("the search ended within 30 s of SIGTERM");
    assert_eq!(status.code(), Some(3));
    let r = report(&out_dir);
    assert_eq!(r.result.kind, "aborted", "{:?}", r.result);
    assert!(r.levels.len() >= 2, "{:?}", r.levels.len());
    assert!(r.levels.last().unwrap().aborted);
    assert_eq!(r.levels[0].verdict, "pass");
    assert!(m.counters().requests() > 0);
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_level_that_breaks_is_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let trace = recording(dir.path(), 2, 2, 200);
    // every continue holds the database for 2 × 20 ms: p95 < 5 ms cannot hold
    let m = mock_with(mock::Config::default().db(4, Duration::from_millis(20))).await;
    let out_dir = dir.path().join("cap");
    let out = run(
        &trace,
        &m.url(),
        &out_dir,
        &[
            "--slo",
            "p95 < 5ms",
            "--start",
            "2",
            "--warmup",
            "1s",
            "--hold",
            "2s",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let r = report(&out_dir);
    assert_eq!(r.result.kind, "first_breaks");
    assert_eq!(r.levels.len(), 1, "nothing above a level that broke");
    assert!(
        r.result.text.contains("p95 crossed 5ms"),
        "{}",
        r.result.text
    );
    assert!(m.counters().continue_ > 0);
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_levels_are_multipliers_shown_as_sessions_per_second() {
    let dir = tempfile::tempdir().unwrap();
    // 12 session arrivals 400 ms apart: 4.4 s of arrivals, more than a level's 3 s
    let trace = spaced(dir.path(), 12, 3, 200, 400);
    let m = mock_with(mock::Config::default()).await;
    let out_dir = dir.path().join("cap");
    let out = run(
        &trace,
        &m.url(),
        &out_dir,
        &[
            "--open",
            "--slo",
            "error_rate < 1%",
            "--max-multiply",
            "4",
            "--warmup",
            "1s",
            "--hold",
            "2s",
            "--confirm",
            "2s",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = report(&out_dir);
    assert_eq!(r.workload, "open");
    assert_eq!(r.result.kind, "max", "{}", text(&out));
    assert_eq!(r.result.capacity, Some(4));
    let loads: Vec<u64> = r.levels.iter().map(|l| l.load).collect();
    assert_eq!(loads, [1, 2, 4, 4], "grown ×2 to the bound, then confirmed");
    // twice the multiplier, twice the arrivals per second
    let rate = |i: usize| r.levels[i].sessions_per_s.unwrap();
    assert!((rate(1) / rate(0) - 2.0).abs() < 1e-9);
    assert!(r.levels[0].label.contains("sessions/s"));
    assert!(m.counters().sessions_started > 0);
    // a recording whose arrivals are shorter than a level is refused before any load
    let short_dir = tempfile::tempdir().unwrap();
    let short = recording(short_dir.path(), 2, 2, 100);
    let before = m.counters().requests();
    let out = run(
        &short,
        &m.url(),
        &dir.path().join("never"),
        &["--open", "--slo", "p95 < 1s"],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("arrivals span"));
    assert_eq!(m.counters().requests(), before);
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_levels_are_sessions_per_second_and_find_the_pools_throughput() {
    let dir = tempfile::tempdir().unwrap();
    // sessions of a start and one continue: 1 + 2 = 3 checkpoints each
    let trace = recording(dir.path(), 4, 1, 100);
    let (pool, service) = (2u32, Duration::from_millis(25));
    let m = mock_with(mock::Config::default().db(pool, service)).await;
    // Open arrivals, evenly spaced: the pool keeps up until it serves N / S checkpoints per
    // second, N / (3 · S) sessions per second (26.7/s); above it the queue grows without end.
    let expected = pool as f64 / (3.0 * service.as_secs_f64());
    let out_dir = dir.path().join("cap");
    let out = run(
        &trace,
        &m.url(),
        &out_dir,
        &[
            "--rate",
            "--slo",
            "p95 < 150ms",
            "--start",
            "4",
            "--warmup",
            "1s",
            "--hold",
            "2s",
            "--confirm",
            "3s",
            "--max-duration",
            "60s",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = report(&out_dir);
    assert_eq!(r.workload, "rate");
    assert_eq!(r.result.kind, "knee", "{}", text(&out));
    let found = r.result.capacity.unwrap() as f64;
    assert!(
        (found - expected).abs() <= 0.15 * expected,
        "capacity {found}/s, expected {expected:.1}/s ± 15 %\n{}",
        text(&out)
    );
    assert_eq!(r.levels[0].label, "4 sessions/s");
    assert_eq!(r.levels[0].sessions_per_s, Some(4.0));
    // what the mock received: each level's rate over its warm-up and hold (±15 %: levels
    // above the knee drain late, and the last second of a level is cut)
    let asked: f64 = r
        .levels
        .iter()
        .map(|l| l.load as f64 * (1.0 + l.hold_s))
        .sum();
    let got = m.counters().sessions_started as f64;
    assert!(
        (got - asked).abs() <= 0.15 * asked,
        "the mock saw {got} sessions, the levels asked {asked:.0}"
    );
    m.shutdown().await;
}
