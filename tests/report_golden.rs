//! Golden files of a seeded run: `summary.json` and the Locust CSVs, byte for byte; the
//! CSV headers against a real Locust 2.x run; the summary schema.
//!
//! Regenerate the golden files after an intended change with
//! `UPDATE_GOLDEN=1 cargo test --test report_golden`, and review the diff.

use reprise::metrics::summary::{Summary, SCHEMA, SCHEMA_VERSION};
use reprise::report::{self, fixture, Thresholds};
use std::path::{Path, PathBuf};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report")
}

fn seeded_with_verdicts() -> Summary {
    let mut s = fixture::seeded(42);
    let t = Thresholds::parse_all(&[
        "error_rate < 1%",
        "p95 < 5s",
        "server_timing.checkpoint_save.p95 < 200ms",
        "node['AR->TC'].p99 < 4s",
        "endpoint['POST /session/start'].avg < 400ms",
    ])
    .unwrap();
    s.thresholds = t.evaluate(&s);
    s
}

fn check_golden(name: &str, actual: &str) {
    let path = golden_dir().join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{name} differs from its golden file at line {}:\n  golden: {:?}\n  actual: {:?}\n(UPDATE_GOLDEN=1 regenerates after an intended change)",
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line)
        );
    }
}

#[test]
fn seeded_run_matches_golden_files() {
    let s = seeded_with_verdicts();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-golden");
    let written = report::write_all(&s, &dir).unwrap();
    assert_eq!(written.files.len(), 5);
    for name in [
        "summary.json",
        "stats.csv",
        "stats_history.csv",
        "failures.csv",
    ] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        check_golden(name, &text);
    }
    // the same seed gives the same bytes
    assert_eq!(
        report::to_json(&seeded_with_verdicts()),
        report::to_json(&s)
    );
    // and a summary survives its own file: reading and writing it again gives the same bytes
    let back = report::load(&dir.join("summary.json")).unwrap();
    assert!(
        report::to_json(&back) == report::to_json(&s),
        "summary.json does not round-trip"
    );
}

#[test]
fn finish_evaluates_writes_and_decides_the_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = fixture::seeded(5);
    let met = Thresholds::parse_all(&["p95 < 1m"]).unwrap();
    let (written, outcome) = report::finish(&mut s, &met, dir.path()).unwrap();
    assert_eq!((outcome, outcome.exit_code()), (report::Outcome::Met, 0));
    assert_eq!(s.thresholds.len(), 1);
    let on_disk = report::load(&written.dir.join("summary.json")).unwrap();
    assert_eq!(on_disk.thresholds, s.thresholds);
    let failed = Thresholds::parse_all(&["p95 < 1ms"]).unwrap();
    let (_, outcome) = report::finish(&mut s, &failed, dir.path()).unwrap();
    assert_eq!(
        (outcome, outcome.exit_code()),
        (report::Outcome::ThresholdFailed, 1)
    );
    s.run.aborted = true;
    let (_, outcome) = report::finish(&mut s, &met, dir.path()).unwrap();
    assert_eq!(
        (outcome, outcome.exit_code()),
        (report::Outcome::Aborted, 3)
    );
}

#[test]
fn csv_headers_are_byte_identical_to_locust() {
    let s = fixture::seeded(42);
    let locust = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/locust");
    let cases = [
        ("stats.csv", report::stats_csv(&s).unwrap()),
        ("stats_history.csv", report::stats_history_csv(&s).unwrap()),
        ("failures.csv", report::failures_csv(&s)),
    ];
    for (name, ours) in cases {
        let theirs = std::fs::read(locust.join(name)).unwrap();
        let header_end = theirs.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
        assert_eq!(
            String::from_utf8_lossy(&ours.as_bytes()[..header_end]),
            String::from_utf8_lossy(&theirs[..header_end]),
            "{name}: header line (with its CRLF) must match Locust's"
        );
        // every row has as many columns as the header (no quoted commas in the fixture)
        let columns = theirs[..header_end].iter().filter(|b| **b == b',').count();
        for line in ours.split("\r\n").filter(|l| !l.is_empty()) {
            assert_eq!(line.matches(',').count(), columns, "{name}: {line}");
        }
        assert!(ours.ends_with("\r\n"));
    }
}

#[test]
fn csv_rows_carry_the_summary_figures() {
    let s = fixture::seeded(42);
    let stats = report::stats_csv(&s).unwrap();
    let agg = stats.lines().last().unwrap();
    let cols: Vec<&str> = agg.split(',').collect();
    assert_eq!(cols[0], "");
    assert_eq!(cols[1], "Aggregated");
    assert_eq!(cols[2], s.totals.requests.to_string());
    assert_eq!(cols[3], s.totals.failures.to_string());
    assert_eq!(
        cols[4],
        format!("{}", s.totals.latency.p50_ms.round() as u64)
    );
    assert_eq!(
        cols[16],
        format!("{}", s.totals.latency.p95_ms.round() as u64),
        "95% column"
    );
    let continue_row = stats
        .lines()
        .find(|l| l.starts_with("POST,/session/continue,"))
        .unwrap();
    let e = s
        .endpoints
        .iter()
        .find(|e| e.name == "POST /session/continue")
        .unwrap();
    assert!(continue_row.starts_with(&format!(
        "POST,/session/continue,{},{},",
        e.requests, e.failures
    )));

    let history = report::stats_history_csv(&s).unwrap();
    let rows: Vec<&str> = history.lines().skip(1).collect();
    assert_eq!(rows.len(), s.series.len());
    let last: Vec<&str> = rows.last().unwrap().split(',').collect();
    assert_eq!(last[0], s.series.last().unwrap().t.to_string());
    assert_eq!(
        last[17],
        s.totals.requests.to_string(),
        "Total Request Count is cumulative"
    );
    assert_eq!(last[18], s.totals.failures.to_string());

    let failures = report::failures_csv(&s);
    let total: u64 = failures
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(3).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, s.totals.failures);
    assert!(failures.contains("POST,/session/continue,status: 503,"));
}

