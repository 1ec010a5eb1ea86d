//! `reprise report`: exact merge of shard summaries, re-evaluated thresholds, exit codes.
//!
//! The merge test splits one seeded load across two summaries (as two processes would
//! write them), merges them with the real binary, and compares with the summary of the
//! whole load and with an in-process merge of the same histograms.

use reprise::metrics::summary::Summary;
use reprise::profile::Profile;
use reprise::report::{self, fixture, Thresholds};
use std::path::Path;
use std::process::{Command, Output};

fn reprise(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reprise"))
        .args(args)
        .output()
        .expect("the reprise binary runs")
}

fn write(dir: &Path, name: &str, s: &Summary) -> String {
    let d = dir.join(name);
    report::write_all(s, &d).unwrap();
    d.join("summary.json").display().to_string()
}

#[test]
fn two_shards_merge_into_the_whole_load_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let shards = fixture::seeded_shards(42, 2);
    let whole = fixture::seeded(42);
    let a = write(tmp.path(), "a", &shards[0]);
    let b = write(tmp.path(), "b", &shards[1]);
    let out = tmp.path().join("merged");
    let run = reprise(&["report", &a, &b, "--out", out.to_str().unwrap()]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let merged = report::load(&out.join("summary.json")).unwrap();

    // counts add
    assert!(shards[0].totals.requests > 0 && shards[1].totals.requests > 0);
    assert_eq!(
        merged.totals.requests,
        shards[0].totals.requests + shards[1].totals.requests
    );
    assert_eq!(
        merged.totals.failures,
        shards[0].totals.failures + shards[1].totals.failures
    );
    assert_eq!(merged.totals.requests, whole.totals.requests);
    assert_eq!(merged.sessions.started, whole.sessions.started);

    // percentiles equal an in-process merge of the same histograms, and the whole load's
    let in_process = shards[0]
        .totals
        .latency
        .merged(&shards[1].totals.latency)
        .unwrap();
    assert_eq!(merged.totals.latency, in_process);
    assert_eq!(merged.totals.latency, whole.totals.latency);
    assert_eq!(merged.totals.latency.p99_ms, whole.totals.latency.p99_ms);
    assert_eq!(merged.totals.lag, whole.totals.lag);
    for (m, w) in merged.endpoints.iter().zip(&whole.endpoints) {
        assert_eq!(
            (&m.name, m.requests, m.failures),
            (&w.name, w.requests, w.failures)
        );
        assert_eq!(m.latency, w.latency, "{}", m.name);
    }
    assert_eq!(merged.endpoints.len(), whole.endpoints.len());
    assert_eq!(
        merged.conversation.server_timing,
        whole.conversation.server_timing
    );
    assert_eq!(merged.conversation.nodes, whole.conversation.nodes);
    assert_eq!(merged.conversation.streaming, whole.conversation.streaming);
    assert_eq!(
        merged.conversation.divergence,
        whole.conversation.divergence
    );

    // series align on wall-clock seconds
    assert_eq!(merged.series.len(), whole.series.len());
    for (m, w) in merged.series.iter().zip(&whole.series) {
        assert_eq!(
            (m.t, m.requests, m.failures, m.users),
            (w.t, w.requests, w.failures, w.users)
        );
        assert_eq!(m.latency, w.latency, "t={}", m.t);
    }

    // the run is described as a merge of both
    assert_eq!(merged.run.merged_from, [a.clone(), b.clone()]);
    assert_eq!(merged.run.workload, whole.run.workload);
    assert_eq!(merged.run.name, "merged");

    // and the Locust CSVs of the merge are those of the whole load
    for name in ["stats.csv", "stats_history.csv", "failures.csv"] {
        let m = std::fs::read_to_string(out.join(name)).unwrap();
        let w = match name {
            "stats.csv" => report::stats_csv(&whole).unwrap(),
            "stats_history.csv" => report::stats_history_csv(&whole).unwrap(),
            _ => report::failures_csv(&whole),
        };
        assert!(m == w, "{name} of the merge differs from the whole load's");
    }
}

