//! The `smoke` profile against the shipped mock, end to end: synthetic students recorded
//! through the proxy, replayed by the real binary with the profile's settings, then
//! `reprise report --profile profiles/smoke.toml` — every threshold met, exit code 0.
//! Assertions also check what the mock received, not only what we print.

use reprise::mock::{self, students, Latency};
use reprise::profile::Profile;
use reprise::record::{self, Proxy};
use reprise::report;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[test]
fn smoke_profile_runs_green_against_the_mock() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("smoke.trace.zst");

    // the mock keeps serving from the runtime's threads while the replay binary runs
    let server = rt.block_on(async {
        let config = mock::Config::default().latency(Latency::LogNormal {
            median: Duration::from_millis(40),
            spread: 0.5,
        });
        let server = mock::Server::start("127.0.0.1:0".parse().unwrap(), config)
            .await
            .unwrap();
        let mut rc = record::Config::new(&server.url(), trace.clone()).unwrap();
        rc.listen = "127.0.0.1:0".parse().unwrap();
        let proxy = Proxy::start(rc, CancellationToken::new()).await.unwrap();
        let sc = students::Config::new(proxy.url())
            .sessions(8)
            .concurrency(4)
            .think(Duration::from_millis(20), Duration::from_millis(80));
        students::run(&sc).await.unwrap();
        proxy.finish().await.unwrap();
        server
    });
    let recorded = server.counters();

    let profile_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/smoke.toml");
    let s = Profile::load(&profile_path).unwrap().settings;
    let run_dir = dir.path().join("run");
    let secs = |d: Option<Duration>| format!("{}s", d.unwrap().as_secs_f64());
    let replay = Command::new(env!("CARGO_BIN_EXE_reprise"))
        .arg("replay")
        .arg(&trace)
        .args(["--target", &server.url()])
        .args(["--users", &s.users.unwrap().to_string()])
        .args(["--spawn-rate", &s.spawn_rate.unwrap().to_string()])
        .args(["--duration", &secs(s.run_time)])
        .args(["--speed", &s.speed.unwrap().to_string()])
        .args(["--timing", s.timing.unwrap().name()])
        .args(["--timeout", &secs(s.timeout)])
        .args(["--seed", &s.seed.unwrap().to_string()])
        .arg("--report")
        .arg(&run_dir)
        .output()
        .unwrap();
    assert!(
        replay.status.success(),
        "replay failed: {}\n{}",
        String::from_utf8_lossy(&replay.stdout),
        String::from_utf8_lossy(&replay.stderr)
    );

    // kept as an artifact: the report of a real replay
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts/smoke");
    let rep = Command::new(env!("CARGO_BIN_EXE_reprise"))
        .arg("report")
        .arg(&run_dir)
        .arg("--profile")
        .arg(&profile_path)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&rep.stdout);
    assert_eq!(
        rep.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&rep.stderr)
    );
    assert!(stdout.contains("✅ error_rate == 0%"), "{stdout}");

    let summary = report::load(&out.join("summary.json")).unwrap();
    assert_eq!(summary.thresholds.len(), s.thresholds.len());
    assert!(
        summary.thresholds.iter().all(|v| v.ok),
        "{:?}",
        summary.thresholds
    );
    for f in [
        "report.html",
        "stats.csv",
        "stats_history.csv",
        "failures.csv",
    ] {
        assert!(out.join(f).is_file(), "{f} written");
    }
    // what the mock received: every replayed request, none with a stale thread id
    let after = server.counters();
    let replayed = (after.start + after.continue_ + after.stream + after.status)
        - (recorded.start + recorded.continue_ + recorded.stream + recorded.status);
    assert!(summary.totals.requests > 0);
    // (a request in flight when the run stopped reached the mock but is not in the summary)
    let users = s.users.unwrap();
    assert!(
        (summary.totals.requests..=summary.totals.requests + users).contains(&replayed),
        "the mock saw {replayed} requests, the summary counts {}",
        summary.totals.requests
    );
    assert_eq!(after.unknown_thread_id, 0);
    assert!(after.sessions_started > recorded.sessions_started);
    rt.block_on(server.shutdown());
}
