//! Load stages: a ladder run against the mock follows its stages at the mock (its own
//! connection count), and its per-stage figures add up to the run's totals; stage-scoped
//! thresholds decide the exit code; bad stages and thresholds are exit 2 before any load.

mod replay_util;

use replay_util::*;
use reprise::mock;
use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn replay(trace: &Path, target: &str, extra: &[&str], report: &Path) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_reprise"))
        .args(["replay", trace.to_str().unwrap(), "--target", target])
        .args(["--speed", "10"])
        .args(extra)
        .arg("--report")
        .arg(report)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ladder_follows_its_stages_at_the_mock_and_its_stages_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(
        dir.path(),
        &session("s", T, 1, 0, &[(100, 5), (200, 5), (300, 5)]),
    );
    let m = Arc::new(mock_with(mock::Config::default()).await);
    // The mock's own count of open connections (one per virtual user), sampled with the
    // wall-clock time so samples can be put on the run's time axis afterwards.
    let samples = Arc::new(Mutex::new(Vec::new()));
    let sampler = {
        let (samples, m) = (samples.clone(), m.clone());
        tokio::spawn(async move {
            for _ in 0..400 {
                let n = m.counters().connections_open;
                samples.lock().unwrap().push((chrono::Utc::now(), n));
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
    };
    let (url, report) = (m.url(), dir.path().join("r"));
    let (t, r) = (trace.clone(), report.clone());
    let out = tokio::task::spawn_blocking(move || {
        replay(
            &t,
            &url,
            &[
                "--stages",
                "2:2s,6:2s,3:2s",
                "--threshold",
                "stage[2].requests > 0",
                "--threshold",
                "p95 < 10s",
            ],
            &r,
        )
    })
    .await
    .unwrap();
    sampler.abort();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s = summary(&report);

    // The stages, their windows, and the changes the driver made through the run control.
    let names: Vec<(usize, &str, f64)> = s
        .stages
        .iter()
        .map(|st| (st.index, st.name.as_str(), st.target))
        .collect();
    assert_eq!(names, vec![(1, "1", 2.0), (2, "2", 6.0), (3, "3", 3.0)]);
    let windows: Vec<(f64, f64)> = s.stages.iter().map(|st| (st.start_s, st.end_s)).collect();
    assert_eq!(windows[..2], [(0.0, 2.0), (2.0, 4.0)]);
    assert!(windows[2].0 == 4.0 && (windows[2].1 - s.run.duration_s).abs() < 1e-9);
    let events: Vec<(Option<u64>, f64)> = s.run.events.iter().map(|e| (e.users, e.t_s)).collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!((events[0].0, events[1].0), (Some(6), Some(3)));
    assert!((events[0].1 - 2.0).abs() < 0.5 && (events[1].1 - 4.0).abs() < 0.5);

    // Stages add up to the run: counts add, histograms merge.
    let sum = |f: fn(&reprise::metrics::summary::Stage) -> u64| s.stages.iter().map(f).sum::<u64>();
    assert!(s.totals.requests > 50, "{}", s.totals.requests);
    assert_eq!(sum(|st| st.requests), s.totals.requests);
    assert_eq!(sum(|st| st.failures), s.totals.failures);
    assert_eq!(sum(|st| st.latency.count), s.totals.latency.count);
    assert_eq!(sum(|st| st.bytes_received), s.totals.bytes_received);
    // Server-Timing per stage: every response's components, in the stage it completed in
    for (name, run) in &s.conversation.server_timing {
        let staged: u64 = s
            .stages
            .iter()
            .map(|st| st.server_timing.get(name).map_or(0, |h| h.count))
            .sum();
        assert_eq!(staged, run.count, "server_timing {name}");
    }
    assert!(s
        .stages
        .iter()
        .all(|st| st.server_timing.contains_key("checkpoint_save")));
    assert!(s.stages.iter().all(|st| st.requests > 0));
    // ...and to what the mock received.
    assert_eq!(m.counters().requests(), s.totals.requests);
    let peaks: Vec<u64> = s.stages.iter().map(|st| st.peak_users).collect();
    // (a user started on a boundary may count in the second before it)
    assert!(
        (2..=3).contains(&peaks[0]) && (6..=7).contains(&peaks[1]),
        "{peaks:?}"
    );
    assert!(peaks[2] <= 7, "{peaks:?}");

    // The mock saw the users of each stage: its open connections, put on the run's axis.
    let started = chrono::DateTime::parse_from_rfc3339(&s.run.started_at).unwrap();
    let seen = samples.lock().unwrap().clone();
    let during = |from: f64, to: f64| -> Vec<u64> {
        seen.iter()
            .filter(|(at, _)| {
                let t =
                    (*at - started.with_timezone(&chrono::Utc)).num_milliseconds() as f64 / 1000.0;
                t >= from && t < to
            })
            .map(|(_, n)| *n)
            .collect()
    };
    let (one, two, three) = (during(0.6, 1.9), during(3.2, 3.9), during(5.2, 5.9));
    assert!(!one.is_empty() && !two.is_empty() && !three.is_empty());
    assert!(one.iter().all(|&n| n <= 2), "stage 1: {one:?}");
    assert!(
        two.contains(&6) && two.iter().all(|&n| n <= 6),
        "stage 2: {two:?}"
    );
    assert!(three.iter().all(|&n| n <= 3), "stage 3: {three:?}");

    // Per-stage verdicts: the scoped one and the run's latency threshold judged per stage.
    assert_eq!(s.stages[1].thresholds.len(), 2);
    assert_eq!(s.stages[0].thresholds.len(), 1, "only the run's p95");
    assert!(s.thresholds.iter().all(|v| v.ok), "{:?}", s.thresholds);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("stage ") && stdout.contains("6 users"),
        "{stdout}"
    );
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    assert!(html.contains("id=\"stages\"") && html.contains("\"stages\":[{"));
    // `reprise report` re-renders it: the same stages, recomputed from the series
    let again = dir.path().join("again");
    let r = std::process::Command::new(env!("CARGO_BIN_EXE_reprise"))
        .arg("report")
        .arg(&report)
        .arg("--out")
        .arg(&again)
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    assert!(String::from_utf8_lossy(&r.stdout).contains("6 users"));
    let re = summary(&again);
    assert_eq!(re.stages.len(), 3);
    for (a, b) in s.stages.iter().zip(&re.stages) {
        assert_eq!(
            (a.requests, &a.latency, &a.server_timing),
            (b.requests, &b.latency, &b.server_timing)
        );
    }
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_threshold_that_fails_makes_the_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(dir.path(), &session("s", T, 1, 0, &[(100, 5), (200, 5)]));
    let m = mock_with(mock::Config::default()).await;
    let profile = dir.path().join("shape.toml");
    std::fs::write(
        &profile,
        "thresholds = [\"stage['up'].requests < 1\", \"stage['warm'].requests > 0\"]\n\
         [[stages]]\nname = \"warm\"\nusers = 1\nhold = \"1s\"\n\
         [[stages]]\nname = \"up\"\nusers = 3\nramp = \"1s\"\nhold = \"1s\"\n",
    )
    .unwrap();
    let (url, report) = (m.url(), dir.path().join("r"));
    let (t, r, p) = (trace.clone(), report.clone(), profile.clone());
    let out = tokio::task::spawn_blocking(move || {
        replay(&t, &url, &["--profile", p.to_str().unwrap()], &r)
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let s = summary(&report);
    let v: Vec<(bool, &str)> = s
        .thresholds
        .iter()
        .map(|v| (v.ok, v.expr.as_str()))
        .collect();
    assert_eq!(
        v,
        vec![
            (false, "stage['up'].requests < 1"),
            (true, "stage['warm'].requests > 0")
        ]
    );
    assert_eq!(s.thresholds[0].value, Some(s.stages[1].requests as f64));
    // the ramp: 1 → 3 users at 2 users/s
    let e = &s.run.events[0];
    assert_eq!((e.users, e.spawn_rate), (Some(3), Some(2.0)));
    assert!((s.run.duration_s - 3.0).abs() < 1.0, "{}", s.run.duration_s);
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_stages_and_stage_thresholds_are_exit_2_before_any_load() {
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(dir.path(), &session("s", T, 1, 0, &[(100, 5)]));
    let m = mock_with(mock::Config::default()).await;
    let cases: &[(&[&str], &str)] = &[
        (
            &["--stages", "5:1s,0:1s"],
            "--stages '5:1s,0:1s': stage 2 `0:1s`",
        ),
        (
            &["--stages", "5:1s,x2:1s"],
            "stage 2 mixes users and multipliers",
        ),
        (
            &["--stages", "5:1s,6:1s", "--threshold", "stage[3].p95 < 1s"],
            "no stage 3 (stages: 1 '1', 2 '2')",
        ),
        (
            &["--users", "2", "--threshold", "stage['x'].p95 < 1s"],
            "this run has no stages",
        ),
        (
            &[
                "--stages",
                "5:1s",
                "--threshold",
                "stage[1].endpoint['GET /x'].p95 < 1s",
            ],
            "not measured per stage",
        ),
        (&["--stages", "5:1s", "--users", "3"], "cannot be used with"),
    ];
    for (args, want) in cases {
        let (url, report) = (m.url(), dir.path().join("r"));
        let (t, a) = (
            trace.clone(),
            args.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        );
        let out = tokio::task::spawn_blocking(move || {
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            replay(&t, &url, &a, &report)
        })
        .await
        .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    assert_eq!(m.counters().requests(), 0);
    m.shutdown().await;
}

#[test]
fn the_ladder_profiles_thresholds_parse_and_name_its_stages() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/ladder.toml");
    let p = reprise::profile::Profile::load(&path).unwrap();
    let t = reprise::report::Thresholds::parse_all(&p.settings.thresholds).unwrap();
    assert!(t.0.iter().all(|t| t.stage.is_some()));
    let names: Vec<(usize, String)> = p
        .settings
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| (i + 1, s.name.clone().unwrap()))
        .collect();
    assert_eq!(t.unknown_stage(&names), None);
    assert!(t.unknown_stage(&names[..2]).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_stages_multiply_the_arrivals_still_to_come() {
    let dir = tempfile::tempdir().unwrap();
    // 12 sessions arriving every 250 ms over 3 s of recording
    let mut ex = Vec::new();
    for i in 0..12u64 {
        let thread = format!("3f2c1a9e-8c4b-4f1e-9a53-2b7d7c1e{i:04}");
        ex.extend(session(
            &format!("s{i}"),
            &thread,
            i * 10 + 1,
            i * 250,
            &[(50, 5)],
        ));
    }
    let trace = write_trace(dir.path(), &ex);
    let m = mock_with(mock::Config::default()).await;
    let (url, report) = (m.url(), dir.path().join("r"));
    let (t, r) = (trace.clone(), report.clone());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_reprise"))
            .args(["replay", t.to_str().unwrap(), "--target", &url])
            .args(["--stages", "x1:1500ms,x3:3s", "--report"])
            .arg(&r)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s = summary(&report);
    let e: Vec<_> = s
        .run
        .events
        .iter()
        .map(|e| (e.action.as_str(), e.multiply))
        .collect();
    assert_eq!(e, vec![("multiply", Some(3))]);
    // once: the 6 arrivals before 1.5 s; then 3 copies, copy c shifted by c/3 of the span
    // (2.75 s): of copy 0 the 6 after 1.5 s, of copy 1 the 9 that land after it, of copy 2
    // all 12 (its last at 4.6 s may fall after the end, 4.5 s): 32 or 33 in all
    let started = m.counters().sessions_started;
    assert!((30..=33).contains(&started), "{started}");
    assert_eq!(s.sessions.started, started);
    let sum: u64 = s.stages.iter().map(|st| st.requests).sum();
    assert_eq!(sum, s.totals.requests);
    assert_eq!(s.totals.requests, m.counters().requests());
    assert!(
        s.stages[1].requests > s.stages[0].requests,
        "{:?}",
        s.stages
    );
    m.shutdown().await;
}

/// Against the mock's database bottleneck (a pool of 4 connections, 20 ms per checkpoint:
/// saturated from about 48 users at this recording and speed, see tests/capacity.rs), a
/// ladder from 12 to 96 users breaks its p95 at stage 2, and the report's first line says
/// so and names the database: Server-Timing `checkpoint_*` grew, the pool is full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ladders_headline_names_the_database_when_its_pool_saturates() {
    let dir = tempfile::tempdir().unwrap();
    let mut ex = Vec::new();
    for s in 0..6u64 {
        let thread = format!("3f2c1a9e-8c4b-4f1e-9a53-{:012x}", s + 1);
        let sends: Vec<(u64, u64)> = (0..4u64).map(|k| (5 + (k + 1) * 1000 + k * 5, 5)).collect();
        ex.extend(session(&format!("s{s}"), &thread, s * 100, s * 50, &sends));
    }
    let trace = write_trace(dir.path(), &ex);
    let m = mock_with(mock::Config::default().db(4, Duration::from_millis(20))).await;
    let (url, report) = (m.url(), dir.path().join("r"));
    let metrics = format!("{url}/metrics@250ms");
    let (t, r) = (trace.clone(), report.clone());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_reprise"))
            .args(["replay", t.to_str().unwrap(), "--target", &url])
            .args(["--speed", "2", "--stages", "12:3s,96:1s+4s"])
            .args(["--threshold", "p95 < 150ms", "--scrape", &metrics])
            .arg("--report")
            .arg(&r)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let s = summary(&report);
    // what the mock received (its /metrics scrapes aside)
    let c = m.counters();
    assert_eq!(s.totals.requests, c.start + c.continue_);
    // the light stage met the p95, the heavy one did not (it is the one attributed)
    assert!(
        s.stages[0].thresholds.iter().all(|v| v.ok),
        "{:?}",
        s.stages[0]
    );
    assert!(
        s.stages[1].thresholds.iter().any(|v| !v.ok),
        "{:?}",
        s.stages[1]
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let first = stdout.trim_start().lines().next().unwrap_or_default();
    assert!(
        first.starts_with("at stage 2 (96 users) p95 crossed 150ms"),
        "{stdout}"
    );
    assert!(first.contains("checkpoint_"), "{first}");
    assert!(first.contains("db pool"), "{first}");
    assert!(first.ends_with("→ the database side"), "{first}");
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    let at = html
        .find("id=\"stages-headline\"")
        .expect("headline in report.html");
    assert!(
        at < html.find("class=\"kpis").unwrap_or(usize::MAX),
        "at the top"
    );
    assert!(html[at..].contains("the database side"));
    m.shutdown().await;
}