#[test]
fn series_align_on_wall_clock_when_shards_start_apart() {
    let shards = fixture::seeded_shards(7, 2);
    let mut late = shards[1].clone();
    for p in &mut late.series {
        p.t += 10;
    }
    late.run.started_at = "2026-11-27T10:00:10.000000Z".into();
    late.run.ended_at = "2026-11-27T10:01:10.000000Z".into();
    let merged = report::merge(
        "m",
        &[("a".into(), shards[0].clone()), ("b".into(), late.clone())],
    )
    .unwrap();
    assert_eq!(merged.series.len(), 70, "60 s + 10 s offset");
    assert_eq!(merged.run.duration_s, 70.0);
    let first = &merged.series[0];
    assert_eq!(
        first.requests, shards[0].series[0].requests,
        "only shard a ran in the first second"
    );
    let at = |s: &Summary, t: i64| {
        s.series
            .iter()
            .find(|p| p.t == t)
            .cloned()
            .unwrap_or_default()
    };
    let t = shards[0].series[15].t;
    assert_eq!(
        at(&merged, t).requests,
        at(&shards[0], t).requests + at(&late, t).requests
    );
    assert_eq!(
        at(&merged, t).users,
        at(&shards[0], t).users + at(&late, t).users
    );
    let sum: u64 = merged.series.iter().map(|p| p.requests).sum();
    assert_eq!(sum, merged.totals.requests);
}

#[test]
fn report_reevaluates_thresholds_and_sets_the_exit_code() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = fixture::seeded(42);
    s.thresholds = Thresholds::parse_all(&["p95 < 1ms"]).unwrap().evaluate(&s);
    let file = write(tmp.path(), "run", &s);
    let out = tmp.path().join("out");
    let out = out.to_str().unwrap();

    // the summary's own thresholds, evaluated again: failed → 1
    let r = reprise(&["report", &file, "--out", out]);
    assert_eq!(r.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert!(stdout.contains("❌ p95 < 1ms"), "{stdout}");
    assert!(stdout.contains("report.html"), "{stdout}");

    // given thresholds replace them: met → 0, and they land in summary.json
    let r = reprise(&[
        "report",
        &file,
        "--out",
        out,
        "--threshold",
        "requests > 0",
        "--threshold",
        "p95 < 1m",
    ]);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let written = report::load(&Path::new(out).join("summary.json")).unwrap();
    let exprs: Vec<&str> = written.thresholds.iter().map(|v| v.expr.as_str()).collect();
    assert_eq!(exprs, ["requests > 0", "p95 < 1m"]);
    assert!(written.thresholds.iter().all(|v| v.ok));

    // a profile's thresholds: the fixture has failures, so baseline's `error_rate == 0%` fails
    let baseline = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/baseline.toml");
    let r = reprise(&[
        "report",
        &file,
        "--out",
        out,
        "--profile",
        baseline.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stdout).contains("❌ error_rate == 0%"));

    // a bad threshold is bad input → 2, with the column
    let r = reprise(&["report", &file, "--out", out, "--threshold", "p95 < 5x"]);
    assert_eq!(r.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(
        stderr.contains("\"p95 < 5x\": unknown unit `x` at column 8"),
        "{stderr}"
    );

    // not a summary → 2, naming the file
    let bogus = tmp.path().join("bogus.json");
    std::fs::write(&bogus, "{}").unwrap();
    let r = reprise(&["report", bogus.to_str().unwrap(), "--out", out]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("bogus.json: not a reprise summary"));

    // an aborted run → 3
    let mut aborted = fixture::seeded(1);
    aborted.run.aborted = true;
    aborted.run.abort_reason = Some("Ctrl-C".into());
    let file = write(tmp.path(), "aborted", &aborted);
    let r = reprise(&["report", &file, "--out", out]);
    assert_eq!(r.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&r.stdout).contains("ABORTED (Ctrl-C)"));
}

#[test]
fn every_shipped_profile_has_valid_thresholds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
    let s = fixture::seeded(42);
    for name in ["smoke", "baseline", "light", "medium", "stress"] {
        let p = Profile::load(&dir.join(format!("{name}.toml"))).unwrap();
        let t =
            Thresholds::parse_all(&p.settings.thresholds).unwrap_or_else(|e| panic!("{name}: {e}"));
        let verdicts = t.evaluate(&s);
        assert_eq!(verdicts.len(), p.settings.thresholds.len());
        // every shipped metric exists in a full summary (nothing is "not measured")
        for v in verdicts {
            assert!(v.value.is_some(), "{name}: {} → {}", v.expr, v.observed);
        }
    }
}
