//! The whole distributed path on a real engine: a one-node Slurm cluster on this machine
//! (`tests/slurm/cluster.sh`: munged, slurmctld, slurmd, loopback only) runs
//! `deploy/slurm/submit.sh` — an array job of 4 shards against one mock on 127.0.0.1, then
//! the dependent merge job — and the results are checked against a one-process run of the
//! same plan and against what the mock received.
//!
//! Without Slurm installed the test says SKIPPED (loudly) and passes; with `CI` set, a
//! missing Slurm is a failure (`.ci/run` installs Debian's `slurm-wlm` and `munge`).

mod shard_util;

use base64::Engine as _;
use reprise::metrics::{HistSummary, Summary};
use reprise::report;
use shard_util::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const SHARDS: u64 = 4;
const USERS: &str = "8";

fn slurm_installed() -> bool {
    [
        "/usr/sbin/slurmctld",
        "/usr/sbin/slurmd",
        "/usr/sbin/munged",
    ]
    .iter()
    .all(|p| Path::new(p).exists())
        && Command::new("sbatch").arg("--version").output().is_ok()
}

fn decode(h: &HistSummary) -> hdrhistogram::Histogram<u64> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&h.hist)
        .unwrap();
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .unwrap()
}

fn load(dir: &Path) -> Summary {
    report::load(&dir.join("summary.json")).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_slurm_shards_merge_into_the_one_process_run() {
    if !slurm_installed() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but Slurm is not installed (.ci/run installs slurm-wlm and munge)"
        );
        eprintln!("\n*** SKIPPED tests/slurm.rs: Slurm is not installed (apt-get install slurm-wlm munge) ***\n");
        return;
    }
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let rec = recording(tmp.path(), 16, 3);
    let mock = mock().await;
    let url = mock.url();
    let profile = tmp.path().join("profile.toml");
    std::fs::write(
        &profile,
        "thresholds = [\"error_rate == 0%\", \"requests > 0\"]\n",
    )
    .unwrap();

    // the one-process run of the same plan
    let base_dir = tmp.path().join("one-process");
    let args: Vec<String> = [
        "replay",
        rec.to_str().unwrap(),
        "--target",
        &url,
        "--users",
        USERS,
        "--spawn-rate",
        "40",
        "--speed",
        "10",
        "--report",
        base_dir.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = tokio::task::spawn_blocking(move || {
        reprise(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let base = load(&base_dir);
    let base_starts = starts(&mock.log().drain());
    assert_eq!(base_starts.len(), 16, "{base_starts:?}");

    // the same plan as 4 Slurm array tasks and a merge job
    let results = tmp.path().join("results");
    let run = "slurm-test";
    let mut cmd = Command::new(repo.join("tests/slurm/cluster.sh"));
    cmd.arg(repo.join("tests/slurm/distributed.sh"))
        .env("PARAMS", repo.join("deploy/params.env"))
        .env("RUN", run)
        .env("SHARDS", SHARDS.to_string())
        .env("USERS", USERS)
        .env("SPAWN_RATE", "40")
        .env("DURATION", "")
        .env("SPEED", "10")
        .env("TARGET", &url)
        .env("RECORDING", &rec)
        .env("PROFILE", &profile)
        .env("START_DELAY", "8")
        .env("START_TOLERANCE", "10s")
        .env("RESULTS", &results)
        .env("REPRISE", env!("CARGO_BIN_EXE_reprise"))
        .env("MERGE_FAIL_ARGS", "--threshold requests<1")
        .env("WAIT_S", "120");
    let started = std::time::Instant::now();
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let log = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "the Slurm run failed:\n{log}");
    eprintln!("{log}");
    let dir = results.join(run);

    // every shard ran to completion, the merge's exit code is the thresholds' verdict
    let jobs = std::fs::read_to_string(dir.join("jobs.txt")).unwrap();
    for t in 0..SHARDS {
        assert!(jobs.contains(&format!("shard-{t} COMPLETED 0:0")), "{jobs}");
    }
    assert!(jobs.contains("merge COMPLETED 0:0"), "{jobs}");
    assert!(jobs.contains("merge-fail FAILED 1:0"), "{jobs}");

    let shards: Vec<Summary> = (0..SHARDS)
        .map(|i| load(&dir.join(format!("shard-{i}"))))
        .collect();
    let merged = load(&dir.join("merged"));
    for (i, s) in shards.iter().enumerate() {
        assert_eq!(s.run.shard, Some(format!("{i}/{SHARDS}")));
    }
    let sh = merged.run.shards.clone().expect("a merge of shards");
    assert_eq!(
        (sh.count, sh.missing.len(), sh.failed.len()),
        (SHARDS, 0, 0)
    );
    assert_eq!(sh.merged, (0..SHARDS).collect::<Vec<_>>());
    assert!(
        merged.thresholds.iter().all(|v| v.ok),
        "{:?}",
        merged.thresholds
    );
    let failed = load(&dir.join("merged-fail"));
    assert!(failed.thresholds.iter().any(|v| !v.ok));

    // the same sessions, each recorded session (and so each VU's share) played once
    assert_eq!(merged.sessions.started, base.sessions.started);
    assert_eq!(merged.sessions.completed, base.sessions.completed);
    assert_eq!(
        merged.sessions.started,
        shards.iter().map(|s| s.sessions.started).sum::<u64>()
    );
    assert_eq!(merged.totals.requests, base.totals.requests);
    assert_eq!((merged.totals.failures, base.totals.failures), (0, 0));
    let slurm_starts = starts(&mock.log().drain());
    assert_eq!(
        slurm_starts, base_starts,
        "each session once, as in one process"
    );
    assert_eq!(merged.run.workload, base.run.workload);
    // VU u runs in shard u mod 4: 8 users → 2 per shard, each playing 2 of the 16 sessions
    for s in &shards {
        assert_eq!(s.sessions.started, 4, "{:?}", s.run.shard);
    }

    // merged percentiles are the percentiles of all the shards' samples together
    let mut all = decode(&shards[0].totals.latency);
    for s in &shards[1..] {
        all.add(decode(&s.totals.latency)).unwrap();
    }
    let m = decode(&merged.totals.latency);
    assert_eq!(m.len(), all.len());
    assert_eq!(m.len(), merged.totals.requests);
    for q in [0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
        assert_eq!(m.value_at_quantile(q), all.value_at_quantile(q), "q={q}");
    }
    let close = |a: f64, us: u64| (a - us as f64 / 1000.0).abs() < 0.001;
    assert!(close(
        merged.totals.latency.p50_ms,
        all.value_at_quantile(0.5)
    ));
    assert!(close(
        merged.totals.latency.p95_ms,
        all.value_at_quantile(0.95)
    ));
    assert!(close(
        merged.totals.latency.p99_ms,
        all.value_at_quantile(0.99)
    ));

    // the start: every shard measured its skew; the merge prints the spread
    let skew = sh.start_skew.expect("start skews");
    assert_eq!(skew.shards, SHARDS);
    assert!(skew.min_ms >= 0.0 && skew.p100_ms < 10_000.0, "{skew:?}");
    let merge_log = std::fs::read_to_string(dir.join("logs/merge.log")).unwrap();
    assert!(merge_log.contains("start skew p50"), "{merge_log}");
    println!(
        "slurm: {SHARDS} shards, {} sessions, {} requests; start skew min {:.3} ms, p50 {:.3} ms, p100 {:.3} ms, spread {:.3} ms; whole test {:.1} s",
        merged.sessions.started,
        merged.totals.requests,
        skew.min_ms,
        skew.p50_ms,
        skew.p100_ms,
        skew.spread_ms,
        started.elapsed().as_secs_f64()
    );
}
