//! Helpers for the shard tests: a recording of distinguishable sessions (each start names
//! its `student_id`), the shipped mock with its request log, and the reprise binary.

#![allow(dead_code)]

#[path = "../replay_util/mod.rs"]
mod replay_util;

use reprise::mock::{self, Endpoint, LogEntry};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use replay_util::mock_with;

/// `sessions` recorded sessions `s-0`, `s-1`, …: a start and `continues` continues each,
/// think gaps of 200 ms, sessions 100 ms apart.
pub fn recording(dir: &Path, sessions: u64, continues: u64) -> PathBuf {
    let mut all = Vec::new();
    let mut id = 0;
    for k in 0..sessions {
        let thread = format!("3f2c1a9e-8c4b-4f1e-9a53-2b7d7c1e{k:04}");
        let sends: Vec<(u64, u64)> = (1..=continues).map(|c| (c * 210, 5)).collect();
        let s = replay_util::session(&format!("s-{k}"), &thread, id, k * 100, &sends);
        id += s.len() as u64;
        all.extend(s);
    }
    all.sort_by_key(|e| e.t_us + e.done_us);
    replay_util::write_trace(dir, &all)
}

/// The mock on 127.0.0.1:0 with its request log on.
pub async fn mock() -> mock::Server {
    mock_with(mock::Config::default()).await
}

/// How many times each recorded session (`student_id` of its start) reached the mock.
pub fn starts(log: &[LogEntry]) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for e in log.iter().filter(|e| e.endpoint == Endpoint::Start) {
        let v: serde_json::Value = serde_json::from_slice(&e.body).unwrap_or_default();
        let key = v["student_id"].as_str().unwrap_or("?").to_string();
        *m.entry(key).or_insert(0) += 1;
    }
    m
}

/// The reprise binary with `args`, the engines' variables removed from its environment
/// and `env` added.
pub fn reprise(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_reprise"));
    c.args(args);
    for k in [
        "JOB_COMPLETION_INDEX",
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_TASK_COUNT",
        "SLURM_ARRAY_TASK_MIN",
        "SLURM_ARRAY_TASK_MAX",
        "SLURM_ARRAY_TASK_STEP",
    ] {
        c.env_remove(k);
    }
    c.envs(env.iter().copied());
    c.output().expect("the reprise binary runs")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
