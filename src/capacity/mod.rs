//! Capacity search: the largest load that meets every SLO, and what broke first.
//!
//! Each level is one replay of its own (`replay::run_with`) at a fixed load, for a warm-up
//! (not measured) and then a hold; [`search`] decides the levels, [`window`] measures the
//! hold per endpoint and Server-Timing component, and `report::attribution` ranks what grew
//! against the first level.
//!
//! Why successive runs rather than one run steered through the run-control handle: a
//! bisection steps *down* after a level that broke, and one long run would carry that
//! level's queues, timed-out connections and half-finished sessions into the next; a fresh
//! run per level starts every level from the same state, so the order of the levels cannot
//! change their figures. The open workload also needs it: its arrivals are the recording's,
//! which a single long run would use up. A run's set-up (threads, a TCP preflight) costs
//! milliseconds against seconds of warm-up.
//!
//! # Invariants
//! - A level is "generator-bound" when the replayer's lag p99 (the median second of the
//!   hold) is over the bound or the process used at least `cpu_bound` of the cores its
//!   workers may use during the hold; such a level never counts as a pass or a failure of
//!   the target ([`search::Verdict::GeneratorBound`]).
//! - The SLOs are judged on the hold only: its requests, failures, latency, endpoints and
//!   Server-Timing components; `lag` and session figures are those of the whole level.
//! - Uses `replay`, `metrics`, `report` and `scrape`; nothing here prints or exits.

pub mod cpu;
pub mod drive;
pub mod html;
pub mod level;
pub mod search;
pub mod window;

use crate::metrics::summary::Verdict;
use crate::metrics::HistSummary;
use crate::report::attribution::{Attribution, Gauge};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const SCHEMA: &str = "reprise.capacity";
pub const SCHEMA_VERSION: u32 = 1;

/// `capacity.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub version: u32,
    pub tool: String,
    pub target: String,
    pub recordings: Vec<String>,
    /// `closed` (levels are users), `open` (levels are multipliers of the arrivals) or
    /// `rate` (levels are session arrivals per second).
    pub workload: String,
    pub slos: Vec<String>,
    pub settings: Settings,
    pub started_at: String,
    pub ended_at: String,
    pub duration_s: f64,
    pub levels: Vec<Level>,
    pub result: Outcome,
    /// What broke first, in one line (absent when no level broke and nothing was
    /// attributed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headline: Option<String>,
    /// The attribution at the knee (the lowest level that broke), or at the heaviest level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<Attribution>,
}

/// The search's settings, as run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Settings {
    pub start: u64,
    pub growth: f64,
    pub precision: f64,
    pub max: u64,
    pub warmup_s: f64,
    pub hold_s: f64,
    pub confirm_s: f64,
    pub lag_bound_ms: f64,
    /// Share of the workers' cores (0–1) at which the generator counts as saturated.
    pub cpu_bound: f64,
    pub workers: usize,
    pub speed: f64,
    pub max_duration_s: f64,
}

/// One measured level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Level {
    /// 1-based, in the order run.
    pub index: usize,
    /// Users (closed) or multiplier (open).
    pub load: u64,
    /// `40 users`, `×4 (2.5 sessions/s)`.
    pub label: String,
    /// Open workload: session arrivals per second at this multiplier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions_per_s: Option<f64>,
    /// The longer hold that confirms the result.
    pub confirm: bool,
    pub warmup_s: f64,
    pub hold_s: f64,
    pub requests: u64,
    pub failures: u64,
    /// Percent.
    pub error_rate: f64,
    pub rps: f64,
    pub latency: HistSummary,
    /// The median second's lag p99 during the hold, ms.
    pub lag_p99_ms: f64,
    /// Cores the process used during the hold (CPU time / wall time).
    pub cpu_cores: f64,
    /// Peak active users in the level.
    pub peak_users: u64,
    pub verdicts: Vec<Verdict>,
    /// `pass`, `fail` or `generator_bound`.
    pub verdict: String,
    /// Why the level is generator-bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<String>,
    #[serde(default)]
    pub server_timing: BTreeMap<String, HistSummary>,
    #[serde(default)]
    pub gauges: Vec<Gauge>,
    /// Scrapes that failed during the level.
    #[serde(default)]
    pub scrape_failures: u64,
    /// What grew against the first level (absent for the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<Attribution>,
    /// Stopped by Ctrl-C / SIGTERM: its figures cover part of the hold and judge nothing.
    #[serde(default)]
    pub aborted: bool,
}

/// How the search ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Outcome {
    /// `knee`, `max`, `generator_bound`, `first_breaks`, `out_of_time` or `aborted`.
    pub kind: String,
    /// The largest load that met every SLO, confirmed by the longer hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u64>,
    /// The lowest load that broke an SLO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broke_at: Option<u64>,
    /// The lowest load the generator could not drive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_bound_at: Option<u64>,
    /// For people: `capacity 113 users (broke at 124 users)`.
    pub text: String,
}

impl Level {
    /// The window the attribution compares.
    pub fn window(&self) -> crate::report::attribution::Window {
        crate::report::attribution::Window {
            label: self.label.clone(),
            latency: self.latency.clone(),
            server_timing: self.server_timing.clone(),
            gauges: self.gauges.clone(),
            lag_p99_ms: self.lag_p99_ms,
        }
    }

    /// `p95 crossed 5s (6.21s)` for the first failed SLO.
    pub fn broke(&self) -> Option<String> {
        let v = self.verdicts.iter().find(|v| !v.ok)?;
        Some(crossed(v))
    }
}

/// Requests per second for a table: `7,585` from 100 up, else one decimal (`19.5`).
pub fn rps(v: f64) -> String {
    if v >= 100.0 {
        crate::report::format::count(v.round() as u64)
    } else {
        format!("{v:.1}")
    }
}

/// `p95 < 5s` failed with `6.21s` → `p95 crossed 5s (6.21s)`.
pub fn crossed(v: &Verdict) -> String {
    for op in ["<=", ">=", "==", "!=", "<", ">"] {
        if let Some((lhs, rhs)) = v.expr.split_once(op) {
            return format!("{} crossed {} ({})", lhs.trim(), rhs.trim(), v.observed);
        }
    }
    format!("{} failed ({})", v.expr, v.observed)
}

/// The headline and the attribution for `levels`: at the lowest level that broke an SLO
/// (`broke_at`), else at the heaviest level measured, against the first.
pub fn attribute(
    levels: &[Level],
    broke_at: Option<u64>,
    lag_bound_ms: f64,
) -> Option<(String, Attribution)> {
    let measured: Vec<&Level> = levels.iter().filter(|l| !l.aborted).collect();
    let base = measured.iter().min_by_key(|l| l.load)?;
    let at = match broke_at {
        Some(b) => measured
            .iter()
            .filter(|l| l.load == b && l.verdict == "fail")
            .max_by_key(|l| l.index)
            .or_else(|| measured.iter().find(|l| l.load == b))?,
        None => measured.iter().max_by_key(|l| (l.load, l.index))?,
    };
    if at.load == base.load && broke_at.is_none() {
        return None;
    }
    let a = crate::report::attribution::rank(&base.window(), &at.window(), lag_bound_ms);
    let line = crate::report::attribution::headline(&a, at.broke().as_deref());
    Some((line, a))
}
