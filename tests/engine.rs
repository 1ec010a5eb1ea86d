//! `--shard auto[/N]`, `--start-at` and the merge of an incomplete set of shards, through
//! the real binary against the shipped mock on 127.0.0.1 (assertions on what it received).

mod shard_util;

use reprise::report::{self, fixture};
use shard_util::*;
use std::time::{Duration, Instant};

/// `--shard` spec, the engine's variables, what is expected (shard or message).
type Case = (
    &'static str,
    Vec<(&'static str, &'static str)>,
    &'static str,
);

/// `reprise replay` of `rec` against `url` with 4 users (the recording once between them)
/// and `extra` flags, on a blocking thread while the mock serves.
async fn replay(
    rec: &std::path::Path,
    url: &str,
    report: &std::path::Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut args: Vec<String> = vec![
        "replay".into(),
        rec.display().to_string(),
        "--target".into(),
        url.into(),
        "--users".into(),
        "4".into(),
        "--speed".into(),
        "20".into(),
        "--report".into(),
        report.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        reprise(&args, &env)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_auto_takes_the_index_from_the_engine() {
    let tmp = tempfile::tempdir().unwrap();
    let rec = recording(tmp.path(), 8, 2);
    let mock = mock().await;
    let url = mock.url();
    let mut seen = std::collections::BTreeMap::new();

    // Slurm, --array=1-4: task ids 1..4 are shards 0..3; Kubernetes: index, count from flag
    let slurm = |id: &'static str| {
        vec![
            ("SLURM_ARRAY_TASK_ID", id),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
        ]
    };
    let cases: [Case; 4] = [
        ("auto", slurm("1"), "0/4"),
        ("auto/4", slurm("2"), "1/4"),
        ("auto", slurm("3"), "2/4"),
        ("auto/4", vec![("JOB_COMPLETION_INDEX", "3")], "3/4"),
    ];
    for (i, (spec, env, want)) in cases.into_iter().enumerate() {
        let dir = tmp.path().join(format!("shard-{i}"));
        let out = replay(&rec, &url, &dir, &["--shard", spec], &env).await;
        assert_eq!(out.status.code(), Some(0), "{spec}: {}", stderr(&out));
        let s = report::load(&dir.join("summary.json")).unwrap();
        assert_eq!(s.run.shard.as_deref(), Some(want), "{spec} {env:?}");
        // each shard played one user: 2 of the 8 sessions
        let log = mock.log().drain();
        let got = starts(&log);
        assert_eq!(got.values().sum::<u64>(), 2, "{want}: {got:?}");
        assert_eq!(s.sessions.started, 2);
        for (k, n) in got {
            *seen.entry(k).or_insert(0) += n;
        }
    }
    // the four shards together played every recorded session exactly once
    assert_eq!(seen.len(), 8, "{seen:?}");
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_auto_without_or_with_a_bad_engine_is_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let rec = recording(tmp.path(), 4, 1);
    let mock = mock().await;
    let url = mock.url();
    let dir = tmp.path().join("r");
    let cases: [Case; 5] = [
        (
            "auto",
            vec![],
            "neither JOB_COMPLETION_INDEX (Kubernetes Indexed Job) nor SLURM_ARRAY_TASK_ID",
        ),
        (
            "auto/4",
            vec![("JOB_COMPLETION_INDEX", "x")],
            "JOB_COMPLETION_INDEX=x is not a whole number",
        ),
        (
            "auto",
            vec![("JOB_COMPLETION_INDEX", "1")],
            "use --shard auto/N",
        ),
        (
            "auto/4",
            vec![("JOB_COMPLETION_INDEX", "4")],
            "index 4, not below the 4 shards",
        ),
        (
            "auto/2",
            vec![
                ("SLURM_ARRAY_TASK_ID", "0"),
                ("SLURM_ARRAY_TASK_COUNT", "4"),
            ],
            "SLURM_ARRAY_TASK_COUNT=4 but auto/2",
        ),
    ];
    for (spec, env, msg) in cases {
        let out = replay(&rec, &url, &dir, &["--shard", spec], &env).await;
        assert_eq!(
            out.status.code(),
            Some(2),
            "{spec} {env:?}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains(msg),
            "{spec} {env:?}: {}",
            stderr(&out)
        );
    }
    let out = replay(&rec, &url, &dir, &["--shard", "auto/x"], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("expected i/n (0 <= i < n), auto or auto/N"));
    assert_eq!(mock.log().entries().len(), 0, "nothing was sent");
    assert!(!dir.exists(), "no report for a refused run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_at_waits_for_the_instant_and_records_the_skew() {
    let tmp = tempfile::tempdir().unwrap();
    let rec = recording(tmp.path(), 4, 1);
    let mock = mock().await;
    let url = mock.url();

    // a future instant: nothing reaches the mock before it; the skew is measured
    let lead = Duration::from_millis(2500);
    let at = chrono::Utc::now() + chrono::Duration::from_std(lead).unwrap();
    let intended = Instant::now() + lead;
    let at_s = at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let dir = tmp.path().join("future");
    let out = replay(&rec, &url, &dir, &["--start-at", &at_s], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("waiting for the common start at"),
        "{}",
        stderr(&out)
    );
    let log = mock.log().drain();
    let first = log
        .iter()
        .map(|e| e.at)
        .min()
        .expect("the run sent requests");
    // Instant and wall clock were read a few µs apart: 20 ms of slack
    assert!(
        first + Duration::from_millis(20) >= intended,
        "a request arrived {:?} before the start",
        intended - first
    );
    assert_eq!(starts(&log).values().sum::<u64>(), 4);
    let s = report::load(&dir.join("summary.json")).unwrap();
    assert_eq!(s.run.start_at.as_deref(), Some(at_s.as_str()));
    let skew = s.run.start_skew_ms.expect("skew recorded");
    assert!((0.0..2000.0).contains(&skew), "skew {skew} ms");
    assert!(
        stderr(&out).contains("start skew (actual - intended start): "),
        "{}",
        stderr(&out)
    );

    // past, but within the tolerance: starts at once, and the skew says how late
    let at = chrono::Utc::now() - chrono::Duration::seconds(1);
    let at_s = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let dir = tmp.path().join("late");
    let out = replay(
        &rec,
        &url,
        &dir,
        &["--start-at", &at_s, "--start-tolerance", "30s"],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s = report::load(&dir.join("summary.json")).unwrap();
    let skew = s.run.start_skew_ms.unwrap();
    assert!((500.0..30_000.0).contains(&skew), "skew {skew} ms");
    assert_eq!(starts(&mock.log().drain()).values().sum::<u64>(), 4);

    // past beyond the tolerance, or not a time: exit 2, nothing sent, no report
    let past = (chrono::Utc::now() - chrono::Duration::seconds(60))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let dir = tmp.path().join("refused");
    for (flags, msg) in [
        (vec!["--start-at", past.as_str()], "that start passed"),
        (
            vec!["--start-at", "tomorrow"],
            "--start-at `tomorrow`: expected an RFC 3339 time",
        ),
        (vec!["--start-at", "+soon"], "--start-at `+soon`: expected"),
        (vec!["--start-tolerance", "5s"], "--start-at"),
    ] {
        let out = replay(&rec, &url, &dir, &flags, &[]).await;
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(msg), "{flags:?}: {}", stderr(&out));
    }
    assert_eq!(mock.log().entries().len(), 0);
    assert!(!dir.exists());
}

#[test]
fn a_merge_with_a_missing_shard_is_never_passed_unless_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut shards = fixture::seeded_shards(5, 4);
    for (i, s) in shards.iter_mut().enumerate() {
        s.run.start_at = Some("2026-11-27T10:00:00.000000Z".into());
        s.run.start_skew_ms = Some(1.0 + i as f64);
    }
    let mut files = Vec::new();
    for i in [0, 1, 3] {
        let d = tmp.path().join(format!("shard-{i}"));
        report::write_all(&shards[i], &d).unwrap();
        files.push(d.display().to_string());
    }
    let out = tmp.path().join("merged");
    let out_s = out.display().to_string();
    let run = |files: &[String], extra: &[&str]| {
        let mut a = vec!["report"];
        a.extend(files.iter().map(String::as_str));
        a.extend(["--out", out_s.as_str()]);
        a.extend(extra);
        reprise(&a, &[])
    };

    // thresholds that hold on the shards present: still not passed — incomplete, exit 3
    let r = run(&files, &["--threshold", "requests > 0"]);
    assert_eq!(r.status.code(), Some(3), "{}", stderr(&r));
    assert!(
        stdout(&r).contains("shards: 3 of 4 merged | missing: 2/4 | failed: none"),
        "{}",
        stdout(&r)
    );
    assert!(
        stdout(&r).contains("start skew p50 2.00ms, p100 4.00ms (spread 3.00ms)"),
        "{}",
        stdout(&r)
    );
    assert!(
        stdout(&r).contains("ABORTED (incomplete: 1 of 4 shards missing (2/4)"),
        "{}",
        stdout(&r)
    );
    let m = report::load(&out.join("summary.json")).unwrap();
    let sh = m.run.shards.clone().unwrap();
    assert_eq!(
        (sh.count, sh.merged, sh.missing),
        (4, vec![0, 1, 3], vec![2])
    );
    assert!(m.run.aborted);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("Missing shards") && html.contains("2/4"));
    let want: u64 = [0, 1, 3].iter().map(|&i| shards[i].totals.requests).sum();
    assert_eq!(m.totals.requests, want);

    // --allow-missing: the thresholds on the shards present decide
    let r = run(&files, &["--threshold", "requests > 0", "--allow-missing"]);
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    let r = run(&files, &["--threshold", "requests < 1", "--allow-missing"]);
    assert_eq!(r.status.code(), Some(1), "{}", stderr(&r));

    // a shard that aborted is listed as failed and the merge says aborted (3)
    let mut aborted = shards[2].clone();
    aborted.run.aborted = true;
    aborted.run.abort_reason = Some("interrupted".into());
    let d = tmp.path().join("shard-2");
    report::write_all(&aborted, &d).unwrap();
    files.push(d.display().to_string());
    let r = run(&files, &["--threshold", "requests > 0"]);
    assert_eq!(r.status.code(), Some(3), "{}", stderr(&r));
    assert!(
        stdout(&r).contains("shards: 4 of 4 merged | missing: none | failed: 2/4"),
        "{}",
        stdout(&r)
    );

    // complete and healthy: the thresholds on the whole decide
    report::write_all(&shards[2], &d).unwrap();
    assert_eq!(
        run(&files, &["--threshold", "requests > 0"]).status.code(),
        Some(0)
    );
    assert_eq!(
        run(&files, &["--threshold", "requests < 1"]).status.code(),
        Some(1)
    );

    // the same shard twice is bad input
    files.push(files[0].clone());
    let r = run(&files, &[]);
    assert_eq!(r.status.code(), Some(2));
    assert!(
        stderr(&r).contains("shard 0/4 appears twice"),
        "{}",
        stderr(&r)
    );
}