#[test]
fn summary_schema_has_required_keys_and_version() {
    let s = fixture::seeded(42);
    let v: serde_json::Value = serde_json::from_str(&report::to_json(&s)).unwrap();
    assert_eq!(v["schema"], SCHEMA);
    assert_eq!(v["version"], SCHEMA_VERSION);
    for key in [
        "run",
        "totals",
        "endpoints",
        "failures",
        "sessions",
        "series",
        "conversation",
        "thresholds",
    ] {
        assert!(v.get(key).is_some(), "summary.json lacks `{key}`");
    }
    for key in [
        "name",
        "tool",
        "recordings",
        "target",
        "started_at",
        "ended_at",
        "duration_s",
        "aborted",
        "workload",
        "speed",
        "timing",
        "timeout_s",
        "seed",
    ] {
        assert!(v["run"].get(key).is_some(), "run lacks `{key}`");
    }
    for key in [
        "requests",
        "failures",
        "error_rate",
        "success_rate",
        "rps",
        "latency",
        "ttfb",
        "corrected_latency",
        "lag",
        "peak_users",
    ] {
        assert!(v["totals"].get(key).is_some(), "totals lacks `{key}`");
    }
    let hist = &v["totals"]["latency"];
    for key in [
        "count", "min_ms", "mean_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms",
        "hist",
    ] {
        assert!(hist.get(key).is_some(), "histograms carry `{key}`");
    }
    for key in [
        "t",
        "requests",
        "failures",
        "users",
        "latency",
        "lag_p99_ms",
    ] {
        assert!(
            v["series"][0].get(key).is_some(),
            "series points carry `{key}`"
        );
    }
    // the encoding recomputes the figures
    let decoded = s.totals.latency.decode().unwrap();
    assert_eq!(decoded.summary(), s.totals.latency);
}

#[test]
fn load_refuses_other_files_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let e = report::load(&write("a.json", "{\"hello\": 1}"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("a.json: not a reprise summary (no `schema` field"),
        "{e}"
    );
    let e = report::load(&write("b.json", "not json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("b.json: not a reprise summary (not JSON"), "{e}");
    let mut v: serde_json::Value =
        serde_json::from_str(&report::to_json(&fixture::seeded(1))).unwrap();
    v["version"] = serde_json::json!(SCHEMA_VERSION + 1);
    let e = report::load(&write("c.json", &v.to_string()))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("c.json: summary version 2 is newer than this reprise reads (1)"),
        "{e}"
    );
    let e = report::load(&dir.path().join("missing.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.json: cannot read"), "{e}");
}

#[test]
fn thresholds_evaluate_against_the_summary() {
    let s = fixture::seeded(42);
    let verdict = |e: &str| Thresholds::parse_all(&[e]).unwrap().evaluate(&s).remove(0);

    let v = verdict("p95 < 5s");
    assert!(v.ok);
    assert_eq!(v.value, Some(s.totals.latency.p95_ms));

    let v = verdict("error_rate < 0.1%");
    assert!(!v.ok, "the fixture fails some requests near the end");
    assert_eq!(v.value, Some(s.totals.error_rate * 100.0));
    assert!(v.observed.ends_with('%'), "{}", v.observed);

    assert!(verdict("success_rate >= 95%").ok);
    assert!(verdict("requests > 100").ok);
    assert!(verdict("cross_talk == 0").ok);
    let p75 = verdict("p75 < 1m");
    let full = s.totals.latency.decode().unwrap().quantile_us(0.75) as f64 / 1000.0;
    assert_eq!(
        p75.value,
        Some(full),
        "any percentile comes from the histogram"
    );

    let v = verdict("endpoint['POST /nope'].p99 < 1s");
    assert!(!v.ok);
    assert_eq!(v.value, None);
    assert!(
        v.observed.starts_with("not measured: no endpoint `POST /nope` in this run (have: GET /session/status/{thread_id}, POST /session/continue"),
        "{}",
        v.observed
    );
    let v = verdict("server_timing.db.p95 < 1s");
    assert_eq!(v.observed, "not measured: no Server-Timing metric `db` in this run (have: checkpoint_load, checkpoint_save, llm)");
    let v = verdict("turn[99].p95 < 1s");
    assert!(
        !v.ok && v.observed.starts_with("not measured: no turn `99`"),
        "{}",
        v.observed
    );
}
